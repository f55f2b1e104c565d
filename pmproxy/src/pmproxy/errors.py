"""The pmproxy exception tree, and the retry policy beside it.

Every error pmproxy raises on purpose derives from one root. Each one that reaches a client
carries the HTTP status and the message of the JSON body pmproxy answers with
(``{"error": "<message>"}``), so a rejection reads the same wherever it is raised::

    PmproxyError
    ├── ConfigError                     bad setting or flag (at start-up, never per request)
    ├── RequestError                    answered locally, the upstream is never called
    │   ├── UnsafeRequestError          400: hostile or malformed path, query, header or body
    │   ├── NotFoundError               404: no such route
    │   ├── MethodNotAllowedError       405: e.g. a GET on /chain
    │   ├── ChainMethodForbiddenError   403: a JSON-RPC method outside the allowlist
    │   ├── DryRunRefusedError          403: a write dry-run neither answers nor forwards
    │   ├── PayloadTooLargeError        413: body over the configured limit
    │   └── BudgetExceededError         429: this proxy's share of a venue rate limit is spent
    └── UpstreamError                   the upstream could not give an answer
        ├── UpstreamUnavailableError    502: refused, reset, closed mid-response
        └── UpstreamTimeoutError        504: connect or read timeout
"""

from __future__ import annotations

from typing import ClassVar

# Methods that may be sent twice without changing anything at the venue. POST and DELETE are
# not among them: an order or a cancel is never sent twice, whatever failed.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PmproxyError(Exception):
    """Root of every error pmproxy raises on purpose."""


class ConfigError(PmproxyError):
    """A setting (environment variable or flag) is invalid; says which one and why."""


class RequestError(PmproxyError):
    """A request pmproxy answers itself, without calling any upstream.

    Attributes:
        status: the HTTP status of the local answer.
        message: the text of the ``{"error": …}`` body.
    """

    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsafeRequestError(RequestError):
    """The request target or a header could steer the proxy off its upstream, or is malformed."""

    status = 400


class NotFoundError(RequestError):
    """Nothing is served at this path."""

    status = 404


class MethodNotAllowedError(RequestError):
    """The route does not accept this HTTP method."""

    status = 405


class ChainMethodForbiddenError(RequestError):
    """A JSON-RPC call names a method outside the ``/chain`` allowlist."""

    status = 403


class DryRunRefusedError(RequestError):
    """In dry-run, a write that is neither a known order call nor a known read-like POST."""

    status = 403


class PayloadTooLargeError(RequestError):
    """The request body is larger than the configured limit."""

    status = 413


class BudgetExceededError(RequestError):
    """This proxy's rate budget for an endpoint family is spent for now.

    Attributes:
        family: the endpoint family whose bucket is empty (e.g. ``clob.book``).
        retry_after: whole seconds after which a token will be available again.
    """

    status = 429

    def __init__(self, family: str, retry_after: int) -> None:
        super().__init__(
            f"pmproxy rate budget for {family} is spent; retry after {retry_after} s "
            "(the budget keeps this host under the venue's rate limits)"
        )
        self.family = family
        self.retry_after = retry_after


class UpstreamError(PmproxyError):
    """The upstream gave no usable answer.

    Attributes:
        status: the HTTP status pmproxy answers with.
        route: the route (``clob``, ``gamma``, …) whose upstream failed.
    """

    status: ClassVar[int] = 502

    def __init__(self, route: str, message: str) -> None:
        super().__init__(message)
        self.route = route
        self.message = message


class UpstreamUnavailableError(UpstreamError):
    """The upstream refused or reset the connection, or closed it mid-answer."""

    status = 502


class UpstreamTimeoutError(UpstreamError):
    """The upstream did not connect or answer within the configured timeout."""

    status = 504


def may_retry(method: str, *, attempt: int, timed_out: bool) -> bool:
    """Say whether a failed upstream call may be sent once more.

    Only an idempotent request whose connection was refused, reset or closed (typically a
    pooled keep-alive connection the upstream closed while it sat idle) is retried, and only
    once. A timeout is not retried (it would double the wait), and a POST or DELETE never is:
    the venue may have acted on it before the connection broke.

    Args:
        method: the HTTP method, upper case.
        attempt: how many times the request was already sent (1 after the first failure).
        timed_out: whether the failure was a connect or read timeout.

    Returns:
        True when one more attempt is allowed.
    """
    return method in IDEMPOTENT_METHODS and attempt == 1 and not timed_out
