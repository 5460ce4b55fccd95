"""The `--demo` site, and the small asyncio HTTP/1.1 server it runs on.

Usage:

    async with demo_server() as server:
        for url in demo_urls(server.base_url):
            ...  # fetch it; expected_outcome(url) says what it should give

`HttpServer` is plain asyncio, bound to 127.0.0.1 only. Tests reuse it for
hostile behaviours: a handler gets the raw reader and writer.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from fetchcli.errors import ErrorKind
from fetchcli.options import FetchOptions
from fetchcli.sources import normalize_url

HOST = "127.0.0.1"
MAX_HEAD_BYTES = 64 * 1024
MAX_REQUEST_BODY = 1024 * 1024
IDLE_TIMEOUT = 30.0  # seconds a keep-alive connection may wait for its next request
MAX_REQUESTS_PER_CONNECTION = 10_000
SHUTDOWN_GRACE = 2.0

Headers = Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One parsed request; a handler answers with `respond()` or raw writes to `writer`."""

    method: str
    target: str
    path: str
    version: str
    headers: Mapping[str, str]  # names lower-cased
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @property
    def query(self) -> dict[str, str]:
        """The query string as a dict (last value wins)."""
        return dict(parse_qsl(urlsplit(self.target).query))

    @property
    def keep_alive(self) -> bool:
        """Whether the connection stays open after this request (HTTP/1.1 default)."""
        tokens = self.headers.get("connection", "").lower().replace(" ", "").split(",")
        return self.version == "HTTP/1.1" and "close" not in tokens

    async def respond(
        self, status: int, body: bytes = b"", headers: Headers = (), reason: str | None = None
    ) -> None:
        """Answer with a whole response; no body for HEAD, `Connection: close` when asked."""
        head, close = self.method == "HEAD", not self.keep_alive
        await respond(self.writer, status, body, headers, reason, head=head, close=close)


Handler = Callable[[Request], Awaitable[None]]


def response_head(
    status: int,
    headers: Headers = (),
    reason: str | None = None,
    *,
    length: int | None = None,
    close: bool = False,
) -> bytes:
    """The status line and headers of a response, ending with the blank line."""
    if reason is None:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.1 {status} {reason}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


async def respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes = b"",
    headers: Headers = (),
    reason: str | None = None,
    *,
    head: bool = False,
    close: bool = False,
) -> None:
    """Write one whole response with a Content-Length; `head=True` leaves the body out."""
    writer.write(response_head(status, headers, reason, length=len(body), close=close))
    if not head:
        writer.write(body)
    await writer.drain()


class HttpServer:
    """HTTP/1.1 with keep-alive on 127.0.0.1 at a free port; use with `async with`.

    Usage: `async with HttpServer(handler) as server: get(server.base_url + "/x")`.
    It counts requests by path and those in flight (running in the handler).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.base_url = ""
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: Counter[str] = Counter()
        self.errors: list[Exception] = []  # handler failures, for tests to inspect
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._closing = False

    async def __aenter__(self) -> HttpServer:
        self._server = await asyncio.start_server(self._serve, HOST, 0, limit=MAX_HEAD_BYTES)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://{HOST}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._closing = True
        self._server.close()
        # Cancel handlers so that a slow or endless one cannot hold up shutdown.
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE)
        closing = asyncio.ensure_future(self._server.wait_closed())
        await asyncio.wait({closing}, timeout=SHUTDOWN_GRACE)
        closing.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        graceful = False
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                request = await _read_request(reader, writer)
                if request is None:
                    break
                self.requests[request.path] += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    await self.handler(request)
                finally:
                    self.in_flight -= 1
                if not request.keep_alive or writer.is_closing():
                    break
            graceful = True
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # Our own shutdown: ending quietly keeps asyncio 3.11 from logging the cancel.
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self._tasks.discard(task)
            if graceful:
                writer.close()
            else:
                writer.transport.abort()  # do not wait to flush to a client that left


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """The next request on a connection, or None when the connection should end."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
    except (TimeoutError, asyncio.IncompleteReadError):
        return None
    except asyncio.LimitOverrunError:
        await respond(writer, 431, b"request head too large\n", close=True)
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if line and not sep:
            parts = []  # a malformed header line makes the whole request bad
        if sep:
            headers[name.strip().lower()] = value.strip()
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        await respond(writer, 400, b"bad request\n", close=True)
        return None
    length = headers.get("content-length", "0")
    # Chunked request bodies are not needed by any client of this server.
    if "transfer-encoding" in headers or not length.isdigit() or int(length) > MAX_REQUEST_BODY:
        await respond(writer, 413, b"request body too large or chunked\n", close=True)
        return None
    await reader.readexactly(int(length))  # read and discard
    method, target, version = parts
    path = urlsplit(target).path or "/"
    fields = {"method": method, "target": target, "path": path, "version": version}
    return Request(**fields, headers=headers, reader=reader, writer=writer)


# ---- the demo site -------------------------------------------------------

DEMO_COUNT = 300
DEMO_SEED = 20240601
CHAIN_HOPS = 3  # redirects from /chain/N to /page/N
LARGE_SIZE = 2 * 1024 * 1024
INVALID_LINES = ("ftp://demo.invalid/file", "javascript:alert(1)")
# One cycle of the generated URLs: mostly pages, some of every other kind.
_CYCLE = ("page",) * 9 + ("slow",) * 5 + ("missing", "error") + ("redirect", "chain") * 2
_CHUNK = bytes(range(256)) * 256  # 64 KiB
_HTML = "text/html; charset=utf-8"
_NOT_FOUND = (404, b"not found\n")
_FAILURES = {"missing": _NOT_FOUND, "unknown": _NOT_FOUND, "error": (500, b"internal error\n")}


