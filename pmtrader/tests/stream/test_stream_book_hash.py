"""The book hash is the venue's: byte-identical to py-clob-client-v2's for any book."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pmtrader.book import book_hash
from py_clob_client_v2.clob_types import OrderBookSummary, OrderSummary
from py_clob_client_v2.utilities import generate_orderbook_summary_hash


def test_golden_vector_from_the_official_client_tests() -> None:
    digest = book_hash(
        market="0xaabbcc",
        asset_id="100",
        timestamp="123456789",
        bids=[{"price": "0.3", "size": "100"}, {"price": "0.4", "size": "100"}],
        asks=[{"price": "0.6", "size": "100"}, {"price": "0.7", "size": "100"}],
        min_order_size="100",
        tick_size="0.01",
        neg_risk=False,
        last_trade_price="0.5",
    )
    assert digest == "0458ea5755c9f73d64a14636fa5c36ed460ec394"


def test_levels_may_be_pairs_or_mappings() -> None:
    args: dict[str, Any] = {
        "market": "0xaabbcc",
        "asset_id": "100",
        "timestamp": "123456789",
        "min_order_size": "100",
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": "0.5",
    }
    as_pairs = book_hash(bids=[("0.3", "100"), ("0.4", "100")], asks=[("0.6", "100")], **args)
    as_maps = book_hash(
        bids=[{"price": "0.3", "size": "100"}, {"price": "0.4", "size": "100"}],
        asks=[{"price": "0.6", "size": "100"}],
        **args,
    )
    assert as_pairs == as_maps


_decimal_text = st.builds(
    lambda whole, frac: f"{whole}.{frac}" if frac else str(whole),
    st.integers(0, 100_000),
    st.text("0123456789", max_size=6),
)
_level = st.tuples(_decimal_text, _decimal_text)
# Venue ids are ASCII, but the hash must agree even on non-ASCII text (ensure_ascii=False).
_ident = st.text(min_size=0, max_size=80)


_summary = st.fixed_dictionaries(
    {
        "market": _ident,
        "asset_id": _ident,
        "timestamp": st.integers(0, 2**63).map(str),
        "bids": st.lists(_level, max_size=12),
        "asks": st.lists(_level, max_size=12),
        "min_order_size": _decimal_text,
        "tick_size": st.sampled_from(["0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001"]),
        "neg_risk": st.booleans(),
        "last_trade_price": st.one_of(st.just(""), _decimal_text),
    }
)


@settings(max_examples=150, deadline=None)
@given(summary=_summary)
def test_equals_the_official_function_on_random_books(summary: dict[str, Any]) -> None:
    official = OrderBookSummary(
        market=summary["market"],
        asset_id=summary["asset_id"],
        timestamp=summary["timestamp"],
        bids=[OrderSummary(price=p, size=s) for p, s in summary["bids"]],
        asks=[OrderSummary(price=p, size=s) for p, s in summary["asks"]],
        min_order_size=summary["min_order_size"],
        neg_risk=summary["neg_risk"],
        tick_size=summary["tick_size"],
        last_trade_price=summary["last_trade_price"],
        hash="ignored: the recipe blanks it",
    )
    assert book_hash(**summary) == generate_orderbook_summary_hash(official)
