"""CTF approvals in the exchange's ledger: what a SELL needs, kept like the chain keeps them.

ERC-1155 ``setApprovalForAll`` is all or nothing per operator, so the ledger's CONDITIONAL
allowance is either unlimited or zero; a SELL needs it for the exchange that settles the market,
a BUY needs the pUSD (COLLATERAL) allowance instead. Both survive a restart.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from pmtrader.sim import Exchange, ManualClock, Market, OrderRejected
from pmtrader.sim.ledger import (
    EXCHANGE_V2,
    MAX_ALLOWANCE,
    NEG_RISK_ADAPTER,
    NEG_RISK_EXCHANGE_V2,
    SPENDERS,
)
from pmtrader.sim.testkit import START_MS, Trader, make_exchange

ONE = 1_000_000


def _market(exchange: Exchange, *, neg_risk: bool) -> Market:
    return next(m for m in exchange.markets() if m.neg_risk is neg_risk and m.tick == 100)


def _holder(exchange: Exchange, market: Market, n: int) -> Trader:
    """A trader holding 20 NO shares (a YES buyer at 0.30 is the counterparty)."""
    Trader(exchange, 1000 + n).buy(market.yes_token, 3000, 20 * ONE)
    holder = Trader(exchange, n)
    holder.buy(market.no_token, 7000, 20 * ONE)
    assert holder.shares(market.no_token) == 20 * ONE
    return holder


def test_a_new_account_is_approved_for_every_v2_operator() -> None:
    exchange, _ = make_exchange()
    trader = Trader(exchange, 1)
    ledger = exchange.ledger
    assert all(ledger.is_approved_for_all(trader.address, op) for op in SPENDERS)
    assert all(ledger.is_approved_for_all(trader.address.upper(), op.lower()) for op in SPENDERS)
    assert not ledger.is_approved_for_all(trader.address, "0x" + "ab" * 20)
    assert not ledger.is_approved_for_all("0x" + "cd" * 20, EXCHANGE_V2)


@pytest.mark.parametrize("amount", [1, 5 * ONE, MAX_ALLOWANCE])
def test_any_grant_is_a_full_approval_and_zero_revokes(amount: int) -> None:
    exchange, _ = make_exchange()
    trader = Trader(exchange, 1)
    exchange.set_allowance(trader.address, "CONDITIONAL", NEG_RISK_ADAPTER, 0)
    assert not exchange.ledger.is_approved_for_all(trader.address, NEG_RISK_ADAPTER)
    assert exchange.ledger.is_approved_for_all(trader.address, NEG_RISK_EXCHANGE_V2)
    exchange.set_allowance(trader.address, "CONDITIONAL", NEG_RISK_ADAPTER, amount)
    assert exchange.ledger.allowance(trader.address, "CONDITIONAL", NEG_RISK_ADAPTER) == (
        MAX_ALLOWANCE
    )
    # pUSD allowances keep their amount: ERC-20 approve is not all or nothing.
    exchange.set_allowance(trader.address, "COLLATERAL", EXCHANGE_V2, 5 * ONE)
    assert exchange.ledger.allowance(trader.address, "COLLATERAL", EXCHANGE_V2) == 5 * ONE


@pytest.mark.parametrize("neg_risk", [False, True])
def test_a_sell_needs_the_settling_exchanges_approval_and_changes_nothing_without(
    neg_risk: bool,
) -> None:
    exchange, _ = make_exchange()
    market = _market(exchange, neg_risk=neg_risk)
    holder = _holder(exchange, market, 1)
    settling = NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2
    other = EXCHANGE_V2 if neg_risk else NEG_RISK_EXCHANGE_V2
    exchange.set_allowance(holder.address, "CONDITIONAL", other, 0)
    assert holder.sell(market.no_token, 9000, 5 * ONE).status == "live"  # the other one is moot

    exchange.set_allowance(holder.address, "CONDITIONAL", settling, 0)
    before = (copy.deepcopy(exchange.ledger.tokens), exchange.book(market.yes_token).to_wire())
    with pytest.raises(OrderRejected, match="the allowance is not enough -> allowance: 0"):
        holder.sell(market.no_token, 9000, 10 * ONE)
    assert (copy.deepcopy(exchange.ledger.tokens), exchange.book(market.yes_token).to_wire()) == (
        before
    )
    assert holder.buy(market.yes_token, 1000, 10 * ONE).status == "live"  # pUSD is separate

    exchange.set_allowance(holder.address, "CONDITIONAL", settling, 1)
    assert holder.sell(market.no_token, 9000, 10 * ONE).status == "live"


def test_approvals_survive_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    exchange = Exchange.open(tmp_path, seed=7, clock=clock, initial_balance=1_000 * ONE)
    trader = Trader(exchange, 1)
    exchange.set_allowance(trader.address, "CONDITIONAL", EXCHANGE_V2, 0)
    exchange.close()

    again = Exchange.open(tmp_path, seed=7, clock=clock, initial_balance=1_000 * ONE)
    assert not again.ledger.is_approved_for_all(trader.address, EXCHANGE_V2)
    assert again.ledger.is_approved_for_all(trader.address, NEG_RISK_ADAPTER)
    again.close()
