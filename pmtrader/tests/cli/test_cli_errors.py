"""Errors a user meets outside their own typing: a geoblocked region and a venue in trouble."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .conftest import Cli

# Polymarket's answer from a restricted region (protocol notes, error strings).
_GEOBLOCK = {
    "error": "Trading restricted in your region, please refer to available regions - "
    "https://docs.polymarket.com/developers/CLOB/geoblock"
}


class _Geoblocked(BaseHTTPRequestHandler):
    """A CLOB front door refusing every request as Polymarket does from a blocked region."""

    def _refuse(self) -> None:
        body = json.dumps(_GEOBLOCK).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _refuse  # noqa: N815 - http.server dispatches on these names

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture
def geoblocked_clob() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Geoblocked)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_geoblocked_says_so_plainly_and_sends_no_order(
    cli: Cli, geoblocked_clob: str, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    cli.env["PM_CLOB_URL"] = geoblocked_clob  # Gamma still answers from the exchange
    result = cli(
        "buy", market["market_slug"], "-o", "yes", "--price", "0.4", "--size", "10", "-y", code=1
    )
    assert "geoblocked" in result.stderr
    assert "Traceback" not in result.output
    book = cli.sim.http.get("/book", params={"token_id": market["tokens"][0]["token_id"]})
    assert book.json()["bids"] == []


def test_venue_errors_are_reported_without_traceback(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    slug = take_market()["market_slug"]
    cli.sim.fault(rest_fail_rate=1.0, rest_fail_status=503, paths=["/book"])
    try:
        result = cli("book", slug, code=1)
    finally:
        cli.sim.fault(rest_fail_rate=0.0, paths=[])
    assert "The venue answered 503" in result.stderr
    assert "Traceback" not in result.output
    assert cli.json("book", slug)["slug"] == slug  # the fault is gone for the next test
