"""``client.markets``: CLOB markets and the per-token facts orders need (public, no auth).

Method names are py-clob-client-v2's (``get_markets``, ``get_market``, ``get_tick_size`` ...),
so code written against the official client reads the same; answers are typed models with
``Decimal`` prices instead of dicts of floats. Pagination is handled for you by
:meth:`Markets.iter_markets` (it follows ``next_cursor`` until the venue's ``LTE=``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

from pmtrader._http import END_CURSOR, INITIAL_CURSOR, AuthLevel, Op, Request, Service, op_paged
from pmtrader._state import AsyncGroup, MarketCache, SyncGroup
from pmtrader.errors import NotFoundError, UnexpectedResponseError
from pmtrader.models.clob import ClobMarketInfo, FeeDetails, Market, MarketsPage
from pmtrader.models.rewards import RewardsMarket

__all__ = ["AsyncMarkets", "Markets"]


def _shape_error(response_path: str, what: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(what, status=200, method="GET", path=response_path)


def op_ok() -> Op[bool]:
    """``GET /ok``: whether the CLOB answers."""
    yield Request.get(Service.CLOB, "/ok")
    return True


def op_server_time() -> Op[int]:
    """``GET /time``: the venue's clock in unix seconds."""
    response = yield Request.get(Service.CLOB, "/time")
    body: Any = response.json()
    if isinstance(body, dict):
        body = body.get("time") or body.get("timestamp")
    return int(body)


def op_version() -> Op[int]:
    """``GET /version``: the order protocol version (2 when the venue does not say)."""
    try:
        response = yield Request.get(Service.CLOB, "/version")
    except NotFoundError:
        return 2
    body = response.json()
    return int(body.get("version", 2)) if isinstance(body, dict) else 2


def op_markets_page(path: str, cursor: str) -> Op[MarketsPage]:
    """One page of ``/markets`` (or ``/sampling-markets``)."""
    response = yield Request.get(Service.CLOB, path, {"next_cursor": cursor})
    return MarketsPage.model_validate(response.json())


def op_simplified_page(path: str, cursor: str) -> Op[dict[str, Any]]:
    """One page of ``/simplified-markets`` (raw: a reduced market shape)."""
    response = yield Request.get(Service.CLOB, path, {"next_cursor": cursor})
    body: dict[str, Any] = response.json()
    return body


def op_market(condition_id: str) -> Op[Market]:
    """``GET /markets/{condition_id}``."""
    response = yield Request.get(Service.CLOB, f"/markets/{condition_id}")
    return Market.model_validate(response.json())


def op_clob_market_info(cache: MarketCache, condition_id: str) -> Op[ClobMarketInfo]:
    """``GET /clob-markets/{condition_id}``, remembered per token."""
    path = f"/clob-markets/{condition_id}"
    response = yield Request.get(Service.CLOB, path)
    info = ClobMarketInfo.model_validate(response.json())
    if not info.token_ids:
        raise _shape_error(path, f"market {condition_id} lists no tokens")
    if not info.condition_id:
        info = info.model_copy(update={"condition_id": condition_id})
    cache.remember_info(info)
    return info


def op_condition_id(cache: MarketCache, token_id: str) -> Op[str]:
    """``GET /markets-by-token/{token_id}`` (cached): the token's condition id."""
    known = cache.facts(token_id).condition_id
    if known:
        return known
    path = f"/markets-by-token/{token_id}"
    response = yield Request.get(Service.CLOB, path)
    body = response.json()
    condition_id = body.get("condition_id") if isinstance(body, dict) else None
    if not condition_id:
        raise _shape_error(path, f"no condition_id for token {token_id}")
    cache.facts(token_id).condition_id = str(condition_id)
    return str(condition_id)


def op_market_info_for_token(cache: MarketCache, token_id: str) -> Op[ClobMarketInfo]:
    """The ``/clob-markets`` facts of the market a token belongs to (cached)."""
    info = cache.facts(token_id).info
    if info is not None:
        return info
    condition_id = yield from op_condition_id(cache, token_id)
    return (yield from op_clob_market_info(cache, condition_id))


def op_tick_size(cache: MarketCache, token_id: str, *, refresh: bool = False) -> Op[Decimal]:
    """``GET /tick-size`` unless a fresh value is cached."""
    cached = None if refresh else cache.tick_size(token_id)
    if cached is not None:
        return cached
    response = yield Request.get(Service.CLOB, "/tick-size", {"token_id": token_id})
    tick = Decimal(str(response.json()["minimum_tick_size"]))
    cache.set_tick_size(token_id, tick)
    return tick


