"""``client.gamma``: Gamma's markets and events (filters, by id, by slug), search and tags.

Gamma is public and camelCase; the models decode its JSON-encoded string fields
(``outcomes``, ``outcomePrices``, ``clobTokenIds``) into real lists. Filters are keyword
arguments named as Gamma names them (``closed=False``, ``tag_id=...``, ``order="volume24hr"``);
list filters (``id``, ``slug``, ``clob_token_ids``, ``condition_ids``) repeat the parameter as
Gamma expects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from pmtrader._http import Op, ParamValue, Request, Service
from pmtrader._state import AsyncGroup, SyncGroup
from pmtrader.models.gamma import GammaEvent, GammaMarket, GammaTag, SearchResults

__all__ = ["AsyncGamma", "Gamma"]


def _list(body: Any, key: str) -> list[Any]:
    # /markets and /events answer a bare array; some deployments wrap it in {"data": [...]}.
    if isinstance(body, dict):
        inner = body.get(key, body.get("data", []))
        return list(inner) if isinstance(inner, list) else []
    return list(body)


def op_markets(filters: dict[str, ParamValue]) -> Op[list[GammaMarket]]:
    """``GET /markets`` with filters."""
    response = yield Request.get(Service.GAMMA, "/markets", filters)
    return [GammaMarket.model_validate(item) for item in _list(response.json(), "markets")]


def op_market(market_id: str) -> Op[GammaMarket]:
    """``GET /markets/{id}``."""
    response = yield Request.get(Service.GAMMA, f"/markets/{market_id}")
    return GammaMarket.model_validate(response.json())


def op_market_by_slug(slug: str) -> Op[GammaMarket]:
    """``GET /markets/slug/{slug}``."""
    response = yield Request.get(Service.GAMMA, f"/markets/slug/{slug}")
    return GammaMarket.model_validate(response.json())


def op_events(filters: dict[str, ParamValue]) -> Op[list[GammaEvent]]:
    """``GET /events`` with filters."""
    response = yield Request.get(Service.GAMMA, "/events", filters)
    return [GammaEvent.model_validate(item) for item in _list(response.json(), "events")]


def op_event(event_id: str) -> Op[GammaEvent]:
    """``GET /events/{id}``."""
    response = yield Request.get(Service.GAMMA, f"/events/{event_id}")
    return GammaEvent.model_validate(response.json())


def op_event_by_slug(slug: str) -> Op[GammaEvent]:
    """``GET /events/slug/{slug}``."""
    response = yield Request.get(Service.GAMMA, f"/events/slug/{slug}")
    return GammaEvent.model_validate(response.json())


def op_search(query: str, limit: int | None) -> Op[SearchResults]:
    """``GET /public-search?q=``."""
    response = yield Request.get(
        Service.GAMMA, "/public-search", {"q": query, "limit_per_type": limit}
    )
    return SearchResults.model_validate(response.json())


def op_tags(limit: int | None, offset: int | None) -> Op[list[GammaTag]]:
    """``GET /tags``."""
    response = yield Request.get(Service.GAMMA, "/tags", {"limit": limit, "offset": offset})
    return [GammaTag.model_validate(item) for item in _list(response.json(), "tags")]


class Gamma(SyncGroup):
    """Gamma markets, events, search and tags (``client.gamma``)."""

    def get_markets(self, **filters: ParamValue) -> list[GammaMarket]:
        """Return markets matching Gamma filters (``limit``, ``offset``, ``closed``, ``tag_id``).

        Example:
            ``client.gamma.get_markets(closed=False, order="volume24hr", ascending=False)``
        """
        return self._run(op_markets(filters))

    def iter_markets(self, *, page_size: int = 100, **filters: ParamValue) -> Iterator[GammaMarket]:
        """Yield every market matching ``filters``, paging with ``offset`` until a short page."""
        offset, seen = 0, set[str]()
        while True:
            page = self._run(op_markets({**filters, "limit": page_size, "offset": offset}))
            fresh = [market for market in page if market.id not in seen]
            yield from fresh
            # A short page ends the listing; a page of repeats means offset was ignored.
            if len(page) < page_size or not fresh:
                return
            seen.update(market.id for market in fresh)
            offset += len(page)

    def get_market(self, market_id: str) -> GammaMarket:
        """Return a market by Gamma id."""
        return self._run(op_market(market_id))

    def get_market_by_slug(self, slug: str) -> GammaMarket:
        """Return a market by slug."""
        return self._run(op_market_by_slug(slug))

    def get_events(self, **filters: ParamValue) -> list[GammaEvent]:
        """Return events (each with its markets) matching Gamma filters."""
        return self._run(op_events(filters))

    def get_event(self, event_id: str) -> GammaEvent:
        """Return an event by Gamma id."""
        return self._run(op_event(event_id))

    def get_event_by_slug(self, slug: str) -> GammaEvent:
        """Return an event by slug."""
        return self._run(op_event_by_slug(slug))

    def search(self, query: str, *, limit: int | None = None) -> SearchResults:
        """Search events and tags by text (``/public-search``)."""
        return self._run(op_search(query, limit))

    def get_tags(self, *, limit: int | None = None, offset: int | None = None) -> list[GammaTag]:
        """Return Gamma's tags."""
        return self._run(op_tags(limit, offset))


class AsyncGamma(AsyncGroup):
    """Async twin of :class:`Gamma`."""

    async def get_markets(self, **filters: ParamValue) -> list[GammaMarket]:
        """See :meth:`Gamma.get_markets`."""
        return await self._run(op_markets(filters))

    async def iter_markets(
        self, *, page_size: int = 100, **filters: ParamValue
    ) -> AsyncIterator[GammaMarket]:
        """See :meth:`Gamma.iter_markets`."""
        offset, seen = 0, set[str]()
        while True:
            page = await self._run(op_markets({**filters, "limit": page_size, "offset": offset}))
            fresh = [market for market in page if market.id not in seen]
            for market in fresh:
                yield market
            if len(page) < page_size or not fresh:
                return
            seen.update(market.id for market in fresh)
            offset += len(page)

    async def get_market(self, market_id: str) -> GammaMarket:
        """See :meth:`Gamma.get_market`."""
        return await self._run(op_market(market_id))

    async def get_market_by_slug(self, slug: str) -> GammaMarket:
        """See :meth:`Gamma.get_market_by_slug`."""
        return await self._run(op_market_by_slug(slug))

    async def get_events(self, **filters: ParamValue) -> list[GammaEvent]:
        """See :meth:`Gamma.get_events`."""
        return await self._run(op_events(filters))

    async def get_event(self, event_id: str) -> GammaEvent:
        """See :meth:`Gamma.get_event`."""
        return await self._run(op_event(event_id))

    async def get_event_by_slug(self, slug: str) -> GammaEvent:
        """See :meth:`Gamma.get_event_by_slug`."""
        return await self._run(op_event_by_slug(slug))

    async def search(self, query: str, *, limit: int | None = None) -> SearchResults:
        """See :meth:`Gamma.search`."""
        return await self._run(op_search(query, limit))

    async def get_tags(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> list[GammaTag]:
        """See :meth:`Gamma.get_tags`."""
        return await self._run(op_tags(limit, offset))
