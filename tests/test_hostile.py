"""Real-world response shapes through the CLI, four ways: HTTP, TLS, --http2 over TLS, a proxy.

Each shape is raw bytes from a handler on `fetchcli.demo.httpserver.HttpServer`
(pytest-httpserver cannot send them). The same input list is fetched straight,
through a TLS front (certificates from trustme) with and without `--http2`
(the server offers only HTTP/1.1 by ALPN, so the shapes reach the
HTTP/2-configured wire as they are: HTTP/1.1 byte shapes do not exist in
HTTP/2 framing, which `test_curl_transport` speaks with a real HTTP/2 server),
and through the forward proxy of `servers.py`. The records must be the same
every way and what curl gives: ok for what curl tolerates, `protocol` for what
is truly broken.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import unquote

import pytest
import trustme
from typer.testing import CliRunner

from conftest import jsonl
from fetchcli.cli.app import app
from fetchcli.demo.httpserver import HttpServer, Request
from servers import forward_proxy, listening, pipe

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")

BODY = b"hello"
PROXY_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
)
# Seconds the server waits for the next request on a connection it is about to close.
REUSE_WAIT = 5.0


def ok_head(headers: bytes = b"", length: int = len(BODY)) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (length, headers)


# path → (the raw response, whether the server closes the connection after it)
RAW: dict[str, tuple[bytes, bool]] = {
    "/ok": (ok_head() + BODY, False),
    "/long-line": (ok_head(b"X-Long: " + b"a" * 16384 + b"\r\n") + BODY, False),
    "/many-fields": (
        ok_head(b"".join(b"X-F%d: %d\r\n" % (i, i) for i in range(200))) + BODY,
        False,
    ),
    # 250 fields of 1 KiB each: a 250 KiB head
    "/big-head": (
        ok_head(b"".join(b"X-B%03d: %s\r\n" % (i, b"b" * 1014) for i in range(250))) + BODY,
        False,
    ),
    "/excess": (ok_head() + BODY + b"EXCESS BYTES", False),
    "/te-and-cl": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        False,
    ),
    "/space-colon": (ok_head(b"X-Spaced : yes\r\n") + BODY, False),
    "/cut-short": (ok_head(length=100) + BODY, True),
    "/bad-chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        True,
    ),
    "/two-lengths": (ok_head(b"Content-Length: 6\r\n") + BODY + b"!", True),
}


@dataclass
class Shapes:
    """The handler: each path of RAW answers with its bytes; /head-body and /closed-after too."""

    targets: list[str] = field(default_factory=list)  # request targets as they arrived
    dropped: int = 0  # requests that came on a connection /closed-after then closed

    async def __call__(self, request: Request) -> None:
        self.targets.append(request.target)
        writer = request.writer
        if request.path == "/head-body":  # a HEAD answered with a body
            writer.write(ok_head(length=100) + b"x" * 100)
        elif request.path == "/closed-after":
            await self.closed_after(request)
            return
        else:
            # Like real servers, unreserved escapes are decoded: /%6Fk is /ok.
            path = unquote(request.path)
            data, close = RAW.get(path, (b"HTTP/1.1 404 Not Found\r\n\r\n", True))
            writer.write(data)
            if close:
                writer.close()
        await writer.drain()

    async def closed_after(self, request: Request) -> None:
        """A kept-alive answer, then the connection closed just as the next request comes."""
        request.writer.write(ok_head() + BODY)
        await request.writer.drain()
        if request.keep_alive:  # the proxy's requests ask for close: no next request comes
            with suppress(TimeoutError):
                if await asyncio.wait_for(request.reader.read(1), REUSE_WAIT):
                    self.dropped += 1  # closed with that request unanswered
        request.writer.close()


# What curl does with each line of GETS (path: ok, or the error kind).
GETS = {
    "/long-line": "ok",
    "/many-fields": "ok",
    "/big-head": "ok",
    "/excess": "ok",
    "/ok?after=excess": "ok",  # on the connection the excess bytes came on, or a new one
    "/te-and-cl": "ok",
    "/ok?after=te-and-cl": "ok",
    "/space-colon": "ok",
    "/closed-after": "ok",
    "/ok?after=closed": "ok",  # libcurl sends it again on a new connection
    "/%6Fk": "ok",
    "/cut-short": "protocol",
    "/bad-chunk": "protocol",
    "/two-lengths": "protocol",
}
HEADS = {"/head-body": "ok", "/head-body?again": "ok", "/ok?after=head-body": "ok"}


# --- servers on a loop of their own ------------------------------------------------------


class Background:
    """An event loop in a thread that holds async context managers open for a sync test."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stack = AsyncExitStack()

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def enter(self, manager: AbstractAsyncContextManager[T]) -> T:
        """Enter `manager` on the loop; it is exited when this Background ends."""
        entering = self._stack.enter_async_context(manager)
        return asyncio.run_coroutine_threadsafe(entering, self._loop).result(10)

    def __exit__(self, *exc_info: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stack.aclose(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            if not self._loop.is_running():
                self._loop.close()


@asynccontextmanager
async def tls_front(port: int, context: ssl.SSLContext) -> AsyncIterator[int]:
    """TLS on a port of its own, each connection piped to a plain one to 127.0.0.1:port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(OSError):  # TLS errors and resets end only that connection
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        writer.close()

    async with listening(serve, context) as tls_port:
        yield tls_port


@dataclass
class Ways:
    """Where each way reaches the shapes, the CA that TLS needs, and the handler's record."""

    plain: str
    tls: str
    proxy: str
    ca_file: str
    handler: Shapes


@pytest.fixture(scope="module")
def ways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ways]:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])  # the shapes are HTTP/1.1 bytes
    handler = Shapes()
    with Background() as background:
        origin = background.enter(HttpServer(handler))
        port = int(origin.base_url.rpartition(":")[2])
        tls_port = background.enter(tls_front(port, context))
        proxy = background.enter(forward_proxy())
        yield Ways(
            plain=origin.base_url,
            tls=f"https://127.0.0.1:{tls_port}",
            proxy=proxy.url,
            ca_file=str(ca_file),
            handler=handler,
        )