def op_neg_risk(cache: MarketCache, token_id: str) -> Op[bool]:
    """``GET /neg-risk`` unless cached (a market's neg-risk flag never changes)."""
    known = cache.facts(token_id).neg_risk
    if known is not None:
        return known
    response = yield Request.get(Service.CLOB, "/neg-risk", {"token_id": token_id})
    neg_risk = bool(response.json()["neg_risk"])
    cache.facts(token_id).neg_risk = neg_risk
    return neg_risk


def op_fee_details(cache: MarketCache, token_id: str) -> Op[FeeDetails]:
    """The token's market fee parameters (zero fee when the market publishes none)."""
    info = yield from op_market_info_for_token(cache, token_id)
    return info.fee or FeeDetails(r=Decimal(0), e=1, to=True)


def op_rewards(path: str) -> Op[list[RewardsMarket]]:
    """Every page of a public rewards listing."""
    items = yield from op_paged(Service.CLOB, path, {}, AuthLevel.NONE)
    return [RewardsMarket.model_validate(item) for item in items]


def op_trade_events(condition_id: str) -> Op[list[dict[str, Any]]]:
    """``GET /markets/live-activity/{condition_id}`` (raw: the shape is undocumented)."""
    response = yield Request.get(Service.CLOB, f"/markets/live-activity/{condition_id}")
    body = response.json()
    return list(body) if isinstance(body, list) else []


class Markets(SyncGroup):
    """CLOB markets and per-token facts (``client.markets``)."""

    def get_ok(self) -> bool:
        """Return ``True`` when the CLOB answers ``GET /ok``."""
        return self._run(op_ok())

    def get_server_time(self) -> int:
        """Return the venue's clock in unix seconds (``GET /time``)."""
        return self._run(op_server_time())

    def get_version(self) -> int:
        """Return the venue's order protocol version (``GET /version``; 2 if unanswered)."""
        return self._run(op_version())

    def get_markets(self, next_cursor: str = INITIAL_CURSOR) -> MarketsPage:
        """Return one page of markets; pass the page's ``next_cursor`` for the next.

        Args:
            next_cursor: ``MA==`` for the first page.
        """
        return self._run(op_markets_page("/markets", next_cursor))

    def iter_markets(self, *, sampling: bool = False) -> Iterator[Market]:
        """Yield every market, page after page, until the venue's last page (``LTE=``).

        Args:
            sampling: Only markets currently eligible for liquidity rewards.
        """
        path = "/sampling-markets" if sampling else "/markets"
        cursor = INITIAL_CURSOR
        while cursor != END_CURSOR:
            page = self._run(op_markets_page(path, cursor))
            yield from page.data
            if not page.next_cursor or page.next_cursor == cursor:
                return
            cursor = page.next_cursor

    def get_sampling_markets(self, next_cursor: str = INITIAL_CURSOR) -> MarketsPage:
        """Return one page of the markets eligible for liquidity rewards."""
        return self._run(op_markets_page("/sampling-markets", next_cursor))

    def get_simplified_markets(self, next_cursor: str = INITIAL_CURSOR) -> dict[str, Any]:
        """Return one raw page of ``/simplified-markets`` (a reduced shape)."""
        return self._run(op_simplified_page("/simplified-markets", next_cursor))

    def get_market(self, condition_id: str) -> Market:
        """Return one market by condition id.

        Raises:
            NotFoundError: No such market.
        """
        return self._run(op_market(condition_id))

    def get_clob_market_info(self, condition_id: str) -> ClobMarketInfo:
        """Return the compact order facts of a market (``/clob-markets``): tick, fees, tokens."""
        return self._run(op_clob_market_info(self._state.cache, condition_id))

    def get_market_by_token(self, token_id: str) -> str:
        """Return the condition id of the market that trades ``token_id``."""
        return self._run(op_condition_id(self._state.cache, token_id))

    def get_tick_size(self, token_id: str, *, refresh: bool = False) -> Decimal:
        """Return the token's tick size (cached for a minute unless ``refresh``)."""
        return self._run(op_tick_size(self._state.cache, token_id, refresh=refresh))

    def get_neg_risk(self, token_id: str) -> bool:
        """Return whether the token's market is neg-risk (its orders go to that exchange)."""
        return self._run(op_neg_risk(self._state.cache, token_id))

    def get_fee_details(self, token_id: str) -> FeeDetails:
        """Return the platform fee parameters of the token's market (``fd``)."""
        return self._run(op_fee_details(self._state.cache, token_id))

    def get_current_rewards(self) -> list[RewardsMarket]:
        """Return every market currently paying liquidity rewards (all pages)."""
        return self._run(op_rewards("/rewards/markets/current"))

    def get_raw_rewards_for_market(self, condition_id: str) -> list[RewardsMarket]:
        """Return the reward programmes of one market (all pages)."""
        return self._run(op_rewards(f"/rewards/markets/{condition_id}"))

    def get_market_trades_events(self, condition_id: str) -> list[dict[str, Any]]:
        """Return the market's recent trade events (raw dicts: the shape is undocumented)."""
        return self._run(op_trade_events(condition_id))

    def note_tick_size_change(self, token_id: str, tick_size: Decimal) -> None:
        """Tell the client a token's tick changed (from a websocket ``tick_size_change``)."""
        self._state.cache.set_tick_size(token_id, tick_size)


