"""Nothing a client sends can make pmproxy call any host but its configured upstreams.

A canary server listens on another loopback port and every hostile input names it; its hit
count must stay zero. Requests that are refused must not reach the upstream either, and those
that are forwarded must arrive with exactly the path and query the client sent.
"""

from __future__ import annotations

import asyncio
import collections
import io
from collections.abc import Iterator, MutableMapping
from typing import Any
from urllib.parse import unquote

import pytest
import structlog
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pmproxy.safety import check_path, check_query
from pmproxy.testing import ProxyServer, RecordingUpstream, raw_request

from pmproxy import ProxyApp, UnsafeRequestError, create_app, logs, safety

HOSTILE_PATHS = [
    b"/..",
    b"/../",
    b"/../../etc/passwd",
    b"/a/./b",
    b"/.",
    b"/%2e%2e/x",
    b"/%2E%2E/x",
    b"/.%2e/x",
    b"/%2e./x",
    b"/%2e",
    b"/a%2fb",
    b"/a%2F..%2Fb",
    b"/a%5cb",
    b"/a%5C..%5Cb",
    b"/a\\b",
    b"/..\\x",
    b"/a%00b",
    b"/a%0d%0aHost:%20evil",
    b"/a%252e%252e/x",
    b"/%c0%ae%c0%ae/x",
    b"/%C0%AE/x",
    b"/..;/x",
    b"/.;x/y",
    b"//evil.example/x",
    b"/a//b",
    b"/\xc3\xa9",
    b"/a\x7fb",
    b"/a#b",
    b"/a%7Fb",
    b"/a%ffb",
    b"/a%zz",
    b"/a%2",
    b"x",
]
BENIGN_PATHS = [
    b"",
    b"/",
    b"/book",
    b"/data/order/0xdeadbeef",
    b"/markets/0x" + b"ab" * 32,
    b"/auth/derive-api-key",
    b"/a.b/c..d/...",
    b"/@evil.example/x",
    b"/http:/evil.example",
    b"/a%20b/%3A%40",
    b"/~user/;p=1/!$&'()*+,=",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_check_path_refuses_every_target_that_could_mean_something_else(path: bytes) -> None:
    with pytest.raises(UnsafeRequestError):
        check_path(path)


@pytest.mark.parametrize("path", BENIGN_PATHS)
def test_check_path_lets_plain_paths_through(path: bytes) -> None:
    check_path(path)


@pytest.mark.parametrize("query", [b"a=1\x00", b"a=\r\n", b"a= b", b"a=#b", b"a=\xc3\xa9"])
def test_check_query_refuses_bytes_that_could_split_a_request(query: bytes) -> None:
    with pytest.raises(UnsafeRequestError):
        check_query(query)


def test_check_query_keeps_ordinary_queries() -> None:
    check_query(b"token_id=123&side=BUY&next_cursor=MA%3D%3D&x=a/b?c")


def _hostile_targets(canary_port: int) -> list[bytes]:
    canary = f"127.0.0.1:{canary_port}".encode()
    targets = [
        b"http://" + canary + b"/clob/book",
        b"http://" + canary + b"/x",
        b"https://" + canary + b"/gamma/markets",
        b"//" + canary + b"/x",
        b"//" + canary + b"/clob/book",
        b"/clob//" + canary + b"/x",
        b"/clob/http://" + canary + b"/x",
        b"/clob/http:%2F%2F" + canary + b"/x",
        b"/gamma/../clob/x",
        b"/data/%2e%2e%2fclob",
        b"/chain/../clob",
        b"/clob#@" + canary + b"/",
        b"/clob/\\\\" + canary + b"/x",
        b"/clob/%5C%5C" + canary + b"/x",
        b"*",
    ]
    for route in (b"/clob", b"/gamma", b"/data"):
        targets.extend(route + path for path in HOSTILE_PATHS if path[:1] == b"/")
    return targets


def test_a_corpus_of_hostile_targets_is_refused_by_the_real_server_and_reaches_no_host(
    proxy: ProxyServer, upstream: RecordingUpstream, canary: RecordingUpstream
) -> None:
    upstream.clear()
    statuses = {}
    for target in _hostile_targets(canary.port):
        for method in (b"GET", b"POST", b"DELETE"):
            response = raw_request(proxy.port, target, method=method, body=b"{}")
            statuses[(method, target)] = response.status
    assert canary.hits == 0
    assert upstream.hits == 0, [r.target for r in upstream.requests]
    assert set(statuses.values()) <= {400, 404}, statuses
    # Everything aimed at a forwarding route is refused by pmproxy itself, with a reason.
    response = raw_request(proxy.port, b"/clob/%2e%2e/x")
    assert response.status == 400
    assert "encoded" in response.json()["error"]  # type: ignore[index]


def test_absolute_form_is_refused_with_400_not_forwarded(
    proxy: ProxyServer, canary: RecordingUpstream, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    response = raw_request(proxy.port, f"http://127.0.0.1:{canary.port}/clob/book".encode())
    assert response.status == 400
    assert "not a URL" in response.json()["error"]  # type: ignore[index]
    assert canary.hits == 0
    assert upstream.hits == 0


def test_hostile_headers_do_not_steer_the_request_and_are_not_passed_on(
    proxy: ProxyServer, upstream: RecordingUpstream, canary: RecordingUpstream
) -> None:
    upstream.clear()
    canary_host = f"127.0.0.1:{canary.port}".encode()
    response = raw_request(
        proxy.port,
        b"/clob/book?token_id=1",
        headers=(
            (b"X-Forwarded-Host", canary_host),
            (b"X-Forwarded-For", b"6.6.6.6"),
            (b"X-Forwarded-Proto", b"https"),
            (b"Forwarded", b"for=6.6.6.6;host=" + canary_host),
            (b"X-Real-IP", b"6.6.6.6"),
            (b"Cookie", b"session=stolen"),
            (b"Via", b"1.1 evil"),
        ),
    )
    assert response.status == 200
    assert canary.hits == 0
    (seen,) = upstream.requests
    assert seen.target == b"/c/book?token_id=1"
    assert seen.header("host") == f"127.0.0.1:{upstream.port}".encode()
    assert seen.header("x-forwarded-for") == b"127.0.0.1"
    for dropped in ("x-forwarded-host", "x-forwarded-proto", "forwarded", "x-real-ip", "cookie"):
        assert seen.header(dropped) is None, dropped
    assert seen.header("via") is None


# --- the generated corpus: 10,000 cases through the application, a real upstream behind it ---

_FRAGMENTS = [
    "/",
    "//",
    ".",
    "..",
    "...",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "\\",
    "%25",
    "%252e",
    "%c0%ae",
    "%00",
    "%0d%0a",
    "\r\n",
    "\x00",
    "@",
    ":",
    ";",
    "?",
    "#",
    "http:",
    "https://",
    "evil.example",
    "CANARY",
    "book",
    "markets",
    "a",
    "é",
    " ",
    "%20",
    "~",
    "\t",
]
_PREFIXES = [
    "/clob/", "/gamma/", "/data/", "/clob/", "/gamma/", "/data/", "/clob/", "/clob",
    "/gamma", "/data", "/chain", "/chain/", "", "/CLOB/", "http://CANARY", "//CANARY",
]  # fmt: skip
_QUERIES = ["", "a=1", "host=CANARY", "x=%0d%0a", "u=http://CANARY/", "a= b", "#x", "é=1"]
_HEADER_NAMES = [
    "host", "x-forwarded-host", "forwarded", "x-original-url", "x-rewrite-url", "connection",
    "referer", "poly_address",
]  # fmt: skip
_HEADER_VALUES = ["CANARY", "http://CANARY/x", "host, x-forwarded-host", "keep-alive"]
# Single characters a byte can also stand for: controls, DEL, separators, Latin-1 and beyond.
_CHARS = [
    *(chr(c) for c in range(32)),
    *"\x7f\xa0é/\\.%#?@:;~ ",
    "\u0130",
    "\u2024",
    "\uff0f",
]
# Plain path material, so that a good share of cases is forwarded and checked byte for byte.
_BENIGN = ["/", "book", "markets", "a", "0x1f", "123", "-", "_", "~", "%20", "%3A", "@", ":", "="]
_CASE_BYTES = 16


def _decode(chunk: bytes) -> tuple[str, str, list[tuple[str, str]], str]:
    """One case from 16 generated bytes: prefix, method, headers, query and path pieces.

    Hypothesis draws (and shrinks) plain bytes; this mapping turns them into hostile requests,
    so one draw feeds a whole batch and the engine costs far less than the requests themselves.
    """
    prefix = _PREFIXES[chunk[0] % len(_PREFIXES)]
    method = ("GET", "POST", "DELETE")[chunk[1] % 3]
    headers = [
        (_HEADER_NAMES[b % len(_HEADER_NAMES)], _HEADER_VALUES[b // 64])
        for b in chunk[3 : 3 + chunk[2] % 4]
    ]
    query = _QUERIES[chunk[6] % len(_QUERIES)]
    if chunk[6] >= 224:
        query += _CHARS[chunk[6] % len(_CHARS)]
    pieces = [
        _BENIGN[b % len(_BENIGN)]
        if b < 110
        else (_FRAGMENTS[b % len(_FRAGMENTS)] if b < 220 else _CHARS[b % len(_CHARS)])
        for b in chunk[8 : 8 + chunk[7] % 9]
    ]
    return prefix + "".join(pieces), query, headers, method


class _InProcess:
    """Calls the ASGI application directly on one event loop (far faster than sockets)."""

    def __init__(self, app: ProxyApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def request(
        self, method: str, raw: bytes, query: bytes, headers: list[tuple[bytes, bytes]]
    ) -> int:
        return self.loop.run_until_complete(self._request(method, raw, query, headers))

    async def _request(
        self, method: str, raw: bytes, query: bytes, headers: list[tuple[bytes, bytes]]
    ) -> int:
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
            "headers": [*headers, (b"content-length", b"2")],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
        }
        sent: list[MutableMapping[str, Any]] = []
        body = [{"type": "http.request", "body": b"{}", "more_body": False}]

        async def receive() -> dict[str, Any]:
            return body.pop() if body else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        return int(sent[0]["status"])

    def close(self) -> None:
        self.loop.run_until_complete(self.app.pool.close())
        self.loop.close()


@pytest.fixture(scope="module")
def in_process(make_settings: Any) -> Iterator[_InProcess]:
    # Log at warning only: 10,000 debug lines would cost more than the requests.
    logs.configure("warning", stream=io.StringIO())
    client = _InProcess(create_app(make_settings()))
    yield client
    client.close()
    structlog.reset_defaults()


_BATCH = 50


def test_generated_targets_and_headers_never_reach_another_host(
    in_process: _InProcess, upstream: RecordingUpstream, canary: RecordingUpstream
) -> None:
    # 200 examples x 50 cases: the engine's per-example and per-draw costs would otherwise
    # dominate, and a failing batch still shrinks towards the bytes of the case that fails.
    checked = 0
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(
        max_examples=10_000 // _BATCH,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(blob=st.binary(min_size=_BATCH * _CASE_BYTES, max_size=_BATCH * _CASE_BYTES))
    def check(blob: bytes) -> None:
        nonlocal checked
        for at in range(0, len(blob), _CASE_BYTES):
            target, query, headers, method = _decode(blob[at : at + _CASE_BYTES])
            outcome = _check_case(
                in_process,
                upstream,
                canary,
                target=(target, query),
                headers=headers,
                method=method,
            )
            outcomes[outcome] += 1
            checked += 1

    check()
    assert checked >= 10_000
    # The corpus is not vacuous: many cases are refused, many reach the upstream, exactly.
    assert outcomes["refused"] >= 2_000, outcomes
    assert outcomes["forwarded"] >= 800, outcomes


def _check_case(
    in_process: _InProcess,
    upstream: RecordingUpstream,
    canary: RecordingUpstream,
    *,
    target: tuple[str, str],
    headers: list[tuple[str, str]],
    method: str,
) -> str:
    canary_host = f"127.0.0.1:{canary.port}"
    raw = target[0].replace("CANARY", canary_host).encode("utf-8")
    query = target[1].replace("CANARY", canary_host).encode("utf-8")
    header_bytes = [
        (name.encode(), value.replace("CANARY", canary_host).encode()) for name, value in headers
    ]
    before = upstream.hits
    status = in_process.request(method, raw, query, header_bytes)
    assert canary.hits == 0
    forwarded = upstream.requests[before:] if upstream.hits > before else []
    if status == 400:
        assert forwarded == []
    bases = {b"clob": b"/c", b"gamma": b"/g", b"data": b"/d", b"chain": b"/rpc"}
    for seen in forwarded:
        # Only ever the configured origin, under a configured base path, with the exact bytes.
        assert seen.header("host") == f"127.0.0.1:{upstream.port}".encode()
        route = raw.split(b"/")[1]
        seen_path, _, seen_query = seen.target.partition(b"?")
        if route == b"chain":
            assert seen_path == b"/rpc"
        else:
            assert seen_path == bases[route] + raw[len(route) + 1 :]
        assert seen_query == query
    if forwarded:
        return "forwarded"
    return "refused" if status == 400 else "answered"


def test_the_byte_sets_of_the_quick_checks_allow_exactly_what_the_patterns_allow() -> None:
    # check_path and check_query first delete allowed bytes with bytes.translate; those sets
    # must say, byte for byte, what the regular expressions they shortcut say.
    for code in range(256):
        byte = bytes([code])
        allowed_in_query = safety._QUERY_CHARS.fullmatch(byte) is not None
        assert allowed_in_query == (not byte.translate(None, safety._QUERY_BYTES)), byte
        plain = not byte.translate(None, safety._PLAIN_PATH)
        allowed_in_path = safety._PATH_CHARS.fullmatch(byte) is not None
        assert plain == (allowed_in_path and byte not in (b"%", b".")), byte
