"""Operator endpoints under ``/_sim/``: what a test or a demo does to the exchange from outside.

All take and return JSON; errors are ``{"error": "<what was wrong and what to do>"}`` with 400
(or 404 for an unknown market/trade). Also reachable as ``pmtrader sim fund|resolve|tick|fault|…``.

==========================  ================================================================
``POST /_sim/fund``         ``{"address", "amount"}``: credit pUSD (human units, ≤ 6 decimals)
``POST /_sim/resolve``      ``{"condition_id", "winning_token_id"}``: resolve now
``POST /_sim/tick``         ``{"token_id", "tick_size"}``: change a market's tick size
``POST /_sim/funder``       ``{"eoa", "maker"}``: let an EOA sign for a proxy/Safe/deposit wallet
``POST /_sim/flow``         ``{"paused": true|false}``: pause or resume the background traders
``POST /_sim/fault``        fault settings (see ``pmtrader.sim.faults``)
``POST /_sim/fail-trade``   ``{"trade_id"}``: make a trade's settlement FAILED
``POST /_sim/allowance``    ``{"address", "asset_type", "spender", "amount"}`` (base units;
                            ``CONDITIONAL`` is the CTF's setApprovalForAll: > 0 approves, 0
                            revokes)
``POST /_sim/match-delay``  ``{"condition_id", "delay_ms"}``: answer ``delayed``, match later
``POST /_sim/version``      ``{"version": N}``: what ``GET /version`` reports (default 2)
``GET  /_sim/state``        seed, sim time, flow, faults and the funder table
==========================  ================================================================
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmtrader.sim.context import ServerContext
from pmtrader.sim.faults import FaultSettingsError
from pmtrader.sim.matching import AMOUNT_SCALE
from pmtrader.sim.records import fmt_amount
from pmtrader.sim.responses import HttpError, ok, read_json
from pmtrader.sim.shapes import TICK_STRINGS

_TICKS_BY_TEXT = {text: tick for tick, text in TICK_STRINGS.items()}


def _field(body: dict[str, Any], name: str, example: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise HttpError(400, f"missing {name}: send JSON like {example}")
    return value


def _address(body: dict[str, Any], name: str) -> str:
    value = _field(body, name, '{"' + name + '": "0x..."}')
    if not is_address(value):
        raise HttpError(400, f"{name} {value!r} is not an address (0x + 40 hex digits)")
    return str(to_checksum_address(value))


def pusd_base_units(text: str) -> int:
    """Parse a human pUSD amount (``"250.5"``) into base units, exactly.

    Raises:
        HttpError: 400 when it is not a positive number with at most 6 decimals.
    """
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise HttpError(400, f'amount {text!r} is not a number; send e.g. "250"') from None
    if not amount.is_finite() or amount <= 0:
        raise HttpError(400, f"amount must be positive, got {text!r}")
    units = amount * AMOUNT_SCALE
    if units != units.to_integral_value():
        raise HttpError(400, f"amount {text!r} has more than 6 decimals (pUSD base unit)")
    return int(units)


class OperatorRoutes:
    """The ``/_sim/`` endpoints."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.exchange = ctx.exchange

    def routes(self) -> list[Route]:
        """Starlette routes (absolute paths)."""
        return [
            Route("/_sim/fund", self.fund, methods=["POST"]),
            Route("/_sim/resolve", self.resolve, methods=["POST"]),
            Route("/_sim/tick", self.tick, methods=["POST"]),
            Route("/_sim/funder", self.funder, methods=["POST"]),
            Route("/_sim/flow", self.flow, methods=["POST"]),
            Route("/_sim/fault", self.fault, methods=["POST"]),
            Route("/_sim/fail-trade", self.fail_trade, methods=["POST"]),
            Route("/_sim/allowance", self.allowance, methods=["POST"]),
            Route("/_sim/match-delay", self.match_delay, methods=["POST"]),
            Route("/_sim/version", self.version, methods=["POST"]),
            Route("/_sim/state", self.state, methods=["GET"]),
        ]

    async def _body(self, request: Request) -> dict[str, Any]:
        body = await read_json(request, message="send a JSON object body")
        if not isinstance(body, dict):
            raise HttpError(400, "send a JSON object body")
        return body

    async def fund(self, request: Request) -> Response:
        """Credit pUSD to an address."""
        body = await self._body(request)
        address = _address(body, "address")
        raw = body.get("amount")
        amount = pusd_base_units(str(raw) if isinstance(raw, int | str) else "")
        balance = self.exchange.fund(address, amount)
        return ok({"address": address, "balance": fmt_amount(balance)})

    async def resolve(self, request: Request) -> Response:
        """Resolve a market now."""
        body = await self._body(request)
        condition_id = _field(body, "condition_id", '{"condition_id": "0x...", ...}')
        winner = _field(body, "winning_token_id", '{"winning_token_id": "<token id>", ...}')
        market = self.exchange.market(condition_id)
        if market is None:
            raise HttpError(404, f"market not found: {condition_id}")
        if winner not in market.token_ids:
            raise HttpError(400, f"winning_token_id must be one of {list(market.token_ids)}")
        self.exchange.resolve(condition_id, winner)
        return ok({"condition_id": market.condition_id, "winning_token_id": winner})

    async def tick(self, request: Request) -> Response:
        """Change a market's tick size."""
        body = await self._body(request)
        token = _field(body, "token_id", '{"token_id": "<token id>", "tick_size": "0.001"}')
        text = str(body.get("tick_size", ""))
        if text not in _TICKS_BY_TEXT:
            raise HttpError(400, f"tick_size must be one of {', '.join(_TICKS_BY_TEXT)}")
        if self.exchange.market_by_token(token) is None:
            raise HttpError(404, f"market not found for token {token}")
        self.exchange.set_tick_size(token, _TICKS_BY_TEXT[text])
        return ok({"token_id": token, "tick_size": text})

    async def funder(self, request: Request) -> Response:
        """Allow an EOA to sign orders for a funder address."""
        body = await self._body(request)
        eoa, maker = _address(body, "eoa"), _address(body, "maker")
        self.ctx.funders.register(eoa, maker)
        if self.ctx.state_dir is not None:
            path = self.ctx.state_dir / "funders.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.ctx.funders.snapshot()))
            tmp.replace(path)
        return ok({"eoa": eoa, "makers": self.ctx.funders.makers_of(eoa)})

    async def flow(self, request: Request) -> Response:
        """Pause or resume the background traders."""
        body = await self._body(request)
        paused = body.get("paused")
        if not isinstance(paused, bool):
            raise HttpError(400, 'send {"paused": true} or {"paused": false}')
        self.ctx.flow_paused = paused
        return ok({"paused": paused, "flow": self.ctx.flow is not None})

    async def fault(self, request: Request) -> Response:
        """Inject or clear faults."""
        body = await self._body(request)
        try:
            settings = self.ctx.faults.configure(body)
        except FaultSettingsError as exc:
            raise HttpError(400, str(exc)) from None
        return ok({**settings.to_json(), "ws_generation": self.ctx.faults.ws_generation})

    async def fail_trade(self, request: Request) -> Response:
        """Make a trade's settlement fail."""
        body = await self._body(request)
        trade_id = _field(body, "trade_id", '{"trade_id": "<id>"}')
        if self.exchange.trade(trade_id) is None:
            raise HttpError(404, f"trade not found: {trade_id}")
        self.exchange.fail_trade(trade_id)
        return ok({"trade_id": trade_id, "status": "FAILED"})

    async def allowance(self, request: Request) -> Response:
        """Set an allowance (models an on-chain approve or revoke)."""
        body = await self._body(request)
        address, spender = _address(body, "address"), _address(body, "spender")
        asset_type = str(body.get("asset_type", "")).upper()
        if asset_type not in ("COLLATERAL", "CONDITIONAL"):
            raise HttpError(400, "asset_type must be COLLATERAL or CONDITIONAL")
        amount = body.get("amount")
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int | str)
            or not str(amount).isdigit()
        ):
            raise HttpError(400, "amount must be a whole number of base units (string or integer)")
        self.exchange.set_allowance(address, asset_type, spender, int(amount))
        return ok({"address": address, "asset_type": asset_type, "spender": spender})

    async def match_delay(self, request: Request) -> Response:
        """Delay matching of marketable orders on one market (0 turns it off)."""
        body = await self._body(request)
        condition_id = _field(body, "condition_id", '{"condition_id": "0x...", "delay_ms": 3000}')
        delay = body.get("delay_ms")
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
            raise HttpError(400, "delay_ms must be a whole number of milliseconds >= 0")
        if self.exchange.market(condition_id) is None:
            raise HttpError(404, f"market not found: {condition_id}")
        self.exchange.set_match_delay(condition_id, delay)
        return ok({"condition_id": condition_id, "delay_ms": delay})

    async def version(self, request: Request) -> Response:
        """Change what ``GET /version`` reports (tests a client against another protocol)."""
        body = await self._body(request)
        version = body.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise HttpError(400, 'version must be a whole number >= 1, e.g. {"version": 2}')
        self.ctx.order_version = version
        return ok({"version": version})

    async def state(self, request: Request) -> Response:
        """A summary of the server's state."""
        return ok(
            {
                "seed": self.ctx.seed,
                "now_ms": self.ctx.now_ms(),
                "flow": self.ctx.flow is not None,
                "flow_paused": self.ctx.flow_paused,
                "faults": self.ctx.faults.settings.to_json(),
                "ws_generation": self.ctx.faults.ws_generation,
                "markets": len(self.exchange.markets()),
                "order_version": self.ctx.order_version,
                "funders": self.ctx.funders.snapshot(),
            }
        )
