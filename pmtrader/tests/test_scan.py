"""The scanner's ranking, on hand-built histories, markets and books (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pmtrader.models.clob import OrderBook, PriceLevel, PricePoint
from pmtrader.models.gamma import GammaMarket
from pmtrader.scan import (
    OutcomeHistory,
    expiring_candidates,
    find_cliffs,
    find_expiring,
    rank_expiring,
)

D = Decimal
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _series(slug: str, points: list[tuple[int, str]]) -> OutcomeHistory:
    history = [PricePoint(t=t, p=D(p)) for t, p in points]
    return OutcomeHistory(slug, f"{slug}?", "Yes", f"tok-{slug}", history)


def test_cliffs_rank_by_size_of_move_inside_the_window_only() -> None:
    step_up = _series("step", [(0, "0.20"), (4000, "0.22"), (4500, "0.45"), (7200, "0.47")])
    drop = _series("drop", [(0, "0.90"), (5000, "0.80"), (7200, "0.50")])
    old = _series("old", [(0, "0.10"), (100, "0.60"), (7200, "0.61")])  # moved, but long ago
    spike = _series("spike", [(4000, "0.30"), (5000, "0.60"), (7200, "0.31")])  # fell back
    cliffs = find_cliffs(
        [step_up, drop, old, spike, _series("empty", [])], window_s=3600, min_move=D("0.15")
    )
    assert [(c.slug, c.move) for c in cliffs] == [
        ("drop", D("-0.30")),
        ("spike", D("-0.29")),
        ("step", D("0.25")),
    ]
    assert (cliffs[2].price_from, cliffs[2].from_ts, cliffs[2].to_ts) == (D("0.22"), 4000, 7200)


def _market(
    slug: str,
    *,
    hours: float,
    prices: tuple[str, str],
    liquidity: str = "1000",
    closed: bool = False,
) -> GammaMarket:
    return GammaMarket.model_validate(
        {
            "id": slug,
            "slug": slug,
            "question": f"{slug}?",
            "endDate": (NOW + timedelta(hours=hours)).isoformat().replace("+00:00", "Z"),
            "outcomes": '["Yes", "No"]',
            "outcomePrices": f'["{prices[0]}", "{prices[1]}"]',
            "clobTokenIds": f'["{slug}-y", "{slug}-n"]',
            "liquidityNum": liquidity,
            "closed": closed,
        }
    )


def _book(token: str, asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> OrderBook:
    return OrderBook(
        market="m",
        asset_id=token,
        timestamp="0",
        asks=[PriceLevel(price=D(p), size=D(s)) for p, s in asks],
        bids=[PriceLevel(price=D(p), size=D(s)) for p, s in bids],
    )


def test_expiring_candidates_need_time_price_liquidity_and_an_open_market() -> None:
    markets = [
        _market("soon-yes", hours=12, prices=("0.97", "0.03")),
        _market("soon-no", hours=30, prices=("0.02", "0.98")),
        _market("too-late", hours=72, prices=("0.99", "0.01")),
        _market("past", hours=-1, prices=("0.99", "0.01")),
        _market("thin", hours=12, prices=("0.99", "0.01"), liquidity="100"),
        _market("closed", hours=12, prices=("0.99", "0.01"), closed=True),
        _market("unsure", hours=12, prices=("0.60", "0.40")),
    ]
    picked = expiring_candidates(
        markets, now=NOW, within_s=48 * 3600, min_price=D("0.95"), min_liquidity=D(500)
    )
    assert [(m.slug, i) for m, i in picked] == [("soon-yes", 0), ("soon-no", 1)]


def test_expiring_ranks_by_return_per_day_and_shows_the_trap_signals() -> None:
    soon = _market("soon", hours=12, prices=("0.97", "0.03"))
    later = _market("later", hours=48, prices=("0.02", "0.98"))
    a = rank_expiring(
        soon,
        0,
        _book("soon-y", [("0.97", "50"), ("0.98", "200"), ("0.995", "900")], [("0.95", "10")]),
        now=NOW,
        min_price=D("0.95"),
    )
    b = rank_expiring(later, 1, _book("later-n", [("0.96", "5")], []), now=NOW, min_price=D("0.95"))
    gone = rank_expiring(
        soon, 0, _book("soon-y", [("0.90", "5")], []), now=NOW, min_price=D("0.95")
    )
    assert gone is None
    rows = find_expiring([b, None, a])
    assert [r.slug for r in rows] == ["soon", "later"]
    top = rows[0]
    assert top.outcome == "Yes"
    assert top.days_to_end == D("0.5")
    assert top.return_to_payout == D("0.03") / D("0.97")
    assert top.return_per_day == top.return_to_payout * 2
    assert (top.ask_size, top.depth_behind, top.gap, top.spread) == (
        D(50),
        D(200),
        D("0.01"),
        D("0.02"),
    )
    thin = rows[1]
    assert (thin.outcome, thin.depth_behind, thin.gap, thin.bid, thin.spread) == (
        "No",
        D(0),
        None,
        None,
        None,
    )
    assert thin.return_per_day == (D("0.04") / D("0.96")) / 2
