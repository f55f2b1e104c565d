"""``client.books``: order books, prices, midpoints, spreads, last trades, price history.

All public; method names are py-clob-client-v2's (``get_order_book``, ``get_midpoints`` ...).
Batch methods take plain token ids and return mappings keyed by token id.

``get_price(token, side)`` answers what the venue answers: on production ``side=BUY`` has been
observed to return the best **bid** and ``SELL`` the best **ask** (protocol.md §7 fact 8); pmt
passes the side through unchanged rather than guess. For an unambiguous top of book use
``get_order_book(token).best_bid`` / ``.best_ask``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from pmtrader._http import Op, Request, Service
from pmtrader._state import AsyncGroup, SyncGroup
from pmtrader.errors import ValidationError
from pmtrader.models.clob import LastTradePrice, OrderBook, PriceHistory, Side, parse_choice

__all__ = ["AsyncBooks", "Books"]

_INTERVALS = ("max", "1m", "1w", "1d", "6h", "1h")


def _tokens(token_ids: Iterable[str]) -> list[dict[str, str]]:
    return [{"token_id": token_id} for token_id in token_ids]


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def op_book(token_id: str, *, verify: bool) -> Op[OrderBook]:
    """``GET /book``."""
    response = yield Request.get(Service.CLOB, "/book", {"token_id": token_id})
    book = OrderBook.model_validate(response.json())
    return book.verify() if verify else book


def op_books(token_ids: Sequence[str], *, verify: bool) -> Op[list[OrderBook]]:
    """``POST /books`` (read-only, so retried like a GET)."""
    response = yield Request.send(
        "POST", Service.CLOB, "/books", _tokens(token_ids), idempotent=True
    )
    books = [OrderBook.model_validate(item) for item in response.json()]
    return [book.verify() for book in books] if verify else books


def op_price(token_id: str, side: Side | str) -> Op[Decimal]:
    """``GET /price``."""
    response = yield Request.get(
        Service.CLOB,
        "/price",
        {"token_id": token_id, "side": parse_choice(Side, side, "side").value},
    )
    return _decimal(response.json()["price"])


def op_prices(requests: Sequence[tuple[str, Side | str]]) -> Op[dict[str, dict[Side, Decimal]]]:
    """``POST /prices``: ``{token: {side: price}}``."""
    payload = [
        {"token_id": token, "side": parse_choice(Side, side, "side").value}
        for token, side in requests
    ]
    response = yield Request.send("POST", Service.CLOB, "/prices", payload, idempotent=True)
    out: dict[str, dict[Side, Decimal]] = {}
    for token, by_side in response.json().items():
        out[token] = {Side(side): _decimal(price) for side, price in by_side.items()}
    return out


def op_scalar(path: str, key: tuple[str, ...], token_id: str) -> Op[Decimal]:
    """A one-number GET such as ``/midpoint`` (``mid``) or ``/spread`` (``spread``)."""
    response = yield Request.get(Service.CLOB, path, {"token_id": token_id})
    body = response.json()
    for name in key:
        if name in body:
            return _decimal(body[name])
    raise KeyError(f"{path} answer has none of {key}")


def op_scalars(path: str, token_ids: Sequence[str]) -> Op[dict[str, Decimal]]:
    """A batch POST answering ``{token: number}`` (``/midpoints``, ``/spreads``)."""
    response = yield Request.send("POST", Service.CLOB, path, _tokens(token_ids), idempotent=True)
    return {token: _decimal(value) for token, value in response.json().items()}


def op_last_trade_price(token_id: str) -> Op[LastTradePrice]:
    """``GET /last-trade-price``."""
    response = yield Request.get(Service.CLOB, "/last-trade-price", {"token_id": token_id})
    return LastTradePrice.model_validate({"token_id": token_id, **response.json()})


def op_last_trades_prices(token_ids: Sequence[str]) -> Op[list[LastTradePrice]]:
    """``POST /last-trades-prices``."""
    response = yield Request.send(
        "POST", Service.CLOB, "/last-trades-prices", _tokens(token_ids), idempotent=True
    )
    return [LastTradePrice.model_validate(item) for item in response.json()]


def op_prices_history(
    token_id: str,
    interval: str | None,
    start_ts: int | None,
    end_ts: int | None,
    fidelity: int | None,
) -> Op[PriceHistory]:
    """``GET /prices-history``."""
    if interval is None and (start_ts is None or end_ts is None):
        raise ValidationError(
            "get_prices_history needs interval= (one of max, 1w, 1d, 6h, 1h) or both "
            "start_ts= and end_ts= (unix seconds)"
        )
    if interval is not None and interval not in _INTERVALS:
        raise ValidationError(f"interval must be one of {', '.join(_INTERVALS)}; got {interval!r}")
    params = {
        "market": token_id,
        "interval": interval,
        "startTs": start_ts,
        "endTs": end_ts,
        "fidelity": fidelity,
    }
    response = yield Request.get(Service.CLOB, "/prices-history", params)
    return PriceHistory.model_validate(response.json())


class Books(SyncGroup):
    """Books and prices (``client.books``)."""

    def get_order_book(self, token_id: str, *, verify: bool = False) -> OrderBook:
        """Return the token's book (bids ascending, asks descending: best last on the wire).

        Args:
            token_id: The outcome token.
            verify: Check the book's hash and raise :class:`BookIntegrityError` on mismatch.
        """
        return self._run(op_book(token_id, verify=verify))

    def get_order_books(self, token_ids: Sequence[str], *, verify: bool = False) -> list[OrderBook]:
        """Return several books in one request (``POST /books``)."""
        return self._run(op_books(token_ids, verify=verify))

    def get_price(self, token_id: str, side: Side | str) -> Decimal:
        """Return the venue's ``/price`` for a side (see the module note on its meaning)."""
        return self._run(op_price(token_id, side))

    def get_prices(
        self, requests: Sequence[tuple[str, Side | str]]
    ) -> dict[str, dict[Side, Decimal]]:
        """Return prices for several ``(token_id, side)`` pairs: ``{token: {side: price}}``."""
        return self._run(op_prices(requests))

    def get_midpoint(self, token_id: str) -> Decimal:
        """Return the midpoint of the token's best bid and ask."""
        return self._run(op_scalar("/midpoint", ("mid", "mid_price"), token_id))

    def get_midpoints(self, token_ids: Sequence[str]) -> dict[str, Decimal]:
        """Return midpoints for several tokens: ``{token: mid}``."""
        return self._run(op_scalars("/midpoints", token_ids))

    def get_spread(self, token_id: str) -> Decimal:
        """Return best ask minus best bid."""
        return self._run(op_scalar("/spread", ("spread",), token_id))

    def get_spreads(self, token_ids: Sequence[str]) -> dict[str, Decimal]:
        """Return spreads for several tokens: ``{token: spread}``."""
        return self._run(op_scalars("/spreads", token_ids))

    def get_last_trade_price(self, token_id: str) -> LastTradePrice:
        """Return the last trade's price and side (``price`` ``None`` when none yet)."""
        return self._run(op_last_trade_price(token_id))

    def get_last_trades_prices(self, token_ids: Sequence[str]) -> list[LastTradePrice]:
        """Return the last trade of several tokens."""
        return self._run(op_last_trades_prices(token_ids))

    def get_prices_history(
        self,
        token_id: str,
        *,
        interval: str | None = None,
        start_ts: int | None = None,
        end_ts: int | None = None,
        fidelity: int | None = None,
    ) -> PriceHistory:
        """Return the token's price history.

        Args:
            token_id: The outcome token (sent as ``market``, as the venue names it).
            interval: ``max``, ``1w``, ``1d``, ``6h`` or ``1h``; or give both timestamps.
            start_ts: Start, unix seconds.
            end_ts: End, unix seconds.
            fidelity: Resolution in minutes.

        Raises:
            ValidationError: Neither an interval nor both timestamps were given.
        """
        return self._run(op_prices_history(token_id, interval, start_ts, end_ts, fidelity))


