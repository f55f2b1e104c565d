"""What may be forwarded: request-target checks and header hygiene (pure functions).

The upstream URL is always ``fixed origin + base path + the request's raw path``. That is only
safe if the raw path cannot mean anything but a path on that origin, so the checks here are an
allowlist, not a blocklist: a path is made of RFC 3986 path characters and a few harmless
percent-escapes, nothing else. Everything that a naive proxy decodes into a different target
(``..`` raw or as ``%2e``, ``%2f``, ``%5c``, overlong UTF-8 such as ``%c0%ae``, double encoding
``%252e``) is refused before any upstream is called.
"""

from __future__ import annotations

import re
from typing import Final

from pmproxy.errors import UnsafeRequestError

# RFC 3986 pchar (unreserved, sub-delims, ":" "@") plus "/" as the separator, or a percent
# escape. Everything else (space, backslash, CR, LF, NUL, "#", non-ASCII, ...) is refused.
_PATH_CHARS: Final = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
# Escapes that decode to something with a meaning in a path or to a byte outside printable
# ASCII: "%" (double encoding), "." (dot segments), "/" and "\" (separators), controls,
# DEL, and 0x80-0xFF (overlong UTF-8 tricks such as %c0%ae).
_BAD_ESCAPE: Final = re.compile(rb"%(?:[01][0-9A-Fa-f]|2[5EeFf]|5[Cc]|7[Ff]|[89A-Fa-f][0-9A-Fa-f])")
# "." and "..", also with a ";param" tail that some servers strip before resolving ("..;/").
_DOT_SEGMENT: Final = re.compile(rb"(?:^|/)\.\.?(?:;[^/]*)?(?:/|$)")
# A query may hold any printable ASCII except space and "#"; it never changes the origin, but
# CR, LF and NUL could split the request line on the way out.
_QUERY_CHARS: Final = re.compile(rb"[!-\"$-~]*")
# The same sets as bytes to delete with bytes.translate, a C loop several times faster than
# the regular expressions on the usual request. Plain path bytes leave out "%" and ".", whose
# escapes and segments the full checks look at.
_PLAIN_PATH: Final = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~!$&'()*+,;=:@/"
)
_QUERY_BYTES: Final = bytes(c for c in range(0x21, 0x7F) if c != 0x23)
_MAX_TARGET: Final = 8192


def check_path(raw_path: bytes) -> None:
    """Refuse a forwarded path (the part after the route prefix) that is not plainly a path.

    Args:
        raw_path: the path exactly as received, percent-escapes undecoded; ``b""`` or starting
            with ``/``.

    Raises:
        UnsafeRequestError: the path is absolute-form, starts with ``//``, holds a dot segment, an
            empty segment, a backslash, a control or non-ASCII byte, or an escape of any of these.
    """
    if not raw_path:
        return
    if raw_path[:1] != b"/":
        raise UnsafeRequestError("the request path must start with '/' (absolute-form is refused)")
    if len(raw_path) > _MAX_TARGET:
        raise UnsafeRequestError("the request path is longer than 8192 bytes")
    if not raw_path.translate(None, _PLAIN_PATH):
        # Only plain path bytes, no "%" and no ".": nothing to decode, no dot segment.
        if b"//" in raw_path:
            raise UnsafeRequestError("the request path holds an empty segment ('//')")
        return
    if _PATH_CHARS.fullmatch(raw_path) is None:
        raise UnsafeRequestError(
            "the request path holds a character that is not allowed in a path "
            "(backslash, space, control, non-ASCII or '#'); percent-encode it"
        )
    if b"%" in raw_path and _BAD_ESCAPE.search(raw_path) is not None:
        raise UnsafeRequestError(
            "the request path holds an encoded '.', '/', '\\', '%', control or non-ASCII byte"
        )
    if b"//" in raw_path:
        raise UnsafeRequestError("the request path holds an empty segment ('//')")
    if b"." in raw_path and _DOT_SEGMENT.search(raw_path) is not None:
        raise UnsafeRequestError("the request path holds a '.' or '..' segment")


