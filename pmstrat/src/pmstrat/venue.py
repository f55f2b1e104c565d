"""Market data from the venue through pmtrader: markets, books and price history.

Production or the local exchange, whichever the ``pmtrader`` ``Settings`` point at. Everything
is converted exactly to pmstrat's integers here, at the edge; nothing else in pmstrat touches
the SDK's models.

Price history carries prices only. :func:`history_stream` therefore models a book around each
historical price: the live book's spread (at least one tick) and its depth at the touch, on
both tokens (NO mirrors YES), and ends with the resolution when the venue reports a winner. It
is real prices with a modelled book, and a backtest on it says so in its caveats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from pmtrader.errors import PmtraderError
from pmtrader.models.clob import Market, OrderBook
from pmtrader.models.gamma import GammaMarket

from pmstrat.context import Context, MarketInfo, OrderBookSnapshot
from pmstrat.errors import VenueError
from pmstrat.recording import EventBuilder, EventStream
from pmstrat.units import AMOUNT_SCALE, PRICE_SCALE
from pmtrader import Client

_BOOKS_PER_REQUEST = 50
HISTORY_CAVEAT = (
    "price history has no books: each point's book is modelled from the live spread and depth"
)


def _units(value: Decimal | None, scale: int, default: int = 0) -> int:
    if value is None:
        return default
    return int((value * scale).to_integral_value())


def _end_ms(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _daily_rate(clob: Market | None) -> int:
    if clob is None or clob.rewards is None or not clob.rewards.rates:
        return 0
    total = Decimal(0)
    for rate in clob.rewards.rates:
        raw = rate.get("rewards_daily_rate", rate.get("rate_per_day", 0))
        try:
            total += Decimal(str(raw))
        except InvalidOperation:
            continue
    return _units(total, AMOUNT_SCALE)


def market_info(
    gamma: GammaMarket,
    clob: Market | None = None,
    *,
    fee_rate: Decimal | None = None,
    fee_exponent: int = 1,
) -> MarketInfo:
    """Convert Gamma's market (plus the CLOB market for rewards, and its fee) to ``MarketInfo``.

    Raises:
        VenueError: the market is not a two-outcome market with token ids.
    """
    if len(gamma.clob_token_ids) != 2:
        raise VenueError(
            f"market {gamma.slug or gamma.id} has {len(gamma.clob_token_ids)} tokens; "
            "pmstrat trades binary markets"
        )
    outcomes = gamma.outcomes if len(gamma.outcomes) == 2 else ["Yes", "No"]
    max_spread = gamma.rewards_max_spread
    min_size = gamma.rewards_min_size
    if clob is not None and clob.rewards is not None:
        max_spread = clob.rewards.max_spread if max_spread is None else max_spread
        min_size = clob.rewards.min_size if min_size is None else min_size
    return MarketInfo(
        gamma.condition_id,
        (gamma.clob_token_ids[0], gamma.clob_token_ids[1]),
        slug=gamma.slug,
        question=gamma.question,
        outcomes=(outcomes[0], outcomes[1]),
        tick=_units(gamma.order_price_min_tick_size, PRICE_SCALE, 100),
        min_size=_units(gamma.order_min_size, AMOUNT_SCALE, 5 * AMOUNT_SCALE),
        end_ms=_end_ms(gamma.end_date),
        neg_risk=gamma.neg_risk,
        rewards_max_spread=_units(max_spread, 100),  # cents -> 1e-4 units
        rewards_min_size=_units(min_size, AMOUNT_SCALE),
        rewards_daily_rate=_daily_rate(clob),
        fee_rate_bps=_units(fee_rate, 10_000),
        fee_exponent=fee_exponent,
        active=gamma.active and not gamma.closed and gamma.accepting_orders,
    )


def snapshot(book: OrderBook, ts_ms: int) -> OrderBookSnapshot:
    """Convert the SDK's book (best level last on the wire) to a best-first snapshot."""
    bids = sorted(
        ((_units(lv.price, PRICE_SCALE), _units(lv.size, AMOUNT_SCALE)) for lv in book.bids),
        reverse=True,
    )
    asks = sorted(
        (_units(lv.price, PRICE_SCALE), _units(lv.size, AMOUNT_SCALE)) for lv in book.asks
    )
    return OrderBookSnapshot(
        book.asset_id,
        ts_ms,
        tuple(bids),
        tuple(asks),
        _units(book.tick_size, PRICE_SCALE, 100),
    )


def fetch_market(client: Client, slug: str) -> MarketInfo:
    """Look a market up by slug, with its rewards terms and fee.

    Raises:
        VenueError: no such market, or the venue could not be reached.
    """
    try:
        gamma = client.gamma.get_market_by_slug(slug)
        clob = client.markets.get_market(gamma.condition_id) if gamma.condition_id else None
        fee = (
            client.markets.get_fee_details(gamma.clob_token_ids[0])
            if gamma.clob_token_ids
            else None
        )
    except PmtraderError as exc:
        raise VenueError(f"cannot fetch market {slug!r}: {exc}") from exc
    return market_info(
        gamma,
        clob,
        fee_rate=fee.rate if fee is not None else None,
        fee_exponent=fee.exponent if fee is not None else 1,
    )


