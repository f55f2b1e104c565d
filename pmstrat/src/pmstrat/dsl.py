"""``@strategy``: turn a function or a small class into a named, parameterised ``Strategy``.

A function strategy maps a context to signals::

    @strategy(
        name="fade",
        params={"edge": (int, 200, (0, 1000))},  # (type, default, range)
        markets=lambda m: m.pays_rewards,
        watch=Watch.TOP,
    )
    def fade(ctx: Context) -> list[Signal]: ...

A class strategy keeps state between calls and may define ``on_start(ctx)``, ``on_tick(ctx)``,
``on_fill(ctx, fill)`` and ``on_stop(ctx)`` (``on_tick`` is required). Its ``__init__`` takes no
argument, or one ``params`` argument (the validated parameters). Each may return ``None``, one
signal, or an iterable of signals. mypy ignores what a class decorator returns, so typed code
applies it as a call: ``Maker = strategy(name="maker")(_Maker)``.

Strategies stay plain Python objects (never subclasses of the engine's compiled classes: that
measured 0.45 to 0.65 times the speed of plain Python), and they declare what they watch
(``Watch``) so a runner calls them only when it changed. Every decorated strategy lands in a
registry, so ``pmstrat strategies`` lists it and runners load it by name or by ``module:attr``
(:func:`get_strategy`).
"""

from __future__ import annotations

import importlib
import inspect
import math
import random
from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import IntFlag
from typing import Any, TypeAlias

import msgspec

from pmstrat.context import Context, Fill, MarketInfo
from pmstrat.errors import ParameterError, StrategyError, StrategyNotFoundError
from pmstrat.signal import SIGNAL_TYPES, Signal


class Watch(IntFlag):
    """What changes wake a strategy up (combine with ``|``).

    ``TOP``: the best bid or ask (price or size) of a watched token. ``BOOK``: any level of a
    watched token (includes ``TOP``). ``TRADES``: a trade printed on a watched token.
    ``TIMER``: every ``interval_ms`` of simulated or wall time. Fills of the strategy's own
    orders always reach ``on_fill``.
    """

    TOP = 1
    BOOK = 2
    TRADES = 4
    TIMER = 8


ParamValue: TypeAlias = int | float | Decimal | bool | str
ParamDecl: TypeAlias = tuple[type, Any] | tuple[type, Any, Any]
MarketSelector: TypeAlias = Callable[[MarketInfo], bool] | Collection[str] | None
SignalsOut: TypeAlias = Signal | Iterable[Signal] | None

_SUPPORTED = (int, float, Decimal, bool, str)
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


def _coerce(name: str, kind: type, value: object) -> ParamValue:
    """Convert ``value`` to ``kind`` without losing precision, or raise ``ParameterError``."""
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return int(value.strip().replace("_", ""))
            if isinstance(value, float | Decimal) and value == int(value):
                return int(value)
        elif kind is float:
            if isinstance(value, int | float | Decimal | str) and not isinstance(value, bool):
                out = float(value)
                if math.isfinite(out):
                    return out
        elif kind is Decimal:
            if isinstance(value, Decimal | int | str) and not isinstance(value, bool):
                dec = Decimal(value.strip() if isinstance(value, str) else value)
                if dec.is_finite():
                    return dec
            if isinstance(value, float) and math.isfinite(value):
                return Decimal(repr(value))  # the shortest decimal that round-trips
        elif kind is str and isinstance(value, str):
            return value
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise ParameterError(f"parameter {name!r} expects {kind.__name__}, got {value!r}") from exc
    raise ParameterError(f"parameter {name!r} expects {kind.__name__}, got {value!r}")


