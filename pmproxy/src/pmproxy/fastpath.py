"""The server's fast path: a fully received request forwarded by callbacks, with no task.

Under uvicorn, a forwarded request would otherwise pay for an ASGI task, its coroutine chain,
a future and a timer per upstream wait, and ASGI message dicts each way: about half of the
CPU time pmproxy spends per request. :class:`pmproxy.server.ProxyProtocol` therefore hands a
request on a forwarding route whose (small) body has fully arrived to :meth:`FastPath.handle`
right in the parser callback (:class:`pmproxy.reply.FastReply` is the client's side), and the
upstream connection's parser calls back here when the answer has arrived, so the answer is
written to the client in the same event-loop step that read it.

The rules are the ASGI passthrough's, not a copy of them: the same target checks
(:func:`pmproxy.safety.check_path`, :func:`~pmproxy.safety.check_query`),
:meth:`pmproxy.forward.Forwarder.plan` (dry-run, ``/chain``, header hygiene, budgets,
coalescing key), the same upstream pool, retry policy (:func:`pmproxy.errors.may_retry`),
error mapping, metrics and coalescing table (a fast and an ASGI request for the same public
GET share one upstream call). What the fast path does not take (streamed request bodies,
``Expect: 100-continue``, ``HEAD``, HTTP/1.0, pipelined requests) goes through the ASGI
passthrough as before; Lambda only ever uses that one.

An answer that is complete once the bytes that brought its head are parsed (the usual case)
goes to the client in one write; any other is streamed as it arrives, as the ASGI path does,
with the upstream paused while the client's socket buffer is full.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final, Protocol

from pmproxy.errors import (
    BudgetExceededError,
    RequestError,
    UpstreamError,
    UpstreamUnavailableError,
    may_retry,
)
from pmproxy.forward import DRY_RUN_HEADERS, Answer, Plan, Route, json_headers
from pmproxy.h1 import H1Pool, Response
from pmproxy.safety import Headers, check_path, check_query, response_headers
from pmproxy.upstream import map_error

if TYPE_CHECKING:
    from pmproxy.forward import Forwarder
    from pmproxy.h1conn import Connection

# The largest request body the fast path takes; larger ones stream through the ASGI path.
MAX_BODY: Final = 64 * 1024


class Reply(Protocol):
    """Where the fast path writes one client's answer (the server's connection implements it)."""

    def answer(self, status: int, headers: Headers, body: bytes) -> None:
        """Write a whole answer, framed as uvicorn frames one (chunked without a length)."""

    def begin(self, status: int, headers: Headers, data: bytes) -> None:
        """Write the head of an answer and the start of its body; the rest follows in
        :meth:`chunk` calls."""

    def chunk(self, data: bytes) -> None:
        """Write a piece of the body of an answer started with :meth:`begin`."""

    def end(self) -> None:
        """Finish an answer started with :meth:`begin`."""

    def abort(self) -> None:
        """Close the client's connection: an answer already started cannot be finished."""

    def paused(self) -> bool:
        """Whether the client's socket buffer is full (stop reading the upstream)."""

    def follow(self, exchange: Exchange | None) -> None:
        """Tell the exchange (``exchange.writable()``) when the client can take more."""


