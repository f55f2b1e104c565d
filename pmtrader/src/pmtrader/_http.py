"""The sans-IO core shared by the sync and async clients, and the two thin transports over it.

Every API call is written once, as an *operation*: a generator that yields :class:`Request`
values and receives a :class:`Response` for each (or has the mapped :class:`ApiError` thrown
into it), then returns its result. :class:`SyncRunner` drives operations over an
``httpx.Client``, :class:`AsyncRunner` over an ``httpx.AsyncClient``; both share request
preparation, authentication headers, error mapping and the retry rule, so the two clients cannot
drift apart::

    def midpoint(token_id: str) -> Op[Decimal]:
        response = yield Request.get(Service.CLOB, "/midpoint", {"token_id": token_id})
        return Decimal(response.json()["mid"])

HMAC headers sign the path *relative to the service's base URL* (``/order``), which is what the
venue checks even when the request travels through pmproxy's ``/clob`` prefix.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import random
import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pydantic

from pmtrader.config import ApiCredentials, Settings
from pmtrader.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConnectionFailedError,
    GeoblockedError,
    InsufficientBalanceError,
    InvalidHeartbeatError,
    NotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceUnavailableError,
    SigningError,
    TransportError,
    UnexpectedResponseError,
)
from pmtrader.retry import Failure, RetryPolicy, parse_retry_after, retry_delay

if TYPE_CHECKING:
    from py_clob_client_v2.signer import Signer

T = TypeVar("T")

#: An operation: yields requests, receives responses, returns a result.
Op = Generator["Request", "Response", T]

# stdlib logging, silent unless the application enables it: a library must not print. Event
# names lead the message; nothing secret (headers, bodies) is ever logged.
_log = logging.getLogger("pmtrader.http")

#: First and last cursor of the venue's pagination (base64 of "0" and "-1").
INITIAL_CURSOR = "MA=="
END_CURSOR = "LTE="


class Service(enum.Enum):
    """Which API a request goes to."""

    CLOB = "clob"
    GAMMA = "gamma"
    DATA = "data"
    RPC = "rpc"


class AuthLevel(enum.Enum):
    """What a request must prove: nothing, the wallet (L1 EIP-712) or the API key (L2 HMAC)."""

    NONE = 0
    L1 = 1
    L2 = 2


ParamValue = str | int | bool | Sequence[str] | None


def _encode_params(params: Mapping[str, ParamValue] | None) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, int | str):
            out.append((key, str(value)))
        else:
            out.extend((key, str(item)) for item in value)
    return tuple(out)


def dumps(payload: object) -> str:
    """Serialise a body exactly as the official client does: compact, UTF-8, no escaping."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, described without doing any I/O.

    Attributes:
        method: ``GET``, ``POST`` or ``DELETE``.
        service: The API it goes to.
        path: The path relative to the service's base URL (this is what L2 HMAC signs).
        params: Query parameters in order (repeated keys allowed).
        body: The serialised JSON body, sent and signed byte for byte, or ``None``.
        auth: The authentication the request needs.
        nonce: The L1 nonce (API-key creation and derivation only).
        idempotent: Whether a retry is harmless (GETs and read-only POSTs).
        order_hashes: For order submissions: the hashes of the orders in the body, so that a
            lost answer can name them.
    """

    method: str
    service: Service
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    auth: AuthLevel = AuthLevel.NONE
    nonce: int = 0
    idempotent: bool = True
    order_hashes: tuple[str, ...] = ()

    @classmethod
    def get(
        cls,
        service: Service,
        path: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        auth: AuthLevel = AuthLevel.NONE,
        nonce: int = 0,
    ) -> Request:
        """A GET (always idempotent)."""
        return cls("GET", service, path, _encode_params(params), auth=auth, nonce=nonce)

    @classmethod
    def send(
        cls,
        method: str,
        service: Service,
        path: str,
        payload: object = None,
        *,
        params: Mapping[str, ParamValue] | None = None,
        auth: AuthLevel = AuthLevel.NONE,
        nonce: int = 0,
        idempotent: bool = False,
        order_hashes: tuple[str, ...] = (),
    ) -> Request:
        """A POST or DELETE with an optional JSON payload (not idempotent unless told)."""
        body = None if payload is None else dumps(payload)
        return cls(
            method,
            service,
            path,
            _encode_params(params),
            body,
            auth,
            nonce,
            idempotent,
            order_hashes,
        )


@dataclass(frozen=True, slots=True)
class Response:
    """A successful (2xx) HTTP response.

    Attributes:
        status: The HTTP status.
        content: The raw body.
        headers: Response headers (lower-case names).
        request: The request it answers.
    """

    status: int
    content: bytes
    headers: Mapping[str, str] = field(repr=False)
    request: Request = field(repr=False)

    def json(self) -> Any:
        """Decode the body as JSON.

        Raises:
            UnexpectedResponseError: The body is not JSON.
        """
        try:
            return json.loads(self.content)
        except ValueError:
            raise UnexpectedResponseError(
                f"expected JSON, got {self.content[:80]!r}",
                status=self.status,
                method=self.request.method,
                path=self.request.path,
            ) from None


def op_paged(
    service: Service, path: str, params: Mapping[str, ParamValue], auth: AuthLevel
) -> Generator[Request, Response, list[Any]]:
    """Follow ``next_cursor`` from ``MA==`` to the venue's ``LTE=`` and return every item.

    A repeated or missing cursor ends the loop too: a venue bug must not spin a client forever
    (the official client would).
    """
    items: list[Any] = []
    cursor = INITIAL_CURSOR
    seen: set[str] = set()
    while cursor != END_CURSOR:
        response = yield Request.get(service, path, {**params, "next_cursor": cursor}, auth=auth)
        body = response.json()
        items.extend(body.get("data") or [])
        seen.add(cursor)
        cursor = body.get("next_cursor") or END_CURSOR
        if cursor in seen:
            break
    return items


class Authenticator:
    """Builds L1 and L2 headers from the settings' key and credentials.

    The signing functions are py-clob-client-v2's own (EIP-712 ClobAuth, HMAC-SHA256), so the
    headers are byte-identical to the official client's for the same inputs.

    Args:
        settings: Where the key, credentials and chain id come from.
        clock: Seconds since the epoch (``POLY_TIMESTAMP``); injectable for golden tests.
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._signer: Signer | None = None
        self.credentials: ApiCredentials | None = settings.api_credentials

    def signer(self) -> Signer:
        """The official client's ``Signer`` for the configured key (created on first use).

        Raises:
            ConfigError: No private key is configured.
            SigningError: The key is not a valid secp256k1 key.
        """
        if self._signer is None:
            key = self._settings.private_key
            if key is None:
                raise ConfigError(
                    "this call signs with your wallet: set PM_PRIVATE_KEY (or pass "
                    "Settings(private_key=Secret(...)))"
                )
            from py_clob_client_v2.signer import Signer

            try:
                self._signer = Signer(key.reveal(), self._settings.chain_id)
            except (ValueError, TypeError) as exc:
                # ``from None``: the library's message could quote the key.
                raise SigningError(
                    f"PM_PRIVATE_KEY is not a valid secp256k1 private key ({type(exc).__name__})"
                ) from None
        return self._signer

    @property
    def address(self) -> str:
        """The signer's checksummed EOA address."""
        return str(self.signer().address())

    def level1(self, nonce: int) -> dict[str, str]:
        """L1 (ClobAuth EIP-712) headers for API-key creation and derivation."""
        from py_clob_client_v2.headers.headers import create_level_1_headers

        headers: dict[str, str] = create_level_1_headers(
            self.signer(), nonce=nonce, timestamp=int(self._clock())
        )
        return headers

    def level2(self, method: str, path: str, body: str | None) -> dict[str, str]:
        """L2 (HMAC) headers over ``timestamp + method + path + body``.

        Raises:
            ConfigError: No API credentials are configured.
        """
        creds = self.credentials
        if creds is None:
            raise ConfigError(
                "this call needs API credentials: set PM_API_KEY, PM_API_SECRET and "
                "PM_API_PASSPHRASE, or call client.account.create_or_derive_api_key()"
            )
        from py_clob_client_v2.signing.hmac import build_hmac_signature

        timestamp = int(self._clock())
        signature = build_hmac_signature(creds.secret.reveal(), timestamp, method, path, body)
        return {
            "POLY_ADDRESS": self.address,
            "POLY_SIGNATURE": signature,
            "POLY_TIMESTAMP": str(timestamp),
            "POLY_API_KEY": creds.key,
            "POLY_PASSPHRASE": creds.passphrase.reveal(),
        }


