"""Trading by hand: every order is previewed, confirmed, checked, and lands on the exchange once."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pmtrader.chain import contracts_for
from pmtrader.testing import SimServer

from .conftest import Cli


def _book(sim: SimServer, token: str) -> dict[str, Any]:
    body: dict[str, Any] = sim.http.get("/book", params={"token_id": token}).json()
    return body


def _bids(sim: SimServer, token: str) -> list[tuple[Decimal, Decimal]]:
    return sorted(
        (Decimal(lvl["price"]), Decimal(lvl["size"])) for lvl in _book(sim, token)["bids"]
    )


def test_buy_with_yes_rests_on_the_exchange_book_and_lists_in_orders(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    yes = market["tokens"][0]["token_id"]
    result = cli(
        "buy", market["market_slug"], "--outcome", "yes", "--price", "0.42", "--size", "10", "--yes"
    )
    assert "BUY 10 @ 0.42 Yes (GTC)" in result.stdout
    assert "rests" in result.stdout
    assert "Order live" in result.stdout
    assert _bids(cli.sim, yes) == [(Decimal("0.42"), Decimal("10"))]
    orders = cli.json("orders")
    assert [(o["side"], o["price"], o["original_size"]) for o in orders] == [("BUY", "0.42", "10")]
    assert orders[0]["token_id"] == yes


def test_buy_asks_first_and_declining_sends_nothing(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    yes = market["tokens"][0]["token_id"]
    args = ("buy", market["market_slug"], "-o", "YES", "--price", "0.3", "--size", "5")
    declined = cli(*args, input="n\n")
    assert "Send this order?" in declined.stderr
    assert "Not sent." in declined.stderr
    assert _bids(cli.sim, yes) == []
    cli(*args, input="y\n")
    assert _bids(cli.sim, yes) == [(Decimal("0.3"), Decimal("5"))]


def test_gtd_with_expires_and_post_only_reach_the_exchange(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    slug = take_market()["market_slug"]
    cli(
        "buy",
        slug,
        "-o",
        "yes",
        "--price",
        "0.2",
        "--size",
        "5",
        "--expires",
        "1h",
        "--post-only",
        "-y",
    )
    (order,) = cli.json("orders")
    assert order["order_type"] == "GTD"
    assert order["expiration"] > 0
    err = cli("buy", slug, "-o", "yes", "--amount", "5", "--type", "GTC", code=1).stderr
    assert "FOK or FAK" in err
    verbose = cli("-v", "orders")
    assert "Settings(env='sim'" in verbose.stderr
    assert cli.key[2:] not in verbose.output


def test_lost_answer_is_reported_once_and_the_order_is_not_sent_twice(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    cli("keys")
    cli.sim.fault(drop_order_responses=1)  # the venue executes it, the answer never arrives
    lost = cli(
        "buy", market["market_slug"], "-o", "yes", "--price", "0.22", "--size", "5", "-y", code=1
    )
    assert "no answer came back" in lost.stderr
    assert "It was not sent again" in lost.stderr
    (order,) = cli.json("orders")
    assert order["id"] in lost.stderr.replace("\n", "")
    assert _bids(cli.sim, market["tokens"][0]["token_id"]) == [(Decimal("0.22"), Decimal("5"))]


def test_dry_run_signs_and_shows_the_payload_but_sends_nothing(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    yes = market["tokens"][0]["token_id"]
    out = cli.json(
        "buy", market["market_slug"], "-o", "yes", "--price", "0.25", "--size", "8", "--dry-run"
    )
    assert out["sent"] is False
    order = out["payload"]["order"]
    assert (order["tokenId"], order["makerAmount"], order["takerAmount"]) == (
        yes,
        "2000000",
        "8000000",
    )
    assert order["signature"].startswith("0x")
    assert order["maker"] == cli.address
    assert _bids(cli.sim, yes) == []
    assert cli.json("orders") == []


def test_cancel_by_id_by_market_and_all_empties_the_book(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    m1, m2 = take_market(), take_market()
    for market, price in ((m1, "0.2"), (m1, "0.21"), (m2, "0.3"), (m2, "0.31")):
        cli("buy", market["market_slug"], "-o", "yes", "--price", price, "--size", "5", "-y")
    ids = [o["id"] for o in cli.json("orders") if o["price"] == "0.2"]
    assert "Canceled 1 order(s)." in cli("cancel", ids[0]).stdout
    assert _bids(cli.sim, m1["tokens"][0]["token_id"]) == [(Decimal("0.21"), Decimal("5"))]
    cli("cancel", "--market", m1["market_slug"])
    assert _bids(cli.sim, m1["tokens"][0]["token_id"]) == []
    assert len(cli.json("orders")) == 2
    assert cli.json("cancel", "--all")["not_canceled"] == {}
    assert _bids(cli.sim, m2["tokens"][0]["token_id"]) == []
    assert cli.json("orders") == []
    assert "Say what to cancel" in cli("cancel", code=1).stderr


def test_market_buy_fills_and_shows_in_trades_positions_and_balance(
    cli: Cli, quiet_sim: SimServer, tmp_path: Any, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    slug = market["market_slug"]
    maker = Cli(quiet_sim, tmp_path / "maker")
    maker("buy", slug, "-o", "no", "--price", "0.6", "--size", "20", "-y")  # YES ask at 0.4
    out = cli.json("buy", slug, "-o", "yes", "--amount", "4", "-y")
    assert out["sent"] is True
    assert out["preview"]["worst_price"] == "0.4"
    assert out["preview"]["shares"] == "10"
    trades = cli.json("trades")
    assert [(t["side"], t["price"], t["size"]) for t in trades] == [("BUY", "0.4", "10")]
    positions = cli.json("positions")
    assert [(p["outcome"], p["size"]) for p in positions] == [("Yes", "10")]
    assert Decimal(cli.json("balance")["balance"]) == Decimal(10_000) - Decimal(4) - Decimal(
        out["preview"]["fee"]
    )
    table = cli("positions").stdout
    assert slug[:30] in table
    assert "P&L" in table
    # Selling more than is held stops before anything is sent.
    err = cli("sell", slug, "-o", "yes", "--price", "0.5", "--size", "50", "-y", code=1).stderr
    assert "Not enough shares to sell" in err
    assert "holds 10" in err


def test_bad_orders_say_what_to_do_and_send_nothing(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    slug, yes = market["market_slug"], market["tokens"][0]["token_id"]
    off_tick = cli("buy", slug, "-o", "yes", "--price", "0.425", "--size", "10", "-y", code=1)
    assert "try 0.42 or 0.43" in off_tick.stderr
    assert "Traceback" not in off_tick.output
    small = cli("buy", slug, "-o", "yes", "--price", "0.4", "--size", "1", "-y", code=1)
    assert (
        f"minimum order size is {Decimal(str(market['minimum_order_size'])).normalize()}"
        in small.stderr
    )
    broke = cli("buy", slug, "-o", "yes", "--price", "0.99", "--size", "20000", "-y", code=1)
    assert "Not enough pUSD" in broke.stderr
    assert f"pmtrader sim fund {cli.address}" in broke.stderr
    wrong = cli("buy", slug, "-o", "maybe", "--price", "0.4", "--size", "10", "-y", code=1)
    assert "choose one of: Yes, No" in wrong.stderr
    typo = cli("buy", slug[:-3] + "xyz", "-o", "yes", "--price", "0.4", "--size", "10", code=1)
    assert f"Did you mean: {slug}" in typo.stderr.replace("\n", "")
    both = cli("buy", slug, "-o", "yes", "--size", "10", "--amount", "5", code=1)
    assert "either --price and --size" in both.stderr
    assert _bids(cli.sim, yes) == []
    cli.env["PM_PRIVATE_KEY"] = ""
    nokey = cli("buy", slug, "-o", "yes", "--price", "0.4", "--size", "10", "-y", code=1)
    assert "set PM_PRIVATE_KEY" in nokey.stderr


def test_missing_allowance_names_the_contract_and_sends_nothing(
    cli: Cli, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market()
    contracts = contracts_for(137)
    spender = contracts.neg_risk_exchange if market["neg_risk"] else contracts.exchange
    cli("keys")
    allowance = {"address": cli.address, "asset_type": "COLLATERAL", "spender": spender}
    cli.sim.http.post("/_sim/allowance", json={**allowance, "amount": "1000000"})
    err = cli(
        "buy", market["market_slug"], "-o", "yes", "--price", "0.4", "--size", "10", "-y", code=1
    ).stderr.replace("\n", " ")
    assert f"{spender} may spend 1 pUSD" in err
    assert "needs 4" in err
    assert "pmtrader doctor" in err
    assert _bids(cli.sim, market["tokens"][0]["token_id"]) == []


def test_keys_stores_credentials_0600_and_never_prints_the_secret(cli: Cli) -> None:
    result = cli("keys")
    path = cli.env["XDG_CONFIG_HOME"] + "/pmt/credentials-sim.json"
    assert path in result.stdout.replace("\n", "")
    import json
    from pathlib import Path

    stored = json.loads(Path(path).read_text())
    entry = next(iter(stored.values()))[cli.address.lower()]
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert entry["secret"] not in result.output
    assert entry["passphrase"] not in result.output
    assert cli("doctor").exit_code == 0
    checks = cli.json("doctor")
    assert checks["ok"] is True
    assert {c["status"] for c in checks["checks"]} <= {"ok", "warn"}
    assert "ctf_approval:neg_risk_adapter" in {c["name"] for c in checks["checks"]}


def test_doctor_shows_a_missing_ctf_approval_and_how_to_grant_it(cli: Cli) -> None:
    cli("keys")
    adapter = contracts_for(137).neg_risk_adapter
    cli.sim.http.post(
        "/_sim/allowance",
        json={
            "address": cli.address,
            "asset_type": "CONDITIONAL",
            "spender": adapter,
            "amount": "0",
        },
    ).raise_for_status()
    table = cli("doctor", code=1).stdout
    assert "ctf_approval:neg_risk_adapter" in table
    assert "not ready" in table
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json", code=1).stdout)["checks"]}
    failed = checks["ctf_approval:neg_risk_adapter"]
    assert failed["status"] == "fail"
    assert f"setApprovalForAll({adapter}, true)" in failed["fix"]
    assert checks["ctf_approval:exchange_v2"]["status"] == "ok"


def test_fit_balance_shrinks_a_buy_to_what_the_wallet_can_pay_with_fees(
    cli: Cli, quiet_sim: SimServer, tmp_path: Any, take_market: Callable[..., dict[str, Any]]
) -> None:
    market = take_market(tick="0.001")  # the cent-tick markets are all taken by now
    slug = market["market_slug"]
    maker = Cli(quiet_sim, tmp_path / "maker")
    maker("buy", slug, "-o", "no", "--price", "0.6", "--size", "20", "-y")  # YES ask at 0.4
    balance = Decimal(cli.json("balance")["balance"])
    # Spending the whole balance leaves nothing for the taker fee: refused, nothing sent.
    whole = ("buy", slug, "-o", "yes", "--amount", str(balance), "--type", "FAK", "-y")
    assert "Not enough pUSD" in cli(*whole, code=1).stderr
    assert cli.json("trades") == []
    out = cli.json(*whole, "--fit-balance")
    assert out["sent"] is True
    assert out["preview"]["shares"] == "20"  # all the book offers; the rest of the FAK dies
    assert Decimal(cli.json("balance")["balance"]) == balance - Decimal(8) - Decimal(
        out["preview"]["fee"]
    )
    # A SELL spends shares, not pUSD: the flag is refused before anything is signed.
    err = cli("sell", slug, "-o", "yes", "--amount", "5", "--fit-balance", "-y", code=1).stderr
    assert "--fit-balance applies to BUY orders only" in err
