"""TLS and DNS failures end to end: a self-signed server, a name that does not resolve."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any

import pytest
import trustme
from pytest_httpserver import HTTPServer

from fetchcli import ErrorKind, FetchOptions, FetchResult, fetch_stream
from servers import https_server as serve_https


@pytest.fixture(scope="module")
def https_server() -> Iterator[HTTPServer]:
    """An HTTPS server on 127.0.0.1 whose certificate no system trusts."""
    with serve_https(trustme.CA()) as server:
        yield server


def run(urls: list[str], **settings: Any) -> FetchResult:
    async def collect() -> list[FetchResult]:
        options = FetchOptions(**{"retries": 0, **settings})
        async with aclosing(fetch_stream(urls, options)) as results:
            return [result async for result in results]

    (result,) = asyncio.run(collect())
    return result


@pytest.mark.parametrize("http2", [False, True])
def test_an_untrusted_certificate_is_a_tls_error(https_server: HTTPServer, http2: bool) -> None:
    result = run([https_server.url_for("/secure")], http2=http2)
    assert result.error is ErrorKind.TLS and result.status is None
    assert "certificate" in (result.message or "").lower()


@pytest.mark.parametrize("http2", [False, True])
def test_insecure_skips_the_certificate_check(https_server: HTTPServer, http2: bool) -> None:
    result = run([https_server.url_for("/secure")], insecure=True, http2=http2)
    assert result.ok and result.size == len("secret")


def test_a_name_that_does_not_resolve_is_a_dns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # No resolver is asked: names under .test fail here as an unknown name would.
    real = socket.getaddrinfo

    def resolve(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, str) and host.endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    result = run(["http://no-such-host.test/"])
    assert result.error is ErrorKind.DNS and result.attempts == 1
