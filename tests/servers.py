"""Hostile and instrumented HTTP behaviours for tests, on `fetchcli.demo.httpserver.HttpServer`.

Usage (sync tests, CliRunner tests):

    with ThreadedServer() as server:
        run(server.url("/hold?delay=0.5"))
        assert server.max_in_flight <= 4
        assert server.requests["/hold"] == 10

Routes of `TestSite` (numbers come from the query string):

    /                           200 "index"
    /sized?bytes=N              200 with a body of N bytes
    /hold?delay=S               200 after S seconds (count concurrency with max_in_flight)
    /slow-headers?delay=S       headers (and a short body) only after S seconds
    /trickle?bytes=N&delay=S    valid headers with Content-Length N, then one byte every S seconds
    /endless[?framing=close]    a body that never ends (chunked, or no length)
    /reset-before-headers       TCP reset instead of a response
    /reset-after-headers        headers promising 1000 bytes, 100 bytes, then a TCP reset
    /bad-status                 an invalid status line
    /status?code=N[&retry_after=S]  status N (e.g. 503 every time, for retries)
    /no-head                    405 to HEAD, 200 with a 10-byte body to GET
    /redirect?n=K               K redirects, ending at /sized?bytes=10
    /location?to=X              302 with `Location: X` taken verbatim (may be malformed)
    /markup[?status=N]          Rich markup and control characters in reason, header and body
    /gzip-bomb?mib=N            a small gzip body that decodes to N MiB (default 10)
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import socket
import ssl as ssl_module
import struct
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import trustme
from pytest_httpserver import HTTPServer

from fetchcli.demo.httpserver import Handler, HttpServer, Request, response_head

# Rich markup and terminal escapes, as a hostile server might send them.
MARKUP = "[bold red]x[/] \x1b[31mred\x1b[0m"
ENDLESS_SECONDS = 60.0  # even an endless body stops by itself, in case nobody cancels it
_CHUNK = b"x" * 16384


def reset(request: Request) -> None:
    """Drop the connection with a TCP RST rather than an orderly close."""
    sock = request.writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.writer.transport.abort()


def _number(request: Request, name: str, default: float) -> float:
    return float(request.query.get(name, default))


class TestSite:
    """The handler with the routes listed in this module's docstring."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self._routes: dict[str, Callable[[Request], Awaitable[None]]] = {
            "/": self.index,
            "/sized": self.sized,
            "/hold": self.hold,
            "/slow-headers": self.slow_headers,
            "/trickle": self.trickle,
            "/endless": self.endless,
            "/reset-before-headers": self.reset_before_headers,
            "/reset-after-headers": self.reset_after_headers,
            "/bad-status": self.bad_status,
            "/status": self.status,
            "/no-head": self.no_head,
            "/redirect": self.redirect,
            "/location": self.location,
            "/markup": self.markup,
            "/gzip-bomb": self.gzip_bomb,
        }

    async def __call__(self, request: Request) -> None:
        route = self._routes.get(request.path)
        if route is None:
            await request.respond(404, b"no such route\n")
        else:
            await route(request)

    async def index(self, request: Request) -> None:
        await request.respond(200, b"index\n", [("Content-Type", "text/plain")])

    async def sized(self, request: Request) -> None:
        size = int(_number(request, "bytes", 1000))
        writer = request.writer
        writer.write(response_head(200, length=size, close=not request.keep_alive))
        if request.method != "HEAD":
            for start in range(0, size, len(_CHUNK)):
                writer.write(_CHUNK[: size - start])
                await writer.drain()
        await writer.drain()

    async def hold(self, request: Request) -> None:
        await asyncio.sleep(_number(request, "delay", 0.5))
        await request.respond(200, b"held\n")

    async def slow_headers(self, request: Request) -> None:
        await asyncio.sleep(_number(request, "delay", 5.0))
        await request.respond(200, b"late\n")

    async def trickle(self, request: Request) -> None:
        size, delay = int(_number(request, "bytes", 100)), _number(request, "delay", 0.5)
        request.writer.write(response_head(200, length=size))
        await request.writer.drain()
        for _ in range(size):
            await asyncio.sleep(delay)
            request.writer.write(b"x")
            await request.writer.drain()  # raises once the client has gone

    async def endless(self, request: Request) -> None:
        writer = request.writer
        chunked = request.query.get("framing", "chunked") != "close"
        headers = [("Transfer-Encoding", "chunked")] if chunked else []
        writer.write(response_head(200, headers, close=not chunked))
        frame = b"%x\r\n%s\r\n" % (len(_CHUNK), _CHUNK) if chunked else _CHUNK
        loop = asyncio.get_running_loop()
        stop = loop.time() + ENDLESS_SECONDS
        while loop.time() < stop:
            writer.write(frame)
            await writer.drain()  # raises once the client has gone
            await asyncio.sleep(0)
        reset(request)

    async def reset_before_headers(self, request: Request) -> None:
        reset(request)

    async def reset_after_headers(self, request: Request) -> None:
        request.writer.write(response_head(200, length=1000) + b"y" * 100)
        await request.writer.drain()
        await asyncio.sleep(0.1)  # let the headers arrive before the reset overtakes them
        reset(request)

    async def bad_status(self, request: Request) -> None:
        request.writer.write(b"HTTP/1.1 2OO Okay\r\nContent-Length: 0\r\n\r\n")
        await request.writer.drain()
        request.writer.close()

    async def status(self, request: Request) -> None:
        code = int(_number(request, "code", 200))
        retry_after = request.query.get("retry_after")
        headers = [] if retry_after is None else [("Retry-After", retry_after)]
        await request.respond(code, f"status {code}\n".encode(), headers)

    async def no_head(self, request: Request) -> None:
        if request.method == "HEAD":
            await request.respond(405, headers=[("Allow", "GET")])
        else:
            await request.respond(200, b"0123456789")

    async def redirect(self, request: Request) -> None:
        hops = min(int(_number(request, "n", 1)), 1000)
        where = f"/redirect?n={hops - 1}" if hops > 1 else "/sized?bytes=10"
        await request.respond(302, headers=[("Location", where)])

    async def location(self, request: Request) -> None:
        await request.respond(302, headers=[("Location", request.query.get("to", "/"))])

    async def markup(self, request: Request) -> None:
        code = int(_number(request, "status", 404))
        headers = [("Content-Type", f"text/html; x={MARKUP}"), ("X-Markup", MARKUP)]
        body = f"<p>{MARKUP}</p>\n".encode()
        await request.respond(code, body, headers, reason=f"Bad {MARKUP}")

    async def gzip_bomb(self, request: Request) -> None:
        body = _gzipped_zeros(int(_number(request, "mib", 10)))
        headers = [("Content-Encoding", "gzip"), ("Content-Type", "application/octet-stream")]
        await request.respond(200, body, headers)


