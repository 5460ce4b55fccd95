"""Concurrency, per-host and rate limits, counted at the server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import aclosing

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fetchcli import FetchOptions, FetchResult, fetch_stream
from servers import ThreadedServer


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as running:
        yield running


def run(urls: list[str], options: FetchOptions) -> list[FetchResult]:
    async def collect() -> list[FetchResult]:
        async with aclosing(fetch_stream(urls, options)) as results:
            return [result async for result in results]

    return asyncio.run(collect())


def fresh_peak(server: ThreadedServer) -> None:
    assert server.server is not None
    server.server.max_in_flight = 0


@pytest.mark.parametrize("mode", ["queue", "semaphore"])
def test_concurrency_caps_requests_in_flight(server: ThreadedServer, mode: str) -> None:
    fresh_peak(server)
    urls = [server.url(f"/hold?delay=0.1&n={n}") for n in range(30)]
    results = run(urls, FetchOptions(concurrency=5, mode=mode))
    assert all(r.ok for r in results) and len(results) == 30
    assert server.max_in_flight == 5  # reached, never passed


def test_gather_mode_is_bounded_by_the_pool(server: ThreadedServer) -> None:
    fresh_peak(server)
    urls = [server.url(f"/hold?delay=0.1&n={n}") for n in range(30)]
    results = run(urls, FetchOptions(concurrency=5, mode="gather"))
    assert all(r.ok for r in results)
    assert server.max_in_flight <= 5


def test_waiting_for_a_pooled_connection_does_not_count_against_the_timeout(
    server: ThreadedServer,
) -> None:
    # 20 requests of 0.3 s through 2 connections take ~3 s in all; each attempt
    # is given 1 s, which only the time on the wire may use.
    urls = [server.url(f"/hold?delay=0.3&p={n}") for n in range(20)]
    results = run(urls, FetchOptions(concurrency=2, mode="gather", timeout=1.0, retries=0))
    assert [r.error for r in results if not r.ok] == []


@pytest.mark.parametrize("mode", ["queue", "semaphore", "gather"])
def test_per_host_caps_each_host(server: ThreadedServer, mode: str) -> None:
    fresh_peak(server)
    port = server.base_url.rsplit(":", 1)[1]
    urls = [f"http://127.0.0.1:{port}/hold?delay=0.1&n={n}" for n in range(12)]
    results = run(urls, FetchOptions(concurrency=10, per_host=2, mode=mode))
    assert all(r.ok for r in results)
    assert server.max_in_flight == 2


def test_per_host_counts_hosts_apart(server: ThreadedServer) -> None:
    fresh_peak(server)
    port = server.base_url.rsplit(":", 1)[1]
    urls = [
        f"http://{host}:{port}/hold?delay=0.15&n={n}"
        for n in range(8)
        for host in ("127.0.0.1", "localhost")
    ]
    results = run(urls, FetchOptions(concurrency=10, per_host=2))
    assert all(r.ok for r in results)
    assert server.max_in_flight == 4


@pytest.mark.parametrize("mode", ["queue", "semaphore", "gather"])
def test_rate_allows_at_most_r_plus_one_starts_in_any_second(mode: str) -> None:
    # The first 3 requests hold all 3 connections for 1 s. In gather mode the
    # next ones pass the rate limit meanwhile and would all start together
    # when the connections free up, unless the limit waits for the pool too.
    starts: list[float] = []

    def record(request: Request) -> Response:
        starts.append(time.monotonic())
        if int(request.args["n"]) < 3:
            time.sleep(1.0)
        return Response("ok")

    httpserver = HTTPServer(threaded=True)
    httpserver.start()
    httpserver.expect_request("/r").respond_with_handler(record)
    urls = [httpserver.url_for(f"/r?n={n}") for n in range(12)]
    try:
        results = run(urls, FetchOptions(concurrency=3, rate=5, mode=mode))
    finally:
        httpserver.clear()
        httpserver.stop()
    assert all(r.ok for r in results) and len(starts) == 12
    busiest = max(sum(1 for t in starts if first <= t < first + 1.0) for first in starts)
    assert busiest <= 5 + 1


def test_per_host_state_is_dropped_when_a_host_is_idle(server: ThreadedServer) -> None:
    from fetchcli.engine.limits import HostLimit

    async def use_many_hosts() -> int:
        limit = HostLimit(2, 8)
        for n in range(1000):
            async with limit.hold(f"host{n}.example"):
                pass
        return len(limit._slots)

    assert asyncio.run(use_many_hosts()) == 0


@pytest.mark.parametrize("mode", ["queue", "semaphore"])
def test_a_busy_host_does_not_stall_the_others(server: ThreadedServer, mode: str) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    slow = [f"http://127.0.0.1:{port}/hold?delay=0.3&s={n}" for n in range(5)]
    fast = [f"http://localhost:{port}/sized?bytes=10&f={n}" for n in range(10)]
    results = run(slow + fast, FetchOptions(concurrency=5, per_host=1, mode=mode))
    hosts = ["slow" if "127.0.0.1" in r.url else "fast" for r in results]
    assert all(r.ok for r in results) and len(results) == 15
    # Every fast URL is done before even the first slow one (0.3 s) is.
    assert hosts[:10] == ["fast"] * 10
