"""The built-in strategies decide as their descriptions say, on hand-made contexts."""

from __future__ import annotations

from pmstrat import (
    Buy,
    Cancel,
    Context,
    MarketInfo,
    OpenOrder,
    OrderBookSnapshot,
    OrderType,
    Position,
    Sell,
    Side,
    get_strategy,
)

SH = 1_000_000
HOUR = 3_600_000
NOW = 1_800_000_000_000


def market(*, end_in_ms: int = 2 * HOUR, rewards: bool = True) -> MarketInfo:
    return MarketInfo(
        "0xc1",
        ("111", "222"),
        slug="will-it-rain",
        end_ms=NOW + end_in_ms,
        rewards_max_spread=300 if rewards else 0,
        rewards_min_size=50 * SH if rewards else 0,
        rewards_daily_rate=100 * SH if rewards else 0,
    )


def mirrored(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> dict[str, OrderBookSnapshot]:
    return {
        "111": OrderBookSnapshot("111", NOW, tuple(bids), tuple(asks)),
        "222": OrderBookSnapshot(
            "222",
            NOW,
            tuple((10_000 - p, s) for p, s in asks),
            tuple((10_000 - p, s) for p, s in bids),
        ),
    }


def context(
    name: str,
    m: MarketInfo,
    books: dict[str, OrderBookSnapshot],
    *,
    positions: dict[str, Position] | None = None,
    orders: dict[str, OpenOrder] | None = None,
    params: dict[str, object] | None = None,
) -> tuple[Context, list[object]]:
    defined = get_strategy(name)
    instance = defined.create(params)
    ctx = Context(
        now_ms=NOW,
        markets=defined.select([m]),
        books=books,
        positions=positions,
        orders=orders,
        cash=1_000 * SH,
        params=instance.params,
        changed=["111"],
    )
    return ctx, list(instance.on_tick(ctx))


SURE_BOOK = mirrored(bids=[(9600, 200 * SH), (9500, 100 * SH)], asks=[(9700, 50 * SH)])


def test_sure_bets_buys_the_near_certain_outcome_near_the_end() -> None:
    _, signals = context("sure_bets", market(), SURE_BOOK)
    assert signals == [Buy("111", 9700, 20 * SH, order_type=OrderType.FAK, tag="sure")]


def test_sure_bets_filters_time_spread_depth_and_position() -> None:
    _, far = context("sure_bets", market(end_in_ms=72 * HOUR), SURE_BOOK)
    assert far == []
    wide = mirrored(bids=[(9000, 500 * SH)], asks=[(9700, 50 * SH)])
    assert context("sure_bets", market(), wide)[1] == []
    thin = mirrored(bids=[(9600, 10 * SH)], asks=[(9700, 50 * SH)])
    assert context("sure_bets", market(), thin)[1] == []
    full = {"111": Position("111", 100 * SH, 96 * SH)}
    assert context("sure_bets", market(), SURE_BOOK, positions=full)[1] == []
    # The cap leaves room for 30 more shares; the ask offers 50, the size is 20.
    part = {"111": Position("111", 90 * SH, 86 * SH)}
    assert context("sure_bets", market(), SURE_BOOK, positions=part)[1] == [
        Buy("111", 9700, 10 * SH, order_type=OrderType.FAK, tag="sure")
    ]


def test_sure_bets_screen_explains_its_hit() -> None:
    defined = get_strategy("sure_bets")
    ctx = Context(now_ms=NOW, markets=[market()], books=SURE_BOOK, params=defined.defaults())
    hits = defined.screen(ctx)
    assert [(h.token, h.market.slug) for h in hits] == [("111", "will-it-rain")]
    assert "Yes ask 0.9700" in hits[0].note
    assert "2.0h" in hits[0].note


MAKER_BOOK = mirrored(bids=[(4800, 200 * SH)], asks=[(5200, 200 * SH)])


def test_rewards_maker_quotes_both_sides_inside_the_band() -> None:
    _, signals = context("rewards_maker", market(), MAKER_BOOK)
    assert signals == [
        Buy("111", 4900, 60 * SH, post_only=True, tag="rewards"),  # YES bid 1c under 0.50
        Buy("222", 4900, 60 * SH, post_only=True, tag="rewards"),  # NO bid = YES ask 0.51
    ]


def test_rewards_maker_sizes_up_to_the_rewards_minimum() -> None:
    _, signals = context("rewards_maker", market(), MAKER_BOOK, params={"size": "20"})
    assert {s.size for s in signals if isinstance(s, Buy)} == {50 * SH}


def test_rewards_maker_skews_away_from_inventory_and_sells_what_it_holds() -> None:
    held = {"111": Position("111", 120 * SH, 60 * SH)}
    _, signals = context("rewards_maker", market(), MAKER_BOOK, positions=held)
    # Long 120 YES: both quotes move down 1c; the ask becomes a YES sale at 0.50.
    assert signals == [
        Buy("111", 4800, 60 * SH, post_only=True, tag="rewards"),
        Sell("111", 5000, 60 * SH, post_only=True, tag="rewards"),
    ]


def test_rewards_maker_keeps_a_quote_that_is_close_enough() -> None:
    resting = {
        "a": OpenOrder("a", "111", Side.BUY, 4900, 60 * SH, tag="rewards"),
        "b": OpenOrder("b", "222", Side.BUY, 4800, 60 * SH, tag="rewards"),  # 1 tick off: kept
        "c": OpenOrder("c", "222", Side.BUY, 4500, 60 * SH, tag="rewards"),  # duplicate: gone
    }
    _, signals = context("rewards_maker", market(), MAKER_BOOK, orders=resting)
    assert signals == [Cancel(order_id="c")]


def test_rewards_maker_ignores_markets_without_rewards() -> None:
    ctx, signals = context("rewards_maker", market(rewards=False), MAKER_BOOK)
    assert ctx.markets == ()
    assert signals == []


def test_spread_watcher_steps_inside_wide_spreads_and_leaves_narrow_ones() -> None:
    wide = mirrored(bids=[(4000, 100 * SH)], asks=[(5000, 100 * SH)])
    _, signals = context("spread_watcher", market(), wide)
    assert signals == [
        Buy("111", 4100, 10 * SH, post_only=True, tag="inside"),
        Buy("222", 5100, 10 * SH, post_only=True, tag="inside"),  # = YES ask 0.49
    ]
    narrow = mirrored(bids=[(4900, 100 * SH)], asks=[(5000, 100 * SH)])
    resting = {"x": OpenOrder("x", "111", Side.BUY, 4100, 10 * SH, tag="inside")}
    _, signals = context("spread_watcher", market(), narrow, orders=resting)
    assert signals == [Cancel(order_id="x")]


def test_every_screen_sees_every_market_it_selects() -> None:
    from pmstrat import registered_strategies, run_screens

    paying = market()
    plain = MarketInfo("0xc2", ("333", "444"), slug="no-rewards", end_ms=NOW + HOUR)
    books = MAKER_BOOK | {
        "333": OrderBookSnapshot("333", NOW, ((4000, 100 * SH),), ((5000, 100 * SH),)),
        "444": OrderBookSnapshot("444", NOW, ((5000, 100 * SH),), ((6000, 100 * SH),)),
    }
    ctx = Context(now_ms=NOW, markets=[paying, plain], books=books)
    hits = run_screens(registered_strategies(), ctx)
    # rewards_maker (first by name) selects only the paying market; the spread watcher after
    # it still sees both, the plain market's 10-tick spread ranking above the 4-tick one.
    assert [h.market.slug for h in hits["rewards_maker"]] == ["will-it-rain"]
    assert [h.market.slug for h in hits["spread_watcher"]] == ["no-rewards", "will-it-rain"]
    assert ctx.markets == (paying, plain)  # the context is given back as it came
