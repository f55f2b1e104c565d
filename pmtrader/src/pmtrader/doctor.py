"""The account doctor: is this wallet ready to trade, and if not, exactly what to fix.

``client.doctor()`` runs every check even when an earlier one fails, and returns a
:class:`DoctorReport`: one :class:`Check` per question, each ``ok``, ``warn`` or ``fail`` with a
one-line fix. The questions users get wrong most (signature type vs funder, an API key derived
for another address, a missing allowance for the neg-risk exchange) come first.

Checks:

1. ``private_key``: a key is configured and valid.
2. ``signature_type``: the funder fits the signature type (0 = the key's own address; 1/2/3 =
   a proxy, Safe or deposit wallet that is *not* the key's address).
3. ``clob``: the CLOB answers and speaks order protocol 2.
4. ``api_key``: credentials exist and the venue accepts them for this address.
5. ``closed_only``: the account is not restricted to closing trades.
6. ``pusd_balance``: the funder holds pUSD (as the CLOB sees it).
7. ``allowance:<contract>``: pUSD allowance for each V2 exchange and the neg-risk adapter
   (what BUY orders spend), as the CLOB sees it.
8. ``chain``: the RPC node is on the expected chain; the funder's on-chain pUSD.
9. ``ctf_approval:<contract>``: the Conditional Tokens' ``isApprovedForAll(funder, operator)``
   for each V2 exchange and the neg-risk adapter, read on chain: without it the venue refuses
   every SELL of outcome tokens ("not enough balance / allowance") although the shares are there.

A fresh polymarket.com account gets all six approvals on its first trade; a wallet that only ever
traded through an API client often has the pUSD ones and not the CTF ones, and finds out on its
first SELL.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pmtrader._http import Op
from pmtrader._state import ClientState
from pmtrader.account import op_api_keys, op_balance_allowance, op_ban_status, op_derive_api_key
from pmtrader.chain import contracts_for, op_chain_id, op_ctf_approved, op_pusd_balance
from pmtrader.config import SignatureType
from pmtrader.errors import ApiError, AuthError, ConfigError, PmtraderError, TransportError
from pmtrader.markets import op_ok, op_version
from pmtrader.models.clob import AssetType

__all__ = ["Check", "CheckStatus", "DoctorReport"]


class CheckStatus(enum.StrEnum):
    """The outcome of one check."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One answered question.

    Attributes:
        name: Short id (``api_key``, ``allowance:exchange_v2`` ...).
        status: ok, warn or fail.
        detail: What was found.
        fix: What to do about it (empty when ok).
    """

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """All checks, in order. ``ok`` is true when nothing failed (warnings allowed)."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the account can trade (no check failed)."""
        return all(check.status is not CheckStatus.FAIL for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        """The failed checks."""
        return [check for check in self.checks if check.status is CheckStatus.FAIL]

    def by_name(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            KeyError: No such check ran.
        """
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def __str__(self) -> str:
        lines = []
        for check in self.checks:
            line = f"[{check.status.value:>4}] {check.name}: {check.detail}"
            if check.fix:
                line += f"\n       fix: {check.fix}"
            lines.append(line)
        return "\n".join(lines)


def _pusd(units: int) -> str:
    if units >= 2**255:  # an "infinite" approval (max uint256)
        return "unlimited pUSD"
    whole, frac = divmod(units, 1_000_000)
    return f"{whole:,}.{frac:06d} pUSD"


def op_doctor(state: ClientState[Any]) -> Op[DoctorReport]:
    """Run every check (an operation: drive it with a runner)."""
    settings, auth = state.settings, state.auth
    checks: list[Check] = []
    add = checks.append

    # 1. key
    address: str | None = None
    try:
        address = auth.address
        add(Check("private_key", CheckStatus.OK, f"signer {address}"))
    except (ConfigError, PmtraderError) as exc:
        add(Check("private_key", CheckStatus.FAIL, str(exc), "set PM_PRIVATE_KEY to your key"))

    # 2. signature type vs funder
    sig, funder = settings.signature_type, settings.funder
    if sig is SignatureType.EOA:
        if funder and address and funder.lower() != address.lower():
            add(
                Check(
                    "signature_type",
                    CheckStatus.FAIL,
                    f"type 0 (EOA) but PM_FUNDER_ADDRESS {funder} is not the key's address "
                    f"{address}",
                    "for a Polymarket proxy wallet set PM_SIGNATURE_TYPE=1, for a Safe 2, for a "
                    "deposit wallet 3; for a plain wallet unset PM_FUNDER_ADDRESS",
                )
            )
        else:
            add(Check("signature_type", CheckStatus.OK, "type 0 (EOA): the key's address trades"))
    elif not funder:
        add(
            Check(
                "signature_type",
                CheckStatus.FAIL,
                f"type {int(sig)} ({sig.name}) needs the wallet that holds the funds",
                "set PM_FUNDER_ADDRESS to your Polymarket wallet address (polymarket.com profile)",
            )
        )
    elif address and funder.lower() == address.lower():
        add(
            Check(
                "signature_type",
                CheckStatus.FAIL,
                f"type {int(sig)} ({sig.name}) but the funder is the key's own address",
                "use PM_SIGNATURE_TYPE=0, or set PM_FUNDER_ADDRESS to the proxy, Safe or "
                "deposit wallet",
            )
        )
    else:
        add(
            Check(
                "signature_type", CheckStatus.OK, f"type {int(sig)} ({sig.name}), funder {funder}"
            )
        )

    # 3. CLOB
    try:
        yield from op_ok()
        version = yield from op_version()
        if version == 2:
            add(Check("clob", CheckStatus.OK, f"{settings.clob_url} answers, order version 2"))
        else:
            add(
                Check(
                    "clob",
                    CheckStatus.FAIL,
                    f"{settings.clob_url} speaks order version {version}",
                    "pmt signs V2 orders; point PM_CLOB_URL at a CLOB V2 host",
                )
            )
    except (ApiError, TransportError) as exc:
        add(Check("clob", CheckStatus.FAIL, str(exc), f"check PM_CLOB_URL ({settings.clob_url})"))

    # 4. API key binding
    l2_ok = False
    if auth.credentials is not None:
        try:
            yield from op_api_keys()
            l2_ok = True
            add(Check("api_key", CheckStatus.OK, f"key {auth.credentials.key} accepted"))
        except AuthError as exc:
            add(
                Check(
                    "api_key",
                    CheckStatus.FAIL,
                    f"the venue refused key {auth.credentials.key}: {exc.message}",
                    "the key belongs to another address or was deleted: run "
                    "client.account.create_or_derive_api_key() and update "
                    "PM_API_KEY/SECRET/PASSPHRASE",
                )
            )
        except (ApiError, TransportError) as exc:
            add(Check("api_key", CheckStatus.WARN, f"could not check the key: {exc}"))
    elif address:
        try:
            creds = yield from op_derive_api_key(0)
            auth.credentials = creds
            l2_ok = True
            add(
                Check(
                    "api_key",
                    CheckStatus.WARN,
                    f"no PM_API_KEY set; derived key {creds.key}",
                    "store the derived credentials as PM_API_KEY, PM_API_SECRET, PM_API_PASSPHRASE",
                )
            )
        except (ApiError, TransportError) as exc:
            add(
                Check(
                    "api_key",
                    CheckStatus.FAIL,
                    f"no credentials and derivation failed: {exc}",
                    "run client.account.create_or_derive_api_key() once",
                )
            )
    else:
        add(Check("api_key", CheckStatus.FAIL, "no key, no credentials", "set PM_PRIVATE_KEY"))

    if l2_ok:
        # 5. ban status
        try:
            ban = yield from op_ban_status()
            if ban.closed_only:
                add(
                    Check(
                        "closed_only",
                        CheckStatus.WARN,
                        "the account may only close positions",
                        "new positions are refused; contact Polymarket support",
                    )
                )
            else:
                add(Check("closed_only", CheckStatus.OK, "the account may open positions"))
        except (ApiError, TransportError) as exc:
            add(Check("closed_only", CheckStatus.WARN, f"could not check: {exc}"))

        # 6 & 7. balance and allowances as the CLOB sees them
        try:
            ba = yield from op_balance_allowance(
                "/balance-allowance", int(sig), AssetType.COLLATERAL, None
            )
            who = funder or address
            if ba.balance > 0:
                add(Check("pusd_balance", CheckStatus.OK, f"{_pusd(ba.balance)} at {who}"))
            else:
                add(
                    Check(
                        "pusd_balance",
                        CheckStatus.FAIL,
                        f"no pUSD at {who}",
                        f"deposit pUSD to {who} (the funder), then run "
                        "client.account.update_balance_allowance()",
                    )
                )
            for role, spender in contracts_for(settings.chain_id).spenders.items():
                allowed = ba.allowance_for(spender)
                if allowed > 0:
                    add(
                        Check(
                            f"allowance:{role}", CheckStatus.OK, f"{_pusd(allowed)} for {spender}"
                        )
                    )
                else:
                    add(
                        Check(
                            f"allowance:{role}",
                            CheckStatus.FAIL,
                            f"no pUSD allowance for {role} {spender}",
                            f"approve pUSD for {spender} from {who} (polymarket.com does it on "
                            "first trade), then client.account.update_balance_allowance()",
                        )
                    )
        except (ApiError, TransportError) as exc:
            add(Check("pusd_balance", CheckStatus.FAIL, f"could not read the balance: {exc}"))

    # 8. chain
    who = funder or address
    chain_ok = False
    try:
        chain_id = yield from op_chain_id()
        if chain_id != settings.chain_id:
            add(
                Check(
                    "chain",
                    CheckStatus.FAIL,
                    f"RPC {settings.rpc_url} is chain {chain_id}, expected {settings.chain_id}",
                    "point PM_RPC_URL at a Polygon node (or set PM_CHAIN_ID)",
                )
            )
        elif who is not None:
            on_chain = yield from op_pusd_balance(settings.chain_id, who)
            add(Check("chain", CheckStatus.OK, f"chain {chain_id}: {_pusd(on_chain)} at {who}"))
            chain_ok = True
        else:
            add(Check("chain", CheckStatus.OK, f"chain {chain_id}"))
    except (ApiError, TransportError) as exc:
        add(Check("chain", CheckStatus.WARN, f"RPC unreachable: {exc}", "check PM_RPC_URL"))

    # 9. CTF approvals: what SELL orders need
    if chain_ok and who is not None:
        yield from _op_ctf_approvals(settings.chain_id, who, sig, add)

    return DoctorReport(checks)


def _op_ctf_approvals(
    chain_id: int, who: str, sig: SignatureType, add: Callable[[Check], None]
) -> Op[None]:
    """One ``ctf_approval:<role>`` check per V2 operator, from the CTF's ``isApprovedForAll``."""
    contracts = contracts_for(chain_id)
    ctf = contracts.conditional_tokens
    sender = (
        f"{who} (the key's own address)"
        if sig is SignatureType.EOA
        else f"{who} (your {sig.name} wallet: the call goes through that wallet, not the key)"
    )
    for role, operator in contracts.spenders.items():
        name = f"ctf_approval:{role}"
        try:
            approved = yield from op_ctf_approved(chain_id, who, operator)
        except (ApiError, TransportError) as exc:
            add(Check(name, CheckStatus.WARN, f"could not read the approval: {exc}"))
            continue
        if approved:
            add(Check(name, CheckStatus.OK, f"{operator} may move {who}'s outcome tokens"))
            continue
        markets = "" if role == "exchange_v2" else " on neg-risk markets"
        add(
            Check(
                name,
                CheckStatus.FAIL,
                f"the Conditional Tokens contract has no setApprovalForAll from {who} for "
                f"{role} {operator}: SELL orders{markets} are refused with 'not enough "
                "balance / allowance'",
                f"from {sender}, call setApprovalForAll({operator}, true) on the Conditional "
                f"Tokens contract {ctf} (polymarket.com does it on your first trade); check "
                "again with client.chain.is_approved_for_all()",
            )
        )
