"""An httpx transport on libcurl: pycurl's CurlMulti driven by the asyncio event loop.

httpx stays the client API (requests, responses, redirects, exceptions); libcurl
does the wire: HTTP/1.1, HTTP/2 over TLS, TLS, proxies (http, https, socks5,
socks5h) and, if asked, content decoding in C.

    async with httpx.AsyncClient(transport=CurlTransport(max_connections=50)) as client:
        response = await client.get("https://example.org/")

What goes out is exactly the httpx request: its method, its URL as httpx holds
it (`/%6fk` stays `/%6fk`), its headers and no others (libcurl's `Accept: */*`,
`Expect: 100-continue`, POST Content-Type and User-Agent are suppressed; an
empty value is sent empty). libcurl follows no redirects and reads no proxy
settings, netrc or cookies. The response comes once its head has arrived; the
body streams with back-pressure (curl_multi.Transfer), and a body libcurl
decodes ends once more than the request's "fetchcli.body_limit" extension
(`wire.BODY_LIMIT`) has been delivered.

Timeouts come from the request's "timeout" extension: `connect` is libcurl's
CONNECTTIMEOUT (lookup, TCP, TLS, proxy), `read` the longest wait for more bytes
once connected (not while the reader holds the transfer paused), `pool` the wait
for a slot; `write` is not enforced. The attempt's total deadline comes with the
request's `wire.ATTEMPT` (`Attempt`): it starts once a slot is granted and is kept as
CURLOPT_TIMEOUT_MS, and by a timer while the transfer is paused. Without an Attempt,
the "trace" extension is awaited with "connection.assigned" once a slot is granted.

Needs a loop with `add_reader` (selector loops, uvloop): on Windows set
`asyncio.WindowsSelectorEventLoopPolicy()`; a Proactor loop is refused.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from math import ceil
from typing import Any

import certifi
import httpx
import pycurl  # type: ignore[import-untyped]

from fetchcli.http.curl_errors import curl_error
from fetchcli.http.curl_multi import CurlBody, Held, Multi, Transfer, heads_arrived, set_body
from fetchcli.http.httpx_adapter import response_headers, stream_response
from fetchcli.http.wire import ATTEMPT, BODY_LIMIT, Attempt

DEFAULT_MAX_CONNECTIONS = 100
# Request extension: True to take this body as sent, undecoded (a server that
# labelled it with an encoding nobody can decode).
AS_SENT = "fetchcli.as_sent"
_SUPPRESS_CONNECT_HEADERS = 265  # CURLOPT_SUPPRESS_CONNECT_HEADERS, unnamed by pycurl
_SCHEMES = ("http", "https")
_SOCKET_CODES = frozenset(
    {pycurl.E_COULDNT_CONNECT, pycurl.E_SEND_ERROR, pycurl.E_RECV_ERROR, pycurl.E_GOT_NOTHING}
)


class CurlTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one libcurl multi handle, at most `max_connections` at once.

    Usage: `httpx.AsyncClient(transport=CurlTransport(max_connections=50, http2=True))`.
    """

    def __init__(
        self,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        # True: certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR as httpx reads them;
        # False: no verification; a str: a CA file or directory.
        verify: bool | str = True,
        http2: bool = False,  # HTTP/2 over TLS by ALPN; http:// stays HTTP/1.1
        proxy: str | None = None,  # the one proxy for every request; never the environment's
        # libcurl decodes gzip/deflate/br bodies, and the headers lose Content-Encoding and
        # Content-Length; by default bodies come as sent (httpx or the caller decodes).
        decode: bool = False,
        # For requests without a "timeout" extension (AsyncClient always sets one).
        connect_timeout: float | None = None,
        timeout: float | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1.")
        self._max = max_connections
        self._http2 = http2
        self._decode = decode
        # Set on a handle once, and again only after a reset (CAs: read for TLS only).
        self._options = _common_options(http2=http2, proxy=proxy, decode=decode)
        self._options += _tls_options(verify)
        self._absolute_form = bool(proxy) and not str(proxy).lower().startswith("socks")
        self._suppress = _LIBCURL_DEFAULTS + (_PROXY_DEFAULTS if proxy else ())
        self._timeouts: dict[str, float | None] = {"connect": connect_timeout, "read": timeout}
        self._slots = asyncio.Semaphore(max_connections)
        self._free: list[Any] = []  # easy handles ready for reuse
        # What each handle's last transfer left set (none: reset it before use).
        self._setups: dict[Any, _Setup] = {}
        self._header_cache: dict[tuple[object, ...], _HeaderLines] = {}
        self._active: dict[Any, Transfer] = {}
        self._held = Held()  # body bytes received and not yet read, over every transfer
        # Transfers whose response head has not come, or that keep a read timeout.
        self._heads: set[Transfer] = set()
        self._multi: Multi | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def active_transfers(self) -> int:
        """Easy handles currently in the multi handle."""
        return len(self._active)

    @property
    def free_handles(self) -> int:
        """Easy handles waiting in the free list."""
        return len(self._free)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = _target(request.url)
        headers, names = self._header_lines(request)
        body = None
        if request.method != "HEAD" and not names.isdisjoint(_FRAMING):
            body = await request.aread()
            if b"content-type" not in names:
                headers = [*headers, b"Content-Type:"]  # libcurl's form type for POST
        extensions = request.extensions
        timeouts = extensions.get("timeout") or self._timeouts
        # Counted in decoded bytes: only a body libcurl decodes (or that needs none) is cut.
        limit = extensions.get(BODY_LIMIT) if self._decode and not extensions.get(AS_SENT) else None
        multi = self._bind()
        release = await self._acquire(request, timeouts.get("pool"))
        try:
            attempt = extensions.get(ATTEMPT)
            trace = extensions.get("trace")
            if release is not None:  # a connection is assigned: the deadline starts
                if isinstance(attempt, Attempt):
                    attempt.assigned()
                if trace is not None:
                    await trace("connection.assigned", {})
            remaining = attempt.remaining() if isinstance(attempt, Attempt) else None
            chunked = b"transfer-encoding" in names
            upload = (body, chunked)
            transfer = self._start(multi, request, url, headers, upload, timeouts, limit, remaining)
        except BaseException:
            if release is not None:
                release()
            raise
        transfer.release = release
        try:
            await transfer.head
            return self._response(request, transfer)
        except BaseException:
            self._abort(transfer, None)  # cancelled, or a head httpx cannot take
            raise

    async def aclose(self) -> None:
        self._closed = True
        for transfer in list(self._active.values()):
            self._abort(transfer, httpx.ReadError("the transport was closed"))
        if self._multi is not None:
            self._multi.close()
            self._multi = None
        for handle in self._free:
            handle.close()
        self._free.clear()
        self._setups.clear()

    def _bind(self) -> Multi:
        """The multi handle, made on first use and bound to the running loop."""
        loop = asyncio.get_running_loop()
        if self._closed:
            raise RuntimeError("CurlTransport is closed")
        if self._multi is None:
            if sys.platform == "win32" and not isinstance(loop, asyncio.SelectorEventLoop):
                raise RuntimeError(
                    "CurlTransport needs a selector event loop (add_reader): "
                    "use asyncio.WindowsSelectorEventLoopPolicy() on Windows"
                )
            self._loop = loop
            self._multi = Multi(
                loop,
                self._finished,
                max_connections=self._max,
                multiplex=self._http2,
                acted=partial(heads_arrived, self._heads),
            )
        elif loop is not self._loop:
            raise RuntimeError("CurlTransport is bound to another event loop")
        return self._multi

    async def _acquire(
        self, request: httpx.Request, pool: float | None
    ) -> Callable[[], None] | None:
        """Wait for a connection slot; the release to call when the transfer ends (None: kept)."""
        attempt = request.extensions.get(ATTEMPT)
        slot = attempt.slot if isinstance(attempt, Attempt) else None
        if slot is not None and slot.held:
            return None  # this attempt already holds one (a redirect)
        slots = self._slots
        if pool is None or not slots.locked():  # no wait to time
            await slots.acquire()
        else:
            try:
                async with asyncio.timeout(pool):
                    await slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("no connection slot became free", request=request) from None
        if slot is not None:
            slot.hold(slots.release)
            return _noop
        return slots.release

    def _header_lines(self, request: httpx.Request) -> _HeaderLines:
        """`_header_lines(request)`, one list for the same headers (so set on a handle once)."""
        if request.url.userinfo:
            return _header_lines(request, self._suppress)
        # The netloc too: whether a given Host is left to libcurl depends on it.
        key = (request.url.netloc, *request.headers.raw)
        found = self._header_cache.get(key)
        if found is None:
            found = _header_lines(request, self._suppress)
            if len(self._header_cache) >= _HEADER_SETS_KEPT:
                self._header_cache.clear()
            self._header_cache[key] = found
        return found

    def _start(
        self,
        multi: Multi,
        request: httpx.Request,
        url: str,
        headers: list[bytes],
        upload: tuple[bytes | None, bool],
        timeouts: dict[str, float | None],
        limit: int | None,
        remaining: float | None,
    ) -> Transfer:
        """Configure a free (or new) easy handle for the request and add it to the multi.

        `remaining`: seconds left to the attempt's deadline, libcurl's limit for the
        whole transfer (None: none).
        """
        assert self._loop is not None
        handle = self._free.pop() if self._free else pycurl.Curl()
        transfer = Transfer(
            handle, request, self._loop, self._abort, limit, self._held, self._heads
        )
        try:
            self._configure(handle, request, headers, upload, timeouts.get("connect"))
            setopt = handle.setopt
            # 0 is "no limit" to libcurl: a deadline already past gets 1 ms. libcurl does not
            # time a paused transfer: the transfer keeps the deadline for that (on_write).
            setopt(pycurl.TIMEOUT_MS, 0 if remaining is None else max(1, ceil(remaining * 1000)))
            if remaining is not None:
                transfer.deadline = time.monotonic() + remaining
            setopt(pycurl.URL, url)
            setopt(pycurl.REQUEST_TARGET, self._request_target(request.url))
            setopt(pycurl.HEADERFUNCTION, transfer.lines.append)
            setopt(pycurl.WRITEFUNCTION, transfer.on_write)
            multi.add(handle)
            self._heads.add(transfer)
        except BaseException:
            self._setups.pop(handle, None)
            handle.reset()
            self._free.append(handle)
            raise
        self._active[handle] = transfer
        if (read := timeouts.get("read")) is not None:
            transfer.timer = self._loop.call_later(read, self._check_read, transfer, read)
        return transfer

    def _configure(
        self,
        handle: Any,
        request: httpx.Request,
        headers: list[bytes],
        upload: tuple[bytes | None, bool],
        connect: float | None,
    ) -> None:
        """Set what this request needs that differs from the handle's last transfer.

        A handle keeps its options from one transfer to the next (a setopt costs
        more than libcurl's own work on a small response); another kind of
        request (a method, a body, a body taken as sent) resets it first.
        """
        setopt = handle.setopt
        method = request.method
        as_sent = self._decode and bool(request.extensions.get(AS_SENT))
        kind = (method, as_sent) if upload[0] is None and method in _PLAIN_METHODS else None
        setup = self._setups.get(handle)
        if setup is None or kind is None or setup.kind != kind:
            if setup is not None:
                handle.reset()
            setup = self._setups[handle] = _Setup(kind)
            for option, value in self._options:
                setopt(option, value)
            if as_sent:
                setopt(pycurl.HTTP_CONTENT_DECODING, 0)
            if method == "HEAD":
                setopt(pycurl.NOBODY, 1)
            elif upload[0] is not None:
                set_body(handle, method, upload[0], chunked=upload[1])
            elif method != "GET":
                setopt(pycurl.CUSTOMREQUEST, method)
        if setup.headers is not headers and setup.headers != headers:
            setopt(pycurl.HTTPHEADER, headers)
        setup.headers = headers
        connect_ms = 0 if connect is None else max(1, round(connect * 1000))  # 0: libcurl's
        if setup.connect_ms != connect_ms:
            setopt(pycurl.CONNECTTIMEOUT_MS, connect_ms)
            setup.connect_ms = connect_ms

    def _request_target(self, url: httpx.URL) -> bytes:
        """The request line's target, as httpx holds it."""
        # libcurl would send the path it parsed, its percent-escapes upper-cased
        # (%6f → %6F). Absolute-form for http:// through an HTTP proxy (not tunnelled).
        if self._absolute_form and url.scheme == "http":
            return b"http://" + url.netloc + url.raw_path
        return url.raw_path

    def _finished(self, handle: Any, code: int, message: str) -> None:
        """Multi's callback: a transfer ended (removed from the multi already)."""
        transfer = self._active.pop(handle, None)
        if transfer is None:
            return
        error: Exception | None = None
        # `stopped`: our write callback cut the body at its limit (CURLE_WRITE_ERROR), which
        # ends the stream as complete. libcurl closed the connection (HTTP/2: reset the
        # stream) as after any transfer that ends early; the handle is fit for the next one.
        if code != pycurl.E_OK and not transfer.stopped:
            # REQUEST_SIZE counts request bytes sent: 0 means it never got a connection.
            connected = bool(transfer.lines) or handle.getinfo(pycurl.REQUEST_SIZE) > 0
            error = curl_error(
                code,
                message,
                connected=connected,
                request=transfer.request,
                # libcurl keeps the errno of an earlier address (::1 refused, then
                # 127.0.0.1 answered): it is the cause only of a socket failure.
                os_errno=handle.getinfo(pycurl.OS_ERRNO) if code in _SOCKET_CODES else 0,
            )
        elif not transfer.head.done() and transfer.final_head() is None:
            error = httpx.RemoteProtocolError("no response head", request=transfer.request)
        self._recycle(transfer, clean=error is None)
        transfer.finish(error)

    def _abort(self, transfer: Transfer, error: Exception | None) -> None:
        """End a transfer from our side: closed early, cancelled, or timed out."""
        if transfer.done:
            return
        if self._multi is not None:
            self._multi.remove(transfer.handle)
        self._active.pop(transfer.handle, None)
        self._recycle(transfer, clean=False)
        transfer.finish(error)

    def _recycle(self, transfer: Transfer, *, clean: bool) -> None:
        """Return the handle to the free list; one a transfer did not end cleanly is reset."""
        for timer in (transfer.timer, transfer.deadline_timer):
            if timer is not None:
                timer.cancel()
        if transfer.release is not None:
            release, transfer.release = transfer.release, None
            release()
        handle = transfer.handle
        if not clean:
            # A reset drops what a cut-off transfer left (a pause, its callbacks).
            self._setups.pop(handle, None)
            handle.reset()
        if len(self._free) < self._max and not self._closed:
            self._free.append(handle)
        else:
            self._setups.pop(handle, None)
            handle.close()

    def _check_read(self, transfer: Transfer, read: float) -> None:
        """The read timeout: fail a connected, unpaused transfer that got nothing for `read` s."""
        assert self._loop is not None
        if transfer.done:
            return
        now = time.monotonic()  # the clock of transfer.started and .last
        ready = transfer.handle.getinfo(pycurl.PRETRANSFER_TIME_T) / 1e6  # 0: still connecting
        if transfer.paused or not ready:
            # Paused: the reader is slow, not the server. Connecting: CONNECTTIMEOUT's job.
            delay = read if transfer.paused else read / 4
            transfer.timer = self._loop.call_later(delay, self._check_read, transfer, read)
            return
        since = max(transfer.last, transfer.started + ready)
        if now - since < read:
            delay = since + read - now
            transfer.timer = self._loop.call_later(delay, self._check_read, transfer, read)
            return
        message = f"no data received for {read:g}s"
        error = curl_error(
            pycurl.E_OPERATION_TIMEDOUT, message, connected=True, request=transfer.request
        )
        self._abort(transfer, error)

    def _response(self, request: httpx.Request, transfer: Transfer) -> httpx.Response:
        version, code, reason, headers = transfer.response_head()
        if self._decode and not request.extensions.get(AS_SENT):
            for _, name, value in headers:
                if name == b"content-encoding" and value.lower() != b"identity":
                    # libcurl decoded the body: these described the bytes on the wire.
                    drop = (b"content-encoding", b"content-length")
                    headers = [item for item in headers if item[1] not in drop]
                    break
        extensions: dict[str, Any] = {"http_version": version}
        if reason:
            extensions["reason_phrase"] = reason
        body = CurlBody(transfer, self._close_body)
        return stream_response(code, response_headers(headers), body, request, extensions)

    def _close_body(self, transfer: Transfer) -> None:
        self._abort(transfer, None)
        transfer.drop()


def _common_options(*, http2: bool, proxy: str | None, decode: bool) -> list[tuple[int, Any]]:
    """The easy options every request gets, re-applied after each handle.reset()."""
    version = pycurl.CURL_HTTP_VERSION_2TLS if http2 else pycurl.CURL_HTTP_VERSION_1_1
    options: list[tuple[int, Any]] = [
        (pycurl.NOSIGNAL, 1),
        (pycurl.USERAGENT, ""),  # pycurl sets its own on every handle; "" sends none
        (pycurl.PATH_AS_IS, 1),  # the path as httpx holds it: no dot-segment removal
        (pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS),
        (pycurl.HTTP_VERSION, version),
        # "" rather than unset: libcurl would otherwise read http_proxy and friends.
        (pycurl.PROXY, proxy or ""),
        (_SUPPRESS_CONNECT_HEADERS, 1),  # a CONNECT reply is not the response
    ]
    if proxy:
        options.append((pycurl.NOPROXY, ""))  # nor NO_PROXY
    if http2:
        options.append((pycurl.PIPEWAIT, 1))  # wait to multiplex rather than open another
    if decode:
        options.append((pycurl.ACCEPT_ENCODING, ""))  # every encoding this libcurl decodes
    else:
        options.append((pycurl.HTTP_CONTENT_DECODING, 0))
    return options


def _tls_options(verify: bool | str) -> list[tuple[int, Any]]:
    """CA options as httpx applies `verify` (SSL_CERT_FILE, SSL_CERT_DIR, else certifi)."""
    if verify is False:
        return [
            (pycurl.SSL_VERIFYPEER, 0),
            (pycurl.SSL_VERIFYHOST, 0),
            (pycurl.PROXY_SSL_VERIFYPEER, 0),
            (pycurl.PROXY_SSL_VERIFYHOST, 0),
        ]
    if verify is True:
        cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
        if cafile:
            capath = None
        elif not capath:
            cafile = certifi.where()
    elif os.path.isdir(verify):
        cafile, capath = None, verify
    else:
        cafile, capath = verify, None
    # Both set explicitly (None unsets), so libcurl's built-in CA locations are not added.
    return [
        (pycurl.CAINFO, cafile),
        (pycurl.CAPATH, capath),
        (pycurl.PROXY_CAINFO, cafile),
        (pycurl.PROXY_CAPATH, capath),
    ]


def _target(url: httpx.URL) -> str:
    """The URL for libcurl: httpx's own form, without credentials or fragment."""
    if url.scheme not in _SCHEMES:
        raise httpx.UnsupportedProtocol(
            f"Request URL has an unsupported protocol '{url.scheme}://'."
        )
    if url.userinfo or url.fragment:
        url = url.copy_with(username=None, password=None, fragment=None)
    return str(url)


def _header_lines(
    request: httpx.Request, suppress: tuple[tuple[bytes, bytes], ...]
) -> tuple[list[bytes], set[bytes]]:
    """CURLOPT_HTTPHEADER for exactly the request's headers, and their lower-case names."""
    url = request.url
    credentials = bool(url.userinfo)
    lines: list[bytes] = []
    names: set[bytes] = set()
    for name, value in request.headers.raw:
        lower = name.lower()
        if credentials and lower == b"authorization":
            continue
        if lower == b"host" and value == url.netloc:
            # libcurl sends this very Host itself: leaving it out keeps the lines of one
            # header set equal across origins, so a handle moving between them keeps them.
            continue
        names.add(lower)
        # "Name:" would tell libcurl to drop the header; "Name;" sends it empty.
        lines.append(name + b": " + value if value.strip() else name + b";")
    if credentials:  # as httpx does: URL credentials become Basic auth, over a given header
        token = base64.b64encode(f"{url.username}:{url.password}".encode())
        lines.append(b"Authorization: Basic " + token)
    joined = b"".join(lines)
    if b"\r" in joined or b"\n" in joined or b"\0" in joined:
        raise httpx.LocalProtocolError("Illegal header name or value", request=request)
    for name, removal in suppress:  # libcurl's own defaults, unless given
        if name not in names:
            lines.append(removal)
    return lines, names


# Headers libcurl adds by itself unless told otherwise ("Name:" removes it).
_LIBCURL_DEFAULTS = ((b"accept", b"Accept:"), (b"expect", b"Expect:"))
_PROXY_DEFAULTS = ((b"proxy-connection", b"Proxy-Connection:"),)
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})  # the request has a body
_PLAIN_METHODS = frozenset({"GET", "HEAD"})  # no body, no CUSTOMREQUEST: a handle keeps its setup
_HeaderLines = tuple[list[bytes], set[bytes]]  # CURLOPT_HTTPHEADER, lower-case names
_HEADER_SETS_KEPT = 256  # distinct request header sets whose CURLOPT_HTTPHEADER lines are kept


class _Setup:
    """What a handle's last transfer left set: request kind, header lines, connect timeout."""

    __slots__ = ("connect_ms", "headers", "kind")

    def __init__(self, kind: tuple[str, bool] | None) -> None:
        self.kind = kind
        self.headers: list[bytes] | None = None
        self.connect_ms = -1  # not set yet


def _noop() -> None:
    """A release for a slot that the attempt (not the transfer) gives back."""


def decodable_encodings() -> str:
    """The `Accept-Encoding` value for what this libcurl decodes (`gzip, deflate, br`)."""
    features = pycurl.version_info()[4]
    names = ["gzip", "deflate"] if features & pycurl.VERSION_LIBZ else []
    if features & getattr(pycurl, "VERSION_BROTLI", 0):
        names.append("br")
    if features & getattr(pycurl, "VERSION_ZSTD", 0):
        names.append("zstd")
    return ", ".join(names) or "identity"
