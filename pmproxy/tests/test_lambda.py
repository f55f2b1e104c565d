"""The Lambda entry point answers API Gateway HTTP API (v2) events, forwarding for real."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
from mangum.types import LambdaContext
from pmproxy.app import ProxyApp
from pmproxy.testing import RecordingUpstream

from pmproxy import lambda_handler


class _FakeContext:
    function_name = "pmproxy"
    aws_request_id = "req-1"


# Mangum only carries the context into the scope; these tests never read it.
_CTX = cast(LambdaContext, _FakeContext())


def _event(
    method: str, raw_path: str, *, query: str = "", body: bytes = b"", b64: bool = False
) -> dict[str, Any]:
    from urllib.parse import unquote

    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "content-type": "application/json",
            "poly_api_key": "00000000-1111-2222-3333-444444444444",
            "poly_signature": "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc=",
            "x-forwarded-for": "6.6.6.6",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {
                "method": method,
                "path": unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "py_clob_client_v2",
            },
            "requestId": "id-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "29/Nov/2026:13:00:00 +0000",
            "timeEpoch": 1795957200000,
        },
        "body": base64.b64encode(body).decode() if b64 else body.decode(),
        "isBase64Encoded": b64,
    }


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def _close(adapter: Any, loop: asyncio.AbstractEventLoop) -> None:
    app = adapter.app
    assert isinstance(app, ProxyApp)
    loop.run_until_complete(app.pool.close())


def test_a_v2_event_is_forwarded_with_its_raw_path_query_and_headers(
    loop: asyncio.AbstractEventLoop, upstream: RecordingUpstream, make_settings: Any
) -> None:
    adapter = lambda_handler.build(make_settings())
    upstream.clear()
    try:
        result = adapter(_event("GET", "/clob/book", query="token_id=1&x=%2F"), _CTX)
        assert result["statusCode"] == 200
        echoed = json.loads(result["body"])
        assert echoed["target"] == "/c/book?token_id=1&x=%2F"
        (seen,) = upstream.requests
        assert seen.header("poly_api_key") == b"00000000-1111-2222-3333-444444444444"
        assert seen.header("x-forwarded-for") == b"203.0.113.9"
        assert seen.header("x-forwarded-proto") is None

        order = b'{"order":{"signature":"0xab"},"owner":"k","orderType":"GTC"}'
        result = adapter(_event("POST", "/clob/order", body=order, b64=True), _CTX)
        assert result["statusCode"] == 200
        assert upstream.requests[-1].body == order
        assert upstream.requests[-1].method == "POST"
    finally:
        _close(adapter, loop)


def test_encoded_traversal_in_the_raw_path_is_refused_on_lambda_too(
    loop: asyncio.AbstractEventLoop, upstream: RecordingUpstream, make_settings: Any
) -> None:
    adapter = lambda_handler.build(make_settings())
    upstream.clear()
    try:
        for raw in ("/clob/%2e%2e/x", "/clob/a%2Fb", "/clob/%5C%5Cevil"):
            result = adapter(_event("GET", raw), _CTX)
            assert result["statusCode"] == 400, raw
            assert "error" in json.loads(result["body"])
        assert upstream.hits == 0
    finally:
        _close(adapter, loop)


def test_each_event_loop_gets_its_own_upstream_session(
    upstream: RecordingUpstream, make_settings: Any
) -> None:
    first = asyncio.new_event_loop()
    asyncio.set_event_loop(first)
    adapter = lambda_handler.build(make_settings())
    second = asyncio.new_event_loop()
    try:
        assert adapter(_event("GET", "/gamma/markets"), _CTX)["statusCode"] == 200
        asyncio.set_event_loop(second)
        assert adapter(_event("GET", "/gamma/markets"), _CTX)["statusCode"] == 200
        asyncio.set_event_loop(first)
        assert adapter(_event("GET", "/gamma/markets"), _CTX)["statusCode"] == 200
        _close(adapter, second)
        _close(adapter, first)
    finally:
        asyncio.set_event_loop(None)
        second.close()
        first.close()


def test_the_handler_reads_its_settings_from_the_environment(
    loop: asyncio.AbstractEventLoop,
    upstream: RecordingUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PMPROXY_DATA_URL", upstream.url + "/from-env")
    monkeypatch.setenv("PMPROXY_LOG_LEVEL", "warning")
    monkeypatch.setattr(lambda_handler, "_adapter", None)
    upstream.clear()
    result = lambda_handler.handler(_event("GET", "/data/positions", query="user=0x1"), _CTX)
    assert result["statusCode"] == 200
    assert upstream.requests[-1].target == b"/from-env/positions?user=0x1"
    adapter = lambda_handler._adapter
    assert adapter is not None
    _close(adapter, loop)