class Param(msgspec.Struct, frozen=True):
    """One declared strategy parameter: its type, default and allowed values.

    Attributes:
        name: the parameter's name (a key of ``ctx.params``).
        type: one of int, float, Decimal, bool, str.
        default: the value used when the caller gives none.
        low: the inclusive lower bound of a numeric range, if any.
        high: the inclusive upper bound of a numeric range, if any.
        choices: the allowed values, if the parameter is a choice.
    """

    name: str
    type: type
    default: Any
    low: Any = None
    high: Any = None
    choices: tuple[ParamValue, ...] = ()

    @classmethod
    def declare(cls, name: str, decl: object) -> Param:
        """Build from the decorator's ``(type, default[, range])`` form, checking it.

        The range is ``(low, high)`` (inclusive) for numeric types, or a list/set of allowed
        values (any sequence for str and bool).

        Raises:
            StrategyError: the declaration itself is malformed.
        """
        if not isinstance(decl, tuple) or len(decl) not in (2, 3):
            raise StrategyError(
                f"parameter {name!r}: declare it as (type, default) or (type, default, range)"
            )
        kind = decl[0]
        if kind not in _SUPPORTED:
            raise StrategyError(
                f"parameter {name!r}: type must be one of int, float, Decimal, bool, str"
            )
        rng = decl[2] if len(decl) == 3 else None
        low: Any = None
        high: Any = None
        choices: tuple[ParamValue, ...] = ()
        try:
            if rng is None:
                pass
            elif kind in (int, float, Decimal) and isinstance(rng, tuple) and len(rng) == 2:
                low, high = _coerce(name, kind, rng[0]), _coerce(name, kind, rng[1])
                if low > high:
                    raise StrategyError(f"parameter {name!r}: range low {low} > high {high}")
            elif isinstance(rng, list | tuple | set | frozenset) and rng:
                choices = tuple(_coerce(name, kind, c) for c in rng)
            else:
                raise StrategyError(
                    f"parameter {name!r}: range must be (low, high) or a list of choices"
                )
            param = cls(name, kind, None, low, high, choices)
            return msgspec.structs.replace(param, default=param.coerce(decl[1]))
        except ParameterError as exc:
            raise StrategyError(f"bad default or range: {exc}") from exc

    def coerce(self, value: object) -> ParamValue:
        """Convert and check a value for this parameter.

        Raises:
            ParameterError: the value has the wrong type or lies outside the range.
        """
        out = _coerce(self.name, self.type, value)
        if self.choices and out not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise ParameterError(f"parameter {self.name!r} must be one of {allowed}; got {out}")
        if self.low is not None and not self.low <= out <= self.high:
            raise ParameterError(
                f"parameter {self.name!r} must be between {self.low} and {self.high}; got {out}"
            )
        return out

    def grid(self, points: int) -> list[ParamValue]:
        """Return up to ``points`` evenly spaced values across the range (or all choices)."""
        if self.choices:
            return list(self.choices)
        if self.type is bool:
            return [False, True]
        if self.low is None or points <= 1:
            return [self.default]
        if self.type is int:
            raw = [self.low + (self.high - self.low) * i / (points - 1) for i in range(points)]
            return list(dict.fromkeys(round(v) for v in raw))
        if self.type is float:
            return [self.low + (self.high - self.low) * i / (points - 1) for i in range(points)]
        # Decimal: keep the precision the author wrote the range in.
        exp = min(self.low.as_tuple().exponent, self.high.as_tuple().exponent)
        quantum = Decimal(1).scaleb(exp)
        step = (self.high - self.low) / (points - 1)
        values = [(self.low + step * i).quantize(quantum) for i in range(points)]
        return list(dict.fromkeys(values))

    def sample(self, rng: random.Random) -> ParamValue:
        """Draw one value uniformly from the range or choices (for random search)."""
        if self.choices:
            return self.choices[rng.randrange(len(self.choices))]
        if self.type is bool:
            return rng.random() < 0.5
        if self.low is None:
            default: ParamValue = self.default
            return default
        if self.type is int:
            return rng.randint(self.low, self.high)
        if self.type is float:
            return rng.uniform(self.low, self.high)
        exp = min(self.low.as_tuple().exponent, self.high.as_tuple().exponent)
        span = int((self.high - self.low).scaleb(-exp))
        return self.low + Decimal(rng.randint(0, span)).scaleb(exp)  # type: ignore[no-any-return]


