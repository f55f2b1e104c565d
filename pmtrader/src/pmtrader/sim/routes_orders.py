"""Authenticated CLOB REST endpoints: API keys (L1), orders, cancels and account queries (L2).

Order admission on the server side, before the core's own checks (``pmtrader.sim.trading``):
the body's JSON shape (``Invalid order payload``), ``owner`` equal to the API key of the headers
(``the order owner has to be the owner of the API KEY``), the signer rule (types 0-2: ``signer``
is the key's address; type 3: the EOA inside the POLY_1271 blob is), the EIP-712 signature under
the domain of the token's market (standard or neg-risk exchange; ``invalid signature``), and the
maker rule (the EOA itself for type 0, else a funder registered for it; ``invalid signature``, as
production answers a wrong funder). The order id is the EIP-712 digest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmtrader.sim.auth import (
    SIG_POLY_1271,
    AuthRejected,
    OrderFields,
    read_l2_headers,
    verify_l1,
    verify_l2,
    verify_order_signature,
)
from pmtrader.sim.context import ServerContext
from pmtrader.sim.errors import HeartbeatRejected, OrderRejected, SimError
from pmtrader.sim.matching import PRICE_SCALE, Side
from pmtrader.sim.records import ApiKeyRecord, OrderRecord, PlaceResult, SignedOrder
from pmtrader.sim.responses import HttpError, JsonResponse, ok, read_json
from pmtrader.sim.routes_clob import page

MAX_BATCH = 15
ORDERS_PAGE = 100
TRADES_PAGE = 100
INVALID_ORDER = "Invalid order payload"
_UINT256 = 2**256
_ZERO32 = "0x" + "0" * 64

Handler = Callable[[Request], Awaitable[Response]]


def _uint(value: object, *, allow_int: bool = True) -> int:
    if isinstance(value, bool):
        raise ValueError("bool")
    if isinstance(value, int) and allow_int:
        number = value
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    else:
        raise ValueError(f"not an unsigned integer: {value!r}")
    if not 0 <= number < _UINT256:
        raise ValueError("out of uint256 range")
    return number


def _bytes32(value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise ValueError("bytes32 must be 0x + 64 hex digits")
    return bytes.fromhex(value[2:])


def _address(value: object) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"not an address: {value!r}")
    return str(to_checksum_address(value))


def parse_order(raw: object) -> tuple[SignedOrder, OrderFields]:
    """Decode the ``order`` object of a ``POST /order`` body.

    Types as the official client sends them: ``salt`` a number, ``side`` ``"BUY"``/``"SELL"``,
    ``signatureType`` a number, amounts/``tokenId``/``timestamp``/``expiration`` decimal strings.

    Raises:
        HttpError: 400 ``Invalid order payload`` for anything malformed.
    """
    if not isinstance(raw, dict):
        raise HttpError(400, INVALID_ORDER)
    try:
        side_raw = raw["side"]
        if side_raw in ("BUY", 0):
            side = Side.BUY
        elif side_raw in ("SELL", 1):
            side = Side.SELL
        else:
            raise ValueError("side")
        sig_type = raw.get("signatureType", 0)
        if isinstance(sig_type, bool) or not isinstance(sig_type, int) or not 0 <= sig_type <= 3:
            raise ValueError("signatureType")
        signature = raw["signature"]
        if not isinstance(signature, str) or not signature.startswith("0x"):
            raise ValueError("signature")
        metadata = raw.get("metadata", _ZERO32)
        builder = raw.get("builder", _ZERO32)
        fields = OrderFields(
            salt=_uint(raw["salt"]),
            maker=_address(raw["maker"]),
            signer=_address(raw["signer"]),
            token_id=_uint(raw["tokenId"]),
            maker_amount=_uint(raw["makerAmount"]),
            taker_amount=_uint(raw["takerAmount"]),
            side=int(side),
            signature_type=sig_type,
            timestamp=_uint(raw.get("timestamp", "0")),
            metadata=_bytes32(metadata),
            builder=_bytes32(builder),
        )
        expiration = _uint(raw.get("expiration", "0"))
    except (KeyError, ValueError, TypeError):
        raise HttpError(400, INVALID_ORDER) from None
    order = SignedOrder(
        salt=fields.salt,
        maker=fields.maker,
        signer=fields.signer,
        token_id=str(fields.token_id),
        maker_amount=fields.maker_amount,
        taker_amount=fields.taker_amount,
        side=side,
        signature_type=sig_type,
        timestamp=fields.timestamp,
        expiration=expiration,
        metadata=str(metadata),
        builder=str(builder),
        signature=signature,
    )
    return order, fields


class OrderRoutes:
    """API keys, orders, cancels and account endpoints over one exchange."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.exchange = ctx.exchange
        self._dropped_notifications: dict[str, set[str]] = {}

    def routes(self) -> list[Route]:
        """The Starlette routes at the server root."""
        return [
            Route("/auth/api-key", self.create_api_key, methods=["POST"]),
            Route("/auth/api-key", self.delete_api_key, methods=["DELETE"]),
            Route("/auth/derive-api-key", self.derive_api_key, methods=["GET"]),
            Route("/auth/api-keys", self.api_keys, methods=["GET"]),
            Route("/auth/ban-status/closed-only", self.closed_only, methods=["GET"]),
            Route("/order", self.post_order, methods=["POST"]),
            Route("/order", self.cancel_order, methods=["DELETE"]),
            Route("/orders", self.post_orders, methods=["POST"]),
            Route("/orders", self.cancel_orders, methods=["DELETE"]),
            Route("/cancel-all", self.cancel_all, methods=["DELETE"]),
            Route("/cancel-market-orders", self.cancel_market_orders, methods=["DELETE"]),
            Route("/data/order/{order_id}", self.get_order, methods=["GET"]),
            Route("/data/orders", self.get_orders, methods=["GET"]),
            Route("/data/pre-migration-orders", self.pre_migration_orders, methods=["GET"]),
            Route("/data/trades", self.get_trades, methods=["GET"]),
            Route("/balance-allowance", self.balance_allowance, methods=["GET"]),
            Route("/balance-allowance/update", self.balance_allowance, methods=["GET"]),
            Route("/order-scoring", self.order_scoring, methods=["GET"]),
            Route("/orders-scoring", self.orders_scoring, methods=["POST"]),
            Route("/notifications", self.notifications, methods=["GET"]),
            Route("/notifications", self.drop_notifications, methods=["DELETE"]),
            Route("/v1/heartbeats", self.heartbeat, methods=["POST"]),
            Route("/heartbeats", self.heartbeat, methods=["POST"]),
        ]

    # auth ------------------------------------------------------------------------------------
    async def l2(self, request: Request) -> ApiKeyRecord:
        """Verify the L2 headers of a request; return its API key's record.

        Raises:
            AuthRejected: 401 ``Unauthorized/Invalid api key``.
        """
        claim = read_l2_headers(request.headers)
        record = self.exchange.api_key(claim.api_key)
        if record is None:
            raise AuthRejected("Unauthorized/Invalid api key")
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.url.path
        verify_l2(
            claim,
            key_address=record.address,
            secret=record.secret,
            passphrase=record.passphrase,
            method=request.method,
            path=path.split("?", 1)[0],
            body=await request.body(),
            now_s=self.ctx.wall_s(),
        )
        return record

    def _l1(self, request: Request) -> tuple[str, int]:
        identity = verify_l1(request.headers, now_s=self.ctx.wall_s(), chain_id=self.ctx.chain_id)
        return identity.address, identity.nonce

    async def create_api_key(self, request: Request) -> Response:
        """``POST /auth/api-key`` (L1): a new key for (address, nonce), 400 if one exists."""
        address, nonce = self._l1(request)
        return ok(self.exchange.create_api_key(address, nonce).to_wire())

    async def derive_api_key(self, request: Request) -> Response:
        """``GET /auth/derive-api-key`` (L1): the deterministic key of (address, nonce)."""
        address, nonce = self._l1(request)
        return ok(self.exchange.derive_api_key(address, nonce).to_wire())

    async def api_keys(self, request: Request) -> Response:
        """``GET /auth/api-keys`` (L2)."""
        record = await self.l2(request)
        return ok({"apiKeys": self.exchange.api_keys(record.address)})

    async def delete_api_key(self, request: Request) -> Response:
        """``DELETE /auth/api-key`` (L2): delete the key the request is signed with."""
        record = await self.l2(request)
        self.exchange.delete_api_key(record.api_key)
        return ok("OK")

    async def closed_only(self, request: Request) -> Response:
        """``GET /auth/ban-status/closed-only`` (L2): nobody is restricted in the sim."""
        await self.l2(request)
        return ok({"closed_only": False})

    # orders ----------------------------------------------------------------------------------
    def _admit(
        self, record: ApiKeyRecord, item: object
    ) -> tuple[SignedOrder, str, str, bool, bool]:
        """Check one order object; return (order, id, type, post_only, defer_exec)."""
        if not isinstance(item, dict):
            raise HttpError(400, INVALID_ORDER)
        order, fields = parse_order(item.get("order"))
        owner = item.get("owner")
        order_type = item.get("orderType", "GTC")
        post_only = item.get("postOnly", False)
        defer_exec = item.get("deferExec", False)
        if (
            not isinstance(order_type, str)
            or not isinstance(post_only, bool)
            or not isinstance(defer_exec, bool)
        ):
            raise HttpError(400, INVALID_ORDER)
        if owner != record.api_key:
            raise OrderRejected("the order owner has to be the owner of the API KEY")
        if (
            fields.signature_type != SIG_POLY_1271
            and order.signer.lower() != record.address.lower()
        ):
            raise OrderRejected("the order signer address has to be the address of the API KEY")
        market = self.exchange.market_by_token(order.token_id)
        if market is None:
            raise OrderRejected("Invalid token id")
        verified = verify_order_signature(
            fields, order.signature, neg_risk=market.neg_risk, chain_id=self.ctx.chain_id
        )
        if verified.owner_eoa.lower() != record.address.lower():
            raise OrderRejected("the order signer address has to be the address of the API KEY")
        if not self.ctx.funders.allows(record.address, order.maker, fields.signature_type):
            raise OrderRejected("invalid signature", order_id=verified.order_id)
        return order, verified.order_id, order_type, post_only, defer_exec

    def _place(self, record: ApiKeyRecord, item: object) -> PlaceResult:
        order, order_id, order_type, post_only, defer_exec = self._admit(record, item)
        return self.exchange.place(
            order,
            order_id=order_id,
            owner_key=record.api_key,
            order_type=order_type,
            post_only=post_only,
            defer_exec=defer_exec,
        )

    async def post_order(self, request: Request) -> Response:
        """``POST /order`` (L2): one order; a rejection is HTTP 400 ``{"error": reason}``."""
        record = await self.l2(request)
        body = await read_json(request, message=INVALID_ORDER)
        return ok(self._place(record, body).to_wire())

    async def post_orders(self, request: Request) -> Response:
        """``POST /orders`` (L2): up to 15 orders; per-order failures inside the 200 array."""
        record = await self.l2(request)
        body = await read_json(request, message=INVALID_ORDER)
        if not isinstance(body, list) or not body:
            raise HttpError(400, INVALID_ORDER)
        if len(body) > MAX_BATCH:
            raise HttpError(
                400, f"Too many orders in payload: {len(body)}, max allowed: {MAX_BATCH}"
            )
        results: list[dict[str, Any]] = []
        for item in body:
            try:
                results.append(self._place(record, item).to_wire())
            except (OrderRejected, AuthRejected, HttpError, SimError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                results.append(
                    {
                        "success": False,
                        "errorMsg": message,
                        "orderID": getattr(exc, "order_id", "") or "",
                        "status": "unmatched",
                        "makingAmount": "",
                        "takingAmount": "",
                        "tradeIDs": [],
                        "transactionsHashes": [],
                    }
                )
        return ok(results)

    # cancels ---------------------------------------------------------------------------------
    async def cancel_order(self, request: Request) -> Response:
        """``DELETE /order`` with ``{"orderID": id}``."""
        record = await self.l2(request)
        body = await read_json(request, message="Invalid orderID")
        order_id = body.get("orderID") if isinstance(body, dict) else None
        if not isinstance(order_id, str) or not order_id:
            raise HttpError(400, "Invalid orderID")
        return ok(self.exchange.cancel(record.api_key, [order_id]).to_wire())

    async def cancel_orders(self, request: Request) -> Response:
        """``DELETE /orders`` with ``["0x…", …]``."""
        record = await self.l2(request)
        body = await read_json(request, message="Invalid orderID")
        if not isinstance(body, list) or not all(isinstance(i, str) and i for i in body):
            raise HttpError(400, "Invalid orderID")
        if len(body) > 3000:
            raise HttpError(400, "Too many orders in payload, max allowed: 3000")
        return ok(self.exchange.cancel(record.api_key, body).to_wire())

    async def cancel_all(self, request: Request) -> Response:
        """``DELETE /cancel-all`` (no body)."""
        record = await self.l2(request)
        return ok(self.exchange.cancel_all(record.api_key).to_wire())

    async def cancel_market_orders(self, request: Request) -> Response:
        """``DELETE /cancel-market-orders`` with ``{"market"?, "asset_id"?}``."""
        record = await self.l2(request)
        raw = await request.body()
        body: Any = {}
        if raw.strip():
            body = await read_json(request)
        if not isinstance(body, dict):
            raise HttpError(400, "Invalid payload")
        market, asset_id = body.get("market") or None, body.get("asset_id") or None
        if not all(v is None or isinstance(v, str) for v in (market, asset_id)):
            raise HttpError(400, "Invalid payload")
        return ok(self.exchange.cancel_market(record.api_key, market, asset_id).to_wire())

    # queries ---------------------------------------------------------------------------------
    async def get_order(self, request: Request) -> Response:
        """``GET /data/order/{id}``: one of the key's orders (404 for anyone else's)."""
        record = await self.l2(request)
        order = self.exchange.order(request.path_params["order_id"])
        if order is None or order.owner != record.api_key:
            raise HttpError(404, "order not found")
        return ok(order.to_wire())

    async def get_orders(self, request: Request) -> Response:
        """``GET /data/orders?market=&asset_id=&id=&next_cursor=``: the key's open orders."""
        record = await self.l2(request)
        q = request.query_params
        orders = self.exchange.open_orders(
            record.api_key,
            market=q.get("market") or None,
            asset_id=q.get("asset_id") or None,
            order_id=q.get("id") or None,
        )
        return ok(page([o.to_wire() for o in orders], request, ORDERS_PAGE))

    async def pre_migration_orders(self, request: Request) -> Response:
        """``GET /data/pre-migration-orders``: the sim was born on V2; there are none."""
        await self.l2(request)
        return ok(page([], request, ORDERS_PAGE))

    async def get_trades(self, request: Request) -> Response:
        """``GET /data/trades``: the key's trades (taker or maker), newest first, paged."""
        record = await self.l2(request)
        q = request.query_params

        def seconds(name: str) -> int | None:
            raw = q.get(name)
            if not raw:
                return None
            if not raw.isdigit():
                raise HttpError(400, "Invalid trade params payload")
            return int(raw)

        trades = self.exchange.trades(
            record.api_key,
            market=q.get("market") or None,
            asset_id=q.get("asset_id") or None,
            after=seconds("after"),
            before=seconds("before"),
            id=q.get("id") or None,
        )
        maker = (q.get("maker_address") or "").lower()
        if maker:
            trades = [t for t in trades if t.involves_address(maker)]
        return ok(page([t.to_wire(record.api_key) for t in trades], request, TRADES_PAGE))

    async def balance_allowance(self, request: Request) -> Response:
        """``GET /balance-allowance`` (and ``/update``): balance and allowances in base units."""
        record = await self.l2(request)
        q = request.query_params
        raw_type = q.get("signature_type", "0")
        try:
            signature_type = int(raw_type)
        except ValueError:
            raise HttpError(400, "Invalid signature_type") from None
        if signature_type not in (-1, 0, 1, 2, 3):
            raise HttpError(400, "Invalid signature_type")
        # The official client omits asset_type when called without params: pUSD is meant.
        asset_type = q.get("asset_type") or "COLLATERAL"
        address = self.ctx.funder_of(record.address, max(signature_type, 0))
        result = self.exchange.balance_allowance(address, asset_type, q.get("token_id") or None)
        return ok(result.to_wire())

    def _scoring(self, order: OrderRecord | None, key: str) -> bool:
        if order is None or order.owner != key or order.status != "LIVE":
            return False
        market = self.exchange.market_by_token(order.asset_id)
        if market is None or order.remaining < market.rewards.min_size * 1_000_000:
            return False
        bid, ask = self.exchange.best_bid_ask(order.asset_id)
        if bid is None or ask is None:
            return False
        mid2 = bid + ask  # twice the midpoint, to stay in integers
        distance = abs(2 * order.price - mid2)
        max_spread = int(market.rewards.max_spread * Decimal(PRICE_SCALE) / 100)
        return distance <= 2 * max_spread

    async def order_scoring(self, request: Request) -> Response:
        """``GET /order-scoring?order_id=``: whether the order earns liquidity rewards now."""
        record = await self.l2(request)
        order_id = request.query_params.get("order_id") or ""
        return ok({"scoring": self._scoring(self.exchange.order(order_id), record.api_key)})

    async def orders_scoring(self, request: Request) -> Response:
        """``POST /orders-scoring`` with ``[ids]``: ``{id: bool}``."""
        record = await self.l2(request)
        body = await read_json(request, message="Invalid payload")
        if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
            raise HttpError(400, "Invalid payload")
        return ok({i: self._scoring(self.exchange.order(i), record.api_key) for i in body})

    async def notifications(self, request: Request) -> Response:
        """``GET /notifications``: a fill notification per trade of the key (latest 100)."""
        record = await self.l2(request)
        dropped = self._dropped_notifications.get(record.api_key, set())
        out: list[dict[str, Any]] = []
        for trade in self.exchange.trades(record.api_key)[:100]:
            if trade.id in dropped:
                continue
            wire = trade.to_wire(record.api_key)
            out.append(
                {
                    "id": trade.id,
                    "type": 2,
                    "owner": record.api_key,
                    "payload": {
                        "asset_id": trade.asset_id,
                        "condition_id": trade.market,
                        "market": trade.market,
                        "side": wire["side"],
                        "price": wire["price"],
                        "matched_size": wire["size"],
                        "outcome": trade.outcome,
                        "trade_id": trade.id,
                        "order_id": trade.taker_order_id,
                        "transaction_hash": trade.transaction_hash,
                    },
                }
            )
        return ok(out)

    async def drop_notifications(self, request: Request) -> Response:
        """``DELETE /notifications?ids=a,b``: hide those notifications from now on."""
        record = await self.l2(request)
        ids = [i for i in (request.query_params.get("ids") or "").split(",") if i]
        self._dropped_notifications.setdefault(record.api_key, set()).update(ids)
        return ok("OK")

    async def heartbeat(self, request: Request) -> Response:
        """``POST /v1/heartbeats`` (and ``/heartbeats``): the order dead-man switch."""
        record = await self.l2(request)
        raw = await request.body()
        body: Any = await read_json(request) if raw.strip() else {}
        heartbeat_id = body.get("heartbeat_id") if isinstance(body, dict) else None
        if heartbeat_id is not None and not isinstance(heartbeat_id, str):
            raise HttpError(400, "Invalid payload")
        try:
            next_id = self.exchange.heartbeat(record.api_key, heartbeat_id or "")
        except HeartbeatRejected as exc:
            return JsonResponse(
                {"error_msg": "Invalid Heartbeat ID", "heartbeat_id": exc.expected_id},
                status_code=400,
            )
        return ok({"heartbeat_id": next_id, "status": "ok"})
