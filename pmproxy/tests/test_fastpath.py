"""The server's fast path: same answers as the ASGI path, and a well-behaved HTTP/1.1 server.

A request on a forwarding route with a small, known-length body is forwarded from the
parser's callbacks (:mod:`pmproxy.fastpath`); everything else (chunked or large bodies,
``Expect``, ``HEAD``, HTTP/1.0, pipelined requests) takes the ASGI passthrough. These tests
send the same requests both ways and hold the two to the same result, and check what the fast
path must still do as a server: pipelining, keep-alive, disconnects, slow readers, shutdown.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httptools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pmproxy.app import ProxyApp
from pmproxy.testing import ProxyServer, RecordingUpstream, raw_request

from pmproxy import create_app

LOOPBACK = "127.0.0.1"


class _Answers:
    """Splits the bytes of several HTTP/1.1 answers (interim 1xx ones skipped)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done: list[tuple[int, list[tuple[bytes, bytes]], bytes]] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def on_message_begin(self) -> None:
        self._headers = []
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status >= 200:
            self.done.append((status, self._headers, b"".join(self._body)))


def _exchange(port: int, payload: bytes, answers: int, timeout: float = 10.0) -> _Answers:
    """Write ``payload`` at once on one connection and read ``answers`` answers."""
    parsed = _Answers()
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(payload)
        while len(parsed.done) < answers:
            data = sock.recv(65536)
            if not data:
                break
            parsed.parser.feed_data(data)
    return parsed


def _request(
    method: bytes, target: bytes, *, body: bytes = b"", extra: bytes = b"", close: bool = False
) -> bytes:
    head = method + b" " + target + b" HTTP/1.1\r\nHost: proxy\r\n" + extra
    if body:
        head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


def _chunked(method: bytes, target: bytes, body: bytes, extra: bytes = b"") -> bytes:
    """The same request with its body in chunked transfer coding (takes the ASGI path)."""
    head = method + b" " + target + b" HTTP/1.1\r\nHost: proxy\r\n" + extra
    chunks = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
    return head + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n"