def fast_delay(n: int) -> float:
    """Seconds /page/N takes: 0 to 0.25, so that progress is visible."""
    return (n * 37 % 26) / 100


def slow_delay(n: int) -> float:
    """Seconds /slow/N takes: 0.2 to 1.4 in steps of 0.2, fixed for each N."""
    return (2 + 2 * (n * 3 % 7)) / 10


def _delay(kind: str, n: int) -> float:
    """Seconds the site waits before it answers a URL of this kind (after redirects)."""
    if kind == "slow":
        return slow_delay(n)
    return fast_delay(n) if kind in ("page", "redirect", "chain") else 0.0


def _page(n: int) -> bytes:
    filler = "<p>Lorem ipsum dolor sit amet.</p>\n" * (n * 13 % 40 + 1)
    return (
        f"<!doctype html>\n<html><head><title>Page {n}</title></head><body>\n"
        f'<h1>Page {n}</h1>\n<a href="/page/{n + 1}">next</a>\n{filler}</body></html>\n'
    ).encode()


def _route(path: str) -> tuple[str, int, int]:
    """(kind, N, hops left) for a demo path; kind "unknown" if it is none of them."""
    parts = path.strip("/").split("/")
    if parts == ["large"]:
        return "large", 0, 0
    numbers = parts[1:]
    if not 1 <= len(numbers) <= 2 or not all(p.isdigit() and len(p) < 9 for p in numbers):
        return "unknown", 0, 0
    kind, n = parts[0], int(numbers[0])
    if kind == "chain":
        hops = int(numbers[1]) if len(numbers) == 2 else CHAIN_HOPS
        return ("chain", n, hops) if 1 <= hops <= CHAIN_HOPS else ("unknown", 0, 0)
    if len(numbers) == 1 and kind in (*_CYCLE, "flaky"):
        return kind, n, 0
    return "unknown", 0, 0


class DemoSite(HttpServer):
    """The demo site: pages, slow pages, 404, 500, redirects, a large body, flaky pages.

    Usage: `async with DemoSite() as site: urls = demo_urls(site.base_url)`.
    """

    def __init__(self) -> None:
        super().__init__(self._answer)
        self._flaky_seen: set[int] = set()

    async def _answer(self, request: Request) -> None:
        kind, n, hops = _route(request.path)
        if kind in ("page", "slow"):
            await asyncio.sleep(_delay(kind, n))
            await request.respond(200, _page(n), [("Content-Type", _HTML)])
        elif kind == "redirect":
            await request.respond(302, headers=[("Location", f"/page/{n}")])
        elif kind == "chain":
            where = f"/chain/{n}/{hops - 1}" if hops > 1 else f"/page/{n}"
            await request.respond(302, headers=[("Location", where)])
        elif kind == "large":
            await _send_large(request)
        elif kind == "flaky" and n not in self._flaky_seen:
            self._flaky_seen.add(n)
            await request.respond(503, b"try again\n", [("Retry-After", "0")])
        elif kind == "flaky":
            await request.respond(200, _page(n), [("Content-Type", _HTML)])
        else:
            await request.respond(*_FAILURES.get(kind, _NOT_FOUND))


async def _send_large(request: Request) -> None:
    """2 MiB written in 64 KiB chunks, so the body is streamed, never built whole."""
    writer = request.writer
    headers = [("Content-Type", "application/octet-stream")]
    writer.write(response_head(200, headers, length=LARGE_SIZE, close=not request.keep_alive))
    if request.method != "HEAD":
        for _ in range(LARGE_SIZE // len(_CHUNK)):
            writer.write(_CHUNK)
            await writer.drain()
    await writer.drain()


def demo_server() -> DemoSite:
    """The demo site on 127.0.0.1 at a free port; use with `async with`."""
    return DemoSite()


def demo_urls(base_url: str, count: int = DEMO_COUNT) -> list[str]:
    """A fixed, shuffled mix of the demo site's URLs, with a few invalid lines among them."""
    base = base_url.rstrip("/")
    urls = [*INVALID_LINES, f"{base}/large", f"{base}/flaky/1", f"{base}/flaky/2"][:count]
    for i in range(count - len(urls)):
        urls.append(f"{base}/{_CYCLE[i % len(_CYCLE)]}/{i + 1}")
    random.Random(DEMO_SEED).shuffle(urls)
    return urls


def expected_outcome(
    url: str, options: FetchOptions | None = None
) -> tuple[int | None, ErrorKind | None]:
    """The (status, error kind) the demo site is built to give for a URL under these options.

    It models --follow, --max-redirects, --retries (flaky pages), --timeout and --accept;
    a --timeout within a few milliseconds of a page's delay is a race it cannot call.
    """
    options = options or FetchOptions()
    url, error = normalize_url(url.strip(), options.default_scheme)
    if error is not None:
        return None, ErrorKind.INVALID_URL
    kind, n, hops = _route(urlsplit(url).path)
    redirects = {"redirect": 1, "chain": hops}.get(kind, 0)
    if redirects and not options.follow:
        status = 302
    elif redirects > options.max_redirects:
        return None, ErrorKind.TOO_MANY_REDIRECTS
    elif _delay(kind, n) >= options.timeout:
        return None, ErrorKind.TIMEOUT
    elif kind == "flaky" and (options.retries < 1 or 503 in options.accept):
        status = 503  # not retried: no retries left, or a 503 already counts as ok
    else:
        status = _FAILURES[kind][0] if kind in _FAILURES else 200
    return status, None if status in options.accept else ErrorKind.HTTP_STATUS
