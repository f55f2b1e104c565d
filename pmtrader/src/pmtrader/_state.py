"""Per-client state shared by the resource groups: runner, settings, auth and the market cache.

Nothing here is module-global: two clients never share a cache or a connection pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, TypeVar

from pmtrader._http import AsyncRunner, Authenticator, SyncRunner
from pmtrader.config import Settings
from pmtrader.models.clob import ClobMarketInfo

R = TypeVar("R", SyncRunner, AsyncRunner)

#: How long a market's tick size is trusted before it is looked up again (seconds). The venue
#: changes a token's tick when its price passes 0.96 or 0.04, and says so on the websocket.
TICK_SIZE_TTL = 60.0


@dataclass(slots=True)
class _TokenFacts:
    condition_id: str | None = None
    tick_size: Decimal | None = None
    tick_checked: float = 0.0
    neg_risk: bool | None = None
    info: ClobMarketInfo | None = None
    min_order_size: Decimal | None = None


@dataclass(slots=True)
class MarketCache:
    """What a client has learned about tokens: condition id, tick size, neg-risk, fees.

    Tick sizes expire after :data:`TICK_SIZE_TTL` seconds and are dropped when the venue
    rejects an order for its tick, or when a stream reports a ``tick_size_change``
    (:meth:`set_tick_size`).
    """

    clock: Callable[[], float] = time.monotonic
    _tokens: dict[str, _TokenFacts] = field(default_factory=dict)

    def facts(self, token_id: str) -> _TokenFacts:
        """The mutable record of what is known about ``token_id`` (created empty)."""
        facts = self._tokens.get(token_id)
        if facts is None:
            facts = self._tokens[token_id] = _TokenFacts()
        return facts

    def tick_size(self, token_id: str) -> Decimal | None:
        """The cached tick size if still fresh, else ``None``."""
        facts = self._tokens.get(token_id)
        if facts is None or facts.tick_size is None:
            return None
        if self.clock() - facts.tick_checked > TICK_SIZE_TTL:
            return None
        return facts.tick_size

    def set_tick_size(self, token_id: str, tick_size: Decimal) -> None:
        """Record a token's tick size (from the venue or a ``tick_size_change`` event)."""
        facts = self.facts(token_id)
        facts.tick_size = tick_size
        facts.tick_checked = self.clock()

    def forget_tick_size(self, token_id: str) -> None:
        """Drop a token's tick size so that the next order looks it up again."""
        facts = self._tokens.get(token_id)
        if facts is not None:
            facts.tick_size = None

    def remember_info(self, info: ClobMarketInfo) -> None:
        """Record a ``/clob-markets`` answer for each of its tokens."""
        for token_id in info.token_ids:
            facts = self.facts(token_id)
            facts.condition_id = info.condition_id or facts.condition_id
            facts.info = info
            facts.neg_risk = info.neg_risk
            if info.min_order_size is not None:
                facts.min_order_size = info.min_order_size
            self.set_tick_size(token_id, info.min_tick_size)


@dataclass(slots=True)
class ClientState(Generic[R]):
    """Everything the resource groups of one client share."""

    settings: Settings
    runner: R
    auth: Authenticator
    cache: MarketCache = field(default_factory=MarketCache)
    clock: Callable[[], float] = time.time


class SyncGroup:
    """Base of the sync resource groups (``client.markets`` ...)."""

    def __init__(self, state: ClientState[SyncRunner]) -> None:
        self._state = state
        self._run = state.runner.run


class AsyncGroup:
    """Base of the async resource groups (``async_client.markets`` ...)."""

    def __init__(self, state: ClientState[AsyncRunner]) -> None:
        self._state = state
        self._run = state.runner.run