def test_pipelined_requests_are_answered_in_order_each_sent_upstream_once(
    proxy: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    payload = (
        _request(b"GET", b"/clob/one?x=1", extra=b"POLY_API_KEY: k\r\n")
        + _request(b"POST", b"/gamma/two", body=b'{"a":1}')
        + _request(b"DELETE", b"/clob/order", body=b'{"id":"3"}')
        + _request(b"GET", b"/data/four", extra=b"POLY_API_KEY: k\r\n", close=True)
    )
    answers = _exchange(proxy.port, payload, 4).done
    targets = [json.loads(body)["target"] for _, _, body in answers]
    assert targets == ["/c/one?x=1", "/g/two", "/c/order", "/d/four"]
    assert [status for status, _, _ in answers] == [200, 200, 200, 200]
    assert sorted(r.target for r in upstream.requests) == sorted(t.encode() for t in targets)


@pytest.mark.parametrize(
    ("method", "target", "body", "extra"),
    [
        (b"POST", b"/clob/order", b'{"order":{"salt":1}}', b"POLY_SIGNATURE: s\r\n"),
        (b"DELETE", b"/clob/orders", b'["0x1","0x2"]', b"POLY_API_KEY: k\r\n"),
        (
            b"POST",
            b"/gamma/x?y=%20z",
            b"{}",
            b"Connection: x-secret\r\nX-Secret: 1\r\nX-Forwarded-For: 6.6.6.6\r\nCookie: c=1\r\n",
        ),
        (b"POST", b"/chain", b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', b""),
    ],
)
def test_the_fast_and_the_asgi_path_send_the_same_request_upstream(
    proxy: ProxyServer,
    upstream: RecordingUpstream,
    *,
    method: bytes,
    target: bytes,
    body: bytes,
    extra: bytes,
) -> None:
    upstream.clear()
    fast = _exchange(proxy.port, _request(method, target, body=body, extra=extra, close=True), 1)
    asgi = _exchange(proxy.port, _chunked(method, target, body, extra), 1)
    (fast_status, fast_headers, fast_body), (asgi_status, asgi_headers, asgi_body) = (
        fast.done[0],
        asgi.done[0],
    )
    assert fast_status == asgi_status == 200
    sent_fast, sent_asgi = upstream.requests
    assert sent_fast == sent_asgi  # method, target, every header and the body, byte for byte
    assert sent_fast.body == body
    assert fast_body == asgi_body
    assert fast_headers == asgi_headers


@pytest.mark.parametrize(
    "payload",
    [
        b"GET /clob/x HTTP/1.0\r\nHost: p\r\n\r\n",
        b"POST /clob/x HTTP/1.1\r\nHost: p\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}",
        _request(b"POST", b"/clob/x", body=b"b" * 100_000, close=True),  # over the fast limit
    ],
    ids=["http-1.0", "expect", "large-body"],
)
def test_requests_the_fast_path_leaves_to_asgi_are_forwarded(
    proxy: ProxyServer, upstream: RecordingUpstream, payload: bytes
) -> None:
    upstream.clear()
    answers = _exchange(proxy.port, payload, 1).done
    assert [status for status, _, _ in answers] == [200]
    assert upstream.hits == 1
    assert upstream.requests[0].target == b"/c/x"
    if b"100000" in payload:
        assert upstream.requests[0].body == b"b" * 100_000


def test_a_head_request_is_forwarded_and_answered_without_a_body(
    proxy: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    response = raw_request(proxy.port, b"/clob/x", method=b"HEAD")
    assert response.status == 200
    assert response.body == b""
    assert [(r.method, r.target) for r in upstream.requests] == [("HEAD", b"/c/x")]


# --- generated requests: the real server (fast path) answers as the ASGI app does ---

_PIECES = [
    "book", "a", "/", "//", ".", "..", "%2e", "%2E%2e", "%2f", "%5c", "%25", "%00", "%0d%0a",
    "%c0%ae", "%20", "~", "@", ":", ";", "!", "=", "http:", "evil.example", "CANARY", "\\",
    "#", "?",
]  # fmt: skip
_PREFIXES = ["/clob", "/gamma", "/data", "/chain", "/clob/", "/gamma/", "/data/", "/CLOB/"]
_QUERIES = ["", "?a=1", "?u=http://CANARY/", "?x=%0d%0a", "?#x", "?a=b?c"]


class _InProcess:
    """The same application called directly through ASGI, on a loop of its own."""

    def __init__(self, app: ProxyApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def status(self, method: str, raw: bytes, query: bytes) -> int:
        return self.loop.run_until_complete(_in_process_status(self.app, method, raw, query))

    def close(self) -> None:
        self.loop.run_until_complete(self.app.pool.close())
        self.loop.close()


async def _in_process_status(app: ProxyApp, method: str, raw: bytes, query: bytes) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw.decode("latin-1")),
        "raw_path": raw,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"proxy"), (b"poly_api_key", b"k"), (b"content-length", b"2")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    sent: list[Any] = []
    body = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return body.pop() if body else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.fixture(scope="module")
def in_process(make_settings: Any) -> Iterator[_InProcess]:
    client = _InProcess(create_app(make_settings()))
    yield client
    client.close()


def test_generated_targets_get_the_same_status_on_the_fast_path_and_reach_no_other_host(
    proxy: ProxyServer,
    upstream: RecordingUpstream,
    canary: RecordingUpstream,
    in_process: _InProcess,
) -> None:
    canary_host = f"127.0.0.1:{canary.port}"
    checked = 0

    @settings(
        max_examples=250,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        prefix=st.sampled_from(_PREFIXES),
        pieces=st.lists(st.sampled_from(_PIECES), max_size=5),
        query=st.sampled_from(_QUERIES),
        method=st.sampled_from(["GET", "POST", "DELETE"]),
    )
    def check(prefix: str, pieces: list[str], query: str, method: str) -> None:
        nonlocal checked
        target = (prefix + "".join(pieces) + query).replace("CANARY", canary_host).encode()
        raw, _, raw_query = target.partition(b"?")
        upstream.clear()
        fast = raw_request(
            proxy.port,
            target,
            method=method.encode(),
            headers=((b"POLY_API_KEY", b"k"),),
            body=b"{}",
        )
        expected = in_process.status(method, raw, raw_query)
        assert fast.status == expected, (target, fast.status, expected)
        assert fast.status in {200, 400, 404, 405, 403}, (target, fast.status)
        if fast.status == 200:
            sent = upstream.requests[-1].target
            assert sent == json.loads(fast.body)["target"].encode()
        checked += 1

    check()
    assert canary.hits == 0
    assert checked >= 250


# --- the fast path as an HTTP/1.1 server ---


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout_and_not_before(
    upstream: RecordingUpstream, make_settings: Any
) -> None:
    with (
        ProxyServer(create_app(make_settings()), keep_alive=1) as server,
        socket.create_connection((LOOPBACK, server.port), timeout=5) as sock,
    ):
        for _ in range(3):  # in use for longer than the timeout: stays open
            sock.sendall(_request(b"GET", b"/clob/k", extra=b"POLY_API_KEY: k\r\n"))
            parsed = _Answers()
            while not parsed.done:
                parsed.parser.feed_data(sock.recv(65536))
            assert parsed.done[0][0] == 200
            time.sleep(0.6)
        started = time.monotonic()
        assert sock.recv(65536) == b""  # then closed by the proxy
        assert time.monotonic() - started < 2.5


def test_a_client_that_leaves_before_its_answer_leaves_the_proxy_working(
    make_settings: Any,
) -> None:
    with RecordingUpstream(delay=0.2) as slow:
        app = create_app(make_settings(clob_url=slow.url))
        with ProxyServer(app) as server:
            with socket.create_connection((LOOPBACK, server.port), timeout=5) as sock:
                sock.sendall(_request(b"GET", b"/clob/gone", extra=b"POLY_API_KEY: k\r\n"))
            time.sleep(0.4)  # its answer arrives to nobody
            response = raw_request(server.port, b"/clob/next", headers=((b"POLY_API_KEY", b"k"),))
            assert response.status == 200
            assert [r.target for r in slow.requests] == [b"/gone", b"/next"]
            assert app.metrics.answered("clob", 200) == 2


def test_a_large_answer_reaches_a_slow_reader_whole(make_settings: Any) -> None:
    big = bytes(range(256)) * 65_536  # 16 MiB: more than the socket buffers hold
    with (
        RecordingUpstream(fixed_body=big) as upstream,
        ProxyServer(create_app(make_settings(gamma_url=upstream.url, read_timeout=1.0))) as server,
        socket.socket() as sock,
    ):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65_536)  # before connecting
        sock.settimeout(10)
        sock.connect((LOOPBACK, server.port))
        sock.sendall(_request(b"GET", b"/gamma/big", extra=b"POLY_API_KEY: k\r\n", close=True))
        # Longer than the read timeout: the proxy's writes back up and it stops reading the
        # upstream, which is waiting for the client, not a stalled upstream.
        time.sleep(1.5)
        parsed = _Answers()
        while not parsed.done:
            data = sock.recv(65536)
            assert data, "closed before the whole answer"
            parsed.parser.feed_data(data)
    status, _, body = parsed.done[0]
    assert status == 200
    assert body == big


def test_shutdown_answers_the_request_in_flight_then_closes(make_settings: Any) -> None:
    with RecordingUpstream(delay=0.3) as slow:
        server = ProxyServer(create_app(make_settings(clob_url=slow.url))).start()
        try:
            sock = socket.create_connection((LOOPBACK, server.port), timeout=5)
            sock.sendall(_request(b"GET", b"/clob/late", extra=b"POLY_API_KEY: k\r\n"))
            time.sleep(0.1)
            stopper = threading.Thread(target=server.stop)
            stopper.start()
            parsed = _Answers()
            with sock:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    parsed.parser.feed_data(data)
            stopper.join(10)
        finally:
            server.stop()
    status, headers, body = parsed.done[0]
    assert status == 200
    assert (b"connection", b"close") in headers
    assert json.loads(body)["target"] == "/late"


_HTTP10_GET = b"GET /clob/book?t=1 HTTP/1.0\r\n\r\n"  # HTTP/1.0: the ASGI path
_HTTP11_GET = _request(b"GET", b"/clob/book?t=1")  # the fast path


@pytest.mark.parametrize(
    ("leader", "follower"), [(_HTTP10_GET, _HTTP11_GET), (_HTTP11_GET, _HTTP10_GET)]
)
def test_a_fast_and_an_asgi_request_for_the_same_public_get_share_one_upstream_call(
    make_settings: Any, leader: bytes, follower: bytes
) -> None:
    results: list[tuple[int, list[tuple[bytes, bytes]], bytes]] = []
    with RecordingUpstream(delay=0.3) as slow:
        server = ProxyServer(create_app(make_settings(clob_url=slow.url))).start()
        try:
            first = threading.Thread(
                target=lambda: results.extend(_exchange(server.port, leader, 1).done)
            )
            first.start()
            time.sleep(0.1)  # the leader's upstream call is under way
            results.extend(_exchange(server.port, follower, 1).done)
            first.join(5)
            metrics = raw_request(server.port, b"/metrics").body.decode()
        finally:
            server.stop()
    assert [status for status, _, _ in results] == [200, 200]
    assert results[0][2] == results[1][2]
    assert [r.target for r in slow.requests] == [b"/book?t=1"]
    assert 'pmproxy_coalesced_requests_total{route="clob"} 1.0' in metrics


@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/1.0"], ids=["fast", "asgi"])
def test_a_fragment_in_the_query_is_refused_on_both_paths(
    proxy: ProxyServer, upstream: RecordingUpstream, version: bytes
) -> None:
    # uvicorn's parser drops a '#fragment'; no client sends one, so it is refused, not trimmed.
    upstream.clear()
    payload = b"GET /clob/book?token_id=1#@evil.example/ " + version + b"\r\nHost: p\r\n\r\n"
    answers = _exchange(proxy.port, payload, 1).done
    assert [status for status, _, _ in answers] == [400]
    assert upstream.hits == 0