class FastPath:
    """The callback-driven forwarding of fully received requests (one per application).

    Args:
        forwarder: the application's forwarder, whose rules, pool, metrics and coalescing
            table are used.
    """

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.read_timeout = forwarder.read_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        # Read timeouts: one sweep every tick over the exchanges waiting for their upstream,
        # instead of a timer armed and cancelled per request. A timeout fires up to a tick
        # (a tenth of it, at most 1 s) late.
        self._deadlines: dict[Exchange, float] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._tick = min(1.0, max(0.01, self.read_timeout / 10))

    def handle(
        self,
        route: Route,
        rest: bytes,
        *,
        method: str,
        query: bytes,
        headers: Headers,
        body: bytes,
        client_ip: str | None,
        reply: Reply,
    ) -> None:
        """Answer one fully received request on a forwarding route (call on the loop)."""
        forwarder = self.forwarder
        try:
            check_path(rest)
            check_query(query)
            plan = forwarder.plan(
                route,
                rest,
                method=method,
                query=query,
                headers=headers,
                body=body,
                client_ip=client_ip,
            )
        except RequestError as exc:
            out, payload = forwarder.refusal(exc, route=route.name, method=method)
            reply.answer(exc.status, out, payload)
            return
        if plan.local is not None:
            reply.answer(200, [*json_headers(plan.local), *DRY_RUN_HEADERS], plan.local)
        elif plan.key is not None:
            self._coalesce(route, plan, reply)
        else:
            Exchange(
                self,
                route,
                method,
                target=plan.target,
                headers=plan.headers,
                body=body,
                reply=reply,
            ).start()

    def watch(self, exchange: Exchange, loop: asyncio.AbstractEventLoop) -> None:
        """Give an exchange the read timeout from now (again, if it was watched already)."""
        self._deadlines[exchange] = loop.time() + self.read_timeout
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._tick, self._sweep, loop)

    def unwatch(self, exchange: Exchange) -> None:
        """Stop timing an exchange (its answer is in, or it waits for its client)."""
        self._deadlines.pop(exchange, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        deadlines = self._deadlines
        for exchange in [e for e, deadline in deadlines.items() if deadline <= now]:
            del deadlines[exchange]
            exchange.timed_out()
        self._sweeper = loop.call_later(self._tick, self._sweep, loop) if deadlines else None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine as a task that is kept referenced until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- coalescing (the forwarder's table, shared with the ASGI path) ---

    def _coalesce(self, route: Route, plan: Plan, reply: Reply) -> None:
        forwarder = self.forwarder
        key = plan.key
        assert key is not None  # plan() gives a key to every GET it coalesces
        pending = forwarder.inflight.get(key)
        if pending is not None:
            pending.add_done_callback(functools.partial(self._joined, route, plan, reply))
            return
        if forwarder.budgets is not None:
            try:
                forwarder.budgets.charge(route.name, "GET", plan.path)
            except BudgetExceededError as exc:
                out, payload = forwarder.refusal(exc, route=route.name, method="GET")
                reply.answer(exc.status, out, payload)
                return
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        forwarder.inflight[key] = future
        done = functools.partial(self._led, route, key, future, reply)
        Exchange(
            self,
            route,
            "GET",
            target=plan.target,
            headers=plan.headers,
            body=b"",
            reply=None,
            whole=done,
        ).start()

    def _led(
        self,
        route: Route,
        key: tuple[bytes, ...],
        future: asyncio.Future[Answer],
        reply: Reply,
        outcome: Answer | UpstreamError,
    ) -> None:
        forwarder = self.forwarder
        del forwarder.inflight[key]
        if isinstance(outcome, UpstreamError):
            future.set_exception(outcome)
            future.exception()  # retrieved here, so an unawaited future logs nothing
            self.fail(route, "GET", outcome, reply)
            return
        future.set_result(outcome)
        forwarder.metrics.count_request(route.name, "GET", outcome.status)
        reply.answer(outcome.status, outcome.headers, outcome.body)

    def _joined(
        self, route: Route, plan: Plan, reply: Reply, future: asyncio.Future[Answer]
    ) -> None:
        forwarder = self.forwarder
        exc = None if future.cancelled() else future.exception()
        if exc is None and not future.cancelled():
            answer = future.result()
            forwarder.metrics.coalesced.labels(route.name).inc()
            forwarder.metrics.count_request(route.name, "GET", answer.status)
            reply.answer(answer.status, answer.headers, answer.body)
        elif isinstance(exc, UpstreamError):
            self.fail(route, "GET", exc, reply)
        else:
            # The leader (an ASGI request) went away before its answer: lead anew.
            self._coalesce(route, plan, reply)

    def fail(self, route: Route, method: str, exc: UpstreamError, reply: Reply) -> None:
        """Answer an upstream failure with its status and JSON error (counted and logged)."""
        payload = self.forwarder.failed(route.name, method, exc)
        reply.answer(exc.status, json_headers(payload), payload)


class Exchange:
    """One request sent upstream and its answer relayed, driven by the connection's callbacks.

    Args:
        fast: the fast path it belongs to.
        route: the route (its pool, metrics label and error messages).
        method: the HTTP method (decides whether a failed send may be retried).
        target: the origin-form target.
        headers: the headers to send upstream.
        body: the whole request body.
        reply: where the answer goes (``None`` for a coalescing leader, see ``whole``).
        whole: for a coalescing leader: called with the whole answer or the failure instead of
            writing to a client.
    """

    __slots__ = (
        "_attempt",
        "_body",
        "_conn",
        "_fast",
        "_headers",
        "_method",
        "_parts",
        "_pool",
        "_reply",
        "_response",
        "_route",
        "_sent_at",
        "_streaming",
        "_target",
        "_whole",
    )

    def __init__(
        self,
        fast: FastPath,
        route: Route,
        method: str,
        *,
        target: bytes,
        headers: Headers,
        body: bytes,
        reply: Reply | None,
        whole: functools.partial[None] | None = None,
    ) -> None:
        self._fast = fast
        self._route = route
        self._method = method
        self._target = target
        self._headers = headers
        self._body = body
        self._reply = reply
        self._whole = whole
        self._pool: H1Pool = fast.forwarder.pool.h1(route.name)
        self._attempt = 0
        self._conn: Connection | None = None
        self._response: Response | None = None
        self._parts: list[bytes] = []
        self._streaming = False
        self._sent_at = 0.0

    def start(self) -> None:
        """Send the request on an idle pooled connection, or connect first (in a task)."""
        self._attempt += 1
        conn = self._pool.take_idle()
        if conn is None:
            self._fast.spawn(self._connect())
        else:
            self._send(conn)

    async def _connect(self) -> None:
        try:
            conn, _ = await self._pool.acquire()
        except Exception as exc:  # refused, unreachable, TimeoutError (connect timeout), TLS
            self._failed(exc)
            return
        self._send(conn)

    def _send(self, conn: Connection) -> None:
        self._conn = conn
        conn.notify = self._progress
        self._sent_at = time.perf_counter()
        self._pool.send(conn, self._method.encode("ascii"), self._target, self._headers, self._body)
        self._fast.watch(self, self._pool.loop)

    def _progress(self) -> None:
        """The connection parsed more of the answer, failed or closed."""
        conn = self._conn
        if conn is None:
            return
        if conn.error is not None:
            self._lost(conn.error)
            return
        if not conn.head_done:
            return
        response = self._response
        if response is None:
            status = conn.status
            metrics = self._fast.forwarder.metrics
            metrics.observe_latency(self._route.name, time.perf_counter() - self._sent_at)
            if not 200 <= status <= 599:
                conn.keep_alive = False
                message = f"the {self._route.name} upstream answered with an invalid status"
                self._lost(UpstreamUnavailableError(self._route.name, message))
                return
            reply = self._reply
            if conn.complete and reply is not None:
                # The usual case: the whole answer came with its head. One write, no more.
                self._fast.unwatch(self)
                conn.notify = None
                headers = conn.headers()
                body = conn.finish()
                reply.answer(status, response_headers(headers), body)
                metrics.count_request(self._route.name, self._method, status)
                return
            response = self._response = Response(conn, self._fast.read_timeout, head_only=False)
        if conn.complete:
            self._finish(response)
            return
        if self._whole is not None:
            self._parts.append(response.take())
            self._rearm()  # more of the body is to come: each read gets the timeout anew
            return
        reply = self._reply
        assert reply is not None  # an exchange without a whole callback has a reply
        if self._streaming:
            reply.chunk(response.take())
        else:
            # Not all of it came with the head: stream it as it comes, as the ASGI path does.
            self._streaming = True
            reply.follow(self)
            reply.begin(response.status, response_headers(response.headers), response.take())
        if reply.paused():
            # Waiting for the client now, not for the upstream: no read timeout meanwhile.
            response.pause()
            self._fast.unwatch(self)
        else:
            self._rearm()  # more of the body is to come: each read gets the timeout anew

    def writable(self) -> None:
        """The client can take more (or is gone): read the upstream again."""
        response = self._response
        conn = self._conn
        if response is not None and conn is not None and conn.notify is not None:
            response.resume()
            self._rearm()

    def _rearm(self) -> None:
        self._fast.watch(self, self._pool.loop)

    def _finish(self, response: Response) -> None:
        self._fast.unwatch(self)
        conn = self._conn
        if conn is not None:
            conn.notify = None
        body = response.take()
        status = response.status
        response.release()
        forwarder = self._fast.forwarder
        whole = self._whole
        if whole is not None:
            if self._parts:
                body = b"".join([*self._parts, body])
            whole(Answer(status, response_headers(response.headers), body))
            return
        reply = self._reply
        assert reply is not None
        if self._streaming:
            if body:
                reply.chunk(body)
            reply.end()
            reply.follow(None)
        else:
            reply.answer(status, response_headers(response.headers), body)
        forwarder.metrics.count_request(self._route.name, self._method, status)

    def _done_with_conn(self) -> None:
        self._fast.unwatch(self)
        conn = self._conn
        if conn is not None:
            conn.notify = None

    def timed_out(self) -> None:
        """The upstream took longer than the read timeout (called by the sweep)."""
        conn = self._conn
        if conn is not None:
            conn.keep_alive = False
        self._lost(TimeoutError("the upstream did not answer in time"))

    def _lost(self, error: BaseException) -> None:
        """The connection failed, closed early or timed out: retry, answer 502/504, or cut."""
        self._done_with_conn()
        conn = self._conn
        self._conn = None
        if conn is not None:
            conn.close()
            self._pool.forget(conn)
        started = self._response is not None
        self._response = None
        if self._streaming:
            # Headers are out: the only honest signal left is a truncated answer.
            forwarder = self._fast.forwarder
            forwarder.metrics.upstream_errors.labels(self._route.name, "truncated").inc()
            forwarder.log.warning(
                "upstream.truncated", route=self._route.name, error=type(error).__name__
            )
            reply = self._reply
            assert reply is not None
            reply.follow(None)
            reply.abort()
            return
        if not started and may_retry(
            self._method, attempt=self._attempt, timed_out=isinstance(error, TimeoutError)
        ):
            self._parts.clear()
            self.start()
            return
        self._failed(error)

    def _failed(self, error: BaseException) -> None:
        exc = error if isinstance(error, UpstreamError) else map_error(self._route.name, error)
        if self._whole is not None:
            self._whole(exc)
            return
        reply = self._reply
        assert reply is not None
        self._fast.fail(self._route, self._method, exc, reply)
