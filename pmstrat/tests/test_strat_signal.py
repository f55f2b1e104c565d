"""Signals are exact, immutable, validated at construction, and tell Buy from Sell."""

from decimal import Decimal

import msgspec
import pytest

from pmstrat import Buy, Cancel, Hold, OrderType, Sell, Side, SignalError, Urgency


def test_decimal_constructor_is_exact_and_round_trips() -> None:
    buy = Buy.of("111", "0.56", "21.37")
    assert (buy.price, buy.size) == (5600, 21_370_000)
    assert buy.price_decimal == Decimal("0.56")
    assert buy.size_decimal == Decimal("21.37")
    assert buy.notional_decimal == Decimal("11.9672")
    assert buy.side is Side.BUY
    assert Sell.of("111", Decimal("0.0001"), 1).price == 1


def test_signals_are_immutable_and_buy_never_equals_sell() -> None:
    buy = Buy("111", 5000, 1_000_000)
    with pytest.raises(AttributeError):
        buy.price = 1  # type: ignore[misc]  # the point: frozen structs refuse writes
    assert buy == Buy("111", 5000, 1_000_000)
    assert buy != Sell("111", 5000, 1_000_000)  # type: ignore[comparison-overlap]  # the point
    assert hash(buy) == hash(Buy("111", 5000, 1_000_000))
    assert msgspec.structs.replace(buy, price=5100).price == 5100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price": 0}, "between 1 and 9999"),
        ({"price": 10_000}, "between 1 and 9999"),
        ({"price": 0.5}, "use Buy.of"),
        ({"size": 0}, "positive int"),
        ({"token": ""}, "token"),
        ({"order_type": OrderType.GTD}, "needs expires_ms"),
        ({"expires_ms": 5}, "only meaningful for GTD"),
        ({"order_type": OrderType.FOK, "post_only": True}, "post-only"),
    ],
)
def test_impossible_orders_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"token": "111", "price": 5000, "size": 1_000_000} | kwargs
    with pytest.raises(SignalError, match=message):
        Buy(**args)  # type: ignore[arg-type]  # deliberately wrong values


def test_decimal_inputs_off_the_grid_are_refused_not_rounded() -> None:
    with pytest.raises(SignalError, match="more than 4 decimals"):
        Buy.of("111", "0.56001", "1")
    with pytest.raises(SignalError, match="more than 6 decimals"):
        Buy.of("111", "0.56", "1.0000001")
    with pytest.raises(SignalError, match="not a number"):
        Sell.of("111", "abc", "1")


def test_cancel_targets_exactly_one_thing() -> None:
    assert Cancel(order_id="0xabc").order_id == "0xabc"
    assert Cancel(token="111", tag="quote").tag == "quote"
    with pytest.raises(SignalError, match="exactly one"):
        Cancel()
    with pytest.raises(SignalError, match="exactly one"):
        Cancel(order_id="0xabc", token="111")


def test_urgency_orders_aggressiveness_and_marks_immediate() -> None:
    assert Urgency.LOW < Urgency.NORMAL < Urgency.HIGH < Urgency.IMMEDIATE
    assert Buy("1", 5000, 1, urgency=Urgency.IMMEDIATE).is_immediate
    assert Buy("1", 5000, 1, order_type=OrderType.FAK).is_immediate
    assert not Buy("1", 5000, 1).is_immediate
    assert Hold("waiting").reason == "waiting"
