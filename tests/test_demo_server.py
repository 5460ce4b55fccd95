"""The demo site and the asyncio HTTP server under it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from fetchcli import FetchOptions, fetch_stream
from fetchcli.demo.httpserver import HttpServer, Request
from fetchcli.demo.site import (
    INVALID_LINES,
    LARGE_SIZE,
    DemoSite,
    demo_urls,
    expected_outcome,
    slow_delay,
)
from fetchcli.model import ErrorKind
from fetchcli.sources.normal_form import normalize_url

T = TypeVar("T")
BASE = "http://127.0.0.1:1"


def run(main: Callable[[], Awaitable[T]], limit: float = 20.0) -> T:
    """Run a coroutine function under an overall deadline."""

    async def bounded() -> T:
        return await asyncio.wait_for(main(), limit)

    return asyncio.run(bounded())


async def raw_exchange(base_url: str, data: bytes, limit: float = 5.0) -> bytes:
    """Send raw bytes on one connection and read until the server closes it."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), limit)
    finally:
        writer.close()


def test_demo_urls_are_deterministic() -> None:
    assert demo_urls(BASE) == demo_urls(BASE)


def test_demo_urls_have_the_requested_count() -> None:
    assert [len(demo_urls(BASE, n)) for n in (0, 1, 3, 10, 300, 1000)] == [0, 1, 3, 10, 300, 1000]


def test_demo_urls_mix_every_kind() -> None:
    urls = demo_urls(BASE)
    paths = [urlsplit(url).path for url in urls]
    assert paths.count("/large") == 1
    assert sum(path.startswith("/flaky/") for path in paths) == 2
    assert all(line in urls for line in INVALID_LINES)
    for kind in ("page", "slow", "missing", "error", "redirect", "chain"):
        assert any(path.startswith(f"/{kind}/") for path in paths), kind
    assert sum(path.startswith("/page/") for path in paths) > len(urls) / 3


def test_demo_invalid_lines_are_invalid_urls() -> None:
    for line in INVALID_LINES:
        assert normalize_url(line)[1] is not None
        assert expected_outcome(line) == (None, ErrorKind.INVALID_URL)


def test_slow_delays_are_fifths_of_a_second_from_0_2_to_1_4() -> None:
    assert {slow_delay(n) for n in range(1000)} == {0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4}


def test_expected_outcome_follows_the_options() -> None:
    outcomes = [
        expected_outcome(f"{BASE}/flaky/1", FetchOptions(retries=0)),
        expected_outcome(f"{BASE}/flaky/1"),
        expected_outcome(f"{BASE}/chain/1", FetchOptions(follow=False)),
        expected_outcome(f"{BASE}/chain/1", FetchOptions(max_redirects=2)),
        expected_outcome(f"{BASE}/slow/13", FetchOptions(timeout=slow_delay(13))),
        expected_outcome(f"{BASE}/missing/1", FetchOptions(accept="200-299,404")),
        expected_outcome(f"{BASE}/nowhere"),
    ]
    assert outcomes == [
        (503, ErrorKind.HTTP_STATUS),
        (200, None),
        (302, ErrorKind.HTTP_STATUS),
        (None, ErrorKind.TOO_MANY_REDIRECTS),
        (None, ErrorKind.TIMEOUT),
        (404, None),
        (404, ErrorKind.HTTP_STATUS),
    ]


def test_demo_site_is_itself_the_server() -> None:
    async def main() -> int:
        async with DemoSite() as site, httpx.AsyncClient() as client:
            return (await client.get(f"{site.base_url}/missing/1")).status_code

    assert run(main) == 404


def test_demo_routes_answer_as_expected_outcome_says() -> None:
    async def check(client: httpx.AsyncClient, url: str) -> tuple[str, int | None, int]:
        response = await client.get(url)
        if response.status_code == 503 and response.headers.get("retry-after") == "0":
            response = await client.get(url)  # flaky: the retry succeeds
        return url, expected_outcome(url)[0], response.status_code

    async def main() -> list[tuple[str, int | None, int]]:
        async with DemoSite() as server, httpx.AsyncClient(follow_redirects=True) as client:
            urls = [u for u in demo_urls(server.base_url, 100) if u not in INVALID_LINES]
            answers = await asyncio.gather(*(check(client, url) for url in urls))
        return [answer for answer in answers if answer[1] != answer[2]]

    assert run(main) == []


def test_flaky_page_fails_once_then_succeeds() -> None:
    async def main() -> list[tuple[int, str | None]]:
        async with DemoSite() as server, httpx.AsyncClient() as client:
            answers = [await client.get(f"{server.base_url}/flaky/7") for _ in range(3)]
        return [(r.status_code, r.headers.get("retry-after")) for r in answers]

    assert run(main) == [(503, "0"), (200, None), (200, None)]


