"""The one map from what can go wrong in a fetch to an `ErrorKind`, by class, most specific first.

`classify()` turns any exception raised while fetching into a kind and a
one-line message. Transports raise httpx's exceptions (the wire contract,
`fetchcli.http.wire`) with the original as `__cause__`, so a DNS or TLS
failure is found under whatever httpx class carries it.
tests/test_errors.py walks httpx's exception classes and fails on one that
this map does not name.
"""

from __future__ import annotations

import socket
import ssl

import httpx

from fetchcli.model import ErrorKind

# Causes looked for under the exception itself: a name that does not resolve,
# a certificate or handshake that fails.
_CAUSES: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (socket.gaierror, ErrorKind.DNS),
    (ssl.SSLError, ErrorKind.TLS),
    (ssl.CertificateError, ErrorKind.TLS),
)

# The exception's own class; the first entry it is an instance of wins.
KINDS: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (httpx.TimeoutException, ErrorKind.TIMEOUT),  # connect, read, write, pool
    (httpx.TooManyRedirects, ErrorKind.TOO_MANY_REDIRECTS),
    (httpx.InvalidURL, ErrorKind.INVALID_URL),  # a Location httpx cannot parse
    (httpx.UnsupportedProtocol, ErrorKind.INVALID_URL),  # a Location to ftp: and the like
    (httpx.ProxyError, ErrorKind.CONNECT),
    (httpx.DecodingError, ErrorKind.PROTOCOL),
    (httpx.ProtocolError, ErrorKind.PROTOCOL),  # local and remote
    (httpx.NetworkError, ErrorKind.CONNECT),  # connect, read, write, close: refused, reset, gone
    (TimeoutError, ErrorKind.TIMEOUT),
    (OverflowError, ErrorKind.INVALID_URL),  # a port outside 0-65535 in a Location
    (OSError, ErrorKind.CONNECT),
)

# httpx exceptions that say the code misused httpx (a stream read twice, a
# cookie clash, raise_for_status), never what a server did: a fetch that
# raised one is a protocol failure, and none should ever be seen.
NOT_OUTCOMES: tuple[type[Exception], ...] = (
    httpx.StreamError,
    httpx.CookieConflict,
    httpx.HTTPStatusError,
)


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """Return the kind of a fetch failure and a one-line message for it."""
    inner = getattr(exc, "exceptions", None)  # an exception group from a task group
    if isinstance(inner, tuple) and len(inner) == 1:
        return classify(inner[0])
    cause = _root_cause(exc)
    message = _one_line(exc, cause)
    for klass, kind in _CAUSES:
        if isinstance(cause, klass):
            return kind, message
    return kind_of(exc), message


def kind_of(exc: BaseException) -> ErrorKind:
    """The kind for an exception's own class; protocol for anything unforeseen."""
    for klass, kind in KINDS:
        if isinstance(exc, klass):
            return kind
    return ErrorKind.PROTOCOL


def _root_cause(exc: BaseException) -> BaseException:
    """Walk `__cause__`/`__context__` to the innermost exception, stopping at DNS or TLS."""
    seen: set[int] = set()
    current = exc
    causes = tuple(klass for klass, _ in _CAUSES)
    while id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, causes):
            return current
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            return current
        current = nxt
    return current


def _one_line(exc: BaseException, cause: BaseException) -> str:
    text = str(exc) or str(cause) or type(exc).__name__
    said = str(getattr(cause, "strerror", None) or cause)  # OSError: without "[Errno N]"
    if cause is not exc and said and said not in text:
        text = f"{text}: {cause}"
    return " ".join(text.split())[:500]