class ScreenHit(msgspec.Struct, frozen=True):
    """One opportunity a strategy's screen found in a set of markets (``pmstrat scan``).

    Attributes:
        strategy: the strategy's name.
        market: the market.
        token: the token the opportunity is on.
        score: higher is better, comparable within one strategy's hits only.
        note: one line for people ("YES ask 0.97, 3h to end, 1,250 shares behind the touch").
    """

    strategy: str
    market: MarketInfo
    token: str
    score: float
    note: str


_EMPTY: list[Signal] = []


def normalize_signals(out: object) -> list[Signal]:
    """Turn what a strategy returned (None, one signal, an iterable) into a list of signals.

    Raises:
        StrategyError: something that is not a signal came back.
    """
    if out is None:
        return []
    if type(out) is list:
        for item in out:
            if not isinstance(item, SIGNAL_TYPES):
                raise StrategyError(f"a strategy returned {item!r}, which is not a signal")
        return out
    if isinstance(out, SIGNAL_TYPES):
        return [out]  # type: ignore[list-item]  # narrowed by SIGNAL_TYPES
    if isinstance(out, Iterable) and not isinstance(out, str | bytes):
        return normalize_signals(list(out))
    raise StrategyError(
        f"a strategy returned {out!r}; return None, a signal, or an iterable of signals"
    )


def _noop(ctx: Context) -> None:
    return None


def _noop_fill(ctx: Context, fill: Fill) -> None:
    return None


class StrategyInstance:
    """A strategy bound to validated parameters, ready for one run (backtest, engine, scan).

    Runners call ``on_start`` once, ``on_tick`` whenever something in ``watch`` changed on a
    watched token (or the timer fired), ``on_fill`` for each fill of the strategy's own orders,
    and ``on_stop`` once. Each returns a list of signals.
    """

    __slots__ = ("_fill", "_start", "_stop", "_tick", "obj", "params", "strategy")

    def __init__(self, strategy: Strategy, params: dict[str, ParamValue]) -> None:
        self.strategy = strategy
        self.params = params
        self.obj: object | None = None
        if strategy.is_class:
            factory = strategy.target
            obj: Any = factory(params=dict(params)) if strategy.takes_params else factory()
            self.obj = obj
            self._tick: Callable[[Context], object] = obj.on_tick
            self._fill: Callable[[Context, Fill], object] = getattr(obj, "on_fill", _noop_fill)
            self._start: Callable[[Context], object] = getattr(obj, "on_start", _noop)
            self._stop: Callable[[Context], object] = getattr(obj, "on_stop", _noop)
        else:
            self._tick = strategy.target
            self._fill = _noop_fill
            self._start = _noop
            self._stop = _noop

    @property
    def name(self) -> str:
        """The strategy's registered name."""
        return self.strategy.name

    @property
    def watch(self) -> Watch:
        """What wakes this strategy up."""
        return self.strategy.watch

    @property
    def interval_ms(self) -> int:
        """Timer period in ms when ``Watch.TIMER`` is set (0 otherwise)."""
        return self.strategy.interval_ms

    @property
    def raw_tick(self) -> Callable[[Context], object]:
        """The undecorated tick callable, for runners that normalise results themselves."""
        return self._tick

    def on_start(self, ctx: Context) -> list[Signal]:
        """Call the strategy's ``on_start`` (if any) and return its signals."""
        return normalize_signals(self._start(ctx))

    def on_tick(self, ctx: Context) -> list[Signal]:
        """Call the strategy on a change it watches and return its signals."""
        return normalize_signals(self._tick(ctx))

    def on_fill(self, ctx: Context, fill: Fill) -> list[Signal]:
        """Tell the strategy one of its orders filled and return its signals."""
        return normalize_signals(self._fill(ctx, fill))

    def on_stop(self, ctx: Context) -> list[Signal]:
        """Call the strategy's ``on_stop`` (if any) and return its signals (usually cancels)."""
        return normalize_signals(self._stop(ctx))

    def __repr__(self) -> str:
        return f"StrategyInstance({self.strategy.name!r}, params={self.params!r})"


