"""The error map: every exception a fetch can raise has one kind, and the map is complete."""

from __future__ import annotations

import inspect
import socket
import ssl
from typing import Any

import aiohttp
import httpx
import pytest

from fetchcli.http import transport
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


# ---- the aiohttp transport's own boundary map -----------------------------


@pytest.mark.parametrize(
    "klass", _exceptions(aiohttp, aiohttp.ClientError), ids=lambda k: k.__name__
)
def test_every_aiohttp_client_error_becomes_an_httpx_error(klass: type[Exception]) -> None:
    mapped = any(issubclass(klass, source) for source, _ in transport.EXCEPTIONS)
    assert mapped or issubclass(klass, aiohttp.ClientPayloadError), klass
