"""Data API of the local exchange, mounted at ``/data-api`` (production: data-api.polymarket.com).

Production shapes (``protocol-v1-gamma-rewards.md`` §5.2): arrays of camelCase objects whose
figures are JSON numbers (they are displays; orders never read them). A trade appears in the view of
the address asking: as the taker's leg, or as that address's maker fill.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eth_utils.address import is_address
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmtrader.sim.catalogue import Market
from pmtrader.sim.context import ServerContext
from pmtrader.sim.matching import AMOUNT_SCALE, PRICE_SCALE, Side
from pmtrader.sim.records import Trade
from pmtrader.sim.responses import HttpError, ok, query_bool, query_float, query_int, query_list
from pmtrader.sim.routes_clob import ClobRoutes
from pmtrader.sim.shapes import iso

SORT_KEYS = {
    "CURRENT": "currentValue",
    "INITIAL": "initialValue",
    "TOKENS": "size",
    "CASHPNL": "cashPnl",
    "PERCENTPNL": "percentPnl",
    "TITLE": "title",
    "RESOLVING": "endDate",
    "PRICE": "curPrice",
    "AVGPRICE": "avgPrice",
}


def _shares(base_units: int) -> float:
    return float(Decimal(base_units) / AMOUNT_SCALE)


def _price(price: int) -> float:
    return float(Decimal(price) / PRICE_SCALE)


def _profile(address: str) -> dict[str, Any]:
    return {
        "name": "",
        "pseudonym": f"Sim-Trader-{address[2:8].lower()}",
        "bio": "",
        "profileImage": "",
        "profileImageOptimized": "",
    }


def _user(request: Request, *, required: bool = True) -> str | None:
    user = request.query_params.get("user")
    if not user:
        if required:
            raise HttpError(400, "required query param 'user' not provided: pass user=0x...")
        return None
    if not is_address(user):
        raise HttpError(400, f"invalid user address {user!r}")
    return user


class DataRoutes:
    """``/positions``, ``/trades``, ``/activity`` and ``/value`` over one exchange."""

    def __init__(self, ctx: ServerContext, clob: ClobRoutes) -> None:
        self.ctx = ctx
        self.exchange = ctx.exchange
        self.clob = clob

    def routes(self) -> list[Route]:
        """The Starlette routes, relative to the ``/data-api`` mount."""
        return [
            Route("/positions", self.positions),
            Route("/trades", self.trades),
            Route("/activity", self.activity),
            Route("/value", self.value),
        ]

    def _cur_price(self, market: Market, token: str) -> int:
        if market.closed and market.winner is not None:
            return PRICE_SCALE if market.winner == token else 0
        return self.clob.quote(token).reference

    def _market_bits(self, market: Market, token: str) -> dict[str, Any]:
        event = self.exchange.catalogue.event_of(market)
        index = market.token_ids.index(token)
        return {
            "title": market.question,
            "slug": market.slug,
            "icon": market.icon,
            "eventSlug": event.slug,
            "outcome": market.outcomes[index],
            "outcomeIndex": index,
        }

    def _position_rows(self, user: str) -> list[dict[str, Any]]:
        rows = []
        for pos in self.exchange.positions(user):
            market = self.exchange.market_by_token(pos.asset_id)
            if market is None:
                continue
            index = market.token_ids.index(pos.asset_id)
            event = self.exchange.catalogue.event_of(market)
            cur = self._cur_price(market, pos.asset_id)
            size = _shares(pos.size)
            avg = _price(pos.avg_price)
            initial = size * avg
            current = size * _price(cur)
            cash_pnl = current - initial
            rows.append(
                {
                    "proxyWallet": user,
                    "asset": pos.asset_id,
                    "conditionId": market.condition_id,
                    "size": size,
                    "avgPrice": avg,
                    "initialValue": initial,
                    "currentValue": current,
                    "cashPnl": cash_pnl,
                    "percentPnl": (cash_pnl / initial * 100) if initial else 0.0,
                    "totalBought": _shares(pos.total_bought),
                    "realizedPnl": _shares(pos.realized_pnl),
                    "percentRealizedPnl": 0.0,
                    "curPrice": _price(cur),
                    "redeemable": market.closed,
                    "mergeable": bool(
                        self.exchange.ledger.token(user, market.token_ids[1 - index])
                    ),
                    "title": market.question,
                    "slug": market.slug,
                    "icon": market.icon,
                    "eventSlug": event.slug,
                    "eventId": event.id,
                    "outcome": market.outcomes[index],
                    "outcomeIndex": index,
                    "oppositeOutcome": market.outcomes[1 - index],
                    "oppositeAsset": market.token_ids[1 - index],
                    "endDate": iso(market.end_ms)[:10],
                    "negativeRisk": market.neg_risk,
                }
            )
        return rows

    async def positions(self, request: Request) -> Response:
        """``GET /positions?user=`` with market, sizeThreshold, sort and paging filters."""
        user = _user(request)
        assert user is not None
        rows = self._position_rows(user)
        markets = {m.lower() for m in query_list(request, "market")}
        if markets:
            rows = [r for r in rows if r["conditionId"].lower() in markets]
        threshold = query_float(request, "sizeThreshold")
        rows = [r for r in rows if r["size"] >= (1.0 if threshold is None else threshold)]
        if query_bool(request, "redeemable") is not None:
            rows = [r for r in rows if r["redeemable"] == query_bool(request, "redeemable")]
        if query_bool(request, "mergeable") is not None:
            rows = [r for r in rows if r["mergeable"] == query_bool(request, "mergeable")]
        sort_by = (request.query_params.get("sortBy") or "TOKENS").upper()
        if sort_by not in SORT_KEYS:
            raise HttpError(400, f"invalid sortBy {sort_by!r}: one of {', '.join(SORT_KEYS)}")
        descending = (request.query_params.get("sortDirection") or "DESC").upper() != "ASC"
        rows.sort(key=lambda r: r[SORT_KEYS[sort_by]], reverse=descending)
        offset = query_int(request, "offset", 0, hi=10_000)
        limit = query_int(request, "limit", 100, lo=0, hi=500)
        return ok(rows[offset : offset + limit])

    def _legs(self, trade: Trade, user: str | None, *, taker_only: bool) -> list[dict[str, Any]]:
        """The rows one trade contributes to ``/trades`` for ``user`` (or the taker's row).

        None for a FAILED trade: the Data API reads the chain, where it never settled.
        """
        if trade.status == "FAILED":
            return []
        rows: list[tuple[str, Side, str, int, int]] = []
        if user is None or trade.maker_address.lower() == user.lower():
            rows.append((trade.maker_address, trade.side, trade.asset_id, trade.size, trade.price))
        if not taker_only and user is not None:
            rows.extend(
                (m.maker_address, m.side, m.asset_id, m.matched_amount, m.price)
                for m in trade.maker_orders
                if m.maker_address.lower() == user.lower()
            )
        out = []
        for wallet, side, asset, size, price in rows:
            market = self.exchange.market_by_token(asset)
            if market is None:
                continue
            out.append(
                {
                    "proxyWallet": wallet,
                    "side": "BUY" if side is Side.BUY else "SELL",
                    "asset": asset,
                    "conditionId": market.condition_id,
                    "size": _shares(size),
                    "price": _price(price),
                    "timestamp": trade.match_ms // 1000,
                    **self._market_bits(market, asset),
                    **_profile(wallet),
                    "transactionHash": trade.transaction_hash,
                }
            )
        return out

    def _trade_rows(self, request: Request, user: str | None) -> list[dict[str, Any]]:
        taker_only = query_bool(request, "takerOnly")
        taker_only = True if taker_only is None else taker_only
        trades = self.exchange.trades(address=user) if user else self.exchange.trades()
        markets = {m.lower() for m in query_list(request, "market")}
        rows = [
            row
            for trade in trades
            if not markets or trade.market.lower() in markets
            for row in self._legs(trade, user, taker_only=taker_only)
        ]
        side = (request.query_params.get("side") or "").upper()
        if side:
            if side not in ("BUY", "SELL"):
                raise HttpError(400, f"invalid side {side!r}: BUY or SELL")
            rows = [r for r in rows if r["side"] == side]
        return rows

    async def trades(self, request: Request) -> Response:
        """``GET /trades?user=&market=&side=&takerOnly=&limit=&offset=`` (newest first)."""
        rows = self._trade_rows(request, _user(request, required=False))
        offset = query_int(request, "offset", 0, hi=10_000)
        limit = query_int(request, "limit", 100, lo=0, hi=10_000)
        return ok(rows[offset : offset + limit])

    async def activity(self, request: Request) -> Response:
        """``GET /activity?user=``: the user's trades as activity rows (type ``TRADE``)."""
        user = _user(request)
        kinds = {k.upper() for k in query_list(request, "type")}
        rows: list[dict[str, Any]] = []
        if not kinds or "TRADE" in kinds:
            legs = [
                leg
                for trade in self.exchange.trades(address=user)
                for leg in self._legs(trade, user, taker_only=False)
            ]
            rows.extend(
                {
                    "proxyWallet": leg["proxyWallet"],
                    "timestamp": leg["timestamp"],
                    "conditionId": leg["conditionId"],
                    "type": "TRADE",
                    "size": leg["size"],
                    "usdcSize": leg["size"] * leg["price"],
                    "transactionHash": leg["transactionHash"],
                    "price": leg["price"],
                    "asset": leg["asset"],
                    "side": leg["side"],
                    "outcomeIndex": leg["outcomeIndex"],
                    "title": leg["title"],
                    "slug": leg["slug"],
                    "icon": leg["icon"],
                    "eventSlug": leg["eventSlug"],
                    "outcome": leg["outcome"],
                    **_profile(leg["proxyWallet"]),
                }
                for leg in legs
            )
        markets = {m.lower() for m in query_list(request, "market")}
        if markets:
            rows = [r for r in rows if r["conditionId"].lower() in markets]
        offset = query_int(request, "offset", 0, hi=10_000)
        limit = query_int(request, "limit", 100, lo=0, hi=500)
        return ok(rows[offset : offset + limit])

    async def value(self, request: Request) -> Response:
        """``GET /value?user=``: ``[{"user", "value"}]``, the positions' current value in pUSD."""
        user = _user(request)
        assert user is not None
        total = sum(r["currentValue"] for r in self._position_rows(user))
        return ok([{"user": user, "value": total}])
