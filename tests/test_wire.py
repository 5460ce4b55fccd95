"""The wire contract (`fetchcli.http.wire`), checked for the one wire we have.

Each numbered obligation of the contract has its own tests, run against
CurlTransport (libcurl via pycurl), the transport every request leaves
through. The tests of obligations 1, 2, 3, 5 and 6 also run through `Wires`,
the client's router that picks a CurlTransport per proxy, so that the
router is seen to pass the request and its extensions through untouched.
Obligation 4 does not hold for the router as it stands (it asks libcurl to
decode: see `test_the_router_decodes_bodies_and_advertises_encodings`).
A wire that breaks an obligation is marked `xfail(strict=True)` on that
test with the reason: fixing it turns the test into an XPASS, which fails
until the mark goes.

Most tests talk to `HttpServer` on the test's own event loop (so a handler can
wait on an `asyncio.Event` the test sets); what was sent is also read from
pytest-httpserver's log.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from conftest import REFUSED
from fetchcli.demo.httpserver import HttpServer, Request, response_head
from fetchcli.http.client import Client, Wires
from fetchcli.http.curl import CurlTransport, decodable_encodings
from fetchcli.http.fetch import fetch_one
from fetchcli.http.wire import BODY_LIMIT, Attempt
from fetchcli.model import ErrorKind, UrlRecord
from fetchcli.options import RequestSpec
from servers import TestSite, reset

pytestmark = [
    pytest.mark.timeout(10),
    pytest.mark.skipif(sys.platform == "win32", reason="CurlTransport needs a selector loop"),
]

# Timeouts as the client puts them on each request (see Client.new_request).
TIMEOUTS: dict[str, float | None] = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": None}
BOUND = 5.0  # seconds any one test may run on its loop
SETTLE = 0.05  # seconds a request that must stay blocked is given to (wrongly) go ahead
FIRST, REST = b"first part of the body;", b" the rest of the body"

Make = Callable[[int], httpx.AsyncBaseTransport]


@dataclass(frozen=True)
class WireKind:
    """A wire transport under test: `make(n)` builds one with a pool of n connections."""

    name: str
    make: Make


def _curl(limit: int) -> httpx.AsyncBaseTransport:
    return CurlTransport(max_connections=limit, verify=True)


def _router(limit: int) -> httpx.AsyncBaseTransport:
    return Wires(RequestSpec(), limit)  # no --proxy, and no *_PROXY (see no_proxy_environment)


CURL, ROUTER = "curl", "wires"


def wires(*, router: bool = False, **marks: pytest.MarkDecorator) -> list[Any]:
    """The wire as a parameter, and the router too when `router`; `marks` by name (xfail)."""
    params = [pytest.param(WireKind(CURL, _curl), id=CURL, marks=marks.get(CURL, ()))]
    if router:
        params.append(
            pytest.param(WireKind(ROUTER, _router), id=ROUTER, marks=marks.get(ROUTER, ()))
        )
    return params


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No *_PROXY variable reaches Wires, whatever the environment the tests run in."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def asynchronous(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop, bounded by BOUND (fixtures pass through)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        async def bounded() -> None:
            async with asyncio.timeout(BOUND):
                await test(*args, **kwargs)

        asyncio.run(bounded())

    return run


class Site:
    """The in-loop server's handler: TestSite's routes, two gated ones, every request head seen.

    /gated sends the head and FIRST, waits for `gate`, then sends REST.
    /cut sends the head and FIRST, waits for `gate`, then resets the connection.
    """

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.heads: list[Request] = []
        self._routes = TestSite()

    async def __call__(self, request: Request) -> None:
        self.heads.append(request)
        if request.path not in ("/gated", "/cut"):
            await self._routes(request)
            return
        writer = request.writer
        writer.write(response_head(200, length=len(FIRST + REST)) + FIRST)
        await writer.drain()
        await self.gate.wait()
        if request.path == "/cut":
            reset(request)
            return
        writer.write(REST)
        await writer.drain()


@asynccontextmanager
async def serving() -> AsyncIterator[tuple[HttpServer, Site]]:
    """An HttpServer on 127.0.0.1 on this loop, with a Site; no handler may fail."""
    site = Site()
    async with HttpServer(site) as server:
        yield server, site
    assert server.errors == []


@asynccontextmanager
async def opened(wire: WireKind, limit: int) -> AsyncIterator[httpx.AsyncBaseTransport]:
    transport = wire.make(limit)
    try:
        yield transport
    finally:
        await transport.aclose()


def request(
    url: str,
    method: str = "GET",
    *,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> httpx.Request:
    """A request as the client builds one: with the timeout extension, nothing else added."""
    return httpx.Request(
        method, url, headers=headers, extensions={"timeout": TIMEOUTS, **(extensions or {})}
    )


def tracing(events: list[str], label: str) -> dict[str, Any]:
    """The trace extension, recording `trace <label>` in `events` on every call."""

    async def trace(_name: str, _info: object) -> None:
        events.append(f"trace {label}")

    return {"trace": trace}


async def read_raw(response: httpx.Response) -> bytes:
    """The raw body (as the transport gives it), then close."""
    try:
        return b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()


async def failure(transport: httpx.AsyncBaseTransport, url: str) -> BaseException:
    """The exception a request raises."""
    try:
        await transport.handle_async_request(request(url))
    except Exception as exc:
        return exc
    raise AssertionError(f"{url} did not fail")


async def cut_mid_body(
    transport: httpx.AsyncBaseTransport, server: HttpServer, site: Site
) -> BaseException:
    """The exception reading a body raises when the server resets the connection halfway."""
    response = await transport.handle_async_request(request(server.base_url + "/cut"))
    site.gate.set()  # the head has arrived: now the reset
    try:
        await read_raw(response)
    except Exception as exc:
        return exc
    raise AssertionError("the body was read whole")


def causes(exc: BaseException) -> list[BaseException]:
    """The exceptions under `exc`, following __cause__ (then __context__), nearest first."""
    found: list[BaseException] = []
    current = exc.__cause__ or exc.__context__
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


# --- 1. trace: once a connection is assigned, before sending ----------------------------


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_trace_is_called_before_the_request_goes_out(wire: WireKind) -> None:
    async with serving() as (server, site), opened(wire, 1) as transport:
        heads_seen_at_trace: list[int] = []

        async def trace(_name: str, _info: object) -> None:
            heads_seen_at_trace.append(len(site.heads))

        sent = request(server.base_url + "/", extensions={"trace": trace})
        response = await transport.handle_async_request(sent)
        traced_before_return = list(heads_seen_at_trace)
        await read_raw(response)
    assert traced_before_return[:1] == [0]


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_trace_waits_until_a_connection_slot_is_free(wire: WireKind) -> None:
    events: list[str] = []
    async with serving() as (server, site), opened(wire, 1) as transport:
        slow = request(server.base_url + "/gated", extensions=tracing(events, "first"))
        first = await transport.handle_async_request(slow)
        second = request(server.base_url + "/", extensions=tracing(events, "second"))
        waiting = asyncio.create_task(transport.handle_async_request(second))
        await asyncio.sleep(SETTLE)
        assert "trace second" not in events
        assert server.requests["/"] == 0
        site.gate.set()
        await read_raw(first)
        events.append("first closed")
        await read_raw(await waiting)
    assert events.index("first closed") < events.index("trace second")


# --- 2. an Attempt holds one slot across its requests, until it releases it ------------


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_an_attempt_keeps_its_slot_for_its_next_request(wire: WireKind) -> None:
    async with serving() as (server, _site), opened(wire, 1) as transport:
        attempt = Attempt(lambda: None)
        first = request(server.base_url + "/status?code=302", extensions=attempt.extensions())
        await read_raw(await transport.handle_async_request(first))
        events: list[str] = []
        other = request(server.base_url + "/sized?bytes=3", extensions=tracing(events, "other"))
        outsider = asyncio.create_task(transport.handle_async_request(other))
        await asyncio.sleep(SETTLE)
        assert (events, server.requests["/sized"]) == ([], 0)  # the slot is still the attempt's
        again = request(server.base_url + "/", extensions=attempt.extensions())
        response = await transport.handle_async_request(again)
        assert await read_raw(response) == b"index\n"
        attempt.slot.release()
        await read_raw(await outsider)


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_releasing_an_attempt_frees_its_slot(wire: WireKind) -> None:
    async with serving() as (server, _site), opened(wire, 1) as transport:
        attempt = Attempt(lambda: None)
        first = request(server.base_url + "/", extensions=attempt.extensions())
        await read_raw(await transport.handle_async_request(first))
        assert attempt.slot.held
        outsider = asyncio.create_task(
            transport.handle_async_request(request(server.base_url + "/sized?bytes=3"))
        )
        await asyncio.sleep(SETTLE)
        assert not outsider.done()
        attempt.slot.release()
        assert await read_raw(await outsider) == b"xxx"


# --- 3. failures are httpx exceptions with the original as __cause__ ------------------


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_a_refused_connection_is_a_connect_error(wire: WireKind) -> None:
    async with opened(wire, 1) as transport:
        exc = await failure(transport, REFUSED)
    assert isinstance(exc, httpx.ConnectError)


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_a_refused_connection_keeps_the_os_error_under_it(wire: WireKind) -> None:
    async with opened(wire, 1) as transport:
        exc = await failure(transport, REFUSED)
    assert exc.__cause__ is not None
    assert any(isinstance(cause, ConnectionRefusedError) for cause in causes(exc))


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_a_reset_mid_body_is_a_read_or_protocol_error(wire: WireKind) -> None:
    async with serving() as (server, site), opened(wire, 1) as transport:
        exc = await cut_mid_body(transport, server, site)
    assert isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError)


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_a_reset_mid_body_keeps_the_original_as_cause(wire: WireKind) -> None:
    async with serving() as (server, site), opened(wire, 1) as transport:
        exc = await cut_mid_body(transport, server, site)
    assert exc.__cause__ is not None
    assert not isinstance(exc.__cause__, httpx.HTTPError)  # the library's own, not re-wrapped


# --- 4. method, URL and headers as given; no redirect, decoding or cookie -------------


@pytest.mark.parametrize("wire", wires())
@asynchronous
async def test_no_accept_accept_encoding_or_user_agent_is_added(
    wire: WireKind, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/plain").respond_with_data("ok")
    async with opened(wire, 1) as transport:
        await read_raw(await transport.handle_async_request(request(httpserver.url_for("/plain"))))
    sent = httpserver.log[0][0].headers
    assert [name for name in ("Accept", "Accept-Encoding", "User-Agent") if name in sent] == []


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("wire", wires())
@asynchronous
async def test_exactly_the_given_headers_are_sent(wire: WireKind, method: str) -> None:
    given = {"User-Agent": "given/1.0", "Accept-Encoding": "identity", "X-Given": "yes"}
    async with serving() as (server, site), opened(wire, 1) as transport:
        sent = request(server.base_url + "/", method, headers=given)
        await read_raw(await transport.handle_async_request(sent))
    expected = {name.decode().lower(): value.decode() for name, value in sent.headers.raw}
    assert (site.heads[0].method, dict(site.heads[0].headers)) == (method, expected)


@pytest.mark.parametrize("wire", wires())
@asynchronous
async def test_a_bodyless_delete_gets_no_added_header(wire: WireKind) -> None:
    async with serving() as (server, site), opened(wire, 1) as transport:
        sent = request(server.base_url + "/", "DELETE")
        await read_raw(await transport.handle_async_request(sent))
    expected = {name.decode().lower(): value.decode() for name, value in sent.headers.raw}
    assert (site.heads[0].method, dict(site.heads[0].headers)) == ("DELETE", expected)


@pytest.mark.parametrize("wire", wires())
@asynchronous
async def test_the_target_is_sent_as_given(wire: WireKind) -> None:
    async with serving() as (server, site), opened(wire, 1) as transport:
        sent = request(server.base_url + "/p/%7Euser/a%20b?q=%41&r=%3D&s=a+b")
        await read_raw(await transport.handle_async_request(sent))
    assert site.heads[0].target == sent.url.raw_path.decode("ascii")


@pytest.mark.parametrize("wire", wires())
@asynchronous
async def test_a_redirect_comes_back_unfollowed(wire: WireKind, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/from").respond_with_data("", 302, {"Location": "/to"})
    async with opened(wire, 1) as transport:
        response = await transport.handle_async_request(request(httpserver.url_for("/from")))
        await read_raw(response)
    assert (response.status_code, response.headers["location"]) == (302, "/to")
    assert [entry[0].path for entry in httpserver.log] == ["/from"]


@pytest.mark.parametrize("wire", wires())
@asynchronous
async def test_a_gzip_body_comes_back_undecoded(wire: WireKind, httpserver: HTTPServer) -> None:
    packed = gzip.compress(b"hello " * 100)
    httpserver.expect_request("/gz").respond_with_data(packed, headers={"Content-Encoding": "gzip"})
    async with opened(wire, 1) as transport:
        response = await transport.handle_async_request(request(httpserver.url_for("/gz")))
        raw = await read_raw(response)
    assert (response.headers["content-encoding"], raw) == ("gzip", packed)


@asynchronous
async def test_the_router_decodes_bodies_and_advertises_encodings(httpserver: HTTPServer) -> None:
    # Not obligation 4: Wires builds its CurlTransport with decode=True, so libcurl decodes
    # in C (a bomb stops at --max-body) and, when the request names no Accept-Encoding,
    # adds its own. make_client always sends one (decodable_encodings()), which goes as given.
    packed = gzip.compress(b"hello " * 100)
    httpserver.expect_request("/gz").respond_with_data(packed, headers={"Content-Encoding": "gzip"})
    async with opened(WireKind(ROUTER, _router), 1) as transport:
        bare = await transport.handle_async_request(request(httpserver.url_for("/gz")))
        given = {"Accept-Encoding": decodable_encodings()}
        sent = request(httpserver.url_for("/gz"), headers=given)
        named = await transport.handle_async_request(sent)
        bodies = [await read_raw(bare), await read_raw(named)]
    assert bodies == [b"hello " * 100] * 2
    for response in (bare, named):
        assert "content-encoding" not in response.headers
        assert "content-length" not in response.headers  # it counted the encoded bytes
    advertised = [entry[0].headers.get_all("Accept-Encoding") for entry in httpserver.log]
    tokens = {token.strip() for token in decodable_encodings().split(",")}
    assert [{token.strip() for token in advertised[0][0].split(",")}] == [tokens]
    assert advertised[1] == [decodable_encodings()]


@pytest.mark.parametrize("wire", wires())
@asynchronous
async def test_no_cookie_is_kept(wire: WireKind, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/set").respond_with_data("", headers={"Set-Cookie": "k=v; Path=/"})
    httpserver.expect_request("/next").respond_with_data("")
    async with opened(wire, 1) as transport:
        for path in ("/set", "/next"):
            await read_raw(await transport.handle_async_request(request(httpserver.url_for(path))))
    assert "Cookie" not in httpserver.log[1][0].headers


# --- 5. returned at the head; the body streams; aclose gives the connection back -------


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_the_response_is_returned_before_the_body_has_arrived(wire: WireKind) -> None:
    async with serving() as (server, site), opened(wire, 1) as transport:
        sent = request(server.base_url + "/gated")
        response = await transport.handle_async_request(sent)  # the server waits on the gate
        site.gate.set()
        assert await read_raw(response) == FIRST + REST


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_the_body_is_read_as_it_arrives(wire: WireKind) -> None:
    async with serving() as (server, site), opened(wire, 1) as transport:
        response = await transport.handle_async_request(request(server.base_url + "/gated"))
        chunks = response.aiter_raw()
        arrived = b""
        while len(arrived) < len(FIRST):  # only FIRST has been sent so far
            arrived += await anext(chunks)
        site.gate.set()
        rest = b"".join([chunk async for chunk in chunks])
        await response.aclose()
    assert (arrived, rest) == (FIRST, REST)


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_closing_an_unread_body_gives_the_slot_back(wire: WireKind) -> None:
    async with serving() as (server, _site), opened(wire, 1) as transport:
        unread = await transport.handle_async_request(request(server.base_url + "/gated"))
        await unread.aclose()
        response = await transport.handle_async_request(request(server.base_url + "/"))
        assert (response.status_code, await read_raw(response)) == (200, b"index\n")


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_closing_an_unread_body_drops_its_connection(wire: WireKind) -> None:
    async with serving() as (server, _site), opened(wire, 1) as transport:
        unread = await transport.handle_async_request(request(server.base_url + "/gated"))
        await unread.aclose()
        await read_raw(await transport.handle_async_request(request(server.base_url + "/")))
        assert server.connections == 2


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_a_body_read_to_the_end_leaves_its_connection_for_reuse(wire: WireKind) -> None:
    async with serving() as (server, _site), opened(wire, 1) as transport:
        for _ in range(2):
            await read_raw(await transport.handle_async_request(request(server.base_url + "/")))
        assert server.connections == 1


# --- 6. a body limit: cut past it, ending as a complete body, or ignored ----------------


@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_a_body_past_its_limit_ends_without_error_past_the_limit(wire: WireKind) -> None:
    size, limit = 100_000, 1000
    async with serving() as (server, _site), opened(wire, 1) as transport:
        url = server.base_url + f"/sized?bytes={size}"
        body = await read_raw(
            await transport.handle_async_request(request(url, extensions={BODY_LIMIT: limit}))
        )
        again = await transport.handle_async_request(request(server.base_url + "/"))
        assert await read_raw(again) == b"index\n"
        cut = len(body) < size
        assert limit < len(body) and body == b"x" * len(body)
        assert server.connections == (2 if cut else 1)  # a cut body's connection is dropped
    # The router decodes, so it cuts; CurlTransport leaves decoding to the reader: no limit.
    assert cut == (wire.name == ROUTER)


# --- 1. the attempt deadline: started once a slot is assigned, enforced by the wire ------


@pytest.mark.timeout(5)
@pytest.mark.parametrize("wire", wires(router=True))
@asynchronous
async def test_the_wire_ends_a_trickling_body_at_the_attempt_deadline(wire: WireKind) -> None:
    async with serving() as (server, _site), opened(wire, 1) as transport:
        attempt = Attempt(timeout=0.3)
        url = server.base_url + "/trickle?bytes=1000&delay=0.05"
        response = await transport.handle_async_request(
            request(url, extensions=attempt.extensions())
        )
        with pytest.raises(httpx.TimeoutException):
            await read_raw(response)
        assert attempt.expired()
        attempt.slot.release()


@pytest.mark.timeout(5)
@asynchronous
async def test_a_trickling_body_times_out_with_the_deadline_in_the_message() -> None:
    spec = RequestSpec(timeout=0.5, retries=0)
    # As make_client builds it, with a read timeout far past --timeout: only the
    # attempt's total deadline can end this.
    client = Client(wire=Wires(spec, 1), timeout=httpx.Timeout(30.0), follow_redirects=False)
    async with serving() as (server, _site), client:
        url = server.base_url + "/trickle?bytes=1000&delay=0.05"
        result = await fetch_one(client, UrlRecord(source="t", line=1, url=url), spec)
    assert (result.error, result.message) == (ErrorKind.TIMEOUT, "no complete response within 0.5s")