def test_chain_redirects_three_times_to_a_page() -> None:
    async def main() -> httpx.Response:
        async with DemoSite() as server, httpx.AsyncClient(follow_redirects=True) as client:
            return await client.get(f"{server.base_url}/chain/5")

    response = run(main)
    assert (response.status_code, len(response.history)) == (200, 3)
    assert response.url.path == "/page/5"


def test_large_body_is_two_mib() -> None:
    async def main() -> httpx.Response:
        async with DemoSite() as server, httpx.AsyncClient() as client:
            return await client.get(f"{server.base_url}/large")

    response = run(main)
    assert response.status_code == 200
    assert len(response.content) == LARGE_SIZE == int(response.headers["content-length"])


def test_head_gets_headers_but_no_body() -> None:
    async def main() -> bytes:
        async with DemoSite() as server:
            request = b"HEAD /large HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            return await raw_exchange(server.base_url, request)

    data = run(main)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert f"Content-Length: {LARGE_SIZE}\r\n".encode() in data
    assert data.endswith(b"\r\n\r\n")


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async def main() -> tuple[list[int], int]:
        async with DemoSite() as server, httpx.AsyncClient() as client:
            paths = ["/page/1", "/missing/2", "/error/3", "/large", "/page/4"]
            statuses = [(await client.get(server.base_url + p)).status_code for p in paths]
            return statuses, server.connections

    assert run(main) == ([200, 404, 500, 200, 200], 1)


def test_connection_close_is_honoured() -> None:
    async def main() -> bytes:
        async with DemoSite() as server:
            request = b"GET /missing/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            return await raw_exchange(server.base_url, request)

    data = run(main)  # raw_exchange returns only once the server has closed
    assert data.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"Connection: close\r\n" in data


def test_request_body_is_read_and_discarded() -> None:
    async def main() -> bytes:
        async with DemoSite() as server:
            request = (
                b"POST /page/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                b"GET /missing/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            return await raw_exchange(server.base_url, request)

    data = run(main)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"HTTP/1.1 404 Not Found\r\n" in data


def test_malformed_request_line_gets_400() -> None:
    async def main() -> bytes:
        async with DemoSite() as server:
            return await raw_exchange(server.base_url, b"NONSENSE\r\n\r\n")

    assert run(main).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_oversized_request_head_gets_431() -> None:
    async def main() -> bytes:
        async with DemoSite() as server:
            request = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
            return await raw_exchange(server.base_url, request)

    assert run(main).startswith(b"HTTP/1.1 431 ")


def test_shutdown_with_a_slow_request_in_flight_does_not_hang() -> None:
    started = asyncio.Event()

    async def forever(request: Request) -> None:
        started.set()
        await asyncio.sleep(3600)

    async def main() -> float:
        async with httpx.AsyncClient(timeout=30) as client:
            async with HttpServer(forever) as server:
                pending = asyncio.create_task(client.get(server.base_url + "/"))
                await asyncio.wait_for(started.wait(), 5)
                began = time.perf_counter()
            took = time.perf_counter() - began
            await asyncio.wait({pending}, timeout=5)  # the client sees the connection drop
            assert pending.done()
            assert isinstance(pending.exception(), httpx.HTTPError)
        return took

    assert run(main) < 1.0


def test_full_demo_gives_every_designed_outcome_within_seconds() -> None:
    async def main() -> tuple[list[tuple[str, object, object]], int, float]:
        async with DemoSite() as server:
            urls = demo_urls(server.base_url)
            began = time.perf_counter()
            mismatches, count = [], 0
            options = FetchOptions(concurrency=50)
            async for result in fetch_stream(urls, options):
                count += 1
                got, expected = (result.status, result.error), expected_outcome(result.url, options)
                if got != expected:
                    mismatches.append((result.url, got, expected))
            return mismatches, count, time.perf_counter() - began

    mismatches, count, wall = run(main, limit=30)
    assert (mismatches, count) == ([], 300)
    assert wall < 10


def test_demo_with_request_options_still_gives_every_designed_outcome() -> None:
    options = FetchOptions(
        concurrency=50, retries=0, follow=False, timeout=0.9, accept="200-299,404"
    )

    async def main() -> list[tuple[str, object, object]]:
        mismatches = []
        async with DemoSite() as server:
            async for result in fetch_stream(demo_urls(server.base_url, 150), options):
                got, expected = (result.status, result.error), expected_outcome(result.url, options)
                if got != expected:
                    mismatches.append((result.url, got, expected))
        return mismatches

    assert run(main, limit=30) == []
