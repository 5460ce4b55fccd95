"""A small asyncio HTTP/1.1 server on 127.0.0.1, for the `--demo` site and for tests.

Usage:

    async def handler(request: Request) -> None:
        await request.respond(200, b"hello\n", [("Content-Type", "text/plain")])

    async with HttpServer(handler) as server:
        ...  # fetch server.base_url + "/anything"

It speaks HTTP/1.1 with keep-alive, on 127.0.0.1 only, at a free port, and
counts requests by path and those in flight. A handler gets the parsed
`Request` with the raw reader and writer, so tests can also send hostile
responses (`response_head()`, then any bytes). The server guards itself: a
head over MAX_HEAD_BYTES gets 431, a malformed request 400, a chunked body or
one over MAX_REQUEST_BODY 413 (other bodies are read and discarded); an idle
keep-alive connection closes after IDLE_TIMEOUT, and closing the server
cancels the handlers still running.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

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
