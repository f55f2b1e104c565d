"""Order previews: the book walk picks the same price as py-clob-client-v2's market-price walk.

The official client walks the wire arrays from the end (best level last) summing ``size*price``
(BUY) or ``size`` (SELL) in floats until the amount is reached; FOK with too little depth is
"no match", FAK takes the worst level. pmt's preview walks best-first in exact decimals; the
property below shows both choose the same price wherever no running total lands exactly on the
amount (there the official float sum may fall a hair short and walk one level further).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pmtrader.models.clob import FeeDetails
from pmtrader.preview import preview_limit, preview_market
from py_clob_client_v2.clob_types import OrderType as OfficialOrderType
from py_clob_client_v2.order_builder.builder import OrderBuilder

from pmtrader import OrderBook, OrderType, Side

OFFICIAL = OrderBuilder(None, funder="0x0000000000000000000000000000000000000000")


@st.composite
def books(draw: st.DrawFn) -> OrderBook:
    cents = draw(st.lists(st.integers(1, 99), min_size=1, max_size=8, unique=True))
    mid = draw(st.integers(2, 98))
    bids = sorted(c for c in cents if c < mid)
    asks = sorted((c for c in cents if c >= mid), reverse=True)

    def level(c: int) -> dict[str, str]:
        return {"price": str(Decimal(c) / 100), "size": str(draw(st.integers(1, 500)))}

    return OrderBook.model_validate(
        {
            "market": "0xm",
            "asset_id": "1",
            "timestamp": "1",
            "bids": [level(c) for c in bids],
            "asks": [level(c) for c in asks],
        }
    )


def _official(book: OrderBook, side: Side, amount: Decimal, kind: OrderType) -> Decimal | None:
    wire = [lv.to_wire() for lv in (book.asks if side is Side.BUY else book.bids)]
    walk = (
        OFFICIAL.calculate_buy_market_price
        if side is Side.BUY
        else OFFICIAL.calculate_sell_market_price
    )
    official_kind = OfficialOrderType.FOK if kind is OrderType.FOK else OfficialOrderType.FAK
    try:
        return Decimal(repr(walk(wire, float(amount), official_kind)))
    except Exception as exc:  # the official walk raises a bare Exception("no match")
        if str(exc) != "no match":
            raise
        return None


@settings(max_examples=400, deadline=None)
@given(
    books(),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 200_000).map(lambda c: Decimal(c) / 100),
    st.sampled_from([OrderType.FOK, OrderType.FAK]),
)
def test_market_walk_matches_the_official_client(
    book: OrderBook, side: Side, amount: Decimal, kind: OrderType
) -> None:
    levels = book.asks_best_first() if side is Side.BUY else book.bids_best_first()
    assume(levels)
    running = Decimal(0)
    for lv in levels:
        running += lv.size * lv.price if side is Side.BUY else lv.size
        assume(running != amount)
    preview = preview_market(book, side, amount, order_type=kind)
    assert preview.worst_price == _official(book, side, amount, kind)


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    return OrderBook.model_validate(
        {
            "market": "0xm",
            "asset_id": "1",
            "timestamp": "5",
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks],
        }
    )


def test_the_protocol_examples() -> None:
    # protocol.md §1.5: BUY $10 into asks [0.53x100, 0.52x50] -> 0.52; SELL 10 into bids
    # [0.48x100, 0.49x50] -> 0.49.
    book = _book([("0.48", "100"), ("0.49", "50")], [("0.53", "100"), ("0.52", "50")])
    assert preview_market(book, Side.BUY, Decimal(10)).worst_price == Decimal("0.52")
    assert preview_market(book, Side.SELL, Decimal(10)).worst_price == Decimal("0.49")


def test_limit_preview_rests_the_rest_and_charges_takers_only_on_fills() -> None:
    book = _book([("0.40", "10")], [("0.60", "30"), ("0.55", "20")])
    fee = FeeDetails(r=Decimal("0.02"), e=1, to=True)
    preview = preview_limit(book, Side.BUY, Decimal("0.58"), Decimal(50), fee=fee)
    assert preview.shares == 20
    assert preview.cost == Decimal("11")
    assert preview.worst_price == Decimal("0.55")
    assert preview.rests
    assert preview.resting_shares == 30
    assert preview.fee == Decimal("0.099")  # 20 * 0.02 * 0.55 * 0.45
    assert preview.total == Decimal("11.099")
    fok = preview_limit(book, Side.BUY, Decimal("0.58"), Decimal(50), order_type=OrderType.FOK)
    assert fok.shares == 0
    assert not fok.crosses
    assert not fok.rests
    passive = preview_limit(book, Side.SELL, Decimal("0.45"), Decimal(5))
    assert not passive.crosses
    assert passive.resting_shares == 5


@pytest.mark.parametrize("kind", [OrderType.FOK, OrderType.FAK])
def test_market_preview_on_a_thin_book(kind: OrderType) -> None:
    book = _book([], [("0.50", "10")])
    preview = preview_market(book, Side.BUY, Decimal(20), order_type=kind)
    assert not preview.fills_completely
    if kind is OrderType.FOK:
        assert preview.shares == 0
        assert preview.worst_price is None
    else:
        assert preview.shares == 10
        assert preview.cost == 5
        assert preview.worst_price == Decimal("0.5")