def check_query(raw_query: bytes) -> None:
    """Refuse a query string with a byte that could split or smuggle a request.

    Raises:
        UnsafeRequestError: a space, control, ``#`` or non-ASCII byte, or too long.
    """
    if not raw_query:
        return
    if len(raw_query) > _MAX_TARGET:
        raise UnsafeRequestError("the query string is longer than 8192 bytes")
    if raw_query.translate(None, _QUERY_BYTES):  # as _QUERY_CHARS.fullmatch, faster
        raise UnsafeRequestError(
            "the query string holds a space, control, '#' or non-ASCII byte; percent-encode it"
        )


# Hop-by-hop headers (RFC 9110 section 7.6.1 plus the de-facto ones): they describe one
# connection, so they are never passed on, in either direction.
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Request headers the proxy replaces or drops: the client's view of the forwarding chain (the
# proxy sets X-Forwarded-For itself), cookies (no Polymarket API uses them), the host (set from
# the fixed upstream), the length (recomputed from the body sent), and Expect (answered here).
_DROPPED_REQUEST: Final = frozenset(
    {
        b"host",
        b"content-length",
        b"expect",
        b"cookie",
        b"forwarded",
        b"x-real-ip",
        b"via",
    }
)
# Response headers never returned: cookies the upstream sets (a proxy shared by many clients
# must not hand one client's session to the next) and anything about the upstream connection.
_DROPPED_RESPONSE: Final = frozenset({b"set-cookie", b"set-cookie2"})
_NEVER_RETURNED: Final = HOP_BY_HOP | _DROPPED_RESPONSE

Headers = list[tuple[bytes, bytes]]


_NONE: Final = frozenset[bytes]()
_PLAIN_CONNECTION: Final = frozenset(
    {b"keep-alive", b"Keep-Alive", b"close", b"Close", b"upgrade", b"Upgrade"}
)


def _named_by_connection(headers: Headers) -> frozenset[bytes]:
    # Usually no Connection header, or one that names only hop-by-hop headers (keep-alive,
    # close), which go anyway: one plain pass, no set built.
    for name, value in headers:
        if name == b"connection" and value not in _PLAIN_CONNECTION:
            return _connection_named(headers)
    return _NONE


def _connection_named(headers: Headers) -> frozenset[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return frozenset(named)


# Bytes that would split a forwarded header (one regex search: a third of three `in` scans).
_SPLITTING: Final = re.compile(rb"[\r\n\x00]")
# Everything dropped from a request by name alone (one set lookup per header).
_NEVER_FORWARDED: Final = HOP_BY_HOP | _DROPPED_REQUEST


def request_headers(headers: Headers, *, client_ip: str | None) -> Headers:
    """Build the headers sent upstream from the client's (lower-case names, as ASGI gives them).

    ``POLY_*`` and every other end-to-end header pass through with their value untouched.

    Args:
        headers: the ASGI request headers.
        client_ip: the peer address, sent as the only ``X-Forwarded-For`` entry.

    Raises:
        UnsafeRequestError: a header value holds CR, LF or NUL.
    """
    named = _named_by_connection(headers)
    out: Headers = []
    for name, value in headers:
        if name in _NEVER_FORWARDED or name.startswith(b"x-forwarded-") or name in named:
            continue
        if _SPLITTING.search(value) is not None:
            raise UnsafeRequestError("a header value holds CR, LF or NUL")
        out.append((name, value))
    if client_ip:
        out.append((b"x-forwarded-for", client_ip.encode("latin-1")))
    return out


def response_headers(headers: Headers) -> Headers:
    """Filter upstream response headers (lower-case names) for the client.

    Drops hop-by-hop headers, any header the upstream's ``Connection`` names, and
    ``Set-Cookie``; keeps everything else, including ``Content-Length`` and
    ``Content-Encoding`` (the body is relayed undecoded).
    """
    named = _named_by_connection(headers)
    return [
        (name, value)
        for name, value in headers
        if name not in _NEVER_RETURNED and name not in named
    ]


def has_credentials(headers: Headers) -> bool:
    """Whether a request carries anything that makes its answer caller-specific."""
    for name, _ in headers:
        if name.startswith((b"poly_", b"poly-")) or name == b"authorization":
            return True
    return False
