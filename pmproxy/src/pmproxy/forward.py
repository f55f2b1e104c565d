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
from typing import Any, Final

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


@dataclass(frozen=True, slots=True)
class Route:
    """One forwarding route: ``/{name}`` on the proxy to a fixed upstream."""

    name: str
    prefix: bytes
    upstream: Upstream
    base: bytes  # the upstream's base path (b"" for none)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A complete upstream answer, shared by coalesced GETs."""

    status: int
    headers: Headers
    body: bytes


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
        self._pool = pool
        self._metrics = metrics
        self._budgets = budgets
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
        self._inflight: dict[tuple[bytes, ...], asyncio.Future[_Answer]] = {}
        self._log = structlog.get_logger("pmproxy.forward")

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
        """Answer one HTTP request on a forwarding route."""
        name = route.name
        method: str = scope["method"]
        try:
            check_path(rest)
            query: bytes = scope.get("query_string", b"")
            check_query(query)
            headers: Headers = scope["headers"]
            body = await self._read_body(method, headers, receive)
            path = rest.decode("ascii") or "/"
            if name == "clob" and self._dry_run:
                verdict = dryrun.classify(method, path)
                if verdict is not dryrun.FORWARD:
                    await self._dry_run_answer(
                        verdict, method=method, path=path, body=body, send=send
                    )
                    return
            if name == "chain":
                if rest not in (b"", b"/"):
                    raise NotFoundError("/chain is a single JSON-RPC endpoint; POST to /chain")
                if method != "POST":
                    raise MethodNotAllowedError("/chain accepts JSON-RPC POST requests only")
                chain.check_call(body, self._chain_methods)
            out_headers = request_headers(headers, client_ip=_client_ip(scope))
            # The origin is fixed by the route's pool; only this origin-form target varies.
            target = _target(route, rest)
            if query:
                target = target + b"?" + query
            if (
                self._coalesce
                and method == "GET"
                and name != "chain"
                and not has_credentials(headers)
            ):
                await self._coalesced(
                    route,
                    path=path,
                    target=target,
                    out_headers=out_headers,
                    headers=headers,
                    query=query,
                    send=send,
                )
                return
            if self._budgets is not None and name != "chain":
                self._budgets.charge(name, method, path)
            await self._forward(
                route, method=method, target=target, headers=out_headers, body=body, send=send
            )
        except RequestError as exc:
            await self.refuse(exc, send, route=name)
        except UpstreamError as exc:
            self._metrics.upstream_errors.labels(name, type(exc).__name__).inc()
            self._log.warning("upstream.failed", route=name, method=method, error=exc.message)
            self._metrics.count_request(name, exc.status)
            await _send_json(send, exc.status, error_body(exc.message))

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

    async def refuse(self, exc: RequestError, send: Send, *, route: str = "none") -> None:
        """Answer a request locally with the error's status and ``{"error": …}`` body."""
        self._metrics.count_request(route, exc.status)
        headers = list(_JSON)
        if isinstance(exc, BudgetExceededError):
            self._metrics.budget_rejections.labels(exc.family).inc()
            headers.append((b"retry-after", str(exc.retry_after).encode()))
        else:
            self._metrics.rejections.labels(route, str(exc.status)).inc()
        self._log.debug("request.rejected", route=route, status=exc.status, reason=exc.message)
        body = error_body(exc.message)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _dry_run_answer(
        self, verdict: str, *, method: str, path: str, body: bytes, send: Send
    ) -> None:
        if verdict is dryrun.REFUSE:
            raise DryRunRefusedError(
                # The path stays out of the message (it is logged): a client may have put
                # anything in it.
                f"dry-run: this {method} is not forwarded; in dry-run only reads, read-like "
                "POSTs and the order calls (answered locally) are handled"
            )
        answer, count = dryrun.answer(method, path, body)
        self._metrics.dry_run.inc()
        self._metrics.count_request("clob", 200)
        self._log.info("dryrun.answered", method=method, path=path, orders=count)
        await _send_json(send, 200, answer, extra=[(b"x-pmproxy-dry-run", b"1")])

    async def _request(
        self,
        route: Route,
        *,
        method: str,
        target: bytes,
        headers: Headers,
        body: bytes,
    ) -> Response:
        pool = self._pool.h1(route.name)
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
            self._metrics.observe_latency(route.name, time.perf_counter() - started)
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
            self._metrics.count_request(route.name, status)
        except FAILURES as exc:
            if not started:
                raise map_error(route.name, exc) from exc
            # Headers are out: the only honest signal left is a truncated answer.
            self._metrics.upstream_errors.labels(route.name, "truncated").inc()
            self._log.warning("upstream.truncated", route=route.name, error=type(exc).__name__)
        finally:
            response.release()

    async def _fetch_whole(self, route: Route, target: bytes, headers: Headers) -> _Answer:
        response = await self._request(
            route, method="GET", target=target, headers=headers, body=b""
        )
        try:
            payload = await response.read()
        except FAILURES as exc:
            raise map_error(route.name, exc) from exc
        finally:
            response.release()
        return _Answer(response.status, response_headers(response.headers), payload)

    async def _coalesced(
        self,
        route: Route,
        *,
        path: str,
        target: bytes,
        out_headers: Headers,
        headers: Headers,
        query: bytes,
        send: Send,
    ) -> None:
        # Answers vary with what the client accepts, so that is part of the key.
        accept = b""
        encoding = b""
        for hname, value in headers:
            if hname == b"accept":
                accept = value
            elif hname == b"accept-encoding":
                encoding = value
        key = (route.prefix, path.encode(), query, accept, encoding)
        while True:
            pending = self._inflight.get(key)
            if pending is None:
                break
            try:
                answer = await asyncio.shield(pending)
            except _LeaderGoneError:
                continue
            self._metrics.coalesced.labels(route.name).inc()
            await self._send_answer(route.name, answer, send)
            return
        if self._budgets is not None:
            self._budgets.charge(route.name, "GET", path)
        future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer = await self._fetch_whole(route, target, out_headers)
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
            del self._inflight[key]
        await self._send_answer(route.name, answer, send)

    async def _send_answer(self, route: str, answer: _Answer, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})
        self._metrics.count_request(route, answer.status)


def _target(route: Route, rest: bytes) -> bytes:
    # /chain is one endpoint (the configured URL, whatever follows /chain); elsewhere the
    # route's base path plus the raw rest of the request path.
    if route.name == "chain" or not rest:
        return route.base or b"/"
    return route.base + rest


def _client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def _send_json(send: Send, status: int, body: bytes, *, extra: Headers | None = None) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
