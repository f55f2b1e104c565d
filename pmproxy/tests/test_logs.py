"""No log line, at any level, holds a credential or a signed body."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from pmproxy.testing import ProxyServer, RecordingUpstream, StalledUpstream, dead_port, raw_request

from pmproxy import create_app, logs

API_KEY = "canary-api-key-1f0e5b"
PASSPHRASE = "canary-passphrase-77aa"
SIGNATURE = "canary-signature-0c0ffee"
ORDER_SIGNATURE = "0xcanaryordersignature" + "ab" * 20


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("debug", stream=stream)
    yield stream
    structlog.reset_defaults()
    for name in ("uvicorn", "uvicorn.error", "aiohttp", "pmproxy"):
        std = logging.getLogger(name)
        std.handlers = []
        std.propagate = True
        std.setLevel(logging.NOTSET)
    logging.getLogger("uvicorn.access").disabled = False


def _secret_headers() -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"POLY_API_KEY", API_KEY.encode()),
        (b"POLY_PASSPHRASE", PASSPHRASE.encode()),
        (b"POLY_SIGNATURE", SIGNATURE.encode()),
        (b"POLY_ADDRESS", b"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        (b"POLY_TIMESTAMP", b"1000000"),
    )


def test_canary_secrets_never_appear_in_debug_logs(
    captured: io.StringIO, upstream: RecordingUpstream, make_settings: Any
) -> None:
    body = json.dumps({"order": {"signature": ORDER_SIGNATURE}, "owner": API_KEY}).encode()
    with StalledUpstream() as stalled:
        settings = make_settings(
            log_level="debug",
            gamma_url=stalled.url,
            data_url=f"http://127.0.0.1:{dead_port()}",
            read_timeout=0.3,
        )
        for dry_run in (False, True):
            with ProxyServer(create_app(settings.with_overrides(dry_run=dry_run))) as server:
                for target, method in [
                    (b"/clob/order", b"POST"),
                    (b"/clob/orders", b"POST"),
                    (b"/clob/order", b"DELETE"),
                    (b"/clob/book?token_id=1", b"GET"),
                    (b"/clob/%2e%2e/order", b"POST"),
                    (b"/gamma/markets", b"GET"),
                    (b"/data/positions", b"GET"),
                    (b"/chain", b"POST"),
                    (b"/clob/" + API_KEY.encode(), b"POST"),
                ]:
                    raw_request(
                        server.port, target, method=method, headers=_secret_headers(), body=body
                    )
                httpx.get(server.url + "/health")
                logs_seen = httpx.get(server.url + "/metrics").text
                assert API_KEY not in logs_seen
    output = captured.getvalue()
    assert "dryrun.answered" in output
    assert "upstream.failed" in output
    assert "request.rejected" in output
    for secret in (API_KEY, PASSPHRASE, SIGNATURE, ORDER_SIGNATURE):
        assert secret not in output
    for line in output.splitlines():
        json.loads(line)  # every line is one JSON object


def test_the_redaction_processor_masks_credentials_whoever_logs_them(
    captured: io.StringIO,
) -> None:
    log = structlog.get_logger("anyone")
    log.info(
        "careless",
        headers={"POLY_API_KEY": API_KEY, "poly_passphrase": PASSPHRASE, "accept": "*/*"},
        body=json.dumps({"order": {"signature": ORDER_SIGNATURE}}),
        poly_signature=SIGNATURE,
        raw=b'{"signature":"' + ORDER_SIGNATURE.encode() + b'"}',
    )
    logging.getLogger("pmproxy").warning("stdlib line with secret=%s", PASSPHRASE)
    output = captured.getvalue()
    for secret in (API_KEY, PASSPHRASE, SIGNATURE, ORDER_SIGNATURE):
        assert secret not in output
    assert '"accept": "*/*"' in output
