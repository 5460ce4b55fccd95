"""Error kinds and the one place where exceptions become kinds.

`classify()` maps any exception raised while fetching to an `ErrorKind` and a
one-line message.
"""

from __future__ import annotations

import socket
import ssl

from fetchcli.model import ErrorKind

# Errors from inside httpx's own name space, by class name, so that this module
# never imports httpx (the CLI's fast start depends on that).
_HTTPX_KINDS = {
    "TimeoutException": ErrorKind.TIMEOUT,
    "TooManyRedirects": ErrorKind.TOO_MANY_REDIRECTS,
    "InvalidURL": ErrorKind.INVALID_URL,
    "UnsupportedProtocol": ErrorKind.INVALID_URL,
    "ProxyError": ErrorKind.CONNECT,
    "ConnectError": ErrorKind.CONNECT,
    "NetworkError": ErrorKind.CONNECT,
    "ProtocolError": ErrorKind.PROTOCOL,
    "DecodingError": ErrorKind.PROTOCOL,
}


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """Return the kind of a fetch failure and a one-line message for it."""
    inner = getattr(exc, "exceptions", None)  # an exception group from a task group
    if isinstance(inner, tuple) and len(inner) == 1:
        return classify(inner[0])
    if isinstance(exc, OverflowError) and "port" in str(exc):  # "port must be 0-65535"
        return ErrorKind.INVALID_URL, _one_line(exc, exc)
    cause = _root_cause(exc)
    message = _one_line(exc, cause)
    if isinstance(cause, socket.gaierror):
        return ErrorKind.DNS, message
    if isinstance(cause, ssl.SSLError | ssl.CertificateError):
        return ErrorKind.TLS, message
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT, message
    for klass in type(exc).__mro__:
        kind = _HTTPX_KINDS.get(klass.__name__)
        if kind is not None and klass.__module__.startswith("httpx"):
            return kind, message
    if isinstance(exc, OSError):
        return ErrorKind.CONNECT, message
    return ErrorKind.PROTOCOL, message


def _root_cause(exc: BaseException) -> BaseException:
    """Walk `__cause__`/`__context__` to the innermost exception, stopping at DNS or TLS."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror | ssl.SSLError | ssl.CertificateError):
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