def base_url(settings: Settings, service: Service) -> str:
    """The base URL of ``service`` under ``settings``."""
    if service is Service.CLOB:
        return settings.clob_url
    if service is Service.GAMMA:
        return settings.gamma_url
    if service is Service.DATA:
        return settings.data_url
    return settings.rpc_url


def _message(content: bytes) -> str:
    text = content.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        if text.lower().startswith(("<!doctype", "<html")):
            return "an HTML page instead of JSON (a firewall or proxy answered)"
        return text[:300]
    if isinstance(body, dict):
        for key in ("error", "errorMsg", "error_msg", "message", "detail"):
            value = body.get(key)
            if value:
                return value if isinstance(value, str) else dumps(value)
    return text[:300]


def _field(content: bytes, key: str) -> str | None:
    try:
        body = json.loads(content)
    except ValueError:
        return None
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


_BALANCE_HINT = (
    "the funder needs more pUSD (BUY) or outcome tokens (SELL), or a larger allowance for the "
    "V2 exchanges; run client.doctor() to see what is missing, then "
    "client.account.update_balance_allowance()"
)
# "... the balance is not enough -> balance: 1198827, order amount: 1200000" (base units)
_BALANCE_NUMBERS = re.compile(r"the (\w+) is not enough -> \w+: (\d+), order amount: (\d+)")


