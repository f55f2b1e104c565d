"""Pre-trade risk: each check has a reason code, missing inputs fail closed, limits always hold."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pmengine.book import Book
from pmengine.order import CANCELLED, LIVE, SIGNED, SUBMITTED, Order, OrderBookkeeper, OrderRequest
from pmengine.position import Portfolio
from pmengine.units import AMOUNT_SCALE, BUY, SELL

from pmengine import risk

NOW = 1_000_000
U = AMOUNT_SCALE


def fresh_book(
    token: str = "tok",  # noqa: S107 - a token id, not a password
    bid: int = 4_800,
    ask: int = 5_200,
    tick: int = 100,
) -> Book:
    book = Book(token, tick=tick, min_size=5 * U)
    book.replace([(bid, 100 * U)], [(ask, 100 * U)], NOW)
    return book


def limits(**kw: int) -> risk.RiskLimits:
    base = {
        "max_order_size": 100 * U,
        "max_order_notional": 50 * U,
        "max_position": 200 * U,
        "max_total_exposure": 120 * U,
        "collar": 1_000,
        "max_open_orders": 5,
        "rate_count": 3,
        "rate_window_ms": 1_000,
        "daily_loss_limit": 10 * U,
        "stale_book_ms": 5_000,
    }
    base.update(kw)
    return risk.RiskLimits(**base)


def engine(**kw: int) -> risk.RiskEngine:
    eng = risk.RiskEngine(limits(**kw))
    eng.reconciled = True
    return eng


def funded(cash: int = 1_000 * U) -> Portfolio:
    p = Portfolio()
    p.set_cash(cash)
    return p


def req(side: int = BUY, price: int = 5_000, size: int = 10 * U, intent: str = "i") -> OrderRequest:
    return OrderRequest("s", intent, token_id="tok", side=side, price=price, size=size)


def check(
    eng: risk.RiskEngine,
    r: OrderRequest,
    *,
    book: Book | None = None,
    portfolio: Portfolio | None = None,
    orders: OrderBookkeeper | None = None,
    now: int = NOW,
) -> str:
    return eng.check(
        r,
        fresh_book() if book is None else book,
        portfolio=funded() if portfolio is None else portfolio,
        orders=OrderBookkeeper() if orders is None else orders,
        now_ms=now,
    )


def test_a_sound_order_passes() -> None:
    assert check(engine(), req()) == risk.OK


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (req(price=5_050), risk.R_OFF_TICK),
        (req(price=0), risk.R_PRICE_RANGE),
        (req(price=10_000), risk.R_PRICE_RANGE),
        (req(price=3_900), risk.R_PRICE_COLLAR),
        (req(size=4 * U), risk.R_MIN_SIZE),
        (req(size=101 * U, price=4_500), risk.R_MAX_ORDER_SIZE),
        (req(size=99 * U, price=5_500), risk.R_MAX_ORDER_NOTIONAL),
        (req(side=SELL), risk.R_INSUFFICIENT_POSITION),
        (req(side=7), risk.R_BAD_SIDE),
    ],
)
def test_each_limit_has_its_reason(request_: OrderRequest, reason: str) -> None:
    eng = engine()
    assert check(eng, request_) == reason
    assert eng.denials == {reason: 1}


def test_missing_inputs_fail_closed() -> None:
    eng = engine()
    assert eng.check(req(), None, portfolio=funded(), orders=OrderBookkeeper(), now_ms=NOW) == (
        risk.R_NO_BOOK
    )
    assert check(eng, req(), book=fresh_book(tick=0)) == risk.R_UNKNOWN_TICK
    one_sided = Book("tok", tick=100)
    one_sided.replace([(4_800, U)], [], NOW)
    assert check(eng, req(), book=one_sided) == risk.R_NO_MID
    assert check(eng, req(), portfolio=Portfolio()) == risk.R_NO_BALANCE
    assert check(eng, req(), now=NOW + 5_001) == risk.R_STALE_BOOK
    never_updated = Book("tok", tick=100)
    assert check(eng, req(), book=never_updated) == risk.R_STALE_BOOK
    unreconciled = risk.RiskEngine(limits())
    assert check(unreconciled, req()) == risk.R_NOT_RECONCILED


def test_balance_counts_cash_reserved_by_working_buys() -> None:
    orders = OrderBookkeeper()
    resting = Order(
        "0x1",
        "a",
        strategy="s",
        token_id="tok",
        side=BUY,
        price=5_000,
        size=10 * U,
        created_ms=1,
        state=LIVE,
    )
    orders.add(resting)
    assert check(engine(), req(intent="b"), portfolio=funded(9 * U), orders=orders) == (
        risk.R_INSUFFICIENT_BALANCE
    )


def test_position_and_exposure_include_open_orders() -> None:
    orders = OrderBookkeeper()
    for i in range(2):
        orders.add(
            Order(
                f"0x{i}",
                f"o{i}",
                strategy="s",
                token_id="tok",
                side=BUY,
                price=5_000,
                size=90 * U,
                created_ms=1,
                state=LIVE,
            )
        )
    eng = engine(max_order_notional=1_000 * U, max_total_exposure=10_000 * U)
    assert check(eng, req(size=21 * U, price=4_500), orders=orders) == risk.R_MAX_POSITION
    eng = engine(max_total_exposure=100 * U, max_position=1_000 * U)
    assert check(eng, req(size=21 * U), orders=orders) == risk.R_MAX_EXPOSURE


def test_duplicate_intent_open_orders_and_rate() -> None:
    orders = OrderBookkeeper()
    orders.add(
        Order(
            "0x1",
            "dup",
            strategy="s",
            token_id="tok",
            side=BUY,
            price=5_000,
            size=U,
            created_ms=1,
            state=SUBMITTED,
        )
    )
    eng = engine(max_open_orders=1)
    assert check(eng, req(intent="dup"), orders=orders) == risk.R_DUPLICATE_INTENT
    assert check(eng, req(intent="new"), orders=orders) == risk.R_MAX_OPEN_ORDERS
    eng = engine(rate_count=2)
    for _ in range(2):
        assert check(eng, req()) == risk.OK
        eng.record_sent(NOW)
    assert check(eng, req()) == risk.R_RATE_LIMIT
    assert check(eng, req(), now=NOW + 1_000, book=fresh_book()) in (risk.OK, risk.R_STALE_BOOK)


def test_daily_loss_limit_stops_new_exposure_but_not_reduction() -> None:
    p = funded()
    p.apply_fill("tok", BUY, 5_000, 20 * U, 0)
    eng = engine()
    lost = -11 * U * 10_000  # 11 pUSD under water, in micro-notional units
    assert (
        eng.check(
            req(), fresh_book(), portfolio=p, orders=OrderBookkeeper(), now_ms=NOW, unrealized=lost
        )
        == risk.R_DAILY_LOSS
    )
    assert (
        eng.check(
            req(side=SELL),
            fresh_book(),
            portfolio=p,
            orders=OrderBookkeeper(),
            now_ms=NOW,
            unrealized=lost,
        )
        == risk.OK
    )


def test_reducing_lets_only_position_reducing_sells_through() -> None:
    p = funded()
    p.apply_fill("tok", BUY, 5_000, 20 * U, 0)
    eng = engine()
    eng.state = risk.REDUCING
    assert check(eng, req(), portfolio=p) == risk.R_REDUCE_ONLY
    assert check(eng, req(side=SELL, size=20 * U), portfolio=p) == risk.OK
    assert check(eng, req(side=SELL, size=21 * U), portfolio=p) == risk.R_REDUCE_ONLY


def test_halted_denies_everything() -> None:
    p = funded()
    p.apply_fill("tok", BUY, 5_000, 20 * U, 0)
    eng = engine()
    eng.state = risk.HALTED
    assert check(eng, req(), portfolio=p) == risk.R_HALTED
    assert check(eng, req(side=SELL), portfolio=p) == risk.R_HALTED


TOKENS = ("a", "b", "c")


class RiskMachine(RuleBasedStateMachine):
    """Random signal sequences through risk, with fills and cancels in between.

    Approved orders rest; fills happen at the order's price or better; the book moves. Whatever
    happens, no limit is ever exceeded, and in HALTED nothing new gets through.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lim = limits(max_open_orders=6, rate_count=1_000)
        self.eng = risk.RiskEngine(self.lim)
        self.eng.reconciled = True
        self.portfolio = funded(300 * U)
        self.orders = OrderBookkeeper()
        self.books = {t: fresh_book(t) for t in TOKENS}
        self.now = NOW
        self.seq = 0

    @rule(
        token=st.sampled_from(TOKENS),
        side=st.sampled_from([BUY, SELL]),
        price=st.integers(min_value=0, max_value=10_000),
        size=st.integers(min_value=0, max_value=150 * U),
        reuse=st.booleans(),
    )
    def signal(self, token: str, side: int, price: int, size: int, reuse: bool) -> None:
        self.seq += 1
        intent = "same" if reuse else f"i{self.seq}"
        r = OrderRequest("s", intent, token_id=token, side=side, price=price, size=size)
        reason = self.eng.check(
            r, self.books[token], portfolio=self.portfolio, orders=self.orders, now_ms=self.now
        )
        if self.eng.state == risk.HALTED:
            assert reason == risk.R_HALTED
        if reason:
            return
        order = Order(
            f"0x{self.seq}",
            intent,
            strategy="s",
            token_id=token,
            side=side,
            price=price,
            size=size,
            created_ms=self.now,
        )
        self.orders.add(order)
        for state in (SIGNED, SUBMITTED, LIVE):
            self.orders.transition(order.order_hash, state, self.now)
        self.eng.record_sent(self.now)

    @precondition(lambda self: bool(self.orders.working()))
    @rule(data=st.data())
    def fill(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(self.orders.working()))
        size = data.draw(st.integers(min_value=1, max_value=order.remaining))
        improve = data.draw(st.integers(min_value=0, max_value=2)) * 100
        price = order.price - improve if order.side == BUY else order.price + improve
        price = max(1, min(9_999, price))
        self.orders.apply_fill(order.order_hash, size, self.now)
        self.portfolio.apply_fill(order.token_id, order.side, price, size, 0)

    @precondition(lambda self: bool(self.orders.working()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(self.orders.working()))
        self.orders.transition(order.order_hash, CANCELLED, self.now)

    @rule(state=st.sampled_from(risk.TRADING_STATES))
    def set_state(self, state: str) -> None:
        self.eng.state = state

    @rule(token=st.sampled_from(TOKENS), mid=st.integers(min_value=2, max_value=98))
    def move(self, token: str, mid: int) -> None:
        self.now += 100
        for book in self.books.values():
            book.touch(self.now)
        self.books[token].replace(
            [(mid * 100 - 100, 50 * U)], [(mid * 100 + 100, 50 * U)], self.now
        )

    @invariant()
    def limits_hold(self) -> None:
        lim = self.lim
        reserved = sum(o.reserved_cash() for o in self.orders.working())
        assert self.portfolio.cost_exposure() + reserved <= lim.max_total_exposure
        assert self.portfolio.cash >= reserved - 0  # never spends cash it does not have
        assert self.orders.working_count() <= lim.max_open_orders
        for t in TOKENS:
            qty = self.portfolio.qty(t)
            open_buy = sum(
                o.remaining for o in self.orders.working() if o.token_id == t and o.side == BUY
            )
            open_sell = sum(
                o.remaining for o in self.orders.working() if o.token_id == t and o.side == SELL
            )
            assert qty >= 0
            assert qty + open_buy <= lim.max_position
            assert open_sell <= qty
        intents = [o.intent_id for o in self.orders.working()]
        assert len(intents) == len(set(intents))


TestRiskMachine = RiskMachine.TestCase
# Thousands of random signal sequences in the main run; the compiled-build rerun asks for fewer.
EXAMPLES = int(os.environ.get("PMENGINE_RISK_EXAMPLES", "1200"))
TestRiskMachine.settings = settings(max_examples=EXAMPLES, stateful_step_count=30, deadline=None)
