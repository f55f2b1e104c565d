"""``client.chain``: balances and approvals read straight from Polygon over JSON-RPC.

The CLOB's ``/balance-allowance`` is the venue's view; this is the chain's. The doctor compares
both. Reads only (``eth_call``, ``eth_chainId``, ``eth_blockNumber``): pmt never sends a
transaction on its own.

Contract addresses come from py-clob-client-v2's ``get_contract_config`` for the configured chain.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from pmtrader._http import Op, Request, Service
from pmtrader._state import AsyncGroup, SyncGroup
from pmtrader.errors import ApiError, ValidationError

__all__ = ["AsyncChain", "Chain", "Contracts", "contracts_for"]

_BALANCE_OF = "0x70a08231"  # balanceOf(address)
_ALLOWANCE = "0xdd62ed3e"  # allowance(address,address)
_BALANCE_OF_1155 = "0x00fdd58e"  # balanceOf(address,uint256)
_IS_APPROVED_FOR_ALL = "0xe985e9c5"  # isApprovedForAll(address,address)
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Contracts:
    """The V2 contracts an account deals with on one chain.

    Attributes:
        collateral: pUSD (6 decimals).
        conditional_tokens: The CTF (ERC-1155 outcome tokens).
        exchange: The standard V2 exchange.
        neg_risk_exchange: The neg-risk V2 exchange.
        neg_risk_adapter: The neg-risk adapter.
    """

    collateral: str
    conditional_tokens: str
    exchange: str
    neg_risk_exchange: str
    neg_risk_adapter: str

    @property
    def spenders(self) -> dict[str, str]:
        """Every contract that needs a pUSD allowance and CTF approval, by role."""
        return {
            "exchange_v2": self.exchange,
            "neg_risk_exchange_v2": self.neg_risk_exchange,
            "neg_risk_adapter": self.neg_risk_adapter,
        }


def contracts_for(chain_id: int) -> Contracts:
    """The V2 contract addresses for ``chain_id`` (137 or 80002).

    Raises:
        ValidationError: Unknown chain.
    """
    from py_clob_client_v2.config import get_contract_config

    try:
        config = get_contract_config(chain_id)
    except Exception as exc:  # the official function raises a bare Exception
        raise ValidationError(
            f"no Polymarket contracts on chain {chain_id}; use 137 or 80002"
        ) from exc
    return Contracts(
        collateral=config.collateral,
        conditional_tokens=config.conditional_tokens,
        exchange=config.exchange_v2,
        neg_risk_exchange=config.neg_risk_exchange_v2,
        neg_risk_adapter=config.neg_risk_adapter,
    )


def _word(value: int | str) -> str:
    if isinstance(value, str):
        if not (value.startswith("0x") and len(value) == 42):
            raise ValidationError(f"expected a 0x-prefixed 20-byte address, got {value!r}")
        value = int(value, 16)
    return f"{value:064x}"


def op_rpc(method: str, params: list[Any]) -> Op[Any]:
    """One JSON-RPC call (read-only, so retried like a GET)."""
    payload = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}
    response = yield Request.send("POST", Service.RPC, "", payload, idempotent=True)
    body = response.json()
    if not isinstance(body, dict) or "error" in body:
        error = body.get("error") if isinstance(body, dict) else body
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        raise ApiError(f"JSON-RPC {method}: {message}", status=200, method="POST", path="")
    return body.get("result")


def op_call_uint(to: str, data: str) -> Op[int]:
    """``eth_call`` returning one uint256."""
    result = yield from op_rpc("eth_call", [{"to": to, "data": data}, "latest"])
    return int(result or "0x0", 16)


def op_pusd_balance(chain_id: int, address: str) -> Op[int]:
    """pUSD ``balanceOf`` in base units."""
    c = contracts_for(chain_id)
    return (yield from op_call_uint(c.collateral, _BALANCE_OF + _word(address)))


def op_pusd_allowance(chain_id: int, owner: str, spender: str) -> Op[int]:
    """pUSD ``allowance(owner, spender)`` in base units."""
    c = contracts_for(chain_id)
    return (yield from op_call_uint(c.collateral, _ALLOWANCE + _word(owner) + _word(spender)))


def op_token_balance(chain_id: int, address: str, token_id: str) -> Op[int]:
    """CTF ``balanceOf(address, id)`` in base units."""
    c = contracts_for(chain_id)
    data = _BALANCE_OF_1155 + _word(address) + _word(int(token_id))
    return (yield from op_call_uint(c.conditional_tokens, data))


def op_ctf_approved(chain_id: int, owner: str, operator: str) -> Op[bool]:
    """CTF ``isApprovedForAll(owner, operator)``: may ``operator`` move ``owner``'s tokens."""
    c = contracts_for(chain_id)
    data = _IS_APPROVED_FOR_ALL + _word(owner) + _word(operator)
    return (yield from op_call_uint(c.conditional_tokens, data)) != 0


