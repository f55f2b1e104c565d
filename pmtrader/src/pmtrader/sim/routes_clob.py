"""Public CLOB REST endpoints of the local exchange: health, markets, books and prices (L0).

Conventions (``protocol.md`` §3.2, §7):

* Books: bids ascending, asks descending (best LAST), all ten keys, ``hash`` by the venue's SHA-1
  recipe, so ``ClobClient.get_order_book_hash(book) == book["hash"]``.
* ``/price`` side convention: ``side=BUY`` answers the best **bid** and ``side=SELL`` the best
  **ask**, as the live venue does (protocol.md §7.8; the docs say the opposite). A side with no
  orders answers 404 ``No orderbook exists for the requested token id``.
* Pagination: cursors are base64 offsets starting at ``MA==``; the last page says exactly ``LTE=``.
* ``minimum_tick_size`` and ``mts`` are JSON numbers whose ``str()`` is one of the client's rounding
  table keys (``0.1`` … ``0.0001``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmtrader.sim.catalogue import Market
from pmtrader.sim.context import ServerContext
from pmtrader.sim.errors import UnknownMarket
from pmtrader.sim.matching import PRICE_SCALE
from pmtrader.sim.records import fmt_price
from pmtrader.sim.responses import HttpError, ok, query_int, read_json
from pmtrader.sim.routes_gamma import Quote
from pmtrader.sim.shapes import (
    book_wire,
    clob_market,
    clob_market_info,
    iso,
    simplified_market,
    tick_number,
)

INITIAL_CURSOR = "MA=="
END_CURSOR = "LTE="
MARKETS_PAGE = 20
"""Markets per ``/markets`` page: small enough that the seeded catalogue spans several pages."""
BATCH_LIMIT = 500
NO_BOOK = "No orderbook exists for the requested token id"
INTERVALS_S = {"1h": 3600, "6h": 6 * 3600, "1d": 86400, "1w": 7 * 86400, "1m": 30 * 86400}


def encode_cursor(offset: int) -> str:
    """A page cursor: base64 of the decimal offset (``MA==`` is 0, ``LTE=`` is -1, the end)."""
    return base64.b64encode(str(offset).encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor points at; ``MA==``/absent is 0.

    Raises:
        HttpError: 400 for a cursor that is not one this server issued.
    """
    if not cursor:
        return 0
    try:
        offset = int(base64.b64decode(cursor, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise HttpError(400, f"invalid next_cursor {cursor!r}") from None
    if offset < 0:
        raise HttpError(400, "next_cursor LTE= marks the end; there are no more pages")
    return offset


def page(items: list[Any], request: Request, size: int) -> dict[str, Any]:
    """One page envelope ``{limit, count, next_cursor, data}`` ending with ``LTE=``."""
    offset = decode_cursor(request.query_params.get("next_cursor"))
    chunk = items[offset : offset + size]
    nxt = offset + size
    return {
        "limit": size,
        "count": len(chunk),
        "next_cursor": encode_cursor(nxt) if nxt < len(items) else END_CURSOR,
        "data": chunk,
    }


def token_param(request: Request) -> str:
    """The ``token_id`` query parameter, or 400 ``Invalid token id``."""
    token = request.query_params.get("token_id") or request.query_params.get("market")
    if not token:
        raise HttpError(400, "Invalid token id")
    return token


def _mid(bid: int, ask: int) -> str:
    return format((Decimal(bid + ask) / 2 / PRICE_SCALE).normalize(), "f")


class ClobRoutes:
    """The public (L0) CLOB endpoints over one exchange."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.exchange = ctx.exchange

    # helpers ---------------------------------------------------------------------------------
    def market_of(self, token: str) -> Market:
        """The market of a token, or 404 ``No orderbook exists for the requested token id``."""
        market = self.exchange.market_by_token(token)
        if market is None:
            raise HttpError(404, NO_BOOK)
        return market

    def quote(self, token: str) -> Quote:
        """Top of book, last trade and a reference price for one token."""
        market = self.market_of(token)
        bid, ask = self.exchange.best_bid_ask(token)
        last = self.exchange.last_trade(token)
        last_price = None if last is None else last[0]
        if bid is not None and ask is not None:
            reference = (bid + ask) // 2
        elif last_price is not None:
            reference = last_price
        else:
            opening = market.initial_mid
            reference = opening if token == market.yes_token else PRICE_SCALE - opening
        return Quote(bid, ask, last_price, reference)

    def yes_price(self, market: Market) -> int:
        """The YES token's reference price (for catalogue displays)."""
        return self.quote(market.yes_token).reference

    def routes(self) -> list[Route]:
        """The Starlette routes at the server root."""
        return [
            Route("/", self.health),
            Route("/ok", self.health),
            Route("/time", self.time),
            Route("/version", self.version),
            Route("/markets", self.markets),
            Route("/markets/live-activity/{condition_id}", self.live_activity),
            Route("/markets/{condition_id}", self.market),
            Route("/simplified-markets", self.simplified_markets),
            Route("/sampling-markets", self.sampling_markets),
            Route("/sampling-simplified-markets", self.sampling_simplified_markets),
            Route("/markets-by-token/{token_id}", self.markets_by_token),
            Route("/clob-markets/{condition_id}", self.clob_market),
            Route("/book", self.book),
            Route("/books", self.books, methods=["POST"]),
            Route("/price", self.price),
            Route("/prices", self.prices, methods=["POST"]),
            Route("/midpoint", self.midpoint),
            Route("/midpoints", self.midpoints, methods=["POST"]),
            Route("/spread", self.spread),
            Route("/spreads", self.spreads, methods=["POST"]),
            Route("/last-trade-price", self.last_trade_price),
            Route("/last-trades-prices", self.last_trades_prices, methods=["POST"]),
            Route("/tick-size", self.tick_size),
            Route("/neg-risk", self.neg_risk),
            Route("/fee-rate", self.fee_rate),
            Route("/prices-history", self.prices_history),
            Route("/fees/builder-fees/{code}", self.builder_fees),
            Route("/rewards/markets/current", self.rewards_current),
            Route("/rewards/markets/{condition_id}", self.rewards_market),
        ]

    # meta ------------------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        """``GET /`` and ``GET /ok``."""
        return ok("OK")

    async def time(self, request: Request) -> Response:
        """``GET /time``: bare integer unix seconds (wall clock, what POLY_TIMESTAMP is checked
        against, so ``use_server_time=True`` clients sign with a time the server accepts)."""
        return ok(self.ctx.wall_s())

    async def version(self, request: Request) -> Response:
        """``GET /version``: 2 (so the official client signs V2 orders) unless ``/_sim/version``
        set another."""
        return ok({"version": self.ctx.order_version})

    # markets ---------------------------------------------------------------------------------
    def _market_list(
        self, request: Request, shape: Callable[..., dict[str, Any]], sampling: bool
    ) -> Response:
        now = self.ctx.now_ms()
        markets = self.exchange.markets()
        if sampling:
            markets = [m for m in markets if m.accepting_orders and now < m.end_ms]
        items = [shape(m, self.yes_price(m), now_ms=now) for m in markets]
        return ok(page(items, request, MARKETS_PAGE))

    async def markets(self, request: Request) -> Response:
        """``GET /markets?next_cursor=``."""
        return self._market_list(request, clob_market, sampling=False)

    async def simplified_markets(self, request: Request) -> Response:
        """``GET /simplified-markets?next_cursor=``."""
        return self._market_list(request, simplified_market, sampling=False)

    async def sampling_markets(self, request: Request) -> Response:
        """``GET /sampling-markets``: markets eligible for liquidity rewards (open ones)."""
        return self._market_list(request, clob_market, sampling=True)

    async def sampling_simplified_markets(self, request: Request) -> Response:
        """``GET /sampling-simplified-markets``."""
        return self._market_list(request, simplified_market, sampling=True)

    def _market_by_condition(self, condition_id: str) -> Market:
        market = self.exchange.market(condition_id)
        if market is None:
            raise HttpError(404, "market not found")
        return market

    async def market(self, request: Request) -> Response:
        """``GET /markets/{condition_id}``."""
        market = self._market_by_condition(request.path_params["condition_id"])
        return ok(clob_market(market, self.yes_price(market), now_ms=self.ctx.now_ms()))

    async def markets_by_token(self, request: Request) -> Response:
        """``GET /markets-by-token/{token_id}``: the condition id the token trades in."""
        market = self.market_of(request.path_params["token_id"])
        return ok(
            {
                "condition_id": market.condition_id,
                "primary_token_id": market.yes_token,
                "secondary_token_id": market.no_token,
            }
        )

    async def clob_market(self, request: Request) -> Response:
        """``GET /clob-markets/{condition_id}``: what the client caches before market orders."""
        market = self._market_by_condition(request.path_params["condition_id"])
        return ok(clob_market_info(market, now_ms=self.ctx.now_ms()))

    async def live_activity(self, request: Request) -> Response:
        """``GET /markets/live-activity/{condition_id}``: the market's latest trades."""
        market = self._market_by_condition(request.path_params["condition_id"])
        trades = self.exchange.trades(market=market.condition_id)[:50]
        return ok([t.to_wire() for t in trades])

    # books and prices ------------------------------------------------------------------------
    def _book(self, token: str) -> dict[str, Any]:
        self.market_of(token)
        try:
            return book_wire(self.exchange.book(token))
        except UnknownMarket:
            raise HttpError(404, NO_BOOK) from None

    async def book(self, request: Request) -> Response:
        """``GET /book?token_id=``."""
        return ok(self._book(token_param(request)))

    async def _batch(self, request: Request) -> list[dict[str, Any]]:
        body = await read_json(request)
        if not isinstance(body, list) or not all(
            isinstance(item, dict) and isinstance(item.get("token_id"), str) for item in body
        ):
            raise HttpError(400, "Invalid payload")
        if len(body) > BATCH_LIMIT:
            raise HttpError(400, "Payload exceeds the limit")
        return body

    async def books(self, request: Request) -> Response:
        """``POST /books`` with ``[{"token_id": ...}]``."""
        return ok([self._book(item["token_id"]) for item in await self._batch(request)])

    def _price(self, token: str, side: str) -> str:
        self.market_of(token)
        bid, ask = self.exchange.best_bid_ask(token)
        if side == "BUY":
            value = bid
        elif side == "SELL":
            value = ask
        else:
            raise HttpError(400, "Invalid side")
        if value is None:
            raise HttpError(404, NO_BOOK)
        return fmt_price(value)

    async def price(self, request: Request) -> Response:
        """``GET /price?token_id=&side=``: BUY → best bid, SELL → best ask (live convention)."""
        token = token_param(request)
        side = (request.query_params.get("side") or "").upper()
        return ok({"price": self._price(token, side)})

    async def prices(self, request: Request) -> Response:
        """``POST /prices``: ``{token_id: {"BUY": bid, "SELL": ask}}`` (only the sides asked)."""
        out: dict[str, dict[str, str]] = {}
        for item in await self._batch(request):
            token = item["token_id"]
            sides = [str(item["side"]).upper()] if item.get("side") else ["BUY", "SELL"]
            entry = out.setdefault(token, {})
            for side in sides:
                try:
                    entry[side] = self._price(token, side)
                except HttpError as exc:
                    if exc.status != 404 or exc.message != NO_BOOK:
                        raise
                    self.market_of(token)  # unknown token: 404 for the batch
        return ok(out)

    def _midpoint(self, token: str) -> str:
        self.market_of(token)
        bid, ask = self.exchange.best_bid_ask(token)
        if bid is None or ask is None:
            raise HttpError(404, NO_BOOK)
        return _mid(bid, ask)

    async def midpoint(self, request: Request) -> Response:
        """``GET /midpoint?token_id=``: ``{"mid": "0.505"}``."""
        return ok({"mid": self._midpoint(token_param(request))})

    async def midpoints(self, request: Request) -> Response:
        """``POST /midpoints``: ``{token_id: mid}``."""
        return ok(
            {i["token_id"]: self._midpoint(i["token_id"]) for i in await self._batch(request)}
        )

    def _spread(self, token: str) -> str:
        self.market_of(token)
        bid, ask = self.exchange.best_bid_ask(token)
        if bid is None or ask is None:
            raise HttpError(404, NO_BOOK)
        return fmt_price(ask - bid)

    async def spread(self, request: Request) -> Response:
        """``GET /spread?token_id=``: ``{"spread": "0.01"}``."""
        return ok({"spread": self._spread(token_param(request))})

    async def spreads(self, request: Request) -> Response:
        """``POST /spreads``: ``{token_id: spread}``."""
        return ok({i["token_id"]: self._spread(i["token_id"]) for i in await self._batch(request)})

    def _last(self, token: str) -> dict[str, str]:
        self.market_of(token)
        last = self.exchange.last_trade(token)
        if last is None:
            return {"price": "0", "side": ""}
        price, side = last
        return {"price": fmt_price(price), "side": "BUY" if side == 0 else "SELL"}

    async def last_trade_price(self, request: Request) -> Response:
        """``GET /last-trade-price?token_id=``: ``{"price", "side"}`` (``""`` side: no trade)."""
        return ok(self._last(token_param(request)))

    async def last_trades_prices(self, request: Request) -> Response:
        """``POST /last-trades-prices``: ``[{"token_id", "price", "side"}]``."""
        items = await self._batch(request)
        return ok([{"token_id": i["token_id"], **self._last(i["token_id"])} for i in items])

    async def tick_size(self, request: Request) -> Response:
        """``GET /tick-size?token_id=``: ``{"minimum_tick_size": 0.01}`` (a number)."""
        market = self.market_of(token_param(request))
        return ok({"minimum_tick_size": tick_number(market.tick)})

    async def neg_risk(self, request: Request) -> Response:
        """``GET /neg-risk?token_id=``."""
        return ok({"neg_risk": self.market_of(token_param(request)).neg_risk})

    async def fee_rate(self, request: Request) -> Response:
        """``GET /fee-rate``: V2 orders carry no fee; fees are set at match time (``fd``)."""
        self.market_of(token_param(request))
        return ok({"base_fee": 0})

    async def builder_fees(self, request: Request) -> Response:
        """``GET /fees/builder-fees/{code}``: no builder in the sim charges a fee."""
        return ok({"builder_maker_fee_rate_bps": 0, "builder_taker_fee_rate_bps": 0})

    async def prices_history(self, request: Request) -> Response:
        """``GET /prices-history?market=<token>&interval=|startTs=&endTs=&fidelity=``."""
        token = request.query_params.get("market") or request.query_params.get("token_id")
        if not token:
            raise HttpError(400, "Invalid market: pass market=<token id>")
        self.market_of(token)
        now_s = self.ctx.now_ms() // 1000
        interval = request.query_params.get("interval")
        start_raw = request.query_params.get("startTs")
        end_raw = request.query_params.get("endTs")
        fidelity = query_int(request, "fidelity", 1, lo=1, hi=100_000)
        if interval:
            if interval == "max":
                start, end = 0, now_s
            elif interval in INTERVALS_S:
                start, end = now_s - INTERVALS_S[interval], now_s
            else:
                raise HttpError(
                    400, f"invalid interval {interval!r}: use max, 1m, 1w, 1d, 6h or 1h"
                )
        elif start_raw and end_raw:
            try:
                start, end = int(start_raw), int(end_raw)
            except ValueError:
                raise HttpError(400, "startTs and endTs must be unix seconds") from None
        else:
            raise HttpError(400, "pass interval, or both startTs and endTs")
        points = self.exchange.price_history(token, start, end, fidelity)
        return ok({"history": [p.to_wire() for p in points]})

    # rewards ---------------------------------------------------------------------------------
    def _rewards_config(self, market: Market) -> list[dict[str, Any]]:
        return [
            {
                "id": 1,
                "asset_address": "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
                "start_date": iso(market.start_ms)[:10],
                "end_date": iso(market.end_ms)[:10],
                "rate_per_day": float(market.rewards.daily_rate),
                "total_rewards": float(
                    market.rewards.daily_rate
                    * max((market.end_ms - market.start_ms) // 86_400_000, 1)
                ),
                "total_days": max((market.end_ms - market.start_ms) // 86_400_000, 1),
            }
        ]

    async def rewards_current(self, request: Request) -> Response:
        """``GET /rewards/markets/current``: every open market with its rewards terms (paged)."""
        now = self.ctx.now_ms()
        items = [
            {
                "condition_id": m.condition_id,
                "rewards_max_spread": float(m.rewards.max_spread),
                "rewards_min_size": m.rewards.min_size,
                "rewards_config": self._rewards_config(m),
            }
            for m in self.exchange.markets()
            if m.accepting_orders and now < m.end_ms
        ]
        return ok(page(items, request, 100))

    async def rewards_market(self, request: Request) -> Response:
        """``GET /rewards/markets/{condition_id}`` (paged, one item)."""
        market = self._market_by_condition(request.path_params["condition_id"])
        event = self.exchange.catalogue.event_of(market)
        yes = self.yes_price(market)
        item = {
            "condition_id": market.condition_id,
            "question": market.question,
            "market_slug": market.slug,
            "event_slug": event.slug,
            "image": market.image,
            "rewards_max_spread": float(market.rewards.max_spread),
            "rewards_min_size": market.rewards.min_size,
            "market_competitiveness": 1.0,
            "tokens": [
                {"token_id": t, "outcome": o, "price": float(Decimal(p) / PRICE_SCALE)}
                for t, o, p in zip(
                    market.token_ids, market.outcomes, (yes, PRICE_SCALE - yes), strict=True
                )
            ],
            "rewards_config": self._rewards_config(market),
        }
        return ok(page([item], request, 100))