def _units(amount: int) -> str:
    whole, frac = divmod(amount, 1_000_000)
    return f"{whole}.{frac:06d}".rstrip("0").rstrip(".")


def balance_hint(message: str) -> str:
    """Say what is missing, in whole units, when the venue's message has the numbers."""
    found = _BALANCE_NUMBERS.search(message)
    if found is None:
        return _BALANCE_HINT
    kind, have, need = found.group(1), int(found.group(2)), int(found.group(3))
    short = need - have
    what = "allowance" if kind == "allowance" else "balance"
    fix = (
        "approve the V2 exchanges: pUSD approve for a BUY, the Conditional Tokens' "
        "setApprovalForAll for a SELL (client.doctor() names each one)"
        if what == "allowance"
        else "deposit to the funder or reduce the order"
    )
    return (
        f"the order needs {_units(need)} but the {what} is {_units(have)}: short by "
        f"{_units(short)}; {fix}, then client.account.update_balance_allowance()"
    )


def error_for(
    request: Request, status: int, content: bytes, headers: Mapping[str, str]
) -> ApiError:
    """Map an error response to the matching :class:`ApiError` subclass.

    Only the status, the venue's message and the method and path go into the error: never
    headers or the request body (they hold signatures and passphrases).
    """
    message = _message(content)
    lower = message.lower()
    where = {"status": status, "method": request.method, "path": request.path}
    if status == 429:
        return RateLimitedError(
            message or "Too Many Requests",
            retry_after=parse_retry_after(headers.get("retry-after")),
            **where,  # type: ignore[arg-type]  # status int, method/path str
        )
    if status == 403 and ("region" in lower or "geoblock" in lower):
        return GeoblockedError(message, **where)  # type: ignore[arg-type]  # as above
    if status in (401, 403):
        return AuthError(message, **where)  # type: ignore[arg-type]  # as above
    if status == 404:
        return NotFoundError(message, **where)  # type: ignore[arg-type]  # as above
    if status == 425 or status >= 500:
        return ServiceUnavailableError(message, **where)  # type: ignore[arg-type]  # as above
    if status == 400 and request.path.endswith("heartbeats"):
        expected = _field(content, "heartbeat_id")
        return InvalidHeartbeatError(
            message,
            expected_id=expected,
            **where,  # type: ignore[arg-type]  # as above
        )
    if "not enough balance" in lower or "allowance" in lower:
        return InsufficientBalanceError(
            message,
            hint=balance_hint(message),
            **where,  # type: ignore[arg-type]  # as above
        )
    if request.order_hashes or request.path in ("/order", "/orders"):
        return OrderRejectedError(message, **where)  # type: ignore[arg-type]  # as above
    return ApiError(message, **where)  # type: ignore[arg-type]  # as above


PmtraderErrorLike = ApiError | TransportError

#: What a body of the wrong shape raises inside an operation's parsing code.
_SHAPE_ERRORS = (pydantic.ValidationError, KeyError, TypeError, AttributeError, ArithmeticError)


def _shape_error(request: Request, exc: Exception) -> UnexpectedResponseError:
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return UnexpectedResponseError(
        f"the answer does not have the documented shape ({type(exc).__name__}: {detail})",
        status=200,
        method=request.method,
        path=request.path,
    )


