"""Run a live engine in-process against the local exchange: the harness pmengine's tests share.

Tests of the live path (user stream, failed trades, signing) all need the same pieces: a funded
wallet with API credentials, a market whose book a maker has seeded, an engine wired exactly as
``pmengine`` wires it (pmtrader's market stream and user stream, a journal in a state folder),
and a way to wait for the engine to get somewhere. They live here, next to
:mod:`pmtrader.testing` whose exchange fixtures they build on, so that each test file holds only
what it tests. Nothing here is used by the engine itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
from pmstrat.venue import market_info
from pmtrader.models.gamma import GammaMarket
from pmtrader.testing import SimServer, new_wallet

from pmengine import risk
from pmengine.core import EngineCore
from pmengine.engine import Engine, EngineConfig
from pmengine.events import Shutdown
from pmengine.feed import MarketFeed
from pmengine.fills import FillFeed
from pmengine.journal import Journal
from pmengine.live import LiveGateway
from pmengine.metrics import EngineMetrics
from pmengine.strategy import StrategyRunner, load_strategy
from pmstrat import Buy, Context, MarketInfo, strategy
from pmtrader import Client, Secret, Settings

__all__ = [
    "BIDDER",
    "BID_SIZE",
    "CountingTransport",
    "EngineRun",
    "new_key",
    "seeded_market",
    "until",
    "wallet_client",
]


#: The name of :func:`bid_above_best`, for ``EngineRun(strategy=...)``.
BIDDER = "engine_improve_bid_once"

#: The order size :func:`bid_above_best` rests (5 shares, the usual venue minimum).
BID_SIZE = 5_000_000


@strategy(name=BIDDER)
def bid_above_best(ctx: Context) -> list[Buy]:
    """Rest one post-only bid a tick above the best bid of the YES token, while it has no open
    order and no position there: one resting order whose fate a test can follow."""
    out = []
    for token in ctx.changed:
        market = ctx.market(token)
        book = ctx.book(token)
        if token != market.yes or book is None or book.best_bid is None or book.best_ask is None:
            continue
        if ctx.open_orders(token) or ctx.position(token).size:
            continue
        price = book.best_bid + market.tick
        if price < book.best_ask:
            out.append(Buy(token, price, BID_SIZE, post_only=True))
    return out


class CountingTransport(httpx.AsyncHTTPTransport):
    """The real transport, counting the paths it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Count the request's path, then send it."""
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)

    def count(self, path: str) -> int:
        """How many requests went to ``path``."""
        return sum(1 for p in self.paths if p == path)


def new_key() -> tuple[str, str]:
    """A fresh wallet's ``(address, 0x-prefixed private key)``."""
    wallet = new_wallet()
    return wallet.address, "0x" + wallet.key.hex().removeprefix("0x")


def wallet_client(sim: SimServer, key: str = "", *, funds: str = "100") -> Client:
    """A client of the exchange with L2 credentials; a new wallet funded with ``funds`` pUSD
    unless ``key`` is given (then that key's wallet, as it is)."""
    if not key:
        address, key = new_key()
        sim.fund(address, funds)
    client = Client(Settings.for_sim(sim.url, private_key=Secret(key)))
    client.account.create_or_derive_api_key(use=True)
    return client


def seeded_market(sim: SimServer, *, size: int, neg_risk: bool | None = None) -> MarketInfo:
    """A cent-tick market whose minimum order is at most ``size`` (base units); a maker bids
    0.40 for 20 shares of YES and of NO, so YES is offered at 0.60.

    Args:
        sim: the exchange (best started without background flow, so nothing else trades).
        size: the order size the test will use.
        neg_risk: only a neg-risk (``True``) or standard (``False``) market; ``None``: either.
    """
    items = httpx.get(sim.gamma_url + "/markets", params={"limit": 50}, timeout=10).json()
    for raw in items:
        info = market_info(GammaMarket.model_validate(raw))
        if (
            raw.get("acceptingOrders")
            and info.tick == 100
            and info.min_size <= size
            and (neg_risk is None or info.neg_risk is neg_risk)
        ):
            break
    else:
        raise LookupError(f"no cent-tick market with a minimum <= {size}, neg_risk {neg_risk}")
    with wallet_client(sim) as maker:
        for token in (info.yes, info.no):
            resp = maker.orders.create_and_post_order(
                token, "BUY", price=Decimal("0.40"), size=Decimal(20)
            )
            assert resp.success, resp
    return info


async def until(cond: Callable[[], bool], within: float, what: str) -> None:
    """Wait until ``cond()`` holds; fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class EngineRun:
    """A live engine on one market of the exchange, in this event loop (restartable: a new
    run on the same ``state`` folder is a restart).

    Args:
        sim: the exchange.
        state: the engine's state folder (its journal).
        market: the market its strategy trades.
        gateway: the live gateway (its client decides wallet and transport).
        strategy: the pmstrat strategy's name or ``module:attr``.
        fills: the user-stream fill feed; default: one polling REST every 200 ms while down.
    """

    def __init__(
        self,
        sim: SimServer,
        state: Path,
        market: MarketInfo,
        *,
        gateway: LiveGateway,
        strategy: str,
        fills: FillFeed | None = None,
    ) -> None:
        self.gateway = gateway
        self.fills = fills if fills is not None else FillFeed(gateway, sim.ws_url, poll_ms=200)
        self.journal = Journal.in_dir(state).open()
        self.market = market
        self.engine = Engine(
            core=EngineCore(risk.RiskLimits(rate_count=1_000, max_open_orders=1_000)),
            gateway=gateway,
            journal=self.journal,
            metrics=EngineMetrics(),
            runners=[StrategyRunner(*load_strategy(strategy, {}, [market]))],
            config=EngineConfig(
                state_dir=state, tick_interval_ms=200, dry_run=False, markets=[market]
            ),
            feed=MarketFeed(sim.ws_url, sim.url, poll_ms=200, silence_s=1.0, ping_s=0.3),
            fills=self.fills,
        )
        self.task: asyncio.Task[int] | None = None

    def start(self) -> None:
        """Run the engine as a task of the current loop."""
        self.task = asyncio.create_task(self.engine.run(install_signals=False))

    async def stop(self) -> None:
        """Shut the engine down (it must exit 0 within 15 s) and close its journal."""
        assert self.task is not None
        await self.engine.post(Shutdown("test"))
        assert await asyncio.wait_for(self.task, 15) == 0
        self.journal.close()

    def resting(self) -> str:
        """The hash of the engine's order once the venue has it live, else ``""``."""
        live = [o for o in self.engine.core.orders.working() if o.state == "LIVE"]
        return live[0].order_hash if live else ""

    def qty(self) -> int:
        """The engine's YES position (base units)."""
        return self.engine.core.portfolio.qty(self.market.yes)

    def cash(self) -> int:
        """The engine's pUSD (base units)."""
        return self.engine.core.portfolio.cash