# --- the matrix ----------------------------------------------------------------------------

WAYS = ("plain", "tls", "tls-http2", "proxy")
STABLE = ("status", "ok", "error", "size", "truncated", "attempts", "redirects")
Records = dict[str, dict[str, object]]  # path as given → the stable fields of its record


@dataclass
class Run:
    """What one way gave: records of the GET and the HEAD lists, request targets seen."""

    gets: Records
    heads: Records
    targets: list[str]
    dropped: int  # requests the server dropped by closing a kept-alive connection


def path_of(url: str) -> str:
    """The path and query of a URL (a target in absolute form too)."""
    return "/" + url.split("/", 3)[3] if "://" in url else url


def run_way(ways: Ways, way: str, paths: dict[str, str], *flags: str) -> Records:
    """Fetch `paths` one way through the CLI, one at a time, in input order."""
    base = ways.tls if way.startswith("tls") else ways.plain
    args = [*flags, "--format", "jsonl", "-q", "-c", "1", "--order", "input", "-r", "0", "-t", "5"]
    if way == "tls-http2":
        args.append("--http2")
    if way == "proxy":
        args += ["--proxy", ways.proxy]
    urls = "".join(f"{base}{path}\n" for path in paths)
    # Our CA for TLS; no proxy from the environment: each way is only what it says.
    env: dict[str, str | None] = {"SSL_CERT_FILE": ways.ca_file, "SSL_CERT_DIR": None}
    env |= dict.fromkeys(PROXY_VARIABLES)
    result = CliRunner().invoke(app, [*args, "-"], input=urls, env=env, catch_exceptions=False)
    records = jsonl(result.stdout)
    assert len(records) == len(paths), result.stderr
    return {
        path: {key: record[key] for key in STABLE} | {"url": path_of(str(record["url"]))}
        for path, record in zip(paths, records, strict=True)
    }


@pytest.fixture(scope="module")
def runs(ways: Ways) -> dict[str, Run]:
    """Each way's records of both lists (the CLI runs once per list and way)."""
    runs = {}
    for way in WAYS:
        seen, dropped = len(ways.handler.targets), ways.handler.dropped
        gets = run_way(ways, way, GETS)
        heads = run_way(ways, way, HEADS, "-X", "HEAD")
        targets = [path_of(target) for target in ways.handler.targets[seen:]]
        runs[way] = Run(gets, heads, targets, ways.handler.dropped - dropped)
    return runs


def curls(paths: dict[str, str], size: dict[str, int | None]) -> Records:
    """The record of each path when fetchcli does what curl does."""
    records: Records = {}
    for path, outcome in paths.items():
        ok = outcome == "ok"
        records[path] = {
            "status": None if path == "/two-lengths" else 200,
            "ok": ok,
            "error": None if ok else outcome,
            "size": size.get(path, len(BODY)),
            "truncated": False,
            "attempts": 1,
            "redirects": 0,
        }
    return records


def without_url(records: Records) -> Records:
    return {
        path: {k: v for k, v in record.items() if k != "url"} for path, record in records.items()
    }


@pytest.mark.parametrize("way", WAYS)
def test_each_shape_gives_what_curl_gives(runs: dict[str, Run], way: str) -> None:
    # libcurl 8 refuses two different Content-Lengths before the head is complete: no status.
    sizes = {"/cut-short": len(BODY), "/bad-chunk": 0, "/two-lengths": None}
    assert without_url(runs[way].gets) == curls(GETS, sizes)
    # A proxy asks for one request per connection; else the close really raced a request.
    assert runs[way].dropped == (0 if way == "proxy" else 1)


@pytest.mark.parametrize("way", WAYS)
def test_a_head_answered_with_a_body_is_ok_and_spoils_no_later_request(
    runs: dict[str, Run], way: str
) -> None:
    assert without_url(runs[way].heads) == curls(HEADS, dict.fromkeys(HEADS, 0))


def test_every_way_gives_identical_records_and_requests(runs: dict[str, Run]) -> None:
    plain, *others = (runs[way] for way in WAYS)
    for other in others:
        assert (other.gets, other.heads) == (plain.gets, plain.heads)
        # The same request targets reach the origin (order aside: libcurl resends after a close).
        assert sorted(other.targets) == sorted(plain.targets)


def test_an_escaped_unreserved_character_is_fetched_decoded(runs: dict[str, Run]) -> None:
    # SPEC: the URL fetched and reported is the normal form, whichever way it goes.
    for way in WAYS:
        assert runs[way].gets["/%6Fk"]["url"] == "/ok"
        assert "/%6Fk" not in runs[way].targets and "/ok" in runs[way].targets