class _Core:
    """What both runners share: request preparation, failure mapping, the retry decision."""

    def __init__(
        self,
        settings: Settings,
        auth: Authenticator,
        policy: RetryPolicy,
        rand: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.policy = policy
        self.rand = rand

    def headers(self, request: Request) -> dict[str, str]:
        """Headers for one attempt (auth headers are fresh each time: new timestamp)."""
        headers = {"Accept": "application/json"}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        if request.auth is AuthLevel.L1:
            headers.update(self.auth.level1(request.nonce))
        elif request.auth is AuthLevel.L2:
            headers.update(self.auth.level2(request.method, request.path, request.body))
        return headers

    def url(self, request: Request) -> str:
        """The absolute URL of ``request`` (query parameters are added by httpx)."""
        return base_url(self.settings, request.service) + request.path

    def transport_error(self, request: Request, exc: httpx.TransportError) -> TransportError:
        """Map an httpx failure; an order that may have left becomes "status unknown"."""
        where = {"method": request.method, "path": request.path}
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        if request.order_hashes and not never_sent:
            return OrderStatusUnknownError(
                f"{request.method} {request.path}: no answer ({type(exc).__name__}); the order "
                "may be live: look it up by hash before placing it again",
                order_hashes=request.order_hashes,
                **where,
            )
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeoutError(
                f"{request.method} {request.path} timed out ({type(exc).__name__}) after "
                f"{self.settings.timeout}s",
                **where,
            )
        return ConnectionFailedError(
            f"{request.method} {request.path}: {type(exc).__name__} talking to "
            f"{base_url(self.settings, request.service)}",
            **where,
        )

    def decide(self, request: Request, attempt: int, error: PmtraderErrorLike) -> float | None:
        if isinstance(error, TransportError):
            failure = Failure.TIMEOUT if isinstance(error, RequestTimeoutError) else Failure.CONNECT
            return retry_delay(
                self.policy,
                idempotent=request.idempotent,
                attempt=attempt,
                failure=failure,
                rand=self.rand,
            )
        return retry_delay(
            self.policy,
            idempotent=request.idempotent,
            attempt=attempt,
            status=error.status,
            retry_after=error.retry_after if isinstance(error, RateLimitedError) else None,
            rand=self.rand,
        )

    def log(self, request: Request, status: int | str, started: float) -> None:
        """One debug line per attempt: method, path, status and time; never headers."""
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "http.response method=%s service=%s path=%s status=%s ms=%.1f",
                request.method,
                request.service.value,
                request.path,
                status,
                (time.perf_counter() - started) * 1000,
            )


class SyncRunner:
    """Runs operations over an ``httpx.Client``.

    Args:
        settings: Endpoints and timeout.
        http: The HTTP client (its transport decides where bytes go).
        auth: Header builder.
        policy: Retry policy for idempotent requests.
        sleep: How to wait between retries (injectable for tests).
        rand: Jitter source.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.Client,
        auth: Authenticator,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._core = _Core(settings, auth, policy, rand)
        self._http = http
        self._sleep = sleep

    def send(self, request: Request) -> Response:
        """Send one request, retrying it when the policy allows; raise the mapped error."""
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            error: PmtraderErrorLike
            try:
                raw = self._http.request(
                    request.method,
                    self._core.url(request),
                    params=request.params,
                    content=None if request.body is None else request.body.encode(),
                    headers=self._core.headers(request),
                )
            except httpx.TransportError as exc:
                self._core.log(request, type(exc).__name__, started)
                error = self._core.transport_error(request, exc)
            else:
                self._core.log(request, raw.status_code, started)
                if raw.is_success:
                    return Response(raw.status_code, raw.content, raw.headers, request)
                error = error_for(request, raw.status_code, raw.content, raw.headers)
            delay = self._core.decide(request, attempt, error)
            if delay is None:
                raise error
            self._sleep(delay)

    def run(self, op: Op[T]) -> T:
        """Drive an operation to completion and return its result."""
        try:
            request = next(op)
            while True:
                try:
                    response = self.send(request)
                except (ApiError, TransportError) as exc:
                    request = op.throw(exc)
                    continue
                try:
                    request = op.send(response)
                except _SHAPE_ERRORS as exc:
                    raise _shape_error(request, exc) from exc
        except StopIteration as stop:
            result: T = stop.value
            return result


class AsyncRunner:
    """Runs operations over an ``httpx.AsyncClient`` (the async twin of :class:`SyncRunner`)."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        auth: Authenticator,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Any] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._core = _Core(settings, auth, policy, rand)
        self._http = http
        self._sleep = sleep

    async def send(self, request: Request) -> Response:
        """Send one request, retrying it when the policy allows; raise the mapped error."""
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            error: PmtraderErrorLike
            try:
                raw = await self._http.request(
                    request.method,
                    self._core.url(request),
                    params=request.params,
                    content=None if request.body is None else request.body.encode(),
                    headers=self._core.headers(request),
                )
            except httpx.TransportError as exc:
                self._core.log(request, type(exc).__name__, started)
                error = self._core.transport_error(request, exc)
            else:
                self._core.log(request, raw.status_code, started)
                if raw.is_success:
                    return Response(raw.status_code, raw.content, raw.headers, request)
                error = error_for(request, raw.status_code, raw.content, raw.headers)
            delay = self._core.decide(request, attempt, error)
            if delay is None:
                raise error
            await self._sleep(delay)

    async def run(self, op: Op[T]) -> T:
        """Drive an operation to completion and return its result."""
        try:
            request = next(op)
            while True:
                try:
                    response = await self.send(request)
                except (ApiError, TransportError) as exc:
                    request = op.throw(exc)
                    continue
                try:
                    request = op.send(response)
                except _SHAPE_ERRORS as exc:
                    raise _shape_error(request, exc) from exc
        except StopIteration as stop:
            result: T = stop.value
            return result
