"""Helpers for tests and notebooks that drive an ``Exchange`` directly (no server).

Orders are built the way the official client builds them (a limit order's amounts are price x
size with size in whole cents of a share; a market BUY spends a pUSD amount at a worst price), so
the exchange sees exactly the integers it would see from ``py-clob-client-v2``.
"""

from __future__ import annotations

import itertools

from pmtrader.sim.clock import ManualClock
from pmtrader.sim.exchange import Exchange
from pmtrader.sim.matching import AMOUNT_SCALE, PRICE_SCALE, Side
from pmtrader.sim.records import PlaceResult, SignedOrder

__all__ = [
    "START_MS",
    "Trader",
    "limit_order",
    "make_exchange",
    "market_buy",
    "market_sell",
]

START_MS = 1_790_000_000_000
"""A fixed sim start (2026-09-21) so tests are reproducible."""

_salts = itertools.count(1)


def make_exchange(
    *, seed: int = 7, balance: int = 1_000 * AMOUNT_SCALE, start_ms: int = START_MS
) -> tuple[Exchange, ManualClock]:
    """An in-memory exchange on a manual clock."""
    clock = ManualClock(start_ms)
    return Exchange.create(seed=seed, clock=clock, initial_balance=balance), clock


def limit_order(
    token_id: str, side: Side, price: int, size: int, maker: str, *, expiration: int = 0
) -> SignedOrder:
    """A limit order: ``price`` in 1e-4 units, ``size`` in base units (whole cents of a share)."""
    cost = size * price // PRICE_SCALE
    maker_amount, taker_amount = (cost, size) if side is Side.BUY else (size, cost)
    return SignedOrder(
        next(_salts),
        maker,
        maker,
        token_id,
        maker_amount,
        taker_amount,
        side,
        expiration=expiration,
    )


def market_buy(token_id: str, amount: int, price: int, maker: str) -> SignedOrder:
    """A market BUY of ``amount`` pUSD at worst price ``price`` (off-grid, as the client)."""
    shares = amount * PRICE_SCALE // price
    shares -= shares % 100
    return SignedOrder(next(_salts), maker, maker, token_id, amount, shares, Side.BUY)


def market_sell(token_id: str, shares: int, price: int, maker: str) -> SignedOrder:
    """A market SELL of ``shares`` with worst price ``price``."""
    proceeds = shares * price // PRICE_SCALE
    return SignedOrder(next(_salts), maker, maker, token_id, shares, proceeds, Side.SELL)


class Trader:
    """An account with an API key on an exchange, placing orders with fresh ids."""

    _ids = itertools.count(1)

    def __init__(self, exchange: Exchange, n: int) -> None:
        self.exchange = exchange
        self.address = "0x" + f"{n:040x}"
        self.key = exchange.derive_api_key(self.address, 0).api_key

    def new_id(self) -> str:
        """A fresh order id (0x + 64 hex)."""
        return "0x" + f"{next(self._ids):064x}"

    def place(
        self, order: SignedOrder, kind: str = "GTC", *, post_only: bool = False
    ) -> PlaceResult:
        """Place ``order`` as this trader."""
        return self.exchange.place(
            order, order_id=self.new_id(), owner_key=self.key, order_type=kind, post_only=post_only
        )

    def buy(self, token_id: str, price: int, size: int, kind: str = "GTC") -> PlaceResult:
        """A limit BUY of ``size`` shares (base units) at ``price``."""
        return self.place(limit_order(token_id, Side.BUY, price, size, self.address), kind)

    def sell(self, token_id: str, price: int, size: int, kind: str = "GTC") -> PlaceResult:
        """A limit SELL of ``size`` shares (base units) at ``price``."""
        return self.place(limit_order(token_id, Side.SELL, price, size, self.address), kind)

    @property
    def pusd(self) -> int:
        """pUSD balance in base units."""
        return self.exchange.ledger.pusd(self.address)

    def shares(self, token_id: str) -> int:
        """Shares of one token held."""
        return self.exchange.ledger.token(self.address, token_id)
