"""Balances of the local exchange: pUSD and outcome tokens per address, in base units.

The ledger is the only place balances change, and it refuses to make any balance negative
(``LedgerError``; the exchange checks first, so this is a guard, not a control path). Collateral
behind outstanding complete sets (a YES and a NO share minted from 1 pUSD) is held per market in
``pools``; platform fees go to ``FEE_COLLECTOR``. Conservation, tested after every fill:

    sum of pUSD over all addresses (fee collector included) + sum of pools  ==  total ever funded
    for each market: YES supply == NO supply == pool

Allowances are per address, asset type (``COLLATERAL``/``CONDITIONAL``) and spender, as
``/balance-allowance`` reports them; new accounts get unlimited allowances to the V2 exchanges
(what polymarket.com sets up on a user's first trade). ``COLLATERAL`` models pUSD's ERC-20
``approve`` (an amount, used up by fills); ``CONDITIONAL`` models the CTF's ERC-1155
``setApprovalForAll``, which is all or nothing: any positive amount is stored as unlimited, zero
revokes, and :meth:`Ledger.is_approved_for_all` answers the contract's ``isApprovedForAll``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from pmtrader.sim.errors import SimError

__all__ = [
    "EXCHANGE_V2",
    "FEE_COLLECTOR",
    "MAX_ALLOWANCE",
    "NEG_RISK_ADAPTER",
    "NEG_RISK_EXCHANGE_V2",
    "SPENDERS",
    "Ledger",
    "LedgerError",
]

EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"
SPENDERS = (EXCHANGE_V2, NEG_RISK_EXCHANGE_V2, NEG_RISK_ADAPTER)
MAX_ALLOWANCE = 2**256 - 1
FEE_COLLECTOR = "0x000000000000000000000000000000000000fee5"

COLLATERAL = "COLLATERAL"
CONDITIONAL = "CONDITIONAL"


class LedgerError(SimError):
    """A ledger operation would have made a balance negative (a bug in the caller)."""


def _key(address: str) -> str:
    return address.lower()


@dataclass(slots=True)
class _Basis:
    bought_shares: int = 0
    bought_cost: int = 0
    cost_basis: int = 0
    realized: int = 0


class Ledger:
    """pUSD, token balances, allowances and complete-set pools (all integers, base units)."""

    def __init__(self) -> None:
        self.collateral: dict[str, int] = {}
        self.tokens: dict[str, dict[str, int]] = {}
        self.allowances: dict[str, dict[str, dict[str, int]]] = {}
        self.pools: dict[str, int] = defaultdict(int)
        self.funded = 0
        self.basis: dict[str, dict[str, _Basis]] = {}
        self.dirty: set[str] = set()
        self.dirty_holdings: set[tuple[str, str]] = set()

    # accounts ------------------------------------------------------------------------------
    def has_account(self, address: str) -> bool:
        """Whether this address has ever been funded or opened."""
        return _key(address) in self.collateral

    def open_account(self, address: str, *, initial_balance: int) -> None:
        """Create an account with ``initial_balance`` pUSD and unlimited V2 allowances."""
        key = _key(address)
        if key in self.collateral:
            return
        self.collateral[key] = 0
        self.tokens[key] = {}
        self.allowances[key] = {
            COLLATERAL: dict.fromkeys(SPENDERS, MAX_ALLOWANCE),
            CONDITIONAL: dict.fromkeys(SPENDERS, MAX_ALLOWANCE),
        }
        self.fund(address, initial_balance)

    def addresses(self) -> list[str]:
        """Every address with an account (lower-case)."""
        return list(self.collateral)

    # balances ------------------------------------------------------------------------------
    def fund(self, address: str, amount: int) -> int:
        """Mint ``amount`` pUSD into an address (operator faucet); return the new balance."""
        if amount < 0:
            raise LedgerError("cannot fund a negative amount")
        key = _key(address)
        if key not in self.collateral:
            self.collateral[key] = 0
            self.tokens[key] = {}
            self.allowances[key] = {COLLATERAL: {}, CONDITIONAL: {}}
        self.collateral[key] += amount
        self.funded += amount
        self.dirty.add(key)
        return self.collateral[key]

    def pusd(self, address: str) -> int:
        """pUSD balance in base units (0 for unknown addresses)."""
        return self.collateral.get(_key(address), 0)

    def token(self, address: str, token_id: str) -> int:
        """Shares of one token held, in base units."""
        return self.tokens.get(_key(address), {}).get(token_id, 0)

    def holdings(self, address: str) -> dict[str, int]:
        """Non-zero token balances of one address."""
        return {t: s for t, s in self.tokens.get(_key(address), {}).items() if s}

    def move_pusd(self, address: str, delta: int) -> None:
        """Add (or with a negative ``delta`` remove) pUSD; never below zero."""
        key = _key(address)
        new = self.collateral.get(key, 0) + delta
        if new < 0:
            raise LedgerError(f"pUSD of {address} would go negative ({new})")
        if key not in self.collateral:
            self.fund(address, 0)
        self.collateral[key] = new
        self.dirty.add(key)

    def move_token(self, address: str, token_id: str, delta: int) -> None:
        """Add or remove shares of one token; never below zero."""
        key = _key(address)
        if key not in self.collateral:
            self.fund(address, 0)
        held = self.tokens[key]
        new = held.get(token_id, 0) + delta
        if new < 0:
            raise LedgerError(f"{token_id} of {address} would go negative ({new})")
        if new:
            held[token_id] = new
        else:
            held.pop(token_id, None)
        self.dirty_holdings.add((key, token_id))

    def pool_move(self, condition_id: str, delta: int) -> None:
        """Collateral entering (mint) or leaving (merge, redemption) a market's pool."""
        new = self.pools[condition_id] + delta
        if new < 0:
            raise LedgerError(f"pool of {condition_id} would go negative ({new})")
        self.pools[condition_id] = new

    # cost basis (for positions) --------------------------------------------------------------
    def record_buy(self, address: str, token_id: str, shares: int, cost: int) -> None:
        """Remember what a position cost (average price, realised P&L)."""
        basis = self.basis.setdefault(_key(address), {}).setdefault(token_id, _Basis())
        basis.bought_shares += shares
        basis.bought_cost += cost
        basis.cost_basis += cost

    def record_sell(self, address: str, token_id: str, shares: int, proceeds: int) -> None:
        """Release cost basis pro rata and book the realised P&L of a sale or redemption."""
        basis = self.basis.setdefault(_key(address), {}).setdefault(token_id, _Basis())
        held_before = self.token(address, token_id) + shares
        released = basis.cost_basis * shares // held_before if held_before else 0
        basis.cost_basis -= released
        basis.realized += proceeds - released

    def basis_of(self, address: str, token_id: str) -> tuple[int, int, int, int]:
        """``(cost basis, bought shares, bought cost, realised P&L)`` of one position."""
        b = self.basis.get(_key(address), {}).get(token_id, _Basis())
        return b.cost_basis, b.bought_shares, b.bought_cost, b.realized

    # allowances ----------------------------------------------------------------------------
    def allowance(self, address: str, asset_type: str, spender: str) -> int:
        """Allowance of ``address`` to ``spender`` for one asset type."""
        by_type = self.allowances.get(_key(address), {}).get(asset_type, {})
        for name, value in by_type.items():
            if name.lower() == spender.lower():
                return value
        return 0

    def set_allowance(self, address: str, asset_type: str, spender: str, amount: int) -> None:
        """Set an allowance (operator / on-chain approve; CONDITIONAL is an approve-for-all)."""
        if amount < 0:
            raise LedgerError("allowance cannot be negative")
        if asset_type not in {COLLATERAL, CONDITIONAL}:
            raise LedgerError(f"Invalid asset type: {asset_type}")
        if asset_type == CONDITIONAL and amount:
            amount = MAX_ALLOWANCE  # setApprovalForAll has no amount: approved or not
        key = _key(address)
        if key not in self.collateral:
            self.fund(address, 0)
        by_type = self.allowances[key].setdefault(asset_type, {})
        for name in list(by_type):
            if name.lower() == spender.lower():
                del by_type[name]
        by_type[spender] = amount
        self.dirty.add(key)

    def is_approved_for_all(self, owner: str, operator: str) -> bool:
        """The CTF's ``isApprovedForAll(owner, operator)``: may ``operator`` move every token."""
        return self.allowance(owner, CONDITIONAL, operator) > 0

    def spend_allowance(self, address: str, spender: str, amount: int) -> None:
        """Use up pUSD allowance like ERC-20 ``transferFrom`` (unlimited stays unlimited)."""
        current = self.allowance(address, COLLATERAL, spender)
        if current >= MAX_ALLOWANCE or amount <= 0:
            return
        self.set_allowance(address, COLLATERAL, spender, max(current - amount, 0))

    def allowances_of(self, address: str, asset_type: str) -> dict[str, int]:
        """Every spender's allowance for one asset type (V2 spenders always listed)."""
        out = dict.fromkeys(SPENDERS, 0)
        for name, value in self.allowances.get(_key(address), {}).get(asset_type, {}).items():
            out = {k: v for k, v in out.items() if k.lower() != name.lower()}
            out[name] = value
        return out

    # invariants ----------------------------------------------------------------------------
    def total_pusd(self) -> int:
        """pUSD in all accounts plus all pools: equals ``funded`` at all times."""
        return sum(self.collateral.values()) + sum(self.pools.values())

    def supply(self, token_id: str) -> int:
        """Total shares of one token held by anyone."""
        return sum(held.get(token_id, 0) for held in self.tokens.values())

    def check(self, markets: list[tuple[str, str, str]]) -> None:
        """Assert conservation; ``markets`` lists ``(condition_id, yes_token, no_token)``."""
        assert self.total_pusd() == self.funded, (self.total_pusd(), self.funded)
        assert all(v >= 0 for v in self.collateral.values())
        for condition_id, yes, no in markets:
            pool = self.pools.get(condition_id, 0)
            assert self.supply(yes) == self.supply(no) == pool, (condition_id, pool)
        for held in self.tokens.values():
            assert all(v > 0 for v in held.values())

    # persistence ---------------------------------------------------------------------------
    # An account row holds pUSD and allowances; each (account, token) is a row of its own, so a
    # fill rewrites two small rows instead of a market maker's whole portfolio.
    def account_state(self, key: str) -> dict[str, object]:
        """JSON-safe pUSD and allowances of one account (lower-case address)."""
        return {
            "pusd": self.collateral.get(key, 0),
            "allowances": {
                t: {s: str(v) for s, v in by.items()}
                for t, by in self.allowances.get(key, {}).items()
            },
        }

    def holding_state(self, key: str, token_id: str) -> list[int]:
        """``[shares, bought shares, bought cost, cost basis, realised]`` of one holding."""
        b = self.basis.get(key, {}).get(token_id, _Basis())
        shares = self.tokens.get(key, {}).get(token_id, 0)
        return [shares, b.bought_shares, b.bought_cost, b.cost_basis, b.realized]

    def load_account(self, key: str, state: dict[str, object]) -> None:
        """Restore one account's pUSD and allowances from ``account_state``."""
        pusd = state["pusd"]
        allowances = state["allowances"]
        assert isinstance(pusd, int)
        assert isinstance(allowances, dict)
        self.collateral[key] = pusd
        self.tokens.setdefault(key, {})
        self.allowances[key] = {
            str(t): {str(s): int(v) for s, v in by.items()} for t, by in allowances.items()
        }

    def load_holding(self, key: str, token_id: str, state: list[int]) -> None:
        """Restore one holding from ``holding_state``."""
        shares, bought_shares, bought_cost, cost_basis, realized = (int(v) for v in state)
        if shares:
            self.tokens.setdefault(key, {})[token_id] = shares
        self.basis.setdefault(key, {})[token_id] = _Basis(
            bought_shares, bought_cost, cost_basis, realized
        )
