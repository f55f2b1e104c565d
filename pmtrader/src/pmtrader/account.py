"""``client.account``: API keys, balance and allowance as the CLOB sees them, ban status.

API keys are created or derived with the wallet (L1, EIP-712 ``ClobAuth``); everything else uses
the key (L2, HMAC). :meth:`Account.create_or_derive_api_key` also installs the credentials on the
client, so the next L2 call just works.
"""

from __future__ import annotations

from collections.abc import Sequence

from pmtrader._http import Authenticator, AuthLevel, Op, Request, Service
from pmtrader._state import AsyncGroup, SyncGroup
from pmtrader.config import ApiCredentials
from pmtrader.errors import ApiError, UnexpectedResponseError
from pmtrader.models.clob import ApiKeys, AssetType, BalanceAllowance, BanStatus, parse_choice
from pmtrader.models.rewards import Notification

__all__ = ["Account", "AsyncAccount"]


def _credentials(body: object, path: str) -> ApiCredentials:
    if not isinstance(body, dict) or not body.get("apiKey"):
        raise UnexpectedResponseError(
            "no apiKey in the answer", status=200, method="GET", path=path
        )
    return ApiCredentials.from_strings(
        str(body["apiKey"]), str(body["secret"]), str(body["passphrase"])
    )


def op_create_api_key(nonce: int) -> Op[ApiCredentials]:
    """``POST /auth/api-key`` (L1)."""
    response = yield Request.send(
        "POST", Service.CLOB, "/auth/api-key", auth=AuthLevel.L1, nonce=nonce
    )
    return _credentials(response.json(), "/auth/api-key")


def op_derive_api_key(nonce: int) -> Op[ApiCredentials]:
    """``GET /auth/derive-api-key`` (L1)."""
    response = yield Request.get(
        Service.CLOB, "/auth/derive-api-key", auth=AuthLevel.L1, nonce=nonce
    )
    return _credentials(response.json(), "/auth/derive-api-key")


def op_create_or_derive(auth: Authenticator, nonce: int, use: bool) -> Op[ApiCredentials]:
    """Create a key; if the venue refuses (one exists for this nonce), derive it."""
    try:
        credentials = yield from op_create_api_key(nonce)
    except (ApiError, UnexpectedResponseError):
        credentials = yield from op_derive_api_key(nonce)
    if use:
        auth.credentials = credentials
    return credentials


def op_api_keys() -> Op[ApiKeys]:
    """``GET /auth/api-keys`` (L2)."""
    response = yield Request.get(Service.CLOB, "/auth/api-keys", auth=AuthLevel.L2)
    return ApiKeys.model_validate(response.json())


def op_delete_api_key(auth: Authenticator) -> Op[bool]:
    """``DELETE /auth/api-key`` (L2); the client forgets the deleted credentials."""
    yield Request.send("DELETE", Service.CLOB, "/auth/api-key", auth=AuthLevel.L2)
    auth.credentials = None
    return True


def op_ban_status() -> Op[BanStatus]:
    """``GET /auth/ban-status/closed-only`` (L2)."""
    response = yield Request.get(Service.CLOB, "/auth/ban-status/closed-only", auth=AuthLevel.L2)
    return BanStatus.model_validate(response.json())


def op_balance_allowance(
    path: str, signature_type: int, asset_type: AssetType | str, token_id: str | None
) -> Op[BalanceAllowance]:
    """``GET /balance-allowance`` or ``/balance-allowance/update`` (L2)."""
    params = {
        "asset_type": parse_choice(AssetType, asset_type, "asset_type").value,
        "token_id": token_id,
        "signature_type": signature_type,
    }
    response = yield Request.get(Service.CLOB, path, params, auth=AuthLevel.L2)
    body = response.json()
    if path.endswith("/update") and not (isinstance(body, dict) and "balance" in body):
        # The update endpoint's body is not documented; read the fresh value back.
        response = yield Request.get(Service.CLOB, "/balance-allowance", params, auth=AuthLevel.L2)
        body = response.json()
    return BalanceAllowance.model_validate(body)


def op_notifications(signature_type: int) -> Op[list[Notification]]:
    """``GET /notifications`` (L2)."""
    response = yield Request.get(
        Service.CLOB, "/notifications", {"signature_type": signature_type}, auth=AuthLevel.L2
    )
    return [Notification.model_validate(item) for item in response.json()]


def op_drop_notifications(ids: Sequence[str]) -> Op[bool]:
    """``DELETE /notifications?ids=a,b`` (L2)."""
    yield Request.send(
        "DELETE", Service.CLOB, "/notifications", params={"ids": ",".join(ids)}, auth=AuthLevel.L2
    )
    return True


