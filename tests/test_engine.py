"""The engine as a library: fetch_stream, its modes, ordering and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest
from pytest_httpserver import HTTPServer

from conftest import REFUSED
from fetchcli import ErrorKind, FetchOptions, FetchResult, UrlRecord, fetch_stream


def collect(urls: object, options: FetchOptions | None = None) -> list[FetchResult]:
    async def run() -> list[FetchResult]:
        async with aclosing(fetch_stream(urls, options)) as results:  # type: ignore[arg-type]
            return [result async for result in results]

    return asyncio.run(run())


def mixed_urls(site: HTTPServer) -> list[str]:
    return [
        site.url_for("/ok"),
        site.url_for("/missing"),
        site.url_for("/moved"),
        site.url_for("/broken"),
        "ftp://example.invalid/file",
        REFUSED,
        site.url_for("/other"),
    ]


def outcome(result: FetchResult) -> tuple[object, ...]:
    return (result.line, result.url, result.status, result.error, result.size, result.redirects)


@pytest.mark.parametrize("mode", ["queue", "semaphore", "gather"])
def test_every_mode_gives_the_same_results(site: HTTPServer, mode: str) -> None:
    urls = mixed_urls(site)
    reference = sorted(map(outcome, collect(urls, FetchOptions(retries=0))))
    results = collect(urls, FetchOptions(mode=mode, retries=0, concurrency=3))
    assert sorted(map(outcome, results)) == reference
    assert len(results) == len(urls)


def test_results_carry_status_size_redirects_and_final_url(site: HTTPServer) -> None:
    by_line = {r.line: r for r in collect(mixed_urls(site), FetchOptions(retries=0))}
    assert by_line[1].ok and by_line[1].status == 200 and by_line[1].size == len("hello world")
    assert by_line[2].error is ErrorKind.HTTP_STATUS and by_line[2].status == 404
    assert by_line[3].redirects == 1 and by_line[3].final_url == site.url_for("/ok")
    assert by_line[5].error is ErrorKind.INVALID_URL and by_line[5].attempts == 0
    assert by_line[6].error is ErrorKind.CONNECT and by_line[6].final_url is None


def test_results_are_frozen(site: HTTPServer) -> None:
    (result,) = collect([site.url_for("/ok")])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = 500  # type: ignore[misc]


def test_accepts_an_async_iterable_of_strings(site: HTTPServer) -> None:
    async def urls() -> AsyncIterator[str]:
        for path in ("/ok", "/other"):
            yield site.url_for(path)

    assert sorted(r.status for r in collect(urls())) == [200, 200]


def test_accepts_ready_made_records(site: HTTPServer) -> None:
    record = UrlRecord(source="list.txt", line=42, url=site.url_for("/ok"))
    (result,) = collect([record])
    assert (result.source, result.line, result.ok) == ("list.txt", 42, True)


def test_string_input_applies_input_rules(site: HTTPServer) -> None:
    urls = ["# comment", "", site.url_for("/ok"), site.url_for("/ok")]
    results = collect(urls, FetchOptions(unique=True))
    assert [r.line for r in results] == [3]


def test_order_input_writes_results_in_input_order(site: HTTPServer) -> None:
    urls = [site.url_for(p) for p in ("/ok", "/missing", "/other", "/broken")] * 5
    results = collect(urls, FetchOptions(order="input", concurrency=4, retries=0))
    assert [r.line for r in results] == list(range(1, 21))


def test_accept_list_makes_a_404_ok(site: HTTPServer) -> None:
    (result,) = collect([site.url_for("/missing")], FetchOptions(accept="200-299,404"))
    assert result.ok and result.error is None


def test_no_follow_reports_the_redirect_itself(site: HTTPServer) -> None:
    (result,) = collect([site.url_for("/moved")], FetchOptions(follow=False))
    assert result.status == 301 and result.redirects == 0
    assert result.final_url == result.url and result.error is ErrorKind.HTTP_STATUS


def test_head_reads_no_body(site: HTTPServer) -> None:
    (result,) = collect([site.url_for("/ok")], FetchOptions(method="HEAD"))
    assert result.ok and result.size == 0
    assert site.log[-1][0].method == "HEAD"


def test_head_get_repeats_as_get_after_405(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/nohead", method="HEAD").respond_with_data("", status=405)
    httpserver.expect_request("/nohead", method="GET").respond_with_data("body")
    (result,) = collect([httpserver.url_for("/nohead")], FetchOptions(method="HEAD,GET"))
    assert result.ok and result.size == 4 and result.attempts == 2
    assert [request.method for request, _ in httpserver.log] == ["HEAD", "GET"]


def test_headers_and_user_agent_are_sent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/h").respond_with_data("ok")
    options = FetchOptions(headers=("X-Token: abc",), user_agent="probe/1")
    collect([httpserver.url_for("/h")], options)
    request = httpserver.log[0][0]
    assert request.headers["X-Token"] == "abc" and request.headers["User-Agent"] == "probe/1"


def test_default_user_agent_names_fetchcli(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ua").respond_with_data("ok")
    collect([httpserver.url_for("/ua")])
    assert httpserver.log[0][0].headers["User-Agent"].startswith("fetchcli/")


def test_retries_after_503_until_attempts_run_out(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/busy").respond_with_data("busy", status=503)
    (result,) = collect([httpserver.url_for("/busy")], FetchOptions(retries=2, backoff=0.01))
    assert result.attempts == 3 and len(httpserver.log) == 3
    assert result.status == 503 and not result.ok


def test_no_retry_after_404(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing").respond_with_data("no", status=404)
    (result,) = collect([httpserver.url_for("/missing")], FetchOptions(retries=3, backoff=0.01))
    assert result.attempts == 1 and len(httpserver.log) == 1


def test_retry_after_longer_than_the_cap_fails_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/later").respond_with_data(
        "", status=429, headers={"Retry-After": "120"}
    )
    options = FetchOptions(retries=3, max_retry_after=1)
    (result,) = collect([httpserver.url_for("/later")], options)
    assert result.attempts == 1 and "120" in (result.message or "")


def test_retry_succeeds_once_the_server_recovers(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/flaky").respond_with_data(
        "", status=503, headers={"Retry-After": "0"}
    )
    httpserver.expect_ordered_request("/flaky").respond_with_data("fine")
    (result,) = collect([httpserver.url_for("/flaky")], FetchOptions(retries=2))
    assert result.ok and result.attempts == 2


def test_closing_the_stream_early_stops_the_engine(site: HTTPServer) -> None:
    async def run() -> set[asyncio.Task[object]]:
        urls = [site.url_for("/ok")] * 200
        async with aclosing(fetch_stream(urls, FetchOptions(concurrency=5))) as results:
            async for _ in results:
                break
        await asyncio.sleep(0)
        return {t for t in asyncio.all_tasks() if not t.done() and t is not asyncio.current_task()}

    assert asyncio.run(run()) == set()


def test_a_failing_source_raises_in_the_consumer() -> None:
    def urls() -> object:
        yield "http://127.0.0.1:9/"
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        collect(urls())


def test_the_engine_imports_neither_typer_nor_rich() -> None:
    # Block both: any import of them by the core fails loudly. (httpx itself
    # imports rich for its own CLI when click is installed; it guards that.)
    code = (
        "import sys\n"
        "sys.modules.update(rich=None, typer=None)\n"
        "import fetchcli.engine.stream, fetchcli.sinks.summary, fetchcli.sinks.formats\n"
        "import fetchcli.sinks.resume, fetchcli.http.client, fetchcli.sources.readers\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()


def test_retry_after_as_an_http_date_beyond_the_cap_fails_at_once(httpserver: HTTPServer) -> None:
    from email.utils import formatdate

    later = formatdate(time.time() + 3600, usegmt=True)
    httpserver.expect_request("/date").respond_with_data(
        "", status=503, headers={"Retry-After": later}
    )
    (result,) = collect([httpserver.url_for("/date")], FetchOptions(retries=3))
    assert result.attempts == 1 and "--max-retry-after" in (result.message or "")


def test_retry_after_as_a_past_http_date_retries_at_once(httpserver: HTTPServer) -> None:
    from email.utils import formatdate

    httpserver.expect_ordered_request("/past").respond_with_data(
        "", status=429, headers={"Retry-After": formatdate(time.time() - 60, usegmt=True)}
    )
    httpserver.expect_ordered_request("/past").respond_with_data("ok")
    (result,) = collect([httpserver.url_for("/past")], FetchOptions(retries=1, backoff=30))
    assert result.ok and result.attempts == 2 and result.elapsed < 10


def test_head_get_probe_does_not_use_up_a_retry(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/h", method="HEAD").respond_with_data("", status=405)
    httpserver.expect_ordered_request("/h", method="GET").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/h", method="GET").respond_with_data("body")
    options = FetchOptions(method="HEAD,GET", retries=1, backoff=0.01)
    (result,) = collect([httpserver.url_for("/h")], options)
    assert result.ok and result.attempts == 3
    assert [request.method for request, _ in httpserver.log] == ["HEAD", "GET", "GET"]


def test_cookies_are_not_carried_from_one_url_to_the_next(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/set").respond_with_data("", headers={"Set-Cookie": "id=1; Path=/"})
    httpserver.expect_request("/next").respond_with_data("ok")
    collect([httpserver.url_for("/set"), httpserver.url_for("/next")], FetchOptions(concurrency=1))
    assert [request.headers.get("Cookie") for request, _ in httpserver.log] == [None, None]


@pytest.mark.parametrize("stopping", [False, True], ids=["no-stop", "stop-event"])
@pytest.mark.parametrize("lasting", [False, True], ids=["one-failure", "every-later-fetch-fails"])
@pytest.mark.parametrize("mode", ["queue", "semaphore", "gather"])
def test_a_failing_fetcher_ends_the_run_under_order_input(
    mode: str, lasting: bool, stopping: bool
) -> None:
    """A fetcher that raises (a failing --save disk, a dead --workers process) ends the run
    with its error in every mode: under --order input the window would otherwise wait for
    it forever, and a failure that lasts must not cancel the run's clean-up again and again
    (the CLI always passes a stop event)."""
    from fetchcli.engine.stream import stream
    from fetchcli.model import result_for
    from fetchcli.options import Mode, Order, Schedule

    async def fetcher(record: UrlRecord) -> FetchResult:
        await asyncio.sleep(0)
        if record.line == 3 or (lasting and record.line > 3):
            raise RuntimeError("the disk is full")
        return result_for(record, status=200, ok=True, attempts=1)

    async def records() -> AsyncIterator[UrlRecord]:
        for line in range(1, 500):
            yield UrlRecord(source="list", line=line, url=f"http://a.test/{line}")

    async def run() -> int:
        schedule = Schedule(concurrency=2, mode=Mode(mode), order=Order.INPUT)
        seen = 0
        stop = asyncio.Event() if stopping else None
        async with aclosing(stream(records(), schedule, fetcher, stop=stop)) as results:
            async for _ in results:
                seen += 1
        return seen

    with pytest.raises(RuntimeError, match="the disk is full"):
        asyncio.run(asyncio.wait_for(run(), 5))


@pytest.mark.parametrize("mode", ["queue", "semaphore", "gather"])
def test_closing_the_stream_as_a_fetch_fails_never_hangs(mode: str) -> None:
    """The consumer leaves (closing the stream) about when a fetch fails and the results
    queue is full: the engine must not wait for room that nobody will make. (A gather
    cancelled just as a task of it fails raises that error, using the cancellation up.)"""
    from fetchcli.engine.stream import stream
    from fetchcli.model import result_for
    from fetchcli.options import Mode, Schedule

    async def run(fail_at: int, spins: int) -> None:
        async def fetcher(record: UrlRecord) -> FetchResult:
            for _ in range(record.line % 3):
                await asyncio.sleep(0)
            if record.line >= fail_at:
                raise RuntimeError("the disk is full")
            return result_for(record, status=200, ok=True, attempts=1)

        async def records() -> AsyncIterator[UrlRecord]:
            for line in range(1, 400):
                yield UrlRecord(source="list", line=line, url=f"http://a.test/{line}")

        schedule = Schedule(concurrency=8, mode=Mode(mode))
        with contextlib.suppress(RuntimeError):
            async with aclosing(stream(records(), schedule, fetcher)) as results:
                async for seen, _ in aenumerate(results):
                    for _ in range(spins):
                        await asyncio.sleep(0)
                    if seen == 1:
                        break

    async def sweep() -> None:  # moments around the queue filling up, as found by review
        for fail_at in range(60, 90):
            for spins in (0, 3, 8):
                await asyncio.wait_for(run(fail_at, spins), 5)

    asyncio.run(sweep())


async def aenumerate(items: AsyncIterator[FetchResult]) -> AsyncIterator[tuple[int, FetchResult]]:
    number = 0
    async for item in items:
        yield number, item
        number += 1


@pytest.mark.parametrize("mode", ["queue", "semaphore", "gather"])
def test_a_failure_after_the_last_record_was_read_reaches_a_slow_consumer(mode: str) -> None:
    """Every record read, the results queue full (a slow consumer), then a fetch fails: the
    error must reach the consumer after the results before it (found by review: a gather
    cancelled as its task failed kept the cancellation, and the engine took it for the
    consumer's leaving)."""
    from fetchcli.engine.stream import stream
    from fetchcli.model import result_for
    from fetchcli.options import Mode, Schedule

    async def fetcher(record: UrlRecord) -> FetchResult:
        if record.line == 71:
            await asyncio.sleep(0.05)
            raise RuntimeError("the disk is full")
        if record.line > 71:
            await asyncio.sleep(10)  # still running when the failure comes
        return result_for(record, status=200, ok=True, attempts=1)

    async def records() -> AsyncIterator[UrlRecord]:
        for line in range(1, 76):
            yield UrlRecord(source="list", line=line, url=f"http://a.test/{line}")

    async def run() -> int:
        seen = 0
        schedule = Schedule(concurrency=20, mode=Mode(mode))
        async with aclosing(stream(records(), schedule, fetcher)) as results:
            async for _ in results:
                if seen == 0:
                    await asyncio.sleep(0.2)  # the results queue fills up meanwhile
                seen += 1
        return seen

    with pytest.raises(RuntimeError, match="the disk is full"):
        asyncio.run(asyncio.wait_for(run(), 5))
