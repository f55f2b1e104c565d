"""The order operations behind ``client.orders`` (sans-IO: see :mod:`pmtrader._http`).

Checks, signing and the requests of every order call live here once; :mod:`pmtrader.orders`
wraps them as the sync and async group methods.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pmtrader._amounts import (
    Amounts,
    check_cents,
    check_price,
    limit_amounts,
    market_amounts,
    plain,
)
from pmtrader._fee_cap import buy_amount_for_balance, op_builder_taker_rate
from pmtrader._http import (
    Authenticator,
    AuthLevel,
    Op,
    Request,
    Service,
    op_paged,
)
from pmtrader._state import MarketCache
from pmtrader.config import ApiCredentials, Settings
from pmtrader.errors import (
    ConfigError,
    OrderRejectedError,
    PmtraderError,
    UnsupportedVersionError,
    ValidationError,
)
from pmtrader.markets import op_market_info_for_token, op_tick_size, op_version
from pmtrader.models.clob import (
    CancelResponse,
    FeeDetails,
    Heartbeat,
    OpenOrder,
    OrderBook,
    OrderResponse,
    OrderType,
    Side,
    Trade,
    parse_choice,
)
from pmtrader.preview import OrderPreview, preview_limit, preview_market
from pmtrader.signing import BYTES32_ZERO, SignedOrder, new_salt, sign_order

__all__ = ["GTD_MIN_LEAD_SECONDS", "MAX_BATCH", "Number", "Signing"]

#: Most orders one ``POST /orders`` accepts.
MAX_BATCH = 15
#: The venue's GTD security margin: an expiration closer than this is refused.
GTD_MIN_LEAD_SECONDS = 60
#: The order protocol pmt signs: CLOB V2 (EIP-712 domain version "2").
SIGNED_VERSION = 2

Number = Decimal | int | str


def _exact(value: Number, name: str) -> Decimal:
    if isinstance(value, float):  # guards untyped callers: a float is never exact enough
        raise ValidationError(
            f"{name} must be exact (Decimal, int or str), not a float: use Decimal({str(value)!r})"
        )
    try:
        return Decimal(value)
    except ArithmeticError:
        raise ValidationError(f"{name} must be a number, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class _Market:
    tick_size: Decimal
    neg_risk: bool
    min_order_size: Decimal
    fee: FeeDetails | None


def op_order_market(
    cache: MarketCache, token_id: str, tick_size: Decimal | None, neg_risk: bool | None
) -> Op[_Market]:
    """Everything about a token an order needs, from cache or the venue."""
    info = yield from op_market_info_for_token(cache, token_id)
    tick = yield from op_tick_size(cache, token_id)
    if tick_size is not None:
        if tick_size < tick:
            raise ValidationError(
                f"tick size {tick_size} is finer than the market's {tick}; omit it or use {tick}"
            )
        tick = tick_size
    facts = cache.facts(token_id)
    minimum = facts.min_order_size
    if minimum is None:
        response = yield Request.get(Service.CLOB, "/book", {"token_id": token_id})
        minimum = facts.min_order_size = OrderBook.model_validate(response.json()).min_order_size
    return _Market(tick, info.neg_risk if neg_risk is None else neg_risk, minimum, info.fee)


class Signing:
    """What signing needs from the client: settings, the key, a clock and a salt source.

    It also remembers the venue's order version (``GET /version``) once it has been asked, so
    a client checks it before its first order and not again (see :func:`op_check_version`),
    and the taker fee rate of each builder code it has sized a balance-capped BUY for.
    """

    def __init__(
        self,
        settings: Settings,
        auth: Authenticator,
        clock: Callable[[], float] = time.time,
        salt: Callable[[], int] = new_salt,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.clock = clock
        self.salt = salt
        self.venue_version: int | None = None
        self.builder_rates: dict[str, Decimal] = {}

    def sign(self, token_id: str, amounts: Amounts, neg_risk: bool, expiration: int) -> SignedOrder:
        """Sign ``amounts`` with the configured key, funder and signature type."""
        return sign_order(
            self.auth.signer(),
            chain_id=self.settings.chain_id,
            token_id=token_id,
            amounts=amounts,
            signature_type=self.settings.signature_type,
            funder=self.settings.funder,
            neg_risk=neg_risk,
            salt=self.salt(),
            timestamp_ms=int(self.clock() * 1000),
            expiration=expiration,
            builder_code=self.settings.builder_code or BYTES32_ZERO,
        )

    def owner(self) -> ApiCredentials:
        """The credentials whose key owns posted orders.

        Raises:
            ConfigError: None are configured.
        """
        creds = self.auth.credentials
        if creds is None:
            raise ConfigError(
                "posting orders needs API credentials: set PM_API_KEY, PM_API_SECRET and "
                "PM_API_PASSPHRASE, or call client.account.create_or_derive_api_key()"
            )
        return creds


def op_check_version(signing: Signing) -> Op[None]:
    """Refuse to sign unless the venue takes CLOB V2 orders; asked once per client.

    Like py-clob-client-v2, the first order asks ``GET /version`` and a failed or malformed
    answer counts as 2. Unlike it, pmt has no V1 signer to fall back to: any other version raises
    instead of signing a struct the venue would not verify. Only a 2 is remembered, so a venue
    that reported something else is asked again on the next order.

    Raises:
        UnsupportedVersionError: The venue reports another version; nothing was signed.
    """
    if signing.venue_version == SIGNED_VERSION:
        return
    try:
        version = yield from op_version()
    except (PmtraderError, ValueError, TypeError):  # any failure: assume 2, as the official does
        version = SIGNED_VERSION
    if version != SIGNED_VERSION:
        raise UnsupportedVersionError(
            f"pmt signs CLOB V2 orders (version {SIGNED_VERSION}) and the venue at "
            f"{signing.settings.clob_url} reports order version {version}: nothing was signed "
            "or sent; point PM_CLOB_URL at a CLOB V2 host or use a pmtrader that signs "
            f"version {version}",
            version=version,
        )
    signing.venue_version = version


def _check_time_in_force(
    order_type: OrderType, expiration: int | None, post_only: bool, now: float
) -> int:
    if post_only and order_type not in (OrderType.GTC, OrderType.GTD):
        raise ValidationError("post_only works only with GTC and GTD orders")
    if order_type is OrderType.GTD:
        if expiration is None:
            raise ValidationError("a GTD order needs expiration= (unix seconds)")
        if expiration < now + GTD_MIN_LEAD_SECONDS:
            raise ValidationError(
                f"expiration {expiration} is less than {GTD_MIN_LEAD_SECONDS}s ahead; the venue "
                f"refuses it: use at least {int(now) + GTD_MIN_LEAD_SECONDS + 30}"
            )
        return expiration
    if expiration:
        raise ValidationError(f"expiration is only for GTD orders, not {order_type.value}")
    return 0


def op_create_order(
    signing: Signing,
    cache: MarketCache,
    *,
    token_id: str,
    side: Side | str,
    price: Number,
    size: Number,
    order_type: OrderType | str = OrderType.GTC,
    expiration: int | None = None,
    post_only: bool = False,
    tick_size: Decimal | None = None,
    neg_risk: bool | None = None,
    balance: Number | None = None,
) -> Op[SignedOrder]:
    """Check and sign a limit order (a BUY with ``balance`` shrinks to fit it with its fees)."""
    side, order_type = (
        parse_choice(Side, side, "side"),
        parse_choice(OrderType, order_type, "order_type"),
    )
    price_d, size_d = _exact(price, "price"), _exact(size, "size")
    expiry = _check_time_in_force(order_type, expiration, post_only, signing.clock())
    market = yield from op_order_market(cache, token_id, tick_size, neg_risk)
    check_price(price_d, market.tick_size)
    check_cents(size_d, "size", market.min_order_size)
    if balance is not None:
        capped = yield from _op_balance_cap(
            signing, side, size_d * price_d, price_d, balance=balance, market=market
        )
        shares = Decimal(math.floor(capped / Fraction(price_d) * 100)) / 100  # whole cents
        size_d = check_cents(
            min(size_d, shares), "size capped to the balance", market.min_order_size
        )
    amounts = limit_amounts(side, price_d, size_d, market.tick_size)
    yield from op_check_version(signing)
    return signing.sign(token_id, amounts, market.neg_risk, expiry)


def op_book_walk(
    token_id: str, side: Side, amount: Decimal, order_type: OrderType, fee: FeeDetails | None
) -> Op[OrderPreview]:
    """Walk the current book for a market order of ``amount``."""
    response = yield Request.get(Service.CLOB, "/book", {"token_id": token_id})
    book = OrderBook.model_validate(response.json())
    return preview_market(book, side, amount, order_type=order_type, fee=fee)


def op_create_market_order(
    signing: Signing,
    cache: MarketCache,
    *,
    token_id: str,
    side: Side | str,
    amount: Number,
    price: Number | None = None,
    order_type: OrderType | str = OrderType.FOK,
    tick_size: Decimal | None = None,
    neg_risk: bool | None = None,
    balance: Number | None = None,
) -> Op[SignedOrder]:
    """Check and sign a market order (BUY ``amount`` pUSD, SELL ``amount`` shares).

    With ``balance`` (BUY only), the amount shrinks so that it and its platform and builder
    taker fees fit in that many pUSD (:func:`pmtrader._fee_cap.buy_amount_for_balance`).
    """
    side, order_type = (
        parse_choice(Side, side, "side"),
        parse_choice(OrderType, order_type, "order_type"),
    )
    if order_type not in (OrderType.FOK, OrderType.FAK):
        raise ValidationError(f"a market order is FOK or FAK, not {order_type.value}")
    amount_d = _exact(amount, "amount")
    check_cents(amount_d, "amount")
    market = yield from op_order_market(cache, token_id, tick_size, neg_risk)
    if price is None:
        walk = yield from op_book_walk(token_id, side, amount_d, order_type, market.fee)
        if walk.worst_price is None:
            raise ValidationError(
                f"the book cannot fill a {order_type.value} {side.value} of {amount_d}: not "
                "enough liquidity; lower the amount, use FAK, or give a worst price"
            )
        price_d = walk.worst_price
    else:
        price_d = _exact(price, "price")
    check_price(price_d, market.tick_size)
    if balance is not None:
        capped = yield from _op_balance_cap(
            signing, side, amount_d, price_d, balance=balance, market=market
        )
        amount_d = min(amount_d, Decimal(math.floor(capped * 100)) / 100)  # whole cents
    amounts = market_amounts(side, amount_d, price_d, market.tick_size)
    shares = Decimal(amounts.shares) / 1_000_000
    if shares < market.min_order_size:
        raise ValidationError(
            f"{amount_d} {'pUSD buys' if side is Side.BUY else 'is'} {shares} shares at "
            f"{price_d}, below the market's minimum order size of "
            f"{plain(market.min_order_size)} shares"
        )
    yield from op_check_version(signing)
    return signing.sign(token_id, amounts, market.neg_risk, 0)


def _op_balance_cap(
    signing: Signing,
    side: Side,
    amount: Decimal,
    price: Decimal,
    *,
    balance: Number,
    market: _Market,
) -> Op[Fraction]:
    """The pUSD a BUY of ``amount`` may spend so that it and its fees fit in ``balance``."""
    if side is not Side.BUY:
        raise ValidationError("balance= caps the pUSD a BUY spends; a SELL spends shares: omit it")
    have = _exact(balance, "balance")
    if not have.is_finite() or have <= 0:
        raise ValidationError(f"balance must be a positive number of pUSD, got {balance}")
    builder_rate = Decimal(0)
    code = signing.settings.builder_code
    if code is not None and int(code, 16):
        cached = signing.builder_rates.get(code)
        if cached is None:
            cached = signing.builder_rates[code] = yield from op_builder_taker_rate(code)
        builder_rate = cached
    capped = buy_amount_for_balance(
        amount, price, have, market.fee, builder_taker_rate=builder_rate
    )
    if capped * 100 < 1:
        raise ValidationError(
            f"a balance of {plain(have)} pUSD leaves nothing to spend at {price} once the fees "
            "are paid: deposit more pUSD"
        )
    return capped


def op_post_order(
    signing: Signing,
    cache: MarketCache,
    order: SignedOrder,
    *,
    order_type: OrderType | str = OrderType.GTC,
    post_only: bool = False,
    defer_exec: bool = False,
) -> Op[OrderResponse]:
    """``POST /order`` (L2). Never retried: a lost answer raises ``OrderStatusUnknownError``."""
    order_type = parse_choice(OrderType, order_type, "order_type")
    _check_time_in_force(order_type, order.expiration or None, post_only, 0.0)
    payload = order.payload(
        signing.owner().key, order_type, post_only=post_only, defer_exec=defer_exec
    )
    try:
        response = yield Request.send(
            "POST",
            Service.CLOB,
            "/order",
            payload,
            auth=AuthLevel.L2,
            order_hashes=(order.order_hash,),
        )
    except OrderRejectedError as exc:
        if "tick size" in exc.message.lower():
            cache.forget_tick_size(order.token_id)
        if "order_version_mismatch" in exc.message:
            signing.venue_version = None  # the venue changed protocol: ask before the next one
        raise
    result = OrderResponse.model_validate(response.json())
    if not result.success:
        if "order_version_mismatch" in (result.error_msg or ""):
            signing.venue_version = None
        raise OrderRejectedError(
            result.error_msg or "order not accepted", status=200, method="POST", path="/order"
        )
    return result


def op_post_orders(
    signing: Signing,
    orders: Sequence[tuple[SignedOrder, OrderType]],
    post_only: bool,
    defer_exec: bool,
) -> Op[list[OrderResponse]]:
    """``POST /orders`` (L2), at most :data:`MAX_BATCH`; per-order failures come back inside."""
    if not orders:
        raise ValidationError("post_orders needs at least one order")
    if len(orders) > MAX_BATCH:
        raise ValidationError(
            f"{len(orders)} orders in one batch; the venue takes at most {MAX_BATCH}: "
            "split the list"
        )
    owner = signing.owner().key
    payload = []
    for order, order_type in orders:
        kind = parse_choice(OrderType, order_type, "order_type")
        _check_time_in_force(kind, order.expiration or None, post_only, 0.0)
        payload.append(order.payload(owner, kind, post_only=post_only, defer_exec=defer_exec))
    response = yield Request.send(
        "POST",
        Service.CLOB,
        "/orders",
        payload,
        auth=AuthLevel.L2,
        order_hashes=tuple(order.order_hash for order, _ in orders),
    )
    return [OrderResponse.model_validate(item) for item in response.json()]


def op_open_orders(params: dict[str, Any]) -> Op[list[OpenOrder]]:
    """Every open order matching the filters."""
    items = yield from op_paged(Service.CLOB, "/data/orders", params, AuthLevel.L2)
    return [OpenOrder.model_validate(item) for item in items]


def op_trades(params: dict[str, Any]) -> Op[list[Trade]]:
    """Every trade matching the filters."""
    items = yield from op_paged(Service.CLOB, "/data/trades", params, AuthLevel.L2)
    return [Trade.model_validate(item) for item in items]


def op_get_order(order_id: str) -> Op[OpenOrder]:
    """``GET /data/order/{id}`` (L2)."""
    response = yield Request.get(Service.CLOB, f"/data/order/{order_id}", auth=AuthLevel.L2)
    return OpenOrder.model_validate(response.json())


def op_cancel(path: str, payload: object) -> Op[CancelResponse]:
    """A cancel DELETE with its JSON body (L2)."""
    response = yield Request.send("DELETE", Service.CLOB, path, payload, auth=AuthLevel.L2)
    return CancelResponse.model_validate(response.json())


def op_is_scoring(order_id: str) -> Op[bool]:
    """``GET /order-scoring`` (L2)."""
    response = yield Request.get(
        Service.CLOB, "/order-scoring", {"order_id": order_id}, auth=AuthLevel.L2
    )
    return bool(response.json().get("scoring"))


def op_are_scoring(order_ids: Sequence[str]) -> Op[dict[str, bool]]:
    """``POST /orders-scoring`` (L2, read-only)."""
    response = yield Request.send(
        "POST",
        Service.CLOB,
        "/orders-scoring",
        list(order_ids),
        auth=AuthLevel.L2,
        idempotent=True,
    )
    return {key: bool(value) for key, value in response.json().items()}


def op_heartbeat(heartbeat_id: str) -> Op[Heartbeat]:
    """``POST /v1/heartbeats`` (L2)."""
    response = yield Request.send(
        "POST", Service.CLOB, "/v1/heartbeats", {"heartbeat_id": heartbeat_id}, auth=AuthLevel.L2
    )
    return Heartbeat.model_validate(response.json())


def op_preview(
    cache: MarketCache,
    *,
    token_id: str,
    side: Side | str,
    price: Number | None,
    size: Number | None,
    amount: Number | None,
    order_type: OrderType | str,
) -> Op[OrderPreview]:
    """Preview a limit (``price`` + ``size``) or market (``amount``) order."""
    side, order_type = (
        parse_choice(Side, side, "side"),
        parse_choice(OrderType, order_type, "order_type"),
    )
    market = yield from op_order_market(cache, token_id, None, None)
    response = yield Request.get(Service.CLOB, "/book", {"token_id": token_id})
    book = OrderBook.model_validate(response.json())
    if amount is not None:
        amount_d = check_cents(_exact(amount, "amount"), "amount")
        worst = None if price is None else check_price(_exact(price, "price"), market.tick_size)
        preview = preview_market(
            book, side, amount_d, worst_price=worst, order_type=order_type, fee=market.fee
        )
        if preview.worst_price is None and worst is None:
            return preview
        limit = worst if worst is not None else preview.worst_price
        assert limit is not None
        amounts = market_amounts(side, amount_d, limit, market.tick_size)
        return preview_market(
            book,
            side,
            amount_d,
            worst_price=worst,
            order_type=order_type,
            fee=market.fee,
            amounts=amounts,
        )
    if price is None or size is None:
        raise ValidationError(
            "preview a limit order with price= and size=, a market one with amount="
        )
    price_d = check_price(_exact(price, "price"), market.tick_size)
    size_d = check_cents(_exact(size, "size"), "size", market.min_order_size)
    amounts = limit_amounts(side, price_d, size_d, market.tick_size)
    return preview_limit(
        book, side, price_d, size_d, order_type=order_type, fee=market.fee, amounts=amounts
    )


def order_filters(**filters: Any) -> dict[str, Any]:
    """The filters that were given (``None`` means "not filtered")."""
    return {key: value for key, value in filters.items() if value is not None}
