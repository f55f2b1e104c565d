"""``client.data``: the Data API's view of a user: positions, trades, activity, value.

Public (no auth): pass the address whose holdings you want, usually ``client.funder``.
"""

from __future__ import annotations

from pmtrader._http import Op, ParamValue, Request, Service
from pmtrader._state import AsyncGroup, SyncGroup
from pmtrader.models.data import Activity, DataTrade, PortfolioValue, Position

__all__ = ["AsyncDataApi", "DataApi"]


def op_positions(user: str, filters: dict[str, ParamValue]) -> Op[list[Position]]:
    """``GET /positions?user=``."""
    response = yield Request.get(Service.DATA, "/positions", {"user": user, **filters})
    return [Position.model_validate(item) for item in response.json()]


def op_trades(user: str | None, filters: dict[str, ParamValue]) -> Op[list[DataTrade]]:
    """``GET /trades``."""
    response = yield Request.get(Service.DATA, "/trades", {"user": user, **filters})
    return [DataTrade.model_validate(item) for item in response.json()]


def op_activity(user: str, filters: dict[str, ParamValue]) -> Op[list[Activity]]:
    """``GET /activity?user=``."""
    response = yield Request.get(Service.DATA, "/activity", {"user": user, **filters})
    return [Activity.model_validate(item) for item in response.json()]


def op_value(user: str, market: str | None) -> Op[PortfolioValue]:
    """``GET /value?user=``: the venue answers a one-element list."""
    response = yield Request.get(Service.DATA, "/value", {"user": user, "market": market})
    body = response.json()
    if isinstance(body, list):
        body = body[0] if body else {"user": user, "value": 0}
    return PortfolioValue.model_validate(body)


class DataApi(SyncGroup):
    """Positions, trades, activity and value of an address (``client.data``)."""

    def get_positions(self, user: str, **filters: ParamValue) -> list[Position]:
        """Return the positions of ``user``.

        Args:
            user: The address (the funder, for proxy and Safe accounts).
            **filters: Data API filters: ``market`` (condition ids), ``sizeThreshold``,
                ``redeemable``, ``limit``, ``offset``, ``sortBy``, ``sortDirection``.
        """
        return self._run(op_positions(user, filters))

    def get_trades(self, user: str | None = None, **filters: ParamValue) -> list[DataTrade]:
        """Return trades, of ``user`` if given (filters: ``market``, ``limit``, ``offset`` ...)."""
        return self._run(op_trades(user, filters))

    def get_activity(self, user: str, **filters: ParamValue) -> list[Activity]:
        """Return the activity feed of ``user`` (filters: ``market``, ``type``, ``limit`` ...)."""
        return self._run(op_activity(user, filters))

    def get_value(self, user: str, *, market: str | None = None) -> PortfolioValue:
        """Return the current value of ``user``'s positions in pUSD."""
        return self._run(op_value(user, market))


class AsyncDataApi(AsyncGroup):
    """Async twin of :class:`DataApi`."""

    async def get_positions(self, user: str, **filters: ParamValue) -> list[Position]:
        """See :meth:`DataApi.get_positions`."""
        return await self._run(op_positions(user, filters))

    async def get_trades(self, user: str | None = None, **filters: ParamValue) -> list[DataTrade]:
        """See :meth:`DataApi.get_trades`."""
        return await self._run(op_trades(user, filters))

    async def get_activity(self, user: str, **filters: ParamValue) -> list[Activity]:
        """See :meth:`DataApi.get_activity`."""
        return await self._run(op_activity(user, filters))

    async def get_value(self, user: str, *, market: str | None = None) -> PortfolioValue:
        """See :meth:`DataApi.get_value`."""
        return await self._run(op_value(user, market))
