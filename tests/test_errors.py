"""The error map: every exception a fetch can raise has one kind, and the map is complete.

Two walks: httpx's exception classes (what every wire raises) through `KINDS`,
and every libcurl code through `curl_errors` (the curl wire's boundary map)
and then `classify()`, so that a libcurl outcome gets the kind it means.
"""

from __future__ import annotations

import ctypes
import errno
import inspect
import os
import socket
import ssl
from typing import Any

import httpx
import pycurl  # type: ignore[import-untyped]
import pytest

from fetchcli.http import curl_errors
from fetchcli.http.errors import KINDS, NOT_OUTCOMES, classify, kind_of
from fetchcli.model import ErrorKind

_REQUEST = httpx.Request("GET", "http://127.0.0.1/")
_KWARGS: list[dict[str, Any]] = [
    {},
    {"request": _REQUEST},
    {"request": _REQUEST, "response": httpx.Response(500, request=_REQUEST)},
]


def _exceptions(module: object, base: type[BaseException]) -> list[type[BaseException]]:
    """Every exception class a module defines or exports that derives from `base`."""
    found = {
        klass for _, klass in inspect.getmembers(module, inspect.isclass) if issubclass(klass, base)
    }
    return sorted(found, key=lambda klass: klass.__name__)


def _instantiate(klass: type[BaseException]) -> BaseException:
    for kwargs in _KWARGS:
        try:
            return klass("message", **kwargs)
        except TypeError:
            continue
    return klass()  # StreamConsumed and friends take no message


# What each httpx exception means for a fetch (SPEC: error kinds). Adding a
# class to httpx, or removing a line from the map, makes a test below fail.
_MEANING = {
    "TimeoutException": ErrorKind.TIMEOUT,
    "ConnectTimeout": ErrorKind.TIMEOUT,
    "ReadTimeout": ErrorKind.TIMEOUT,
    "WriteTimeout": ErrorKind.TIMEOUT,
    "PoolTimeout": ErrorKind.TIMEOUT,
    "NetworkError": ErrorKind.CONNECT,
    "ConnectError": ErrorKind.CONNECT,
    "ReadError": ErrorKind.CONNECT,
    "WriteError": ErrorKind.CONNECT,
    "CloseError": ErrorKind.CONNECT,
    "ProxyError": ErrorKind.CONNECT,
    "ProtocolError": ErrorKind.PROTOCOL,
    "LocalProtocolError": ErrorKind.PROTOCOL,
    "RemoteProtocolError": ErrorKind.PROTOCOL,
    "DecodingError": ErrorKind.PROTOCOL,
    "TooManyRedirects": ErrorKind.TOO_MANY_REDIRECTS,
    "UnsupportedProtocol": ErrorKind.INVALID_URL,
    "InvalidURL": ErrorKind.INVALID_URL,
}
_HTTPX = _exceptions(httpx, Exception)
# Base classes httpx never raises as they are; their subclasses are checked.
_BASES = (httpx.HTTPError, httpx.RequestError, httpx.TransportError)


def test_the_walk_finds_httpx_exceptions() -> None:
    assert len(_HTTPX) >= 20


@pytest.mark.parametrize("klass", _HTTPX, ids=lambda k: k.__name__)
def test_every_httpx_exception_is_named_by_the_map(klass: type[Exception]) -> None:
    mapped = any(issubclass(klass, entry) for entry, _ in KINDS)
    misuse = issubclass(klass, NOT_OUTCOMES)
    assert mapped != misuse or klass in _BASES, (
        f"httpx.{klass.__name__} is neither mapped to a kind nor listed as a misuse"
    )


@pytest.mark.parametrize("klass", _HTTPX, ids=lambda k: k.__name__)
def test_httpx_exception_maps_to_the_kind_it_means(klass: type[Exception]) -> None:
    expected = _MEANING.get(klass.__name__, ErrorKind.PROTOCOL)
    kind, message = classify(_instantiate(klass))
    assert kind is expected
    assert message and "\n" not in message


def test_every_map_entry_is_needed() -> None:
    # Each line decides at least one class that the lines after it would decide otherwise.
    for index, (klass, kind) in enumerate(KINDS):
        rest = KINDS[:index] + KINDS[index + 1 :]
        instance = _instantiate(klass)
        without = next((k for c, k in rest if isinstance(instance, c)), None)  # unmapped
        assert without is not kind, f"the line for {klass.__name__} decides nothing"


def test_dns_failure_under_a_connect_error_is_dns() -> None:
    exc = httpx.ConnectError("name resolution failed")
    exc.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert classify(exc)[0] is ErrorKind.DNS