@functools.lru_cache(maxsize=4)
def _gzipped_zeros(mib: int) -> bytes:
    return gzip.compress(bytes(mib * 1024 * 1024), compresslevel=9)


class ThreadedServer:
    """An `HttpServer` on its own event loop in a background thread; a sync context manager.

    Usage: `with ThreadedServer() as server: httpx.get(server.url("/sized?bytes=5"))`.
    Counters are read from the test thread while the server thread updates them;
    plain int and Counter reads are safe enough for assertions after the work is done.
    """

    def __init__(self, handler: Handler | None = None, *, timeout: float = 10.0) -> None:
        self.handler: Handler = handler if handler is not None else TestSite()
        self._timeout = timeout
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._server: HttpServer | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> ThreadedServer:
        self._thread = threading.Thread(target=self._run, name="test-http-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise RuntimeError(f"test server did not start within {self._timeout:g}s")
        if self._error is not None:
            raise RuntimeError("test server failed to start") from self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._thread is not None
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self._timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"test server did not stop within {self._timeout:g}s")

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the thread that waits in __enter__
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with HttpServer(self.handler) as server:
            self._server = server
            self._ready.set()
            await self._stop.wait()

    @property
    def server(self) -> HttpServer:
        """The running `HttpServer` (for its counters)."""
        assert self._server is not None, "use ThreadedServer as a context manager"
        return self._server

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, no trailing slash."""
        return self.server.base_url

    def url(self, path: str) -> str:
        """The absolute URL of a path on this server."""
        return self.base_url + path

    @property
    def requests(self) -> Counter[str]:
        """Requests seen so far, by path (without the query string)."""
        return self.server.requests

    @property
    def in_flight(self) -> int:
        """Requests the handler is working on now."""
        return self.server.in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests the handler worked on at once."""
        return self.server.max_in_flight

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self.server.connections

    @property
    def errors(self) -> list[Exception]:
        """Exceptions raised by the handler (a test can assert this is empty)."""
        return self.server.errors


# --- a forward proxy ------------------------------------------------------------------------


@dataclass
class ProxyState:
    """What a forward_proxy() saw: the request line and the raw head of each request."""

    port: int = 0
    request_lines: list[bytes] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def forward_proxy() -> AsyncIterator[ProxyState]:
    """An HTTP proxy on 127.0.0.1: CONNECT is tunnelled; an absolute-form request is forwarded.

    A forwarded request goes to the origin in origin-form with `Connection: close`
    and without Proxy-* headers, and the origin's answer (which then says
    `Connection: close`) is piped back as it comes: one request per connection,
    so that every request, redirect hops included, is seen here.
    """
    state = ProxyState()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            state.heads.append(head)
            line, _, rest = head.partition(b"\r\n")
            state.request_lines.append(line)
            method, target, version = line.split(b" ")
            if method == b"CONNECT":
                host, _, port = target.decode().rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
                return
            url = urlsplit(target.decode("ascii"))
            assert url.scheme == "http" and url.hostname and url.port
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            fields = [
                header + b"\r\n"
                for header in rest.split(b"\r\n")
                if header and not header.lower().startswith((b"proxy-", b"connection:"))
            ]
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port)
            up_writer.write(b"%s %s %s\r\n" % (method, path.encode("ascii"), version))
            up_writer.write(b"".join(fields) + b"Connection: close\r\n\r\n")
            await up_writer.drain()
            await pipe(up_reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async with listening(serve) as state.port:
        yield state


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listening(serve: Serve, ssl: ssl_module.SSLContext | None = None) -> AsyncIterator[int]:
    """A TCP server on a free port of 127.0.0.1 running `serve` per connection; its port."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ssl)
    async with server:
        yield server.sockets[0].getsockname()[1]


@contextmanager
def https_server(ca: trustme.CA) -> Iterator[HTTPServer]:
    """pytest-httpserver over HTTPS on 127.0.0.1, with a certificate from `ca`; /secure answers."""
    context = ssl_module.create_default_context(ssl_module.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.expect_request("/secure").respond_with_data("secret")
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until the reader ends, then close the writer."""
    with suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()
