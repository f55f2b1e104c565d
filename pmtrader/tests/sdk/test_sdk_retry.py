"""The retry rule and the error mapping: pure functions, pinned down."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pmtrader._http import AuthLevel, Request, Service, error_for
from pmtrader.retry import Failure, RetryPolicy, parse_retry_after, retry_delay

from pmtrader import (
    ApiError,
    AuthError,
    GeoblockedError,
    InsufficientBalanceError,
    NotFoundError,
    OrderRejectedError,
    RateLimitedError,
    ServiceUnavailableError,
)

POLICY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=2.0, max_retry_after=10.0)


def _half() -> float:
    return 0.5


@pytest.mark.parametrize("status", [425, 429, 500, 502, 503, 504])
def test_idempotent_requests_retry_on_transient_statuses(status: int) -> None:
    assert retry_delay(POLICY, idempotent=True, attempt=1, status=status, rand=_half) == 0.25


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_never_retry(status: int) -> None:
    assert retry_delay(POLICY, idempotent=True, attempt=1, status=status, rand=_half) is None


@pytest.mark.parametrize("failure", list(Failure))
def test_timeouts_and_refused_connections_retry(failure: Failure) -> None:
    assert retry_delay(POLICY, idempotent=True, attempt=2, failure=failure, rand=_half) == 0.5


def test_non_idempotent_requests_never_retry() -> None:
    for status in (429, 500, 503):
        assert retry_delay(POLICY, idempotent=False, attempt=1, status=status, rand=_half) is None
    assert (
        retry_delay(POLICY, idempotent=False, attempt=1, failure=Failure.TIMEOUT, rand=_half)
        is None
    )


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    caps = [
        retry_delay(POLICY, idempotent=True, attempt=n, status=503, rand=lambda: 0.999999)
        for n in (1, 2, 3)
    ]
    assert caps == pytest.approx([0.5, 1.0, 2.0], rel=1e-5)
    assert retry_delay(POLICY, idempotent=True, attempt=1, status=503, rand=lambda: 0.0) == 0.0


def test_attempts_are_bounded() -> None:
    assert retry_delay(POLICY, idempotent=True, attempt=4, status=503, rand=_half) is None


def test_retry_after_is_honoured_unless_too_long() -> None:
    kwargs = {"idempotent": True, "attempt": 1, "status": 429, "rand": _half}
    assert retry_delay(POLICY, retry_after=3.0, **kwargs) == 3.0  # type: ignore[arg-type]
    assert retry_delay(POLICY, retry_after=60.0, **kwargs) is None  # type: ignore[arg-type]


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


GET = Request.get(Service.CLOB, "/book", {"token_id": "1"})
ORDER = Request.send(
    "POST", Service.CLOB, "/order", {"order": {}}, auth=AuthLevel.L2, order_hashes=("0xab",)
)


@pytest.mark.parametrize(
    ("request_", "status", "body", "kind"),
    [
        (GET, 401, b'{"error":"Unauthorized/Invalid api key"}', AuthError),
        (
            ORDER,
            403,
            b'{"error":"Trading restricted in your region, please refer to available regions"}',
            GeoblockedError,
        ),
        (GET, 403, b"<!DOCTYPE html><title>Attention Required! | Cloudflare</title>", AuthError),
        (GET, 404, b'{"error":"No orderbook exists for the requested token id"}', NotFoundError),
        (GET, 429, b'{"error":"Too Many Requests"}', RateLimitedError),
        (GET, 425, b"", ServiceUnavailableError),
        (GET, 503, b'{"error":"Trading is currently disabled."}', ServiceUnavailableError),
        (
            ORDER,
            400,
            b'{"error":"not enough balance / allowance: the balance is not enough"}',
            InsufficientBalanceError,
        ),
        (
            ORDER,
            400,
            b'{"error":"invalid post-only order: order crosses book"}',
            OrderRejectedError,
        ),
        (GET, 400, b'{"error":"Invalid token id"}', ApiError),
    ],
)
def test_error_mapping(request_: Request, status: int, body: bytes, kind: type[ApiError]) -> None:
    error = error_for(request_, status, body, {"retry-after": "2"})
    assert type(error) is kind
    assert error.status == status
    assert error.path == request_.path
    if isinstance(error, RateLimitedError):
        assert error.retry_after == 2.0


def test_errors_carry_the_venue_message_and_nothing_else() -> None:
    error = error_for(ORDER, 400, b'{"error":"order 0x1 is invalid. Duplicated."}', {})
    assert error.message == "order 0x1 is invalid. Duplicated."
    assert str(error) == "POST /order -> 400: order 0x1 is invalid. Duplicated."
    html = error_for(GET, 403, b"<html>" + b"x" * 5000, {})
    assert "HTML" in html.message
    assert len(html.message) < 100


def test_insufficient_balance_says_how_to_fix_it() -> None:
    error = error_for(ORDER, 400, b'{"error":"not enough balance / allowance"}', {})
    assert isinstance(error, InsufficientBalanceError)
    assert "doctor()" in error.hint
    assert "update_balance_allowance" in str(error)


def test_insufficient_balance_names_the_shortfall_when_the_venue_gives_numbers() -> None:
    body = (
        b'{"error":"not enough balance / allowance: the balance is not enough -> '
        b'balance: 1198827, order amount: 1200000"}'
    )
    error = error_for(ORDER, 400, body, {})
    assert isinstance(error, InsufficientBalanceError)
    assert "needs 1.2 but the balance is 1.198827: short by 0.001173" in error.hint
    allowance = error_for(
        ORDER,
        400,
        b'{"error":"not enough balance / allowance: the allowance is not enough -> '
        b'allowance: 0, order amount: 5000000"}',
        {},
    )
    assert isinstance(allowance, InsufficientBalanceError)
    assert "allowance is 0" in allowance.hint
    assert "approve" in allowance.hint