def test_certificate_failure_under_a_connect_error_is_tls() -> None:
    exc = httpx.ConnectError("handshake failed")
    exc.__context__ = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert classify(exc)[0] is ErrorKind.TLS


def test_a_port_out_of_range_is_an_invalid_url() -> None:
    assert kind_of(OverflowError("port must be 0-65535.")) is ErrorKind.INVALID_URL


def test_a_one_exception_group_is_judged_by_its_exception() -> None:
    group = ExceptionGroup("task group", [httpx.ReadTimeout("slow")])
    assert classify(group)[0] is ErrorKind.TIMEOUT


def test_a_message_names_the_cause_once() -> None:
    exc = httpx.ConnectError("connect failed")
    exc.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert classify(exc)[1] == "connect failed: [Errno 111] Connection refused"


# ---- the curl wire's boundary map: libcurl codes -------------------------


def _described_by_libcurl() -> set[int]:
    """The codes the linked libcurl has a message for (curl_easy_strerror), if it can be asked."""
    try:
        library = ctypes.CDLL(pycurl._pycurl.__file__)  # libcurl's symbols come with it
        strerror = library.curl_easy_strerror
    except (AttributeError, OSError):  # a static or unusual build: the names must do
        return set()
    strerror.restype, strerror.argtypes = ctypes.c_char_p, [ctypes.c_int]
    return {code for code in range(1, 1000) if strerror(code) != b"Unknown error"}


# Every CURLE_* code a transfer could end with: pycurl's names (CURLM codes of the multi
# handle are no transfer outcomes), curl.h's codes that pycurl does not name, and every
# code the libcurl this pycurl runs on describes (a newer libcurl's new codes too).
_NAMES = [
    name
    for name in dir(pycurl)
    if name.startswith("E_") and not name.startswith(("E_MULTI_", "E_CALL_MULTI"))
]
_DESCRIBED = _described_by_libcurl()
_LIBCURL_CODES = sorted(
    {getattr(pycurl, name) for name in _NAMES} | set(curl_errors.EXTRA_CODES) | _DESCRIBED
)

# What each code the curl wire maps means for a fetch, written out here rather than
# taken from curl_errors' own sets. Mapping a new code in ERRORS fails a test below
# until its meaning is added.
_DNS = (pycurl.E_COULDNT_RESOLVE_HOST, pycurl.E_COULDNT_RESOLVE_PROXY)
_TLS = (
    pycurl.E_SSL_CONNECT_ERROR,
    pycurl.E_PEER_FAILED_VERIFICATION,
    pycurl.E_SSL_CIPHER,
    pycurl.E_SSL_CACERT_BADFILE,
    pycurl.E_SSL_SHUTDOWN_FAILED,
    curl_errors.E_SSL_CLIENTCERT,
)
_CONNECT = (
    pycurl.E_COULDNT_CONNECT,
    curl_errors.E_PROXY,  # a failed CONNECT or SOCKS handshake
    pycurl.E_RECV_ERROR,  # a reset, mid-transfer
    pycurl.E_SEND_ERROR,
    pycurl.E_WRITE_ERROR,  # our own callbacks: reported as a read or write that failed
    pycurl.E_READ_ERROR,
    pycurl.E_UPLOAD_FAILED,
    pycurl.E_SEND_FAIL_REWIND,
    pycurl.E_HTTP_POST_ERROR,
)
_PROTOCOL = (  # the response broke HTTP: cut short, nothing at all, bad framing or encoding
    curl_errors.E_WEIRD_SERVER_REPLY,
    pycurl.E_PARTIAL_FILE,
    pycurl.E_GOT_NOTHING,
    pycurl.E_HTTP2,
    curl_errors.E_HTTP2_STREAM,
    curl_errors.E_HTTP3,
    curl_errors.E_TOO_LARGE,
    pycurl.E_BAD_CONTENT_ENCODING,
)
_INVALID_URL = (pycurl.E_URL_MALFORMAT, pycurl.E_NOT_BUILT_IN, pycurl.E_UNSUPPORTED_PROTOCOL)
_LOCAL = (  # no network outcome: judged as anything unforeseen is (protocol)
    pycurl.E_FAILED_INIT,
    pycurl.E_OUT_OF_MEMORY,
    curl_errors.E_UNRECOVERABLE_POLL,
)
_CURL_MEANING: dict[int, ErrorKind] = {
    **dict.fromkeys(_DNS, ErrorKind.DNS),
    **dict.fromkeys(_TLS, ErrorKind.TLS),
    pycurl.E_OPERATION_TIMEDOUT: ErrorKind.TIMEOUT,
    **dict.fromkeys(_CONNECT, ErrorKind.CONNECT),
    **dict.fromkeys(_PROTOCOL, ErrorKind.PROTOCOL),
    **dict.fromkeys(_INVALID_URL, ErrorKind.INVALID_URL),
    **dict.fromkeys(_LOCAL, ErrorKind.PROTOCOL),
}
# Where the kind depends on whether the request had gone out (curl_error's `connected`).
_ONCE_CONNECTED = {
    pycurl.E_UNSUPPORTED_PROTOCOL: ErrorKind.PROTOCOL,  # "Unsupported HTTP/1 subversion"
}


