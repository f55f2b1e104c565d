"""The hot path: a raw-ASGI passthrough from ``/clob``, ``/gamma``, ``/data`` and ``/chain``.

No framework runs here: the application's ``__call__`` hands matching requests straight to
:meth:`Forwarder.handle`. The upstream URL is the route's fixed origin and base path plus the
request's raw path and raw query, never parsed or decoded, because the venue's HMAC covers the
exact path and body and because decoding is what turns ``%2e%2e`` into a different target.

Order of work for one request: check the target (400) → read the body within the limit (413)
→ dry-run answer (mutating CLOB calls) → ``/chain`` allowlist (403) → rate budget (429) →
coalesce identical public GETs → forward and stream the answer back (502/504 on failure).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import structlog

from pmproxy import chain, dryrun
from pmproxy.budget import Budgets
from pmproxy.errors import (
    BudgetExceededError,
    DryRunRefusedError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RequestError,
    UnsafeRequestError,
    UpstreamError,
    may_retry,
)
from pmproxy.h1 import Response
from pmproxy.metrics import Metrics
from pmproxy.safety import (
    Headers,
    check_path,
    check_query,
    has_credentials,
    request_headers,
    response_headers,
)
from pmproxy.settings import Settings, Upstream
from pmproxy.upstream import UpstreamPool, map_error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ROUTES: Final = ("clob", "gamma", "data", "chain")
# What the hot-path client raises (TimeoutError and ConnectionError are OSErrors).
FAILURES: Final = (OSError,)
_BODILESS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_JSON: Final = [(b"content-type", b"application/json")]
DRY_RUN_HEADERS: Final = [(b"x-pmproxy-dry-run", b"1")]


@dataclass(frozen=True, slots=True)
class Route:
    """One forwarding route: ``/{name}`` on the proxy to a fixed upstream."""

    name: str
    prefix: bytes
    upstream: Upstream
    base: bytes  # the upstream's base path (b"" for none)


class Answer(NamedTuple):
    """A complete upstream answer, shared by coalesced GETs."""

    status: int
    headers: Headers
    body: bytes


class Plan(NamedTuple):
    """What to do with one checked request (see :meth:`Forwarder.plan`; a tuple: built per
    request, and a frozen dataclass costs several times as much to build).

    Attributes:
        path: the decoded path after the route prefix (``/`` for none).
        target: the origin-form target to send upstream (base path, raw path, raw query).
        headers: the headers to send upstream.
        key: the coalescing key of a public GET, or ``None`` to forward it alone.
        local: the body of a local dry-run answer, or ``None`` to go upstream.
    """

    path: str
    target: bytes
    headers: Headers
    key: tuple[bytes, ...] | None
    local: bytes | None


class _LeaderGoneError(Exception):
    """The request leading a coalesced call went away before its answer arrived."""


def error_body(message: str) -> bytes:
    """The JSON error body pmproxy answers with (the venue's own ``{"error": …}`` shape)."""
    return json.dumps({"error": message}).encode()


class Forwarder:
    """Forwards requests on the proxy's routes to their upstreams.

    Args:
        settings: upstreams, limits and feature switches.
        pool: the upstream client sessions.
        metrics: where counts and latencies go.
        budgets: the shared rate budgets, or ``None`` to forward without them.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pool: UpstreamPool,
        metrics: Metrics,
        budgets: Budgets | None,
    ) -> None:
        self._settings = settings
        # Public: the server's fast path (pmproxy.fastpath) uses them too, with the same rules.
        self.pool = pool
        self.metrics = metrics
        self.budgets = budgets
        self.read_timeout = settings.read_timeout
        self._routes = tuple(
            Route(
                name,
                b"/" + name.encode(),
                settings.upstream(name),
                settings.upstream(name).base_path.encode("ascii"),
            )
            for name in ROUTES
        )
        self._limit = settings.max_body_bytes
        self._dry_run = settings.dry_run
        self._coalesce = settings.coalesce
        self._chain_methods = (
            settings.chain_methods - {"eth_sendRawTransaction"}
            if settings.dry_run
            else settings.chain_methods
        )
        # Coalesced GETs in flight, shared by the ASGI path and the fast path.
        self.inflight: dict[tuple[bytes, ...], asyncio.Future[Answer]] = {}
        self.log = structlog.get_logger("pmproxy.forward")

    def match(self, raw_path: bytes) -> tuple[Route, bytes] | None:
        """The route a raw path belongs to and the rest of the path after its prefix."""
        for route in self._routes:
            prefix = route.prefix
            if raw_path.startswith(prefix):
                rest = raw_path[len(prefix) :]
                if not rest or rest[:1] == b"/":
                    return route, rest
        return None

    async def handle(
        self, route: Route, rest: bytes, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer one HTTP request on a forwarding route (the ASGI passthrough)."""
        name = route.name
        method: str = scope["method"]
        try:
            query: bytes = scope.get("query_string", b"")
            check_path(rest)
            check_query(query)
            headers: Headers = scope["headers"]
            body = await self._read_body(method, headers, receive)
            plan = self.plan(
                route,
                rest,
                method=method,
                query=query,
                headers=headers,
                body=body,
                client_ip=_client_ip(scope),
            )
            if plan.local is not None:
                await _send_json(send, 200, plan.local, extra=DRY_RUN_HEADERS)
            elif plan.key is not None:
                await self._coalesced(route, plan, send)
            else:
                await self._forward(
                    route,
                    method=method,
                    target=plan.target,
                    headers=plan.headers,
                    body=body,
                    send=send,
                )
        except RequestError as exc:
            await self.refuse(exc, send, route=name, method=method)
        except UpstreamError as exc:
            await _send_json(send, exc.status, self.failed(name, method, exc))

    def plan(
        self,
        route: Route,
        rest: bytes,
        *,
        method: str,
        query: bytes,
        headers: Headers,
        body: bytes,
        client_ip: str | None,
    ) -> Plan:
        """Decide what to do with a request whose target passed the checks and body is read.

        Shared by the ASGI passthrough and the server's fast path, so both apply the same
        rules in the same order: dry-run answer, ``/chain`` rules, header hygiene, then either
        coalescing (public GETs) or the rate budget.

        Raises:
            RequestError: the request is answered locally (403, 404, 405, 429, 400).
        """
        name = route.name
        path = rest.decode("ascii") or "/"
        if name == "clob" and self._dry_run:
            verdict = dryrun.classify(method, path)
            if verdict is not dryrun.FORWARD:
                return Plan(path, b"", [], None, self._dry_run_answer(verdict, method, path, body))
        if name == "chain":
            if rest not in (b"", b"/"):
                raise NotFoundError("/chain is a single JSON-RPC endpoint; POST to /chain")
            if method != "POST":
                raise MethodNotAllowedError("/chain accepts JSON-RPC POST requests only")
            chain.check_call(body, self._chain_methods)
        out_headers = request_headers(headers, client_ip=client_ip)
        # The origin is fixed by the route's pool; only this origin-form target varies.
        target = _target(route, rest)
        if query:
            target = target + b"?" + query
        if self._coalesce and method == "GET" and name != "chain" and not has_credentials(headers):
            # Answers vary with what the client accepts, so that is part of the key.
            accept = b""
            encoding = b""
            for hname, value in headers:
                if hname == b"accept":
                    accept = value
                elif hname == b"accept-encoding":
                    encoding = value
            key = (route.prefix, path.encode(), query, accept, encoding)
            return Plan(path, target, out_headers, key, None)
        if self.budgets is not None and name != "chain":
            self.budgets.charge(name, method, path)
        return Plan(path, target, out_headers, None, None)

    def failed(self, route: str, method: str, exc: UpstreamError) -> bytes:
        """Count and log an upstream failure; the JSON body to answer it with."""
        self.metrics.upstream_errors.labels(route, type(exc).__name__).inc()
        self.log.warning("upstream.failed", route=route, method=method, error=exc.message)
        self.metrics.count_request(route, method, exc.status)
        return error_body(exc.message)

    async def _read_body(self, method: str, headers: Headers, receive: Receive) -> bytes:
        length: int | None = None
        chunked = False
        for hname, value in headers:
            if hname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise UnsafeRequestError("Content-Length is not a number") from None
                if length > self._limit:
                    raise PayloadTooLargeError(
                        f"the request body is {length} bytes; this proxy accepts at most "
                        f"{self._limit}"
                    )
            elif hname == b"transfer-encoding":
                chunked = True
        # A GET without a length has no body (HTTP/1.1 says so); other methods are read even
        # without one, since not every ASGI server (Mangum) gives Content-Length.
        if length == 0 or (length is None and not chunked and method in _BODILESS):
            return b""
        parts: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise UnsafeRequestError("the client went away before sending its whole body")
            chunk: bytes = message.get("body", b"")
            total += len(chunk)
            if total > self._limit:
                raise PayloadTooLargeError(
                    f"the request body is over this proxy's limit of {self._limit} bytes"
                )
            parts.append(chunk)
            more = message.get("more_body", False)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def refusal(
        self, exc: RequestError, *, route: str = "none", method: str = ""
    ) -> tuple[Headers, bytes]:
        """Count and log a local refusal; the headers and ``{"error": …}`` body to answer with."""
        self.metrics.count_request(route, method, exc.status)
        headers = list(_JSON)
        if isinstance(exc, BudgetExceededError):
            self.metrics.budget_rejections.labels(exc.family).inc()
            headers.append((b"retry-after", str(exc.retry_after).encode()))
        else:
            self.metrics.rejections.labels(route, str(exc.status)).inc()
        self.log.debug("request.rejected", route=route, status=exc.status, reason=exc.message)
        body = error_body(exc.message)
        headers.append((b"content-length", str(len(body)).encode()))
        return headers, body

    async def refuse(
        self, exc: RequestError, send: Send, *, route: str = "none", method: str = ""
    ) -> None:
        """Answer a request locally with the error's status and ``{"error": …}`` body."""
        headers, body = self.refusal(exc, route=route, method=method)
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _dry_run_answer(self, verdict: str, method: str, path: str, body: bytes) -> bytes:
        if verdict is dryrun.REFUSE:
            raise DryRunRefusedError(
                # The path stays out of the message (it is logged): a client may have put
                # anything in it.
                f"dry-run: this {method} is not forwarded; in dry-run only reads, read-like "
                "POSTs and the order calls (answered locally) are handled"
            )
        answer, count = dryrun.answer(method, path, body)
        self.metrics.dry_run.inc()
        self.metrics.count_request("clob", method, 200)
        self.log.info("dryrun.answered", method=method, path=path, orders=count)
        return answer

    async def _request(
        self,
        route: Route,
        *,
        method: str,
        target: bytes,
        headers: Headers,
        body: bytes,
    ) -> Response:
        pool = self.pool.h1(route.name)
        method_bytes = method.encode("ascii")
        attempt = 0
        started = time.perf_counter()
        while True:
            attempt += 1
            try:
                response, _ = await pool.request(method_bytes, target, headers, body)
            except FAILURES as exc:
                if may_retry(method, attempt=attempt, timed_out=isinstance(exc, TimeoutError)):
                    continue
                raise map_error(route.name, exc) from exc
            self.metrics.observe_latency(route.name, time.perf_counter() - started)
            return response

    async def _forward(
        self,
        route: Route,
        *,
        method: str,
        target: bytes,
        headers: Headers,
        body: bytes,
        send: Send,
    ) -> None:
        response = await self._request(
            route, method=method, target=target, headers=headers, body=body
        )
        started = False
        try:
            status = response.status
            out = response_headers(response.headers)
            if response.complete:
                # The usual case: the whole answer came in with its head.
                payload = response.take()
                await send({"type": "http.response.start", "status": status, "headers": out})
                await send({"type": "http.response.body", "body": payload})
            else:
                await send({"type": "http.response.start", "status": status, "headers": out})
                started = True
                async for chunk in response.chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            self.metrics.count_request(route.name, method, status)
        except FAILURES as exc:
            if not started:
                raise map_error(route.name, exc) from exc
            # Headers are out: the only honest signal left is a truncated answer.
            self.metrics.upstream_errors.labels(route.name, "truncated").inc()
            self.log.warning("upstream.truncated", route=route.name, error=type(exc).__name__)
        finally:
            response.release()

    async def _fetch_whole(self, route: Route, target: bytes, headers: Headers) -> Answer:
        response = await self._request(
            route, method="GET", target=target, headers=headers, body=b""
        )
        try:
            payload = await response.read()
        except FAILURES as exc:
            raise map_error(route.name, exc) from exc
        finally:
            response.release()
        return Answer(response.status, response_headers(response.headers), payload)

    async def _coalesced(self, route: Route, plan: Plan, send: Send) -> None:
        key = plan.key
        assert key is not None  # plan() gives a key to every GET it coalesces
        while True:
            pending = self.inflight.get(key)
            if pending is None:
                break
            try:
                answer = await asyncio.shield(pending)
            except _LeaderGoneError:
                continue
            self.metrics.coalesced.labels(route.name).inc()
            await self._send_answer(route.name, answer, send)
            return
        if self.budgets is not None:
            self.budgets.charge(route.name, "GET", plan.path)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.inflight[key] = future
        try:
            answer = await self._fetch_whole(route, plan.target, plan.headers)
        except UpstreamError as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited future logs nothing
            raise
        except BaseException:
            future.set_exception(_LeaderGoneError())
            future.exception()
            raise
        else:
            future.set_result(answer)
        finally:
            del self.inflight[key]
        await self._send_answer(route.name, answer, send)

    async def _send_answer(self, route: str, answer: Answer, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})
        self.metrics.count_request(route, "GET", answer.status)


def _target(route: Route, rest: bytes) -> bytes:
    # /chain is one endpoint (the configured URL, whatever follows /chain); elsewhere the
    # route's base path plus the raw rest of the request path.
    if route.name == "chain" or not rest:
        return route.base or b"/"
    return route.base + rest


def _client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def json_headers(body: bytes) -> Headers:
    """The headers of a local JSON answer with this body."""
    return [*_JSON, (b"content-length", str(len(body)).encode())]


async def _send_json(send: Send, status: int, body: bytes, *, extra: Headers | None = None) -> None:
    headers = json_headers(body)
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
