"""Random order flow never breaks the exchange's money rules (hypothesis, rule-based).

After every step: no balance is negative, pUSD plus pools equals everything ever funded, each
market's YES supply equals its NO supply equals its pool, open orders are fully backed by the
reservations, and no book is crossed. A rejected order leaves every balance and book unchanged.
"""

from __future__ import annotations

import copy
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from pmtrader.sim import FeeParams, Market, OrderRejected, Side
from pmtrader.sim.testkit import Trader, limit_order, make_exchange, market_buy, market_sell

ONE = 1_000_000


class ExchangeMachine(RuleBasedStateMachine):
    """Four traders on two markets: makers pay fees too on one; the other, a neg-risk outcome,
    delays marketable orders by three seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.exchange, self.clock = make_exchange(balance=300 * ONE)
        cent = [m for m in self.exchange.markets() if m.tick == 100]
        self.markets: list[Market] = [
            next(m for m in cent if not m.neg_risk),
            next(m for m in cent if m.neg_risk),
        ]
        # makers pay fees too on the first market, so both fee paths run under random flow
        self.markets[0].fees = FeeParams(Decimal("0.05"), 2, taker_only=False)
        # and the second delays marketable orders (in-play sports), so that path runs too
        self.exchange.set_match_delay(self.markets[1].condition_id, 3_000)
        self.traders = [Trader(self.exchange, n) for n in range(1, 5)]
        self.placed: list[tuple[Trader, str]] = []

    @initialize()
    def start(self) -> None:
        self.exchange.check()

    def _state(self) -> tuple[object, ...]:
        ledger = self.exchange.ledger
        books = tuple(
            (self.exchange.book(m.yes_token).bids, self.exchange.book(m.yes_token).asks)
            for m in self.markets
        )
        return copy.deepcopy((ledger.collateral, ledger.tokens, dict(ledger.pools))), books

    def _try(self, trader: Trader, order: object, kind: str, post_only: bool = False) -> None:
        before = self._state()
        try:
            result = trader.place(order, kind, post_only=post_only)  # type: ignore[arg-type]
        except OrderRejected:
            assert self._state() == before, "a rejection changed the ledger or a book"
            return
        self.placed.append((trader, result.order_id))

    @rule(
        who=st.integers(0, 3),
        market=st.integers(0, 1),
        yes=st.booleans(),
        side=st.sampled_from([Side.BUY, Side.SELL]),
        price=st.integers(35, 65).map(lambda c: c * 100),
        size=st.integers(5, 60).map(lambda s: s * ONE),
        kind=st.sampled_from(["GTC", "GTC", "FOK", "FAK", "GTD"]),
        post_only=st.booleans(),
    )
    def limit(  # noqa: PLR0917 - hypothesis passes rule arguments by keyword
        self,
        who: int,
        market: int,
        yes: bool,
        side: Side,
        price: int,
        size: int,
        kind: str,
        post_only: bool,
    ) -> None:
        trader = self.traders[who]
        m = self.markets[market]
        token = m.yes_token if yes else m.no_token
        if side is Side.SELL:
            held = self.exchange.available_tokens(trader.address, token)
            size = min(size, held - held % 10_000) if held >= 5 * ONE else size
        expiration = self.clock.now_ms() // 1000 + 120 if kind == "GTD" else 0
        order = limit_order(token, side, price, size, trader.address, expiration=expiration)
        self._try(trader, order, kind, post_only and kind in ("GTC", "GTD"))

    @rule(
        who=st.integers(0, 3),
        market=st.integers(0, 1),
        yes=st.booleans(),
        amount=st.integers(100, 5_000).map(lambda c: c * 10_000),
        worst=st.integers(5, 95).map(lambda c: c * 100),
        kind=st.sampled_from(["FOK", "FAK"]),
    )
    def market_buy(  # noqa: PLR0917 - hypothesis passes rule arguments by keyword
        self, who: int, market: int, yes: bool, amount: int, worst: int, kind: str
    ) -> None:
        trader = self.traders[who]
        m = self.markets[market]
        token = m.yes_token if yes else m.no_token
        self._try(trader, market_buy(token, amount, worst, trader.address), kind)

    @rule(who=st.integers(0, 3), market=st.integers(0, 1), yes=st.booleans())
    def market_sell_all(self, who: int, market: int, yes: bool) -> None:
        trader = self.traders[who]
        m = self.markets[market]
        token = m.yes_token if yes else m.no_token
        held = self.exchange.available_tokens(trader.address, token)
        if held > 0:
            self._try(trader, market_sell(token, held, 100, trader.address), "FAK")

    @rule(pick=st.integers(0, 10_000))
    def cancel(self, pick: int) -> None:
        if self.placed:
            trader, order_id = self.placed[pick % len(self.placed)]
            self.exchange.cancel(trader.key, [order_id])

    @precondition(lambda self: len(self.placed) >= 12)
    @rule(market=st.integers(0, 1), yes_wins=st.booleans())
    def resolve(self, market: int, yes_wins: bool) -> None:
        m = self.markets[market]
        if not m.closed:
            self.exchange.resolve(m.condition_id, m.yes_token if yes_wins else m.no_token)
            assert self.exchange.ledger.pools[m.condition_id] == 0

    @rule(seconds=st.integers(1, 200))
    def time_passes(self, seconds: int) -> None:
        self.exchange.advance(self.clock.advance(seconds * 1000))

    @invariant()
    def money_is_conserved_and_never_negative(self) -> None:
        self.exchange.check()
        for trader in self.traders:
            assert trader.pusd >= 0
            assert self.exchange.available_pusd(trader.address) >= 0


ExchangeMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
TestRandomOrderFlow = ExchangeMachine.TestCase