def _code_id(code: int) -> str:
    names = [name for name in _NAMES if getattr(pycurl, name) == code]
    return f"{code}-{names[0]}" if names else str(code)


def test_the_walk_finds_libcurl_codes() -> None:
    assert len(_LIBCURL_CODES) >= 90
    if _DESCRIBED:  # libcurl was asked: it knows at least what pycurl names as live codes
        assert {pycurl.E_COULDNT_CONNECT, pycurl.E_RECV_ERROR} <= _DESCRIBED
        assert len(_DESCRIBED) >= 80


@pytest.mark.parametrize("connected", [False, True], ids=["unconnected", "connected"])
@pytest.mark.parametrize("code", sorted(curl_errors.ERRORS), ids=_code_id)
def test_every_mapped_curl_code_classifies_as_the_kind_it_means(code: int, connected: bool) -> None:
    assert code in _CURL_MEANING, f"curl code {code} is mapped: say here what it means"
    request = httpx.Request("GET", "http://127.0.0.1/")
    exc = curl_errors.curl_error(code, "what libcurl said", connected=connected, request=request)
    expected = _ONCE_CONNECTED.get(code, _CURL_MEANING[code]) if connected else _CURL_MEANING[code]
    kind, message = classify(exc)
    assert kind is expected
    # httpx's exceptions only; InvalidURL (E_URL_MALFORMAT) is one, though not an HTTPError.
    assert isinstance(exc, httpx.HTTPError | httpx.InvalidURL)
    assert curl_errors.curl_code(exc) == code
    assert "what libcurl said" in message and "\n" not in message


def test_every_meaning_given_here_is_a_mapped_code() -> None:
    assert sorted(set(_CURL_MEANING) - set(curl_errors.ERRORS)) == []


@pytest.mark.parametrize(
    ("code", "os_errno"),
    [
        (pycurl.E_COULDNT_CONNECT, errno.ECONNREFUSED),
        (pycurl.E_COULDNT_CONNECT, errno.ETIMEDOUT),  # a TimeoutError underneath: still connect
        (pycurl.E_RECV_ERROR, errno.ECONNRESET),
        (pycurl.E_SEND_ERROR, errno.EPIPE),
    ],
)
def test_an_os_error_under_a_curl_code_keeps_its_kind(code: int, os_errno: int) -> None:
    exc = curl_errors.curl_error(code, "failed", connected=True, os_errno=os_errno)
    kind, message = classify(exc)
    assert kind is _CURL_MEANING[code]
    assert message.count(os.strerror(os_errno)) == 1


def test_bad_chunked_framing_is_a_protocol_error_not_a_reset() -> None:
    text = "Malformed encoding found in chunked-encoding"
    exc = curl_errors.curl_error(pycurl.E_RECV_ERROR, text, connected=True)
    assert classify(exc)[0] is ErrorKind.PROTOCOL


@pytest.mark.parametrize("code", _LIBCURL_CODES, ids=_code_id)
def test_every_libcurl_code_is_mapped_or_listed_as_not_for_http(code: int) -> None:
    mapped, listed = code in curl_errors.ERRORS, code in curl_errors.NOT_FOR_HTTP
    assert mapped or listed, f"libcurl code {code} is neither mapped nor listed in NOT_FOR_HTTP"
    assert not (mapped and listed), f"libcurl code {code} is both mapped and listed"


@pytest.mark.parametrize("code", sorted(curl_errors.NOT_FOR_HTTP), ids=_code_id)
def test_a_code_not_for_http_says_why_and_has_no_mapping(code: int) -> None:
    reason = curl_errors.NOT_FOR_HTTP[code]
    assert isinstance(reason, str) and reason.strip(), f"curl code {code}: no reason given"
    assert code not in curl_errors.ERRORS
    assert code not in _CURL_MEANING


def test_a_code_not_for_http_still_classifies_if_it_ever_comes() -> None:
    # Unmapped codes become a bare TransportError: judged as anything unforeseen is.
    exc = curl_errors.curl_error(pycurl.E_TOO_MANY_REDIRECTS, "47 redirects", connected=True)
    assert type(exc) is httpx.TransportError
    assert classify(exc) == (ErrorKind.PROTOCOL, "47 redirects")