class AsyncMarkets(AsyncGroup):
    """Async twin of :class:`Markets` (``async_client.markets``); same methods, awaited."""

    async def get_ok(self) -> bool:
        """See :meth:`Markets.get_ok`."""
        return await self._run(op_ok())

    async def get_server_time(self) -> int:
        """See :meth:`Markets.get_server_time`."""
        return await self._run(op_server_time())

    async def get_version(self) -> int:
        """See :meth:`Markets.get_version`."""
        return await self._run(op_version())

    async def get_markets(self, next_cursor: str = INITIAL_CURSOR) -> MarketsPage:
        """See :meth:`Markets.get_markets`."""
        return await self._run(op_markets_page("/markets", next_cursor))

    async def iter_markets(self, *, sampling: bool = False) -> AsyncIterator[Market]:
        """See :meth:`Markets.iter_markets`."""
        path = "/sampling-markets" if sampling else "/markets"
        cursor = INITIAL_CURSOR
        while cursor != END_CURSOR:
            page = await self._run(op_markets_page(path, cursor))
            for market in page.data:
                yield market
            if not page.next_cursor or page.next_cursor == cursor:
                return
            cursor = page.next_cursor

    async def get_sampling_markets(self, next_cursor: str = INITIAL_CURSOR) -> MarketsPage:
        """See :meth:`Markets.get_sampling_markets`."""
        return await self._run(op_markets_page("/sampling-markets", next_cursor))

    async def get_simplified_markets(self, next_cursor: str = INITIAL_CURSOR) -> dict[str, Any]:
        """See :meth:`Markets.get_simplified_markets`."""
        return await self._run(op_simplified_page("/simplified-markets", next_cursor))

    async def get_market(self, condition_id: str) -> Market:
        """See :meth:`Markets.get_market`."""
        return await self._run(op_market(condition_id))

    async def get_clob_market_info(self, condition_id: str) -> ClobMarketInfo:
        """See :meth:`Markets.get_clob_market_info`."""
        return await self._run(op_clob_market_info(self._state.cache, condition_id))

    async def get_market_by_token(self, token_id: str) -> str:
        """See :meth:`Markets.get_market_by_token`."""
        return await self._run(op_condition_id(self._state.cache, token_id))

    async def get_tick_size(self, token_id: str, *, refresh: bool = False) -> Decimal:
        """See :meth:`Markets.get_tick_size`."""
        return await self._run(op_tick_size(self._state.cache, token_id, refresh=refresh))

    async def get_neg_risk(self, token_id: str) -> bool:
        """See :meth:`Markets.get_neg_risk`."""
        return await self._run(op_neg_risk(self._state.cache, token_id))

    async def get_fee_details(self, token_id: str) -> FeeDetails:
        """See :meth:`Markets.get_fee_details`."""
        return await self._run(op_fee_details(self._state.cache, token_id))

    async def get_current_rewards(self) -> list[RewardsMarket]:
        """See :meth:`Markets.get_current_rewards`."""
        return await self._run(op_rewards("/rewards/markets/current"))

    async def get_raw_rewards_for_market(self, condition_id: str) -> list[RewardsMarket]:
        """See :meth:`Markets.get_raw_rewards_for_market`."""
        return await self._run(op_rewards(f"/rewards/markets/{condition_id}"))

    async def get_market_trades_events(self, condition_id: str) -> list[dict[str, Any]]:
        """See :meth:`Markets.get_market_trades_events`."""
        return await self._run(op_trade_events(condition_id))

    def note_tick_size_change(self, token_id: str, tick_size: Decimal) -> None:
        """See :meth:`Markets.note_tick_size_change`."""
        self._state.cache.set_tick_size(token_id, tick_size)
