"""An httpx transport on aiohttp's connection pool: the fast path for HTTP/1.1.

httpx stays the client API (requests, responses, redirects, content decoding,
exceptions); only the wire layer changes. httpcore's pool spends O(pool²)
work per request assigning requests to connections, so at `-c 50` it is
CPU-bound at a few hundred requests a second; aiohttp's pool is not (see
benchmarks/). HTTP/2 and proxies stay on httpx's own transport, so that they
behave exactly as httpx documents.

aiohttp exceptions are mapped to httpx's here, at one boundary, keeping the
original as `__cause__` so that `errors.classify` finds DNS and TLS causes.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httpx
from aiohttp.http_exceptions import ContentLengthError

from fetchcli.http.wire import ATTEMPT, Attempt

# Read size for response bodies; aiohttp hands over whatever has arrived, up to this.
_CHUNK = 64 * 1024

_CONTEXT_REPR = re.compile(r"ssl:<[^>]*>")

# What an aiohttp failure becomes: httpx.InvalidURL is not an httpx.HTTPError.
Mapped = httpx.HTTPError | httpx.InvalidURL

# Most specific first: the first match wins.
EXCEPTIONS: tuple[tuple[type[BaseException], type[Mapped]], ...] = (
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # DNS, TLS and refused included
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.InvalidURL, httpx.InvalidURL),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # bad status line, huge headers
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.ClientError, httpx.RemoteProtocolError),
    (asyncio.TimeoutError, httpx.ReadTimeout),
)


def map_exception(exc: BaseException) -> Mapped | None:
    """The httpx exception for an aiohttp one (None if it is not a transport failure)."""
    if isinstance(exc, aiohttp.ClientPayloadError):
        # A body cut short by a reset is a network failure (transient, like httpcore's
        # ReadError); any other broken body is a protocol error.
        kind = httpx.ReadError if _cut_short(exc) else httpx.RemoteProtocolError
        return kind(str(exc) or "response body was not complete")
    for source, target in EXCEPTIONS:
        if isinstance(exc, source):
            # aiohttp names a TLS context by its repr, address and all: keep messages stable.
            return target(_CONTEXT_REPR.sub("ssl:default", str(exc)) or type(exc).__name__)
    return None


def _cut_short(exc: aiohttp.ClientPayloadError) -> bool:
    """Whether a body ended early (a reset or a close), as opposed to arriving malformed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ContentLengthError | ConnectionResetError):
            return True
        current = current.__cause__ or current.__context__
    # aiohttp's ResponseHandler.connection_lost names the reset that cut a chunked
    # body only in the message (its cause is the parser's complaint); this goes with
    # the aiohttp transport (the libcurl wire reports CURLE_PARTIAL_FILE / RECV_ERROR).
    return "ConnectionResetError" in str(exc)


class _Body(httpx.AsyncByteStream):
    """A response body read from aiohttp as it arrives; closing returns or drops the connection."""

    def __init__(
        self, response: aiohttp.ClientResponse, release: Callable[[], None] | None
    ) -> None:
        self._response = response
        self._release = release  # the pool slot, unless an attempt holds it (wire.PoolSlot)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except Exception as exc:
            mapped = map_exception(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        # A fully read response goes back to the pool; an unfinished one is closed.
        self._response.release()
        if self._release is not None:
            release, self._release = self._release, None
            release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp session with a pool of `limit` connections.

    The request's `trace` extension is called once a connection is assigned, as
    httpcore does, so time spent waiting for the pool stays out of a deadline.
    The pool's bound is our own semaphore, held from then until the body is
    closed, so that moment is known without aiohttp's tracing (which costs
    about a tenth of a small request's CPU). A request carrying an Attempt
    (wire.ATTEMPT) keeps its slot in it instead, across redirects, until the
    attempt releases it (the wire contract, `fetchcli.http.wire`).
    """

    def __init__(self, *, limit: int, verify: bool | ssl.SSLContext = True) -> None:
        self._limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self._verify = verify
        self._ssl: ssl.SSLContext | bool | None = None  # made on the first https URL
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=0)
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # a bulk fetcher keeps no cookies
            auto_decompress=False,  # httpx decodes, and counts decoded bytes against --max-body
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open()
        url = request.url
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        if url.userinfo:  # as httpx does: URL credentials become Basic auth, over -H
            headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
            headers.append(("Authorization", _basic(url.username, url.password)))
            url = url.copy_with(username=None, password=None)
        attempt = request.extensions.get(ATTEMPT)
        slot = attempt.slot if isinstance(attempt, Attempt) else None
        assigned = slot is None or not slot.held
        if assigned:
            await self._slots.acquire()
            if slot is not None:
                slot.hold(self._slots.release)
        release = None if slot is not None else self._slots.release
        try:
            trace = request.extensions.get("trace")
            if assigned and trace is not None:
                await trace("connection.assigned", {})
            response = await self._session.request(
                request.method,
                str(url),
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout(request.extensions.get("timeout", {})),
                ssl=self._tls() if url.scheme == "https" else True,
            )
        except BaseException as exc:
            if release is not None:
                release()
            mapped = map_exception(exc) if isinstance(exc, Exception) else None
            if mapped is None:
                raise
            raise mapped from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, release),
            request=request,
            extensions=extensions,
        )

    def _tls(self) -> ssl.SSLContext | bool:
        """httpx's TLS settings (certifi's CAs unless told otherwise), made when first needed.

        Loading the CA bundle costs ~20 ms, which a list of http:// URLs never pays.
        """
        if self._ssl is None:
            verify = self._verify
            self._ssl = httpx.create_ssl_context(verify=verify) if verify is True else verify
        return self._ssl

    def _timeout(self, timeouts: dict[str, float | None]) -> aiohttp.ClientTimeout:
        """aiohttp's form of httpx's connect and read timeouts (one object per pair)."""
        key = (timeouts.get("connect"), timeouts.get("read"))
        found = self._timeouts.get(key)
        if found is None:
            found = aiohttp.ClientTimeout(total=None, sock_connect=key[0], sock_read=key[1])
            self._timeouts[key] = found
        return found

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _basic(username: str, password: str) -> str:
    """An Authorization value for Basic auth, encoded as httpx.BasicAuth does (UTF-8)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"
