"""The client's side of a request on the server's fast path: its parts, then its answer.

:class:`FastReply` collects a request's body as the parser delivers it, hands the request to
:meth:`pmproxy.fastpath.FastPath.handle`, and writes the answer the fast path produces with
uvicorn's framing rules (it implements :class:`pmproxy.fastpath.Reply`). It also stands in for
uvicorn's request-response cycle on the connection (see :class:`pmproxy.server.ProxyProtocol`).
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, ClassVar

import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from pmproxy.errors import UpstreamUnavailableError
from pmproxy.forward import Route, error_body, json_headers
from pmproxy.safety import Headers

if TYPE_CHECKING:
    from pmproxy.fastpath import Exchange, FastPath
    from pmproxy.server import ProxyProtocol


class _NoEvent:
    """Stands in for a cycle's ``message_event``: nothing waits on a fast request's body."""

    def set(self) -> None:
        return


class FastReply:
    """One request on the fast path: its parts while it arrives, then the client's answer.

    Implements :class:`pmproxy.fastpath.Reply` with uvicorn's framing rules, so both paths send
    the same bytes: the upstream's ``Content-Length`` when it gave one, else chunked transfer
    coding (except for 204 and 304), and ``connection: close`` when the connection ends after
    the answer.
    """

    message_event: ClassVar[_NoEvent] = _NoEvent()

    __slots__ = (
        "_chunked",
        "_fast",
        "_headers",
        "_method",
        "_protocol",
        "_query",
        "_rest",
        "_route",
        "_transport",
        "disconnected",
        "exchange",
        "keep_alive",
        "parts",
        "response_complete",
    )

    def __init__(
        self,
        protocol: ProxyProtocol,
        fast: FastPath,
        route: Route,
        rest: bytes,
        *,
        method: str,
        query: bytes,
        headers: Headers,
        keep_alive: bool,
    ) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._fast = fast
        self._route = route
        self._rest = rest
        self._method = method
        self._query = query
        self._headers = headers
        self._chunked = False
        self.keep_alive = keep_alive
        self.parts: list[bytes] = []
        self.response_complete = False
        self.disconnected = False
        self.exchange: Exchange | None = None

    def start(self) -> None:
        """The whole request is here: forward it (or answer it locally)."""
        parts = self.parts
        body = b"".join(parts) if len(parts) > 1 else (parts[0] if parts else b"")
        client = self._protocol.client
        try:
            self._fast.handle(
                self._route,
                self._rest,
                method=self._method,
                query=self._query,
                headers=self._headers,
                body=body,
                client_ip=client[0] if client else None,
                reply=self,
            )
        except Exception as exc:
            # A bug, not a client's or an upstream's fault: answer as uvicorn would (500).
            # The traceback as plain text: a rendered one may show local values (headers).
            structlog.get_logger("pmproxy.server").error(
                "fastpath.failed", error=type(exc).__name__, traceback=traceback.format_exc()
            )
            if not self.response_complete:
                self.keep_alive = False
                payload = error_body("internal error in pmproxy")
                self.answer(500, json_headers(payload), payload)

    def gone(self) -> None:
        """The client's connection is lost."""
        self.disconnected = True
        exchange = self.exchange
        if exchange is not None:
            exchange.writable()  # a paused upstream must be read to its end and released

    def _head(self, status: int, headers: Headers) -> bytes | None:
        protocol = self._protocol
        parts = [STATUS_LINE[status], protocol.default_head]
        lines = protocol.default_lines + len(headers) + 2  # + the status and the blank line
        has_length = False
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
            if name == b"content-length":
                has_length = True
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
            lines += 1
        if not has_length and status not in (204, 304):
            # As uvicorn frames an ASGI answer without a length (the two paths send the same).
            parts.append(b"transfer-encoding: chunked\r\n")
            self._chunked = True
            lines += 1
        parts.append(b"\r\n")
        head = b"".join(parts)
        # One line break per line: no header name or value can split the head.
        return head if head.count(b"\n") == lines else None

    def _bad_head(self) -> None:
        exc = UpstreamUnavailableError(
            self._route.name, f"the {self._route.name} upstream sent an invalid header"
        )
        payload = self._fast.forwarder.failed(self._route.name, self._method, exc)
        self.answer(exc.status, json_headers(payload), payload)

    def answer(self, status: int, headers: Headers, body: bytes) -> None:
        """Write a whole answer with one ``write``."""
        if self.response_complete:
            return
        head = self._head(status, headers)
        if head is None:
            self._bad_head()
            return
        self.response_complete = True
        transport = self._transport
        if not self.disconnected:
            if self._chunked:
                if body:
                    head += b"%x\r\n%b\r\n" % (len(body), body)
                transport.write(head + b"0\r\n\r\n")
            else:
                transport.write(head + body if body else head)
        if not self.keep_alive:
            transport.close()
        self._protocol.fast_done(self)

    def begin(self, status: int, headers: Headers, data: bytes) -> None:
        """Write the head of a streamed answer and the first piece of its body (one write)."""
        if self.response_complete:
            return
        head = self._head(status, headers)
        if head is None:
            self._bad_head()
            return
        if not self.disconnected:
            if data and self._chunked:
                head += b"%x\r\n%b\r\n" % (len(data), data)
            elif data:
                head += data
            self._transport.write(head)

    def chunk(self, data: bytes) -> None:
        """Write a piece of a streamed answer's body."""
        if self.response_complete or self.disconnected or not data:
            return
        if self._chunked:
            self._transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self._transport.write(data)

    def end(self) -> None:
        """Finish a streamed answer."""
        if self.response_complete:
            return
        self.response_complete = True
        if self._chunked and not self.disconnected:
            self._transport.write(b"0\r\n\r\n")
        self._complete()

    def abort(self) -> None:
        """Cut the client's connection (a started answer cannot be finished)."""
        if self.response_complete:
            return
        self.response_complete = True
        self.keep_alive = False
        self._complete()

    def paused(self) -> bool:
        """Whether the client's socket buffer is over its high-water mark."""
        return bool(self._protocol.flow.write_paused) and not self.disconnected

    def follow(self, exchange: Exchange | None) -> None:
        """Remember the exchange to tell when the client can take more."""
        self.exchange = exchange

    def _complete(self) -> None:
        if not self.keep_alive:
            self._transport.close()
        self._protocol.fast_done(self)
