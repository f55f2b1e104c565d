"""REST order placement through the real local exchange server, against a GET /ok baseline.

Starts ``pmtrader sim serve`` (background flow off) on a free loopback port, then measures on one
keep-alive HTTP connection:

* baseline: ``GET /ok`` round trips (the server's floor: HTTP parsing, routing, one response);
* ``POST /order`` round trips of orders pre-signed by the official client's order builder, each
  request with fresh L2 HMAC headers (what a trading bot's hot path sends): the server verifies
  the HMAC, recovers the EIP-712 signer, admits and rests the order;
* the same through the unmodified ``ClobClient.post_order`` (its own serialisation and headers);
* ``create_and_post_order`` end to end (the client also signs each order, ~5 ms of pure-Python
  ECDSA on this machine).

Then checks the final state: every order placed is open on the book, with the sizes placed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

import httpx
from pmtrader.testing import new_wallet, start_sim
from py_clob_client_v2 import ClobClient, OrderArgs
from py_clob_client_v2.clob_types import RequestArgs
from py_clob_client_v2.headers.headers import create_level_2_headers
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2

N = int(os.environ.get("BENCH_SIM_REST_N", "200"))


def _timed(label: str, n: int, fn: Callable[[int], None]) -> tuple[str, int, float]:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return label, n, time.perf_counter() - started


def main() -> int:
    with start_sim(seed=7, flow=False) as sim:
        wallet = new_wallet()
        client = ClobClient(sim.url, chain_id=137, key=wallet.key.hex())
        creds = client.create_or_derive_api_key()
        client.set_api_creds(creds)
        markets = httpx.get(sim.url + "/markets").json()["data"]
        market = next(m for m in markets if str(m["minimum_tick_size"]) == "0.01")
        token = market["tokens"][0]["token_id"]
        prices = [round(0.01 * (1 + i % 20), 2) for i in range(N)]

        print(f"pre-signing {2 * N} orders with the official builder ...", flush=True)
        raw_orders = [
            client.create_order(OrderArgs(token_id=token, price=p, size=5, side="BUY"))
            for p in prices
        ]
        client_orders = [
            client.create_order(OrderArgs(token_id=token, price=p, size=5, side="BUY"))
            for p in prices
        ]

        http = httpx.Client(base_url=sim.url, timeout=10.0)
        for _ in range(20):  # warm the connection and the server's code paths
            http.get("/ok")

        def ok(_: int) -> None:
            assert http.get("/ok").status_code == 200

        def post_raw(i: int) -> None:
            body = json.dumps(
                order_to_json_v2(raw_orders[i], creds.api_key, "GTC"), separators=(",", ":")
            )
            args = RequestArgs(
                method="POST", request_path="/order", body=body, serialized_body=body
            )
            headers = create_level_2_headers(client.signer, creds, args)
            headers["Content-Type"] = "application/json"
            response = http.post("/order", content=body.encode(), headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "live"

        def post_client(i: int) -> None:
            assert client.post_order(client_orders[i])["status"] == "live"

        def create_and_post(i: int) -> None:
            args = OrderArgs(token_id=token, price=prices[i], size=5, side="BUY")
            assert client.create_and_post_order(args)["status"] == "live"

        rows = [
            _timed("GET /ok (baseline)", N, ok),
            _timed("POST /order, raw signed request", N, post_raw),
            _timed("POST /order, ClobClient.post_order", N, post_client),
            _timed("create_and_post_order (client signs too)", N, create_and_post),
        ]
        http.close()

        base_rate = rows[0][1] / rows[0][2]
        print()
        print(f"{'operation':<44} {'n':>5} {'seconds':>9} {'per second':>11} {'vs /ok':>8}")
        for label, n, seconds in rows:
            rate = n / seconds
            print(f"{label:<44} {n:>5} {seconds:>9.3f} {rate:>11.1f} {rate / base_rate:>7.2f}x")

        # Final state: every order is open, each on the book at its price with size 5.
        open_orders = client.get_open_orders()
        placed = 3 * N
        assert len(open_orders) == placed, (len(open_orders), placed)
        assert all(o["original_size"] == "5" and o["status"] == "LIVE" for o in open_orders)
        book = httpx.get(sim.url + "/book", params={"token_id": token}).json()
        total = sum(float(level["size"]) for level in book["bids"])
        assert total == 5 * placed, (total, 5 * placed)
        expected_levels = sorted({f"{p:g}" for p in prices}, key=float)
        assert [level["price"] for level in book["bids"]] == expected_levels
        levels = len(book["bids"])
        print(f"\nfinal state ok: {placed} open orders, {total:g} shares bid on {levels} levels")
        client.cancel_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