class AsyncBooks(AsyncGroup):
    """Async twin of :class:`Books` (``async_client.books``)."""

    async def get_order_book(self, token_id: str, *, verify: bool = False) -> OrderBook:
        """See :meth:`Books.get_order_book`."""
        return await self._run(op_book(token_id, verify=verify))

    async def get_order_books(
        self, token_ids: Sequence[str], *, verify: bool = False
    ) -> list[OrderBook]:
        """See :meth:`Books.get_order_books`."""
        return await self._run(op_books(token_ids, verify=verify))

    async def get_price(self, token_id: str, side: Side | str) -> Decimal:
        """See :meth:`Books.get_price`."""
        return await self._run(op_price(token_id, side))

    async def get_prices(
        self, requests: Sequence[tuple[str, Side | str]]
    ) -> dict[str, dict[Side, Decimal]]:
        """See :meth:`Books.get_prices`."""
        return await self._run(op_prices(requests))

    async def get_midpoint(self, token_id: str) -> Decimal:
        """See :meth:`Books.get_midpoint`."""
        return await self._run(op_scalar("/midpoint", ("mid", "mid_price"), token_id))

    async def get_midpoints(self, token_ids: Sequence[str]) -> dict[str, Decimal]:
        """See :meth:`Books.get_midpoints`."""
        return await self._run(op_scalars("/midpoints", token_ids))

    async def get_spread(self, token_id: str) -> Decimal:
        """See :meth:`Books.get_spread`."""
        return await self._run(op_scalar("/spread", ("spread",), token_id))

    async def get_spreads(self, token_ids: Sequence[str]) -> dict[str, Decimal]:
        """See :meth:`Books.get_spreads`."""
        return await self._run(op_scalars("/spreads", token_ids))

    async def get_last_trade_price(self, token_id: str) -> LastTradePrice:
        """See :meth:`Books.get_last_trade_price`."""
        return await self._run(op_last_trade_price(token_id))

    async def get_last_trades_prices(self, token_ids: Sequence[str]) -> list[LastTradePrice]:
        """See :meth:`Books.get_last_trades_prices`."""
        return await self._run(op_last_trades_prices(token_ids))

    async def get_prices_history(
        self,
        token_id: str,
        *,
        interval: str | None = None,
        start_ts: int | None = None,
        end_ts: int | None = None,
        fidelity: int | None = None,
    ) -> PriceHistory:
        """See :meth:`Books.get_prices_history`."""
        return await self._run(op_prices_history(token_id, interval, start_ts, end_ts, fidelity))