ScreenFn: TypeAlias = Callable[[Context], Iterable[ScreenHit]]


class Strategy:
    """A named strategy definition: its code, parameters, market selector and watch set.

    Create one with :func:`strategy`; bind parameters with :meth:`create`.
    """

    def __init__(
        self,
        target: Any,
        *,
        name: str,
        params: Mapping[str, Param],
        markets: MarketSelector,
        watch: Watch,
        interval_ms: int,
        screen: ScreenFn | None,
        description: str,
    ) -> None:
        self.target = target
        self.name = name
        self.params: Mapping[str, Param] = dict(params)
        self.markets = markets
        self.watch = watch
        self.interval_ms = interval_ms
        self.screen_fn = screen
        self.description = description
        self.is_class = inspect.isclass(target)
        self.takes_params = self.is_class and "params" in inspect.signature(target).parameters
        self.module: str = getattr(target, "__module__", "")
        self.qualname: str = getattr(target, "__qualname__", name)

    def defaults(self) -> dict[str, ParamValue]:
        """Return the default value of every parameter."""
        return {name: p.default for name, p in self.params.items()}

    def validate(self, overrides: Mapping[str, object] | None = None) -> dict[str, ParamValue]:
        """Return the full parameter set: defaults updated with checked ``overrides``.

        Raises:
            ParameterError: an override names no parameter, or has a bad value.
        """
        values = self.defaults()
        for key, raw in (overrides or {}).items():
            param = self.params.get(key)
            if param is None:
                known = ", ".join(sorted(self.params)) or "none"
                raise ParameterError(
                    f"strategy {self.name!r} has no parameter {key!r} (known: {known})"
                )
            values[key] = param.coerce(raw)
        return values

    def create(self, params: Mapping[str, object] | None = None) -> StrategyInstance:
        """Validate ``params`` and return an instance ready to run."""
        return StrategyInstance(self, self.validate(params))

    def select(self, markets: Iterable[MarketInfo]) -> list[MarketInfo]:
        """Return the markets this strategy trades among ``markets`` (by its ``markets=``)."""
        selector = self.markets
        if selector is None:
            return list(markets)
        if callable(selector):
            return [m for m in markets if selector(m)]
        wanted = set(selector)
        return [
            m
            for m in markets
            if m.slug in wanted
            or m.condition_id in wanted
            or m.tokens[0] in wanted
            or m.tokens[1] in wanted
        ]

    def screen(self, ctx: Context) -> list[ScreenHit]:
        """Run the strategy's screen over the markets and books in ``ctx``, best first.

        A strategy without its own screen reports nothing.
        """
        if self.screen_fn is None:
            return []
        hits = list(self.screen_fn(ctx))
        hits.sort(key=lambda h: -h.score)
        return hits

    @property
    def reference(self) -> str:
        """``module:attr`` under which the definition can be imported."""
        return f"{self.module}:{self.qualname}"

    def __repr__(self) -> str:
        return f"Strategy({self.name!r}, params={sorted(self.params)})"


def run_screens(strategies: Iterable[Strategy], ctx: Context) -> dict[str, list[ScreenHit]]:
    """Run each strategy's screen on the markets it selects from ``ctx`` (best hits first).

    ``ctx`` is reused: its markets and parameters are set per strategy, and restored after.
    """
    scanned, params = ctx.markets, ctx.params
    out: dict[str, list[ScreenHit]] = {}
    try:
        for defined in strategies:
            if defined.screen_fn is None:
                continue
            ctx.set_markets(defined.select(scanned))  # each sees every market it selects
            ctx.params = defined.defaults()
            out[defined.name] = defined.screen(ctx)
    finally:
        ctx.set_markets(scanned)
        ctx.params = params
    return out


