"""What every route of the local exchange's server shares: the exchange and the server's own state.

One ``ServerContext`` per application. The exchange is synchronous and single-threaded; every
route handler runs on the server's one event loop and calls it directly, so no lock is needed and
requests are applied in arrival order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pmtrader.sim.auth import CHAIN_ID, FunderRegistry
from pmtrader.sim.clock import Clock
from pmtrader.sim.faults import Faults

if TYPE_CHECKING:
    from pmtrader.sim.exchange import Exchange


class FlowRunner(Protocol):
    """The background traders, as the server drives them."""

    def step(self, now_ms: int) -> None:
        """Let the traders act up to sim time ``now_ms``."""
        ...


@dataclass(slots=True)
class ServerContext:
    """The exchange plus the server-side state its routes need.

    Attributes:
        exchange: the core façade (markets, keys, orders, ledger, events).
        clock: the sim clock the exchange runs on.
        faults: injected faults (``/_sim/fault``).
        funders: which makers each EOA may sign for (signature types 1-3).
        seed: the server's seed (faults and ids derive from it).
        flow: the background traders, or None when started with ``--no-flow``.
        flow_paused: set by ``/_sim/flow``.
        chain_id: the chain orders and ClobAuth are signed for.
        state_dir: where the server keeps its own state (the funder table), if anywhere.
        order_version: what ``GET /version`` reports (2; ``/_sim/version`` changes it so clients
            can be tested against a venue that speaks another order protocol).
    """

    exchange: Exchange
    clock: Clock
    faults: Faults
    seed: int
    funders: FunderRegistry = field(default_factory=FunderRegistry)
    flow: FlowRunner | None = None
    flow_paused: bool = False
    chain_id: int = CHAIN_ID
    state_dir: Path | None = None
    order_version: int = 2

    def now_ms(self) -> int:
        """Sim time in milliseconds (accelerated by ``--speed``)."""
        return self.clock.now_ms()

    @staticmethod
    def wall_s() -> int:
        """Wall-clock unix seconds: what clients put in POLY_TIMESTAMP and what ``/time`` says."""
        return int(time.time())

    def funder_of(self, eoa: str, signature_type: int) -> str:
        """The address whose balances an EOA's requests concern for a signature type.

        Type 0 trades from the EOA itself; for types 1-3 the registered funder (the first one,
        when an EOA has several) holds the money. Without a registered funder, the EOA.
        """
        if signature_type == 0:
            return eoa
        makers = self.funders.makers_of(eoa)
        return makers[0] if makers else eoa
