"""``client.orders``: build, check, sign, preview and post orders; cancel; read orders and trades.

Method names are py-clob-client-v2's: ``create_order`` / ``create_market_order`` (sign only),
``post_order`` / ``post_orders``, ``create_and_post_order`` / ``create_and_post_market_order``,
``cancel_order``, ``cancel_orders``, ``cancel_all``, ``cancel_market_orders``, ``get_order``,
``get_open_orders``, ``get_trades``, ``is_order_scoring``, ``are_orders_scoring``,
``post_heartbeat``. What pmt adds:

* **Exact inputs**: prices, sizes and amounts are ``Decimal`` (or ``int``/``str``); floats are
  refused, so no binary rounding can reach a signed amount.
* **Checks before signing**: the price must sit on the market's tick grid inside ``(0, 1)``
  (:class:`~pmtrader.errors.InvalidPriceError` names the two nearest valid prices); the size must
  be whole cents and at least the market's minimum (:class:`~pmtrader.errors.OrderSizeError`
  names it); post-only only with GTC/GTD; GTD needs an expiration a minute ahead. The tick size
  is re-read when it is a minute old, when the venue rejects an order for its tick, or when a
  stream reports a change (``client.markets.note_tick_size_change``).
* **Never twice**: an order POST is never retried or re-signed; if the answer is lost,
  :class:`~pmtrader.errors.OrderStatusUnknownError` carries the order hash to look up.
* **Previews**: :meth:`Orders.preview_order` and :meth:`Orders.preview_market_order` walk the
  current book and report cost, worst price, fee, shares and whether the order rests or crosses.

Orders are signed for the V2 exchanges (domain version "2"; the neg-risk exchange when the
market is neg-risk). Before a client signs its first order it asks ``GET /version`` once, as
py-clob-client-v2 does (no answer counts as 2); a venue reporting another version gets
:class:`~pmtrader.errors.UnsupportedVersionError` instead of a signature it could not verify.
An ``order_version_mismatch`` rejection makes the next order ask again.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from pmtrader._order_ops import (
    MAX_BATCH,
    Number,
    Signing,
    op_are_scoring,
    op_cancel,
    op_create_market_order,
    op_create_order,
    op_get_order,
    op_heartbeat,
    op_is_scoring,
    op_open_orders,
    op_post_order,
    op_post_orders,
    op_preview,
    op_trades,
    order_filters,
)
from pmtrader._state import AsyncGroup, ClientState, SyncGroup
from pmtrader.models.clob import (
    CancelResponse,
    Heartbeat,
    OpenOrder,
    OrderResponse,
    OrderType,
    Side,
    Trade,
    parse_choice,
)
from pmtrader.preview import OrderPreview
from pmtrader.signing import SignedOrder

if TYPE_CHECKING:
    from pmtrader._http import AsyncRunner, SyncRunner

__all__ = ["MAX_BATCH", "AsyncOrders", "Orders"]


class Orders(SyncGroup):
    """Orders and trades (``client.orders``)."""

    def __init__(self, state: ClientState[SyncRunner]) -> None:
        super().__init__(state)
        self._signing = Signing(state.settings, state.auth, state.clock)

    def create_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        price: Number,
        size: Number,
        order_type: OrderType | str = OrderType.GTC,
        expiration: int | None = None,
        post_only: bool = False,
        tick_size: Decimal | None = None,
        neg_risk: bool | None = None,
        balance: Number | None = None,
    ) -> SignedOrder:
        """Check and sign a limit order without sending it.

        Args:
            token_id: The outcome token.
            side: ``BUY`` or ``SELL``.
            price: Limit price on the market's tick grid, e.g. ``Decimal("0.52")``.
            size: Shares, whole cents (``Decimal("10.5")``), at least the market minimum.
            order_type: GTC (default), GTD (needs ``expiration``), FOK or FAK.
            expiration: Unix seconds for GTD, at least a minute ahead.
            post_only: The order will be posted post-only (checked here: GTC/GTD only).
            tick_size: A coarser tick than the market's, if you want one.
            neg_risk: Override the market's neg-risk flag (normally read from the venue).
            balance: Your pUSD balance (BUY only), like py-clob-client-v2's
                ``user_usdc_balance``: the size shrinks (to whole cents of shares) so that its
                cost plus the platform and builder taker fees fit in it.

        Raises:
            InvalidPriceError: Off the tick grid or outside (0, 1).
            OrderSizeError: Below the minimum or finer than a cent.
            ValidationError: Inconsistent time in force.
        """
        return self._run(
            op_create_order(
                self._signing,
                self._state.cache,
                token_id=token_id,
                side=side,
                price=price,
                size=size,
                order_type=order_type,
                expiration=expiration,
                post_only=post_only,
                tick_size=tick_size,
                neg_risk=neg_risk,
                balance=balance,
            )
        )

    def create_market_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        amount: Number,
        price: Number | None = None,
        order_type: OrderType | str = OrderType.FOK,
        balance: Number | None = None,
    ) -> SignedOrder:
        """Check and sign a market order: BUY spends ``amount`` pUSD, SELL sells ``amount`` shares.

        Args:
            token_id: The outcome token.
            side: ``BUY`` or ``SELL``.
            amount: pUSD (BUY) or shares (SELL), whole cents.
            price: Worst acceptable price; by default the level of the current book where
                ``amount`` is reached.
            order_type: FOK (default, all or nothing) or FAK (fill what is there).
            balance: Your pUSD balance (BUY only), like py-clob-client-v2's
                ``user_usdc_balance``: when ``amount`` plus the platform taker fee and your
                builder code's taker fee would exceed it, the amount shrinks (to whole cents) so
                that everything fits; e.g. ``balance=ba.balance / 10**6`` from
                ``client.account.get_balance_allowance("COLLATERAL")`` to spend all of it.

        Raises:
            ValidationError: ``balance`` on a SELL, or one that leaves nothing after fees.
        """
        return self._run(
            op_create_market_order(
                self._signing,
                self._state.cache,
                token_id=token_id,
                side=side,
                amount=amount,
                price=price,
                order_type=order_type,
                balance=balance,
            )
        )

    def post_order(
        self,
        order: SignedOrder,
        order_type: OrderType | str = OrderType.GTC,
        *,
        post_only: bool = False,
        defer_exec: bool = False,
    ) -> OrderResponse:
        """Post a signed order once (never retried).

        Raises:
            OrderRejectedError: The venue refused it (``message`` is its reason).
            InsufficientBalanceError: Not enough pUSD/tokens or allowance.
            OrderStatusUnknownError: No answer; look the order up by ``order.order_hash``.
        """
        return self._run(
            op_post_order(
                self._signing,
                self._state.cache,
                order,
                order_type=order_type,
                post_only=post_only,
                defer_exec=defer_exec,
            )
        )

    def post_orders(
        self,
        orders: Sequence[tuple[SignedOrder, OrderType | str]],
        *,
        post_only: bool = False,
        defer_exec: bool = False,
    ) -> list[OrderResponse]:
        """Post up to 15 signed orders in one request; each answer says ``success`` or why not."""
        pairs = [(order, parse_choice(OrderType, kind, "order_type")) for order, kind in orders]
        return self._run(op_post_orders(self._signing, pairs, post_only, defer_exec))

    def create_and_post_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        price: Number,
        size: Number,
        order_type: OrderType | str = OrderType.GTC,
        expiration: int | None = None,
        post_only: bool = False,
        balance: Number | None = None,
    ) -> OrderResponse:
        """Check, sign and post a limit order (see :meth:`create_order` and :meth:`post_order`)."""
        order = self.create_order(
            token_id,
            side,
            price=price,
            size=size,
            order_type=order_type,
            expiration=expiration,
            post_only=post_only,
            balance=balance,
        )
        return self.post_order(order, order_type, post_only=post_only)

    def create_and_post_market_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        amount: Number,
        price: Number | None = None,
        order_type: OrderType | str = OrderType.FOK,
        balance: Number | None = None,
    ) -> OrderResponse:
        """Check, sign and post a market order (see :meth:`create_market_order`)."""
        order = self.create_market_order(
            token_id, side, amount=amount, price=price, order_type=order_type, balance=balance
        )
        return self.post_order(order, order_type)

    def preview_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        price: Number,
        size: Number,
        order_type: OrderType | str = OrderType.GTC,
    ) -> OrderPreview:
        """Preview a limit order against the current book (nothing is signed or sent)."""
        return self._run(
            op_preview(
                self._state.cache,
                token_id=token_id,
                side=side,
                price=price,
                size=size,
                amount=None,
                order_type=order_type,
            )
        )

    def preview_market_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        amount: Number,
        price: Number | None = None,
        order_type: OrderType | str = OrderType.FOK,
    ) -> OrderPreview:
        """Preview a market order against the current book (nothing is signed or sent)."""
        return self._run(
            op_preview(
                self._state.cache,
                token_id=token_id,
                side=side,
                price=price,
                size=None,
                amount=amount,
                order_type=order_type,
            )
        )

    def get_order(self, order_id: str) -> OpenOrder:
        """Return one of your orders by id (hash)."""
        return self._run(op_get_order(order_id))

    def get_open_orders(
        self, *, market: str | None = None, asset_id: str | None = None, id: str | None = None
    ) -> list[OpenOrder]:
        """Return all your open orders (every page), optionally for a market or token."""
        return self._run(op_open_orders(order_filters(market=market, asset_id=asset_id, id=id)))

    def get_trades(
        self,
        *,
        market: str | None = None,
        asset_id: str | None = None,
        id: str | None = None,
        maker_address: str | None = None,
        before: int | None = None,
        after: int | None = None,
    ) -> list[Trade]:
        """Return all your trades (every page) matching the filters (times in unix seconds)."""
        filters = order_filters(
            market=market,
            asset_id=asset_id,
            id=id,
            maker_address=maker_address,
            before=before,
            after=after,
        )
        return self._run(op_trades(filters))

    def cancel_order(self, order_id: str) -> CancelResponse:
        """Cancel one order."""
        return self._run(op_cancel("/order", {"orderID": order_id}))

    def cancel_orders(self, order_ids: Sequence[str]) -> CancelResponse:
        """Cancel several orders."""
        return self._run(op_cancel("/orders", list(order_ids)))

    def cancel_all(self) -> CancelResponse:
        """Cancel every open order of the API key."""
        return self._run(op_cancel("/cancel-all", None))

    def cancel_market_orders(
        self, *, market: str | None = None, asset_id: str | None = None
    ) -> CancelResponse:
        """Cancel every open order in a market (condition id) and/or on a token."""
        return self._run(
            op_cancel("/cancel-market-orders", order_filters(market=market, asset_id=asset_id))
        )

    def is_order_scoring(self, order_id: str) -> bool:
        """Return whether an order currently earns liquidity rewards."""
        return self._run(op_is_scoring(order_id))

    def are_orders_scoring(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """Return ``{order_id: scoring}`` for several orders."""
        return self._run(op_are_scoring(order_ids))

    def post_heartbeat(self, heartbeat_id: str = "") -> Heartbeat:
        """Send the order dead-man switch: all orders are cancelled ~10 s after the last beat.

        Args:
            heartbeat_id: ``""`` the first time, then the id the previous beat returned.

        Raises:
            InvalidHeartbeatError: The id was stale; send ``expected_id`` (or ``""``) next.
        """
        return self._run(op_heartbeat(heartbeat_id))


class AsyncOrders(AsyncGroup):
    """Async twin of :class:`Orders`."""

    def __init__(self, state: ClientState[AsyncRunner]) -> None:
        super().__init__(state)
        self._signing = Signing(state.settings, state.auth, state.clock)

    async def create_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        price: Number,
        size: Number,
        order_type: OrderType | str = OrderType.GTC,
        expiration: int | None = None,
        post_only: bool = False,
        tick_size: Decimal | None = None,
        neg_risk: bool | None = None,
        balance: Number | None = None,
    ) -> SignedOrder:
        """See :meth:`Orders.create_order`."""
        return await self._run(
            op_create_order(
                self._signing,
                self._state.cache,
                token_id=token_id,
                side=side,
                price=price,
                size=size,
                order_type=order_type,
                expiration=expiration,
                post_only=post_only,
                tick_size=tick_size,
                neg_risk=neg_risk,
                balance=balance,
            )
        )

    async def create_market_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        amount: Number,
        price: Number | None = None,
        order_type: OrderType | str = OrderType.FOK,
        balance: Number | None = None,
    ) -> SignedOrder:
        """See :meth:`Orders.create_market_order`."""
        return await self._run(
            op_create_market_order(
                self._signing,
                self._state.cache,
                token_id=token_id,
                side=side,
                amount=amount,
                price=price,
                order_type=order_type,
                balance=balance,
            )
        )

    async def post_order(
        self,
        order: SignedOrder,
        order_type: OrderType | str = OrderType.GTC,
        *,
        post_only: bool = False,
        defer_exec: bool = False,
    ) -> OrderResponse:
        """See :meth:`Orders.post_order`."""
        return await self._run(
            op_post_order(
                self._signing,
                self._state.cache,
                order,
                order_type=order_type,
                post_only=post_only,
                defer_exec=defer_exec,
            )
        )

    async def post_orders(
        self,
        orders: Sequence[tuple[SignedOrder, OrderType | str]],
        *,
        post_only: bool = False,
        defer_exec: bool = False,
    ) -> list[OrderResponse]:
        """See :meth:`Orders.post_orders`."""
        pairs = [(order, parse_choice(OrderType, kind, "order_type")) for order, kind in orders]
        return await self._run(op_post_orders(self._signing, pairs, post_only, defer_exec))

    async def create_and_post_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        price: Number,
        size: Number,
        order_type: OrderType | str = OrderType.GTC,
        expiration: int | None = None,
        post_only: bool = False,
        balance: Number | None = None,
    ) -> OrderResponse:
        """See :meth:`Orders.create_and_post_order`."""
        order = await self.create_order(
            token_id,
            side,
            price=price,
            size=size,
            order_type=order_type,
            expiration=expiration,
            post_only=post_only,
            balance=balance,
        )
        return await self.post_order(order, order_type, post_only=post_only)

    async def create_and_post_market_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        amount: Number,
        price: Number | None = None,
        order_type: OrderType | str = OrderType.FOK,
        balance: Number | None = None,
    ) -> OrderResponse:
        """See :meth:`Orders.create_and_post_market_order`."""
        order = await self.create_market_order(
            token_id, side, amount=amount, price=price, order_type=order_type, balance=balance
        )
        return await self.post_order(order, order_type)

    async def preview_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        price: Number,
        size: Number,
        order_type: OrderType | str = OrderType.GTC,
    ) -> OrderPreview:
        """See :meth:`Orders.preview_order`."""
        return await self._run(
            op_preview(
                self._state.cache,
                token_id=token_id,
                side=side,
                price=price,
                size=size,
                amount=None,
                order_type=order_type,
            )
        )

    async def preview_market_order(
        self,
        token_id: str,
        side: Side | str,
        *,
        amount: Number,
        price: Number | None = None,
        order_type: OrderType | str = OrderType.FOK,
    ) -> OrderPreview:
        """See :meth:`Orders.preview_market_order`."""
        return await self._run(
            op_preview(
                self._state.cache,
                token_id=token_id,
                side=side,
                price=price,
                size=None,
                amount=amount,
                order_type=order_type,
            )
        )

    async def get_order(self, order_id: str) -> OpenOrder:
        """See :meth:`Orders.get_order`."""
        return await self._run(op_get_order(order_id))

    async def get_open_orders(
        self, *, market: str | None = None, asset_id: str | None = None, id: str | None = None
    ) -> list[OpenOrder]:
        """See :meth:`Orders.get_open_orders`."""
        return await self._run(
            op_open_orders(order_filters(market=market, asset_id=asset_id, id=id))
        )

    async def get_trades(
        self,
        *,
        market: str | None = None,
        asset_id: str | None = None,
        id: str | None = None,
        maker_address: str | None = None,
        before: int | None = None,
        after: int | None = None,
    ) -> list[Trade]:
        """See :meth:`Orders.get_trades`."""
        filters = order_filters(
            market=market,
            asset_id=asset_id,
            id=id,
            maker_address=maker_address,
            before=before,
            after=after,
        )
        return await self._run(op_trades(filters))

    async def cancel_order(self, order_id: str) -> CancelResponse:
        """See :meth:`Orders.cancel_order`."""
        return await self._run(op_cancel("/order", {"orderID": order_id}))

    async def cancel_orders(self, order_ids: Sequence[str]) -> CancelResponse:
        """See :meth:`Orders.cancel_orders`."""
        return await self._run(op_cancel("/orders", list(order_ids)))

    async def cancel_all(self) -> CancelResponse:
        """See :meth:`Orders.cancel_all`."""
        return await self._run(op_cancel("/cancel-all", None))

    async def cancel_market_orders(
        self, *, market: str | None = None, asset_id: str | None = None
    ) -> CancelResponse:
        """See :meth:`Orders.cancel_market_orders`."""
        return await self._run(
            op_cancel("/cancel-market-orders", order_filters(market=market, asset_id=asset_id))
        )

    async def is_order_scoring(self, order_id: str) -> bool:
        """See :meth:`Orders.is_order_scoring`."""
        return await self._run(op_is_scoring(order_id))

    async def are_orders_scoring(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """See :meth:`Orders.are_orders_scoring`."""
        return await self._run(op_are_scoring(order_ids))

    async def post_heartbeat(self, heartbeat_id: str = "") -> Heartbeat:
        """See :meth:`Orders.post_heartbeat`."""
        return await self._run(op_heartbeat(heartbeat_id))