_REGISTRY: dict[str, Strategy] = {}


def strategy(
    *,
    name: str,
    params: Mapping[str, ParamDecl] | None = None,
    markets: MarketSelector = None,
    watch: Watch = Watch.TOP,
    interval_ms: int = 0,
    screen: ScreenFn | None = None,
    description: str = "",
) -> Callable[[Any], Strategy]:
    """Declare a strategy and register it under ``name``.

    Args:
        name: the registry name (``pmstrat simulate --strategy NAME``).
        params: ``{name: (type, default, range)}``; range is ``(low, high)`` or a list of
            choices, or omitted.
        markets: which markets it trades: a predicate on ``MarketInfo``, a collection of slugs
            / condition ids / token ids, or None for every market it is given.
        watch: which changes wake it up.
        interval_ms: timer period when ``watch`` includes ``Watch.TIMER``.
        screen: ``ctx -> hits`` used by ``pmstrat scan`` to rank live markets.
        description: one line for ``pmstrat strategies`` (defaults to the docstring's first line).

    Raises:
        StrategyError: the declaration is malformed, or another definition owns the name.
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise StrategyError(f"strategy name {name!r} must be letters, digits, '_' or '-'")
    declared = {key: Param.declare(key, decl) for key, decl in (params or {}).items()}
    if Watch.TIMER in watch and interval_ms <= 0:
        raise StrategyError(f"strategy {name!r} watches TIMER but has no interval_ms")

    def wrap(target: Any) -> Strategy:
        if inspect.isclass(target):
            if not callable(getattr(target, "on_tick", None)):
                raise StrategyError(f"strategy class {target.__name__} needs an on_tick(ctx)")
        elif not callable(target):
            raise StrategyError(f"@strategy decorates a function or a class, not {target!r}")
        doc = inspect.getdoc(target) or ""
        defined = Strategy(
            target,
            name=name,
            params=declared,
            markets=markets,
            watch=watch,
            interval_ms=interval_ms,
            screen=screen,
            description=description or (doc.splitlines()[0] if doc else ""),
        )
        register(defined)
        return defined

    return wrap


def register(defined: Strategy) -> None:
    """Add a strategy to the registry (the decorator does this).

    Re-registering the same module-level definition (a module reload) replaces it.

    Raises:
        StrategyError: a different definition already uses the name.
    """
    current = _REGISTRY.get(defined.name)
    if current is not None and current.reference != defined.reference:
        raise StrategyError(
            f"strategy name {defined.name!r} is taken by {current.reference}; pick another name"
        )
    _REGISTRY[defined.name] = defined


def _load_builtins() -> None:
    importlib.import_module("pmstrat.strategies")


def registered_strategies() -> list[Strategy]:
    """Return every registered strategy (the built-ins included), sorted by name."""
    _load_builtins()
    return [_REGISTRY[key] for key in sorted(_REGISTRY)]


def get_strategy(ref: str) -> Strategy:
    """Find a strategy by registry name or import it from ``module:attr``.

    Raises:
        StrategyNotFoundError: no such name, module or attribute (the message lists the names).
    """
    if ":" in ref:
        module_name, _, attr = ref.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise StrategyNotFoundError(f"cannot import module {module_name!r}: {exc}") from exc
        found: object = module
        for part in attr.split("."):
            found = getattr(found, part, None)
            if found is None:
                raise StrategyNotFoundError(f"module {module_name!r} has no attribute {attr!r}")
        if not isinstance(found, Strategy):
            raise StrategyNotFoundError(
                f"{ref} is not a strategy; decorate it with @pmstrat.strategy(name=...)"
            )
        return found
    _load_builtins()
    if ref in _REGISTRY:
        return _REGISTRY[ref]
    known = ", ".join(sorted(_REGISTRY)) or "none"
    raise StrategyNotFoundError(
        f"no strategy named {ref!r} (registered: {known}); or give module:attr"
    )
