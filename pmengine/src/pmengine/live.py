"""The live gateway: the pmtrader SDK (through pmproxy when ``PMPROXY_URL`` is set).

Orders are signed here, synchronously, with pmtrader's exact amounts and py-clob-client-v2's
order builder, so the order hash is known (and journalled) before anything is sent. A POST that
gets no answer raises :class:`~pmengine.errors.AmbiguousSubmitError`: the engine then asks the
venue by hash and never signs the intent again. Fills arrive through the user channel
(:mod:`pmengine.fills`), with REST trades (:meth:`LiveGateway.trades_since`) at start, after
every reconnect and at shutdown, so that a dropped user socket can never lose one; both turn a
trade into fills with the same code (:meth:`LiveGateway.fills_of`).

Each fill is booked with the fee the venue charged for it. A trade reports only the fee *rate*,
so the fee is recomputed from the market's ``/clob-markets`` parameters (``fd = {r, e, to}``)
with pmstrat's integer rule (``pmstrat.fees.taker_fee``, held equal to the local exchange's by a
property test): ``shares x r x (p(1-p))^e`` rounded down to a base unit, charged to the taker
(on top of a BUY, out of a SELL's proceeds), and to makers only when the market is not
taker-only. The engine's cash then moves exactly as the wallet's pUSD balance does.

Two things pmtrader's own order path does before signing are done here too. The venue's
``GET /version`` is asked once, before trading starts (:meth:`LiveGateway.check_version`, called
by reconciliation, because signing is synchronous and must stay local): no answer counts as 2,
any other version stops the engine before anything is signed or sent. And the builder code
(``PM_BUILDER_CODE``, read by pmtrader's parser into the settings) is signed into every order's
``builder`` field.

A trade the venue marks ``FAILED`` after it matched never settled: :meth:`LiveGateway.fills_of`
returns its fills marked ``failed``, with the same ids as when they were booked, so the engine
reverses them (:meth:`pmengine.venue.Venue.reverse_fill`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import structlog
from pmstrat.fees import taker_fee
from pmtrader.client import AsyncClient
from pmtrader.config import Secret as PmtSecret
from pmtrader.config import SignatureType
from pmtrader.models.clob import OrderType, Side
from pmtrader.signing import BYTES32_ZERO, new_salt, sign_order
from pmtrader.signing import SignedOrder as PmtSignedOrder

from pmengine.config import Settings
from pmengine.errors import AmbiguousSubmitError, ConfigError, GatewayError
from pmengine.gateway import SignedOrder, SubmitResult, VenueFill, VenueOrder
from pmengine.order import OrderRequest
from pmengine.units import (
    BUY,
    SELL,
    amount_to_decimal,
    amount_to_int,
    price_to_decimal,
    price_to_int,
)
from pmtrader import errors as pmt_errors
from pmtrader import limit_amounts

log = structlog.get_logger("pmengine.live")

#: The order protocol pmtrader signs: CLOB V2 (EIP-712 domain version "2").
SIGNED_VERSION = 2


def _side(side: Side | str) -> int:
    return BUY if str(getattr(side, "value", side)).upper() == "BUY" else SELL


def _ms(raw: str | int | None) -> int:
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return 0
    return value * 1000 if value < 10_000_000_000 else value


@dataclass(frozen=True)
class _FeeRule:
    """A market's fee parameters as integers: rate in basis points, curve exponent, taker-only."""

    rate_bps: int
    exponent: int
    taker_only: bool


@dataclass
class _Sent:
    signed: PmtSignedOrder
    post_only: bool
    order_type: OrderType


