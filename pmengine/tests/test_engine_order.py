"""The order lifecycle: keyed by hash, one working order per intent, legal transitions only."""

from __future__ import annotations

import pytest
from pmengine.errors import DuplicateIntentError, IllegalTransitionError
from pmengine.order import (
    CANCELLED,
    FILLED,
    LIVE,
    PARTIALLY_FILLED,
    REJECTED,
    SIGNED,
    SUBMITTED,
    UNKNOWN,
    Order,
    OrderBookkeeper,
)
from pmengine.units import BUY, SELL


def make(order_hash: str = "0xaa", intent: str = "s:1", side: int = BUY) -> Order:
    return Order(
        order_hash,
        intent,
        strategy="s",
        token_id="tok",
        side=side,
        price=5_000,
        size=10_000_000,
        created_ms=1,
    )


def test_full_life_intent_to_filled() -> None:
    book = OrderBookkeeper()
    book.add(make())
    for state in (SIGNED, SUBMITTED, LIVE):
        book.transition("0xaa", state, 2)
    order = book.apply_fill("0xaa", 4_000_000, 3)
    assert order.state == PARTIALLY_FILLED
    assert order.remaining == 6_000_000
    assert order.reserved_cash() == 3_000_000
    order = book.apply_fill("0xaa", 6_000_000, 4)
    assert order.state == FILLED
    assert order.remaining == 0
    assert not order.is_working
    assert book.working() == []


def test_a_duplicate_intent_is_refused_while_the_first_is_working() -> None:
    book = OrderBookkeeper()
    book.add(make("0x01", "s:same"))
    with pytest.raises(DuplicateIntentError, match="already has a working order"):
        book.add(make("0x02", "s:same"))
    book.transition("0x01", REJECTED, 2, "venue said no")
    book.add(make("0x03", "s:same"))  # the intent is free again once its order is done
    assert book.working_for_intent("s:same") is book.get("0x03")


def test_the_same_hash_is_never_tracked_twice() -> None:
    book = OrderBookkeeper()
    book.add(make("0x01", "a"))
    with pytest.raises(DuplicateIntentError, match="already tracked"):
        book.add(make("0x01", "b"))


def test_ambiguous_submit_goes_to_unknown_then_to_what_the_venue_says() -> None:
    book = OrderBookkeeper()
    book.add(make())
    book.transition("0xaa", SIGNED, 1)
    book.transition("0xaa", SUBMITTED, 2)
    book.transition("0xaa", UNKNOWN, 3, "timeout")
    assert book.get("0xaa") is not None
    assert book.working_for_intent("s:1") is not None  # still blocks a second order
    book.transition("0xaa", LIVE, 4)
    assert book.get("0xaa").state == LIVE  # type: ignore[union-attr]  # just added above


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ((), LIVE),  # an intent cannot be live before it is signed and sent
        ((SIGNED, SUBMITTED, LIVE), SIGNED),
        ((SIGNED, SUBMITTED, LIVE, CANCELLED), LIVE),  # terminal stays terminal
        ((SIGNED, REJECTED), SUBMITTED),
    ],
)
def test_illegal_transitions_raise(path: tuple[str, ...], bad: str) -> None:
    book = OrderBookkeeper()
    book.add(make())
    for state in path:
        book.transition("0xaa", state, 1)
    with pytest.raises(IllegalTransitionError):
        book.transition("0xaa", bad, 2)


def test_a_fill_racing_a_cancel_is_counted_but_the_order_stays_cancelled() -> None:
    book = OrderBookkeeper()
    book.add(make(side=SELL))
    for state in (SIGNED, SUBMITTED, LIVE, CANCELLED):
        book.transition("0xaa", state, 1)
    order = book.apply_fill("0xaa", 1_000_000, 2)
    assert order.state == CANCELLED
    assert order.filled == 1_000_000


def test_fills_for_unknown_orders_or_non_positive_sizes_raise() -> None:
    book = OrderBookkeeper()
    with pytest.raises(IllegalTransitionError):
        book.apply_fill("0xnope", 1, 1)
    book.add(make())
    with pytest.raises(IllegalTransitionError):
        book.apply_fill("0xaa", 0, 1)


def test_forget_terminal_keeps_working_orders_and_the_newest_history() -> None:
    book = OrderBookkeeper()
    for i in range(5):
        book.add(make(f"0x{i}", f"i{i}"))
        book.transition(f"0x{i}", REJECTED, i)
    book.add(make("0xlive", "live"))
    book.forget_terminal(keep=2)
    assert set(book.orders) == {"0x3", "0x4", "0xlive"}


def test_a_restored_copy_of_an_intents_order_replaces_the_one_held() -> None:
    # The journal may hand the same order twice (as it was, then as it ended): the intent must
    # answer with the copy the book now tracks, never with the stale one.
    book = OrderBookkeeper()
    first = make("0x01", "s:1")
    first.state = LIVE
    book.restore(first)
    assert book.working_for_intent("s:1") is first
    ended = make("0x01", "s:1")
    ended.state = CANCELLED
    book.restore(ended)
    assert book.get("0x01") is ended
    assert book.working_for_intent("s:1") is None
    assert book.working() == []
    # An older, finished order of the same intent does not hide the working one.
    book.add(make("0x02", "s:1"))
    older = make("0x00", "s:1")
    older.state = REJECTED
    book.restore(older)
    assert book.working_for_intent("s:1") is book.get("0x02")
    book.transition("0x02", REJECTED, 3)
    book.forget_terminal(keep=0)
    assert book.orders == {}
    assert book.working_for_intent("s:1") is None


def test_a_refused_order_leaves_the_book_as_it_was() -> None:
    book = OrderBookkeeper()
    book.add(make("0x01", "a"))
    with pytest.raises(DuplicateIntentError, match="already tracked"):
        book.add(make("0x01", "a"))  # same hash, same working intent: the hash is what clashes
    with pytest.raises(DuplicateIntentError, match="already has a working order"):
        book.add(make("0x02", "a"))
    assert list(book.orders) == ["0x01"]
    assert [o.order_hash for o in book.working()] == ["0x01"]
