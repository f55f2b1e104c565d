"""A Polygon JSON-RPC subset at ``/chain``, answered from the local exchange's ledger.

Enough for a wallet check or an SDK's on-chain balance read: ``eth_chainId`` (``0x89``),
``net_version``, ``eth_blockNumber`` (one block every 2 s of sim time), ``eth_getBalance`` (every
address holds 10 POL for gas), ``eth_gasPrice``, and ``eth_call`` for pUSD ``balanceOf(address)``,
``allowance(owner, spender)``, ``decimals()``, ``symbol()`` and the CTF's
``balanceOf(address, uint256)`` and ``isApprovedForAll(owner, operator)``, with ABI-encoded
results. Batches (JSON arrays) are supported.

Approvals are the ledger's: pUSD ``allowance`` is its ``COLLATERAL`` allowance, the CTF's
``isApprovedForAll`` its ``CONDITIONAL`` one (set both with ``POST /_sim/allowance``). The sim
sends no transactions, so ``approve``/``setApprovalForAll`` are not callable here.
"""

from __future__ import annotations

from typing import Any

import msgspec
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmtrader.sim.context import ServerContext
from pmtrader.sim.ledger import COLLATERAL
from pmtrader.sim.responses import ok

PUSD = "0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb"
CTF = "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"
GAS_BALANCE_WEI = 10 * 10**18
GENESIS_BLOCK = 70_000_000
BLOCK_MS = 2_000

_BALANCE_OF = "70a08231"  # balanceOf(address)
_ALLOWANCE = "dd62ed3e"  # allowance(address,address)
_DECIMALS = "313ce567"  # decimals()
_SYMBOL = "95d89b41"  # symbol()
_CTF_BALANCE_OF = "00fdd58e"  # balanceOf(address,uint256)
_IS_APPROVED_FOR_ALL = "e985e9c5"  # isApprovedForAll(address,address)


class RpcError(Exception):
    """A JSON-RPC error object (code and message) for one call."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _word(value: int) -> str:
    return "0x" + abi_encode(["uint256"], [value]).hex()


class ChainRoutes:
    """The JSON-RPC endpoint over one exchange's ledger."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        """``POST /chain`` (mounted at the root)."""
        return [Route("/chain", self.rpc, methods=["POST"])]

    async def rpc(self, request: Request) -> Response:
        """Answer one JSON-RPC request or a batch."""
        try:
            payload = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return ok(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
            )
        if isinstance(payload, list):
            return ok([self._one(item) for item in payload])
        return ok(self._one(payload))

    def _one(self, item: object) -> dict[str, Any]:
        if not isinstance(item, dict) or not isinstance(item.get("method"), str):
            return {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32600, "message": "Invalid Request"},
            }
        call_id = item.get("id")
        params = item.get("params") or []
        try:
            result = self._dispatch(item["method"], params if isinstance(params, list) else [])
        except RpcError as exc:
            return {
                "jsonrpc": "2.0",
                "id": call_id,
                "error": {"code": exc.code, "message": exc.message},
            }
        return {"jsonrpc": "2.0", "id": call_id, "result": result}

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(self.ctx.chain_id)
        if method == "net_version":
            return str(self.ctx.chain_id)
        if method == "eth_blockNumber":
            return hex(self._block())
        if method == "eth_gasPrice":
            return hex(30 * 10**9)
        if method == "eth_getBalance":
            if not params or not isinstance(params[0], str):
                raise RpcError(-32602, "invalid params: expected [address, block]")
            return hex(GAS_BALANCE_WEI)
        if method == "eth_call":
            if not params or not isinstance(params[0], dict):
                raise RpcError(-32602, "invalid params: expected [{to, data}, block]")
            return self._call(params[0])
        raise RpcError(-32601, f"the method {method} does not exist/is not available")

    def _block(self) -> int:
        return GENESIS_BLOCK + self.ctx.now_ms() // BLOCK_MS

    def _call(self, tx: dict[str, Any]) -> str:
        to = str(tx.get("to") or "").lower()
        data = str(tx.get("data") or tx.get("input") or "")
        data = data[2:] if data.startswith("0x") else data
        selector, args = data[:8], bytes.fromhex(data[8:]) if len(data) > 8 else b""
        ledger = self.ctx.exchange.ledger
        try:
            if to == PUSD:
                if selector == _BALANCE_OF:
                    (owner,) = abi_decode(["address"], args)
                    return _word(ledger.pusd(owner))
                if selector == _ALLOWANCE:
                    owner, spender = abi_decode(["address", "address"], args)
                    return _word(min(ledger.allowance(owner, COLLATERAL, spender), 2**256 - 1))
                if selector == _DECIMALS:
                    return _word(6)
                if selector == _SYMBOL:
                    return "0x" + abi_encode(["string"], ["pUSD"]).hex()
            elif to == CTF and selector == _CTF_BALANCE_OF:
                owner, token_id = abi_decode(["address", "uint256"], args)
                return _word(ledger.token(owner, str(token_id)))
            elif to == CTF and selector == _IS_APPROVED_FOR_ALL:
                owner, operator = abi_decode(["address", "address"], args)
                approved = ledger.is_approved_for_all(owner, operator)
                return "0x" + abi_encode(["bool"], [approved]).hex()
        except Exception as exc:  # eth_abi raises several decoding errors for short data
            raise RpcError(3, f"execution reverted: bad call data ({exc})") from None
        raise RpcError(3, "execution reverted: unsupported contract or function in the sim")