class LiveGateway:
    """Talks to the venue through ``pmtrader.client.AsyncClient``."""

    name = "live"

    def __init__(
        self,
        client: AsyncClient,
        *,
        owner_key_hint: str = "",
        on_secrets: Callable[..., object] | None = None,
    ) -> None:
        self.client = client
        self._on_secrets = on_secrets
        self._signer: Any = None
        self._sent: dict[str, _Sent] = {}
        self._heartbeat_id = ""
        self._mine: set[str] = set()
        self._fee_rules: dict[str, _FeeRule] = {}
        self._version_ok = False
        self._unsigned_reason = (
            "the venue's order version is not known to be 2: run check_version() before "
            "signing (the engine does it after reconciliation); nothing was signed"
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, on_secrets: Callable[..., object] | None = None
    ) -> LiveGateway:
        """Build the SDK client from the engine settings (no I/O).

        Args:
            settings: The engine settings.
            on_secrets: Called with the L2 API key, secret and passphrase as soon as
                :meth:`start` has them, before anything can log them (the runner passes the
                log redactor's :meth:`~pmengine.logs.Redactor.add`).
        """
        if settings.private_key is None:
            raise ConfigError("live trading needs a private key (see pmengine --help)")
        pmt = replace(
            settings.sdk_settings(),
            private_key=PmtSecret(settings.private_key.reveal()),
            funder=settings.funder_address,
            signature_type=SignatureType(settings.signature_type),
            builder_code=settings.builder_code,
        )
        return cls(AsyncClient(pmt), on_secrets=on_secrets)

    async def start(self) -> None:
        """Get the L2 API credentials (create or derive) and the signer."""
        from py_clob_client_v2.signer import Signer

        try:
            await self.client.account.create_or_derive_api_key(use=True)
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(f"cannot get API credentials: {exc}") from exc
        creds = self.client.api_credentials
        if creds is not None and self._on_secrets is not None:
            self._on_secrets(creds.key, creds.secret.reveal(), creds.passphrase.reveal())
        key = self.client.settings.private_key
        assert key is not None
        self._signer = Signer(key.reveal(), self.client.settings.chain_id)

    async def check_version(self) -> None:
        """Make sure the venue takes the CLOB V2 orders pmtrader signs; asked once.

        As pmtrader's order path does before a client's first order: ``GET /version`` (through
        pmtrader's public ``markets.get_version``), a failed or malformed answer counts as 2, as
        in py-clob-client-v2. Until this has passed, :meth:`sign` refuses.

        Raises:
            GatewayError: The venue reports another version; nothing was signed or sent.
        """
        if self._version_ok:
            return
        try:
            version = await self.client.markets.get_version()
        except (pmt_errors.PmtraderError, ValueError, TypeError):
            version = SIGNED_VERSION  # no answer counts as 2, as in pmtrader and the official
        if version != SIGNED_VERSION:
            raise GatewayError(
                f"the venue at {self.client.settings.clob_url} reports order version {version}, "
                f"but pmengine signs CLOB V2 orders (version {SIGNED_VERSION}) through pmtrader: "
                "refusing to trade, nothing was signed or sent; point PMENGINE_CLOB_URL at a "
                "CLOB V2 venue"
            )
        self._version_ok = True

    async def close(self) -> None:
        """Close the HTTP pool."""
        with contextlib.suppress(Exception):
            await self.client.aclose()

    def sign(self, req: OrderRequest, *, tick: int, neg_risk: bool, now_ms: int) -> SignedOrder:
        """Sign with exact amounts; the order hash is the EIP-712 hash (the venue's id).

        The order carries the configured builder code (``PM_BUILDER_CODE``), as pmtrader's own
        orders do.

        Raises:
            GatewayError: :meth:`check_version` has not passed (never, or the venue refused an
                order for its version since): nothing is signed.
        """
        if not self._version_ok:
            raise GatewayError(self._unsigned_reason)
        side = Side.BUY if req.side == BUY else Side.SELL
        amounts = limit_amounts(
            side, price_to_decimal(req.price), amount_to_decimal(req.size), price_to_decimal(tick)
        )
        settings = self.client.settings
        signed = sign_order(
            self._signer,
            chain_id=settings.chain_id,
            token_id=req.token_id,
            amounts=amounts,
            signature_type=settings.signature_type,
            funder=settings.funder,
            neg_risk=neg_risk,
            salt=new_salt(),
            timestamp_ms=now_ms,
            builder_code=settings.builder_code or BYTES32_ZERO,
        )
        creds = self.client.api_credentials
        owner = creds.key if creds is not None else ""
        kind = OrderType(req.order_type)
        body = signed.payload(owner, kind, post_only=req.post_only)
        self._sent[signed.order_hash] = _Sent(signed, req.post_only, kind)
        self._mine.add(signed.order_hash)
        return SignedOrder(
            signed.order_hash,
            json.dumps(body, separators=(",", ":")),
            req.token_id,
            req.side,
            req.price,
            req.size,
            req.post_only,
            req.order_type,
        )

    def adopt(self, order_hash: str) -> None:
        """Count a journalled order as ours (for fills after a restart)."""
        self._mine.add(order_hash)

    async def submit(self, order: SignedOrder) -> SubmitResult:
        """POST the signed order."""
        sent = self._sent.get(order.order_hash)
        if sent is None:
            raise GatewayError(f"order {order.order_hash} was not signed by this process")
        try:
            resp = await self.client.orders.post_order(
                sent.signed, sent.order_type, post_only=sent.post_only
            )
        except (pmt_errors.OrderStatusUnknownError, pmt_errors.TransportError) as exc:
            raise AmbiguousSubmitError(str(exc)) from exc
        except pmt_errors.ServiceUnavailableError as exc:
            raise AmbiguousSubmitError(str(exc)) from exc
        except pmt_errors.ApiError as exc:
            if "duplicat" in str(exc).lower():
                # The first copy got through after all: the venue holds exactly one.
                return SubmitResult(order.order_hash, "live")
            self._note_rejection(str(exc))
            return SubmitResult(order.order_hash, "rejected", str(exc))
        if not resp.success:
            self._note_rejection(resp.error_msg or "")
            return SubmitResult(order.order_hash, "rejected", resp.error_msg or resp.status)
        # Fills arrive through the trade poll; an immediate order never rests.
        immediate = sent.order_type in (OrderType.FAK, OrderType.FOK)
        return SubmitResult(order.order_hash, resp.status or "live", done=immediate)

    def _note_rejection(self, message: str) -> None:
        if "order_version_mismatch" in message:
            # The venue changed protocol under us (pmtrader asks again on this too): sign nothing
            # more until the version is checked again.
            self._version_ok = False
            self._unsigned_reason = (
                f"the venue refused an order for its version ({message}): it no longer takes the "
                "CLOB V2 orders pmtrader signs; stopping, nothing more is signed. Restart pmengine "
                "once the venue (PMENGINE_CLOB_URL) takes V2 orders again"
            )
            log.error("order.version_mismatch", error=message)

    async def cancel(self, order_hashes: list[str]) -> list[str]:
        """Cancel orders by hash."""
        try:
            resp = await self.client.orders.cancel_orders(order_hashes)
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(str(exc)) from exc
        return list(resp.canceled)

    async def cancel_all(self) -> list[str]:
        """Cancel every open order of this account."""
        try:
            resp = await self.client.orders.cancel_all()
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(str(exc)) from exc
        return list(resp.canceled)

    def _venue_order(self, o: Any) -> VenueOrder:
        return VenueOrder(
            str(o.id),
            str(o.asset_id),
            _side(o.side),
            price_to_int(Decimal(o.price)),
            amount_to_int(Decimal(o.original_size)),
            amount_to_int(Decimal(o.size_matched)),
            str(o.status).upper(),
        )

    async def get_order(self, order_hash: str) -> VenueOrder | None:
        """Look an order up by hash; ``None`` when the venue has never seen it."""
        try:
            found = await self.client.orders.get_order(order_hash)
        except pmt_errors.NotFoundError:
            return None
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(str(exc)) from exc
        if not found.id:
            return None
        return self._venue_order(found)

    async def open_orders(self) -> list[VenueOrder]:
        """Every open order of this account."""
        try:
            found = await self.client.orders.get_open_orders()
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(str(exc)) from exc
        return [self._venue_order(o) for o in found]

    async def _fee_rule(self, token_id: str) -> _FeeRule:
        """The fee parameters of the token's market (asked once per token, then remembered)."""
        rule = self._fee_rules.get(token_id)
        if rule is not None:
            return rule
        try:
            fd = await self.client.markets.get_fee_details(token_id)
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(f"cannot get the fee parameters of token {token_id}: {exc}") from exc
        bps = fd.rate * 10_000
        if bps < 0 or bps != bps.to_integral_value() or fd.exponent < 0:
            # Booking a rounded rate would drift from the venue's balance; refuse loudly instead.
            raise GatewayError(
                f"token {token_id}: fee rate {fd.rate} (exponent {fd.exponent}) is not a whole, "
                "non-negative number of basis points; its fills cannot be booked exactly"
            )
        rule = _FeeRule(int(bps), fd.exponent, fd.taker_only)
        self._fee_rules[token_id] = rule
        return rule

    def owns(self, order_hash: str) -> bool:
        """Whether this order was signed by this engine (now or before a restart)."""
        return order_hash in self._mine

    def _involves_me(self, trade: Any) -> bool:
        return trade.taker_order_id in self._mine or any(
            maker.order_id in self._mine for maker in trade.maker_orders
        )

    def _fills_of(self, trade: Any, rule: _FeeRule) -> list[VenueFill]:
        out: list[VenueFill] = []
        # REST says ``match_time``; the user channel has said ``matchtime`` too (seconds).
        ts = _ms(trade.match_time) or _ms(getattr(trade, "matchtime", "")) or _ms(trade.last_update)
        if trade.taker_order_id in self._mine:
            price = price_to_int(Decimal(trade.price))
            size = amount_to_int(Decimal(trade.size))
            out.append(
                VenueFill(
                    f"{trade.id}:{trade.taker_order_id}",
                    str(trade.taker_order_id),
                    str(trade.asset_id),
                    _side(trade.side),
                    price,
                    size,
                    taker_fee(size, price, rule.rate_bps, rule.exponent),
                    ts,
                )
            )
        for maker in trade.maker_orders:
            if maker.order_id not in self._mine:
                continue
            price = price_to_int(Decimal(maker.price))
            size = amount_to_int(Decimal(maker.matched_amount))
            fee = 0 if rule.taker_only else taker_fee(size, price, rule.rate_bps, rule.exponent)
            out.append(
                VenueFill(
                    f"{trade.id}:{maker.order_id}",
                    str(maker.order_id),
                    str(maker.asset_id or trade.asset_id),
                    _side(maker.side or ("SELL" if _side(trade.side) == BUY else "BUY")),
                    price,
                    size,
                    fee,
                    ts,
                )
            )
        return out

    async def fills_of(self, trade: Any) -> list[VenueFill]:
        """Our fills in one trade, with their fees; none if the trade is not ours.

        The fills of a ``FAILED`` trade come back marked ``failed`` (same ids as when they were
        booked, no fee: the engine reverses what it booked, fee included, from its journal).

        Args:
            trade: A REST trade (``client.orders.get_trades``) or the user channel's trade event
                (``TradeUpdate.raw``): the same fields, so a fill is the same from either.

        Raises:
            GatewayError: The fee parameters of the trade's market are unavailable or inexact.
        """
        if not self._involves_me(trade):
            return []
        if str(trade.status).upper().removeprefix("TRADE_STATUS_") == "FAILED":
            return [replace(f, failed=True) for f in self._fills_of(trade, _FeeRule(0, 1, True))]
        return self._fills_of(trade, await self._fee_rule(str(trade.asset_id)))

    async def trades_since(self, after_ms: int) -> list[VenueFill]:
        """Our fills in trades after ``after_ms`` (those of FAILED trades marked ``failed``)."""
        try:
            trades = await self.client.orders.get_trades(after=after_ms // 1000)
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(str(exc)) from exc
        out: list[VenueFill] = []
        for trade in reversed(trades):  # the venue lists the newest first; book oldest first
            out.extend(await self.fills_of(trade))
        return out

    async def failed_fills(self, token_id: str) -> list[VenueFill]:
        """Our fills in every FAILED trade of one token, whenever it matched (marked ``failed``).

        Reconciliation asks this only when a token's position disagrees with the venue: a
        settlement can fail after the trade left the catch-up window.
        """
        try:
            trades = await self.client.orders.get_trades(asset_id=token_id)
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(str(exc)) from exc
        out: list[VenueFill] = []
        for trade in reversed(trades):
            if str(trade.status).upper().removeprefix("TRADE_STATUS_") == "FAILED":
                out.extend(await self.fills_of(trade))
        return out

    async def balance(self) -> int:
        """pUSD balance in base units."""
        try:
            found = await self.client.account.get_balance_allowance("COLLATERAL")
        except pmt_errors.PmtraderError as exc:
            raise GatewayError(str(exc)) from exc
        return int(found.balance)

    async def token_balances(self, tokens: list[str]) -> dict[str, int]:
        """Conditional-token balances in base units."""
        out: dict[str, int] = {}
        for token in tokens:
            try:
                found = await self.client.account.get_balance_allowance("CONDITIONAL", token)
            except pmt_errors.PmtraderError as exc:
                raise GatewayError(str(exc)) from exc
            out[token] = int(found.balance)
        return out

    async def heartbeat(self) -> None:
        """Keep resting orders alive (the venue cancels them ~10 s after the last one).

        The chain belongs to the API key, not to this process: after a restart inside the
        window (a crash, a deploy) the venue still holds the previous process's chain, refuses
        a fresh one and says which id it expects. That chain is continued at once; restarting it
        instead would let it lapse, and the venue would then cancel every order just reconciled.
        """
        try:
            resp = await self.client.orders.post_heartbeat(self._heartbeat_id)
        except pmt_errors.InvalidHeartbeatError as exc:
            if not exc.expected_id:
                self._heartbeat_id = ""
                raise GatewayError(str(exc)) from exc
            try:
                resp = await self.client.orders.post_heartbeat(exc.expected_id)
            except pmt_errors.PmtraderError as again:
                self._heartbeat_id = ""
                raise GatewayError(str(again)) from again
        except pmt_errors.PmtraderError as exc:
            self._heartbeat_id = ""
            raise GatewayError(str(exc)) from exc
        self._heartbeat_id = resp.heartbeat_id