class Account(SyncGroup):
    """API keys, balances and allowances, ban status (``client.account``)."""

    def create_api_key(self, nonce: int = 0) -> ApiCredentials:
        """Create new L2 credentials for the wallet (fails if one exists for ``nonce``)."""
        return self._run(op_create_api_key(nonce))

    def derive_api_key(self, nonce: int = 0) -> ApiCredentials:
        """Return the wallet's existing L2 credentials for ``nonce``."""
        return self._run(op_derive_api_key(nonce))

    def create_or_derive_api_key(self, nonce: int = 0, *, use: bool = True) -> ApiCredentials:
        """Create L2 credentials, or derive the existing ones, and (``use``) adopt them.

        Args:
            nonce: Key slot; 0 unless you manage several keys.
            use: Install the credentials on this client for later L2 calls.
        """
        return self._run(op_create_or_derive(self._state.auth, nonce, use))

    def get_api_keys(self) -> ApiKeys:
        """Return the API keys of the wallet."""
        return self._run(op_api_keys())

    def delete_api_key(self) -> bool:
        """Delete the API key in use; the client forgets it (L2 calls then need new credentials)."""
        return self._run(op_delete_api_key(self._state.auth))

    def get_closed_only_mode(self) -> BanStatus:
        """Return whether the account may only close positions (``closed_only``)."""
        return self._run(op_ban_status())

    def get_notifications(self) -> list[Notification]:
        """Return the API key's notifications (fills ...)."""
        return self._run(op_notifications(int(self._state.settings.signature_type)))

    def drop_notifications(self, ids: Sequence[str]) -> bool:
        """Mark notifications as read so they are not returned again."""
        return self._run(op_drop_notifications(ids))

    def get_balance_allowance(
        self, asset_type: AssetType | str = AssetType.COLLATERAL, token_id: str | None = None
    ) -> BalanceAllowance:
        """Return the funder's balance and allowances as the CLOB sees them.

        Args:
            asset_type: ``COLLATERAL`` (pUSD), ``CONDITIONAL`` (a token; give ``token_id``).
            token_id: The outcome token for ``CONDITIONAL``.
        """
        sig = int(self._state.settings.signature_type)
        return self._run(op_balance_allowance("/balance-allowance", sig, asset_type, token_id))

    def update_balance_allowance(
        self, asset_type: AssetType | str = AssetType.COLLATERAL, token_id: str | None = None
    ) -> BalanceAllowance:
        """Ask the CLOB to re-read balance and allowances from chain; return the fresh values."""
        sig = int(self._state.settings.signature_type)
        return self._run(
            op_balance_allowance("/balance-allowance/update", sig, asset_type, token_id)
        )


class AsyncAccount(AsyncGroup):
    """Async twin of :class:`Account`."""

    async def create_api_key(self, nonce: int = 0) -> ApiCredentials:
        """See :meth:`Account.create_api_key`."""
        return await self._run(op_create_api_key(nonce))

    async def derive_api_key(self, nonce: int = 0) -> ApiCredentials:
        """See :meth:`Account.derive_api_key`."""
        return await self._run(op_derive_api_key(nonce))

    async def create_or_derive_api_key(self, nonce: int = 0, *, use: bool = True) -> ApiCredentials:
        """See :meth:`Account.create_or_derive_api_key`."""
        return await self._run(op_create_or_derive(self._state.auth, nonce, use))

    async def get_api_keys(self) -> ApiKeys:
        """See :meth:`Account.get_api_keys`."""
        return await self._run(op_api_keys())

    async def delete_api_key(self) -> bool:
        """See :meth:`Account.delete_api_key`."""
        return await self._run(op_delete_api_key(self._state.auth))

    async def get_closed_only_mode(self) -> BanStatus:
        """See :meth:`Account.get_closed_only_mode`."""
        return await self._run(op_ban_status())

    async def get_notifications(self) -> list[Notification]:
        """See :meth:`Account.get_notifications`."""
        return await self._run(op_notifications(int(self._state.settings.signature_type)))

    async def drop_notifications(self, ids: Sequence[str]) -> bool:
        """See :meth:`Account.drop_notifications`."""
        return await self._run(op_drop_notifications(ids))

    async def get_balance_allowance(
        self, asset_type: AssetType | str = AssetType.COLLATERAL, token_id: str | None = None
    ) -> BalanceAllowance:
        """See :meth:`Account.get_balance_allowance`."""
        sig = int(self._state.settings.signature_type)
        return await self._run(
            op_balance_allowance("/balance-allowance", sig, asset_type, token_id)
        )

    async def update_balance_allowance(
        self, asset_type: AssetType | str = AssetType.COLLATERAL, token_id: str | None = None
    ) -> BalanceAllowance:
        """See :meth:`Account.update_balance_allowance`."""
        sig = int(self._state.settings.signature_type)
        return await self._run(
            op_balance_allowance("/balance-allowance/update", sig, asset_type, token_id)
        )