def op_chain_id() -> Op[int]:
    """``eth_chainId``."""
    return int((yield from op_rpc("eth_chainId", [])), 16)


def op_block_number() -> Op[int]:
    """``eth_blockNumber``."""
    return int((yield from op_rpc("eth_blockNumber", [])), 16)


class Chain(SyncGroup):
    """On-chain balances and approvals (``client.chain``). Amounts are 6-decimal base units."""

    @property
    def contracts(self) -> Contracts:
        """The V2 contracts of the configured chain."""
        return contracts_for(self._state.settings.chain_id)

    def get_chain_id(self) -> int:
        """Return the RPC node's chain id (137 for Polygon)."""
        return self._run(op_chain_id())

    def get_block_number(self) -> int:
        """Return the latest block number."""
        return self._run(op_block_number())

    def get_pusd_balance(self, address: str) -> int:
        """Return ``address``'s pUSD balance in base units (1 pUSD = 1_000_000)."""
        return self._run(op_pusd_balance(self._state.settings.chain_id, address))

    def get_pusd_allowance(self, owner: str, spender: str) -> int:
        """Return how much pUSD ``spender`` may move for ``owner``, in base units."""
        return self._run(op_pusd_allowance(self._state.settings.chain_id, owner, spender))

    def get_token_balance(self, address: str, token_id: str) -> int:
        """Return ``address``'s balance of outcome token ``token_id`` in base units."""
        return self._run(op_token_balance(self._state.settings.chain_id, address, token_id))

    def is_approved_for_all(self, owner: str, operator: str) -> bool:
        """Return whether ``operator`` may move ``owner``'s outcome tokens (CTF approval).

        Selling needs it for the exchange that settles: ``contracts.exchange``, and for
        neg-risk markets ``contracts.neg_risk_exchange`` and ``contracts.neg_risk_adapter``.
        """
        return self._run(op_ctf_approved(self._state.settings.chain_id, owner, operator))


class AsyncChain(AsyncGroup):
    """Async twin of :class:`Chain`."""

    @property
    def contracts(self) -> Contracts:
        """See :attr:`Chain.contracts`."""
        return contracts_for(self._state.settings.chain_id)

    async def get_chain_id(self) -> int:
        """See :meth:`Chain.get_chain_id`."""
        return await self._run(op_chain_id())

    async def get_block_number(self) -> int:
        """See :meth:`Chain.get_block_number`."""
        return await self._run(op_block_number())

    async def get_pusd_balance(self, address: str) -> int:
        """See :meth:`Chain.get_pusd_balance`."""
        return await self._run(op_pusd_balance(self._state.settings.chain_id, address))

    async def get_pusd_allowance(self, owner: str, spender: str) -> int:
        """See :meth:`Chain.get_pusd_allowance`."""
        return await self._run(op_pusd_allowance(self._state.settings.chain_id, owner, spender))

    async def get_token_balance(self, address: str, token_id: str) -> int:
        """See :meth:`Chain.get_token_balance`."""
        return await self._run(op_token_balance(self._state.settings.chain_id, address, token_id))

    async def is_approved_for_all(self, owner: str, operator: str) -> bool:
        """See :meth:`Chain.is_approved_for_all`."""
        return await self._run(op_ctf_approved(self._state.settings.chain_id, owner, operator))
