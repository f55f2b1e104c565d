"""Forwarding: byte for byte where it matters, hop-by-hop hygiene both ways, errors as JSON."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest
from pmproxy.testing import (
    ProxyServer,
    RecordingUpstream,
    StalledUpstream,
    dead_port,
    raw_request,
)


def test_method_raw_path_query_body_and_poly_headers_arrive_exactly_as_sent(
    proxy: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    body = '{"order":{"salt":1,"side":"BUY","signature":"0xab"},"owner":"k","note":"é \'q\'"}'
    response = raw_request(
        proxy.port,
        b"/clob/order?a=%2F&b=+&c=MA%3D%3D",
        method=b"POST",
        headers=(
            (b"POLY_ADDRESS", b"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            (b"POLY_SIGNATURE", b"ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="),
            (b"POLY_TIMESTAMP", b"1000000"),
            (b"POLY_API_KEY", b"00000000-1111-2222-3333-444444444444"),
            (b"POLY_PASSPHRASE", b"pass phrase with spaces"),
            (b"Content-Type", b"application/json"),
            (b"User-Agent", b"py_clob_client_v2"),
        ),
        body=body.encode(),
    )
    assert response.status == 200
    (seen,) = upstream.requests
    assert seen.method == "POST"
    assert seen.target == b"/c/order?a=%2F&b=+&c=MA%3D%3D"
    assert seen.body == body.encode()
    assert seen.header("content-length") == str(len(body.encode())).encode()
    assert seen.header("poly_signature") == b"ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="
    assert seen.header("poly_passphrase") == b"pass phrase with spaces"
    assert seen.header("poly_api_key") == b"00000000-1111-2222-3333-444444444444"
    assert seen.header("poly_address") == b"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert seen.header("user-agent") == b"py_clob_client_v2"
    assert seen.header("content-type") == b"application/json"


def test_no_header_is_invented_on_the_way_up(
    proxy: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    raw_request(proxy.port, b"/gamma/markets?limit=1")
    (seen,) = upstream.requests
    names = sorted(name.lower() for name, _ in seen.headers)
    assert names == [b"host", b"x-forwarded-for"]
    assert seen.target == b"/g/markets?limit=1"


def test_each_route_goes_to_its_own_base_path(
    proxy: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    for target in (
        b"/clob/book?token_id=1",
        b"/gamma/events",
        b"/data/positions?user=0x1",
        b"/clob",
    ):
        assert raw_request(proxy.port, target).status == 200
    assert [r.target for r in upstream.requests] == [
        b"/c/book?token_id=1",
        b"/g/events",
        b"/d/positions?user=0x1",
        b"/c",
    ]


def test_upstream_status_is_preserved(proxy: ProxyServer) -> None:
    assert raw_request(proxy.port, b"/clob/__status/418").status == 418
    assert raw_request(proxy.port, b"/clob/__status/404").status == 404
    assert raw_request(proxy.port, b"/clob/__status/503", method=b"DELETE").status == 503


def test_hop_by_hop_request_headers_and_those_named_in_connection_are_stripped(
    proxy: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    raw_request(
        proxy.port,
        b"/clob/book",
        headers=(
            (b"Connection", b"X-Private-Hop, keep-alive"),
            (b"X-Private-Hop", b"must not pass"),
            (b"Keep-Alive", b"timeout=5"),
            (b"TE", b"trailers"),
            (b"Trailer", b"X-Checksum"),
            (b"Proxy-Authorization", b"Basic c2VjcmV0"),
            (b"Proxy-Connection", b"keep-alive"),
            (b"X-End-To-End", b"passes"),
        ),
    )
    (seen,) = upstream.requests
    for name in (
        "connection",
        "x-private-hop",
        "keep-alive",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
    ):
        assert seen.header(name) is None, name
    assert seen.header("x-end-to-end") == b"passes"


def test_hop_by_hop_response_headers_and_set_cookie_never_reach_the_client(
    proxy: ProxyServer,
) -> None:
    response = raw_request(proxy.port, b"/clob/__cookie")
    assert response.status == 200
    names = {name.lower() for name, _ in response.headers}
    assert b"set-cookie" not in names
    assert b"x-upstream-private" not in names
    assert b"keep-alive" not in names
    assert b"proxy-authenticate" not in names
    assert response.header("x-end-to-end") == b"kept"
    assert response.body == b"{}"


def test_a_streamed_answer_is_streamed_back(proxy: ProxyServer) -> None:
    response = raw_request(proxy.port, b"/data/__stream")
    assert response.status == 200
    assert response.header("transfer-encoding") == b"chunked"
    assert response.body == b"chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;"


def test_large_bodies_pass_both_ways(proxy: ProxyServer, upstream: RecordingUpstream) -> None:
    upstream.clear()
    big = b'{"x":"' + b"a" * 600_000 + b'"}'
    response = raw_request(proxy.port, b"/clob/orders", method=b"POST", body=big)
    assert response.status == 200
    assert upstream.requests[-1].body == big
    assert json.loads(response.body)["body"] == big.decode()


def test_a_body_over_the_limit_is_refused_from_content_length_before_it_is_sent(
    upstream: RecordingUpstream, start_proxy: Any, make_settings: Any
) -> None:
    small = start_proxy(make_settings(max_body_bytes=1024))
    upstream.clear()
    # Only the headers are sent: a proxy that waited for the body would time out here.
    with socket.create_connection(("127.0.0.1", small.port), timeout=5) as sock:
        sock.sendall(b"POST /clob/order HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"at most 1024" in answer
    assert upstream.hits == 0


def test_a_chunked_body_over_the_limit_is_refused_while_streaming(
    upstream: RecordingUpstream, start_proxy: Any, make_settings: Any
) -> None:
    small = start_proxy(make_settings(max_body_bytes=1024))
    upstream.clear()
    chunk = b"a" * 600
    body = (
        b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
    )
    response = raw_request(
        small.port,
        b"/clob/order",
        method=b"POST",
        headers=((b"Transfer-Encoding", b"chunked"),),
        body=body,
    )
    assert response.status == 413
    assert upstream.hits == 0
    assert raw_request(small.port, b"/clob/order", method=b"POST", body=b"x" * 1024).status == 200


def test_a_dead_upstream_is_a_502_with_a_json_error(start_proxy: Any, make_settings: Any) -> None:
    dead = f"http://127.0.0.1:{dead_port()}"
    server = start_proxy(make_settings(clob_url=dead))
    response = httpx.get(server.url + "/clob/book?token_id=1")
    assert response.status_code == 502
    assert "clob upstream is unavailable" in response.json()["error"]


def test_a_stalled_upstream_is_a_504_after_the_read_timeout(
    start_proxy: Any, make_settings: Any
) -> None:
    with StalledUpstream() as stalled:
        server = start_proxy(make_settings(gamma_url=stalled.url, read_timeout=0.3))
        started = time.monotonic()
        response = httpx.get(server.url + "/gamma/markets", timeout=10)
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json() == {"error": "the gamma upstream did not answer in time"}
    assert elapsed < 5


def test_a_post_or_delete_is_never_retried_but_a_get_is_retried_once(
    proxy: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    assert raw_request(proxy.port, b"/clob/__close", method=b"POST", body=b"{}").status == 502
    assert upstream.hits == 1
    upstream.clear()
    assert raw_request(proxy.port, b"/clob/__close", method=b"DELETE", body=b"{}").status == 502
    assert upstream.hits == 1
    upstream.clear()
    response = raw_request(
        proxy.port, b"/clob/__close", headers=((b"POLY_API_KEY", b"k"),)
    )  # credentials: not coalesced, plain forward
    assert response.status == 502
    assert upstream.hits == 2


def test_chain_takes_allowlisted_json_rpc_posts_only(
    proxy: ProxyServer, upstream: RecordingUpstream
) -> None:
    upstream.clear()
    with httpx.Client(base_url=proxy.url) as client:
        call = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
        ok = client.post("/chain", content=call, headers={"Content-Type": "application/json"})
        assert ok.status_code == 200
        assert upstream.requests[-1].target == b"/rpc"
        assert upstream.requests[-1].body == call
        batch = (
            b'[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},'
            b'{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["0x0","latest"]}]'
        )
        assert client.post("/chain", content=batch).status_code == 200
        hits = upstream.hits
        refused = client.post(
            "/chain",
            content=b'[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"debug_traceTransaction"}]',
        )
        assert refused.status_code == 403
        assert "debug_traceTransaction" in refused.json()["error"]
        assert client.post("/chain", content=b'{"method":"admin_peers"}').status_code == 403
        assert client.post("/chain", content=b"not json").status_code == 400
        assert client.post("/chain", content=b"[]").status_code == 400
        assert client.post("/chain", content=b'{"id":1}').status_code == 400
        assert client.get("/chain").status_code == 405
        assert client.post("/chain/other", content=call).status_code == 404
        assert upstream.hits == hits


def test_health_reports_each_upstream(
    proxy: ProxyServer, start_proxy: Any, make_settings: Any
) -> None:
    health = httpx.get(proxy.url + "/health").json()
    assert health["status"] == "ok"
    assert set(health["upstreams"]) == {"clob", "gamma", "data", "chain"}
    assert all(u["reachable"] for u in health["upstreams"].values())
    degraded = start_proxy(make_settings(data_url=f"http://127.0.0.1:{dead_port()}"))
    health = httpx.get(degraded.url + "/health").json()
    assert health["status"] == "degraded"
    assert health["upstreams"]["data"]["reachable"] is False
    assert health["upstreams"]["clob"]["reachable"] is True


def test_metrics_count_requests_latency_and_rejections(proxy: ProxyServer) -> None:
    raw_request(proxy.port, b"/clob/book?token_id=9", headers=((b"POLY_API_KEY", b"k"),))
    raw_request(proxy.port, b"/clob/%2e%2e/x")
    raw_request(proxy.port, b"/gamma/x", method=b"POST", body=b"{}")
    text = httpx.get(proxy.url + "/metrics").text
    assert 'pmproxy_requests_total{method="GET",route="clob",status="200"}' in text
    assert 'pmproxy_requests_total{method="GET",route="clob",status="400"}' in text
    assert 'pmproxy_requests_total{method="POST",route="gamma",status="200"}' in text
    assert 'pmproxy_upstream_latency_seconds_bucket{le="0.005",route="clob"}' in text
    assert 'pmproxy_rejected_requests_total{route="clob",status="400"}' in text
    health = httpx.get(proxy.url + "/health").json()
    assert health["upstreams"]["clob"]["p50_ms"] is not None
    assert health["upstreams"]["clob"]["p99_ms"] >= health["upstreams"]["clob"]["p50_ms"]


def test_openapi_documents_the_admin_and_the_forwarding_routes(proxy: ProxyServer) -> None:
    schema = httpx.get(proxy.url + "/openapi.json").json()
    assert {"/health", "/metrics", "/clob/{path}", "/gamma/{path}", "/chain"} <= set(
        schema["paths"]
    )
    assert "not** a way around" in schema["info"]["description"]
    assert httpx.get(proxy.url + "/docs").status_code == 200


@pytest.mark.parametrize("target", [b"/", b"/nope", b"/clobber", b"/ws/user"])
def test_other_paths_are_not_forwarded(
    proxy: ProxyServer, upstream: RecordingUpstream, target: bytes
) -> None:
    upstream.clear()
    assert raw_request(proxy.port, target).status == 404
    assert upstream.hits == 0


def test_a_market_websocket_to_a_dead_upstream_is_refused_at_the_handshake(
    start_proxy: Any, make_settings: Any
) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    server = start_proxy(make_settings(ws_url=f"ws://127.0.0.1:{dead_port()}/ws"))
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(f"ws://127.0.0.1:{server.port}/ws/market"),
    ):
        pass
    assert refused.value.response.status_code == 403
