"""@strategy: parameters validated with clear errors, a registry, function and class forms."""

from decimal import Decimal
from typing import Any

import pytest

from pmstrat import (
    Buy,
    Cancel,
    Context,
    Fill,
    Hold,
    MarketInfo,
    ParameterError,
    Side,
    Signal,
    StrategyError,
    StrategyNotFoundError,
    Watch,
    get_strategy,
    normalize_signals,
    registered_strategies,
    strategy,
)

MARKET = MarketInfo("0xc1", ("111", "222"), slug="will-it-rain")


@strategy(
    name="test_dsl_fn",
    params={
        "edge": (int, 200, (0, 1000)),
        "threshold": (Decimal, Decimal("0.95"), (Decimal("0.90"), Decimal("0.99"))),
        "side": (str, "yes", ["yes", "no"]),
        "live": (bool, False),
    },
    markets=["will-it-rain"],
)
def _fn(ctx: Context) -> Signal | None:
    """Buy YES at a fixed price."""
    if ctx.params["live"]:
        return Buy("111", 5000 - ctx.params["edge"], 1_000_000)
    return None


class _Counter:
    """Count calls and cancel on stop."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.size = params["size"]
        self.fills: list[Fill] = []

    def on_tick(self, ctx: Context) -> list[Signal]:
        return [Buy("111", 4000, self.size), Hold("demo")]

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        self.fills.append(fill)

    def on_stop(self, ctx: Context) -> Signal:
        return Cancel(token="111")


# mypy ignores what a class decorator returns, so typed code applies it as a call.
_Cls = strategy(
    name="test_dsl_cls", params={"size": (int, 5_000_000, (1, 10**9))}, watch=Watch.BOOK
)(_Counter)


def test_parameters_coerce_from_strings_and_check_ranges() -> None:
    params = _fn.validate({"edge": "300", "threshold": "0.97", "live": "yes"})
    assert params == {"edge": 300, "threshold": Decimal("0.97"), "side": "yes", "live": True}
    assert _fn.defaults()["threshold"] == Decimal("0.95")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"edg": 1}, r"no parameter 'edg' \(known: edge, live, side, threshold\)"),
        ({"edge": 5000}, "between 0 and 1000"),
        ({"edge": "1.5"}, "expects int"),
        ({"threshold": "0.5"}, "between 0.90 and 0.99"),
        ({"side": "maybe"}, "must be one of yes, no"),
        ({"live": "perhaps"}, "expects bool"),
    ],
)
def test_bad_parameters_say_what_is_wrong(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        _fn.create(overrides)


def test_malformed_declarations_fail_at_definition() -> None:
    with pytest.raises(StrategyError, match="type must be one of"):
        strategy(name="x1", params={"a": (list, [])})
    with pytest.raises(StrategyError, match="bad default"):
        strategy(name="x2", params={"a": (int, 7, (0, 5))})
    with pytest.raises(StrategyError, match="needs an on_tick"):
        strategy(name="x3")(type("NoTick", (), {}))
    with pytest.raises(StrategyError, match="interval_ms"):
        strategy(name="x4", watch=Watch.TIMER)


def test_a_name_belongs_to_one_definition() -> None:
    with pytest.raises(StrategyError, match="taken by"):

        @strategy(name="test_dsl_fn")
        def other(ctx: Context) -> None:
            return None


def test_function_strategy_runs_and_normalizes_results() -> None:
    ctx = Context(now_ms=0, markets=[MARKET])
    instance = _fn.create({"live": True})
    ctx.params = instance.params
    assert instance.on_tick(ctx) == [Buy("111", 4800, 1_000_000)]
    assert instance.on_start(ctx) == []
    assert _fn.select([MARKET, MarketInfo("0xc2", ("3", "4"), slug="other")]) == [MARKET]


def test_class_strategy_gets_params_and_all_callbacks() -> None:
    ctx = Context(now_ms=0, markets=[MARKET])
    instance = _Cls.create({"size": 7})
    assert instance.watch is Watch.BOOK
    assert instance.on_tick(ctx) == [Buy("111", 4000, 7), Hold("demo")]
    fill = Fill("o1", "111", Side.BUY, 4000, 7, 0, 1, maker=True)
    assert instance.on_fill(ctx, fill) == []
    assert instance.obj is not None
    assert isinstance(instance.obj, _Counter)
    assert instance.obj.fills == [fill]
    assert instance.on_stop(ctx) == [Cancel(token="111")]


def test_normalize_refuses_non_signals() -> None:
    assert normalize_signals(None) == []
    assert normalize_signals(x for x in [Hold()]) == [Hold()]
    with pytest.raises(StrategyError, match="not a signal"):
        normalize_signals([1])
    with pytest.raises(StrategyError, match="return None, a signal"):
        normalize_signals(3)


def test_registry_finds_by_name_and_module_attr() -> None:
    assert get_strategy("test_dsl_fn") is _fn
    assert get_strategy(f"{__name__}:_Cls") is _Cls
    names = [s.name for s in registered_strategies()]
    assert names == sorted(names)
    assert "test_dsl_cls" in names
    with pytest.raises(StrategyNotFoundError, match="no strategy named 'nope'"):
        get_strategy("nope")
    with pytest.raises(StrategyNotFoundError, match="cannot import module"):
        get_strategy("no_such_module_xyz:thing")
    with pytest.raises(StrategyNotFoundError, match="not a strategy"):
        get_strategy("pmstrat.units:price_units")


def test_param_grid_and_sample_stay_in_range() -> None:
    import random

    threshold = _fn.params["threshold"]
    assert threshold.grid(4) == [Decimal("0.90"), Decimal("0.93"), Decimal("0.96"), Decimal("0.99")]
    assert _fn.params["edge"].grid(3) == [0, 500, 1000]
    assert _fn.params["side"].grid(9) == ["yes", "no"]
    rng = random.Random(1)
    for _ in range(50):
        value = threshold.sample(rng)
        assert Decimal("0.90") <= value <= Decimal("0.99")  # type: ignore[operator]  # Decimal