def fetch_books(
    client: Client, tokens: Sequence[str], *, now_ms: int
) -> dict[str, OrderBookSnapshot]:
    """Fetch the books of ``tokens`` (batched) as snapshots stamped ``now_ms``.

    Raises:
        VenueError: the venue could not be reached.
    """
    out: dict[str, OrderBookSnapshot] = {}
    try:
        for start in range(0, len(tokens), _BOOKS_PER_REQUEST):
            chunk = list(tokens[start : start + _BOOKS_PER_REQUEST])
            for book in client.books.get_order_books(chunk):
                out[book.asset_id] = snapshot(book, now_ms)
    except PmtraderError as exc:
        raise VenueError(f"cannot fetch books: {exc}") from exc
    return out


def fetch_active_markets(
    client: Client, *, limit: int, with_rewards: bool = True
) -> list[MarketInfo]:
    """The first ``limit`` active binary markets Gamma lists (others are skipped).

    Args:
        client: the pmtrader client.
        limit: how many markets at most.
        with_rewards: also ask the CLOB for each market's rewards pool (one request each).

    Raises:
        VenueError: the venue could not be reached.
    """
    out: list[MarketInfo] = []
    try:
        for gamma in client.gamma.iter_markets(active=True, closed=False):
            if len(gamma.clob_token_ids) == 2 and gamma.enable_order_book:
                clob = None
                if with_rewards and gamma.condition_id:
                    clob = client.markets.get_market(gamma.condition_id)
                out.append(market_info(gamma, clob))
            if len(out) >= limit:
                break
    except PmtraderError as exc:
        raise VenueError(f"cannot list markets: {exc}") from exc
    return out


def scan_context(client: Client, *, limit: int, now_ms: int) -> Context:
    """A context holding live markets and their books, for the strategies' screens."""
    markets = fetch_active_markets(client, limit=limit)
    tokens = [t for m in markets for t in m.tokens]
    return Context(now_ms=now_ms, markets=markets, books=fetch_books(client, tokens, now_ms=now_ms))


def _touch(book: OrderBookSnapshot | None, tick: int) -> tuple[int, int]:
    """Half-spread (1e-4 units, >= 1 tick) and touch depth (base units) to model books with."""
    if book is None or not book.bids or not book.asks:
        return tick, 100 * AMOUNT_SCALE
    half = max(tick, (book.asks[0][0] - book.bids[0][0]) // 2 // tick * tick)
    depth = max(book.bids[0][1], book.asks[0][1], 5 * AMOUNT_SCALE)
    return half, depth - depth % 10_000


def history_stream(
    client: Client,
    market: MarketInfo,
    *,
    interval: str = "1w",
    fidelity: int = 60,
    now_ms: int,
) -> EventStream:
    """Real price history of a market as an event stream (books modelled, see the module doc).

    Raises:
        VenueError: no history, or the venue could not be reached.
    """
    try:
        history = client.books.get_prices_history(market.yes, interval=interval, fidelity=fidelity)
        live = fetch_books(client, [market.yes], now_ms=now_ms).get(market.yes)
        clob = client.markets.get_market(market.condition_id) if market.condition_id else None
    except PmtraderError as exc:
        raise VenueError(f"cannot fetch the history of {market.slug}: {exc}") from exc
    if not history.history:
        raise VenueError(f"the venue has no price history for {market.slug} ({interval})")
    tick = market.tick
    half, depth = _touch(live, tick)
    builder = EventBuilder([market])
    last = -1
    for point in history.history:
        ts = point.t * 1000
        if ts <= last:
            continue
        last = ts
        mid = _units(point.p, PRICE_SCALE)
        centre = round(mid / tick) * tick
        bid, ask = centre - half, centre + half
        bids = [(bid, depth)] if tick <= bid < PRICE_SCALE else []
        asks = [(ask, depth)] if tick <= ask < PRICE_SCALE else []
        builder.snapshot(ts, market.yes, bids, asks)
        builder.snapshot(
            ts,
            market.no,
            [(PRICE_SCALE - p, s) for p, s in asks],
            [(PRICE_SCALE - p, s) for p, s in bids],
        )
    winners = [t.token_id for t in (clob.tokens if clob is not None else []) if t.winner]
    if winners and clob is not None and clob.closed:
        end = last + 1
        for token in market.tokens:
            builder.add(end, 2, token, side=-1, price=0, size=0)
            builder.resolve(end, token, PRICE_SCALE if token in winners else 0)
    return builder.build()


def tokens_of(markets: Iterable[MarketInfo]) -> list[str]:
    """Every token id of ``markets``, YES then NO."""
    return [t for m in markets for t in m.tokens]
