"""Summary: counts, transient/permanent split, bytes, latency percentiles, figures and JSON."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random

import pytest

from conftest import invalid_result
from fetchcli.model import ErrorKind, FetchResult, UrlRecord
from fetchcli.sinks.summary import InFlight, Latency, Summary, SummaryFigures

SPEC_KEYS = [
    "total",
    "ok",
    "failed",
    "excluded",
    "by_status",
    "by_error",
    "bytes",
    "latency",
    "wall",
    "rps",
]
# Added after the SPEC keys (SPEC: cached results have their own row in the summary).
EXTRA_KEYS = ["cached"]


def result(
    *,
    status: int | None = 200,
    error: ErrorKind | None = None,
    size: int | None = 0,
    elapsed: float = 0.1,
    attempts: int = 1,
    cached: bool = False,
) -> FetchResult:
    return FetchResult(
        source="urls.txt",
        line=1,
        url="https://a.example/",
        status=status,
        ok=error is None,
        size=size,
        elapsed=elapsed,
        attempts=attempts,
        error=error,
        cached=cached,
    )


def cache_hit() -> FetchResult:
    return result(attempts=0, elapsed=0.0, cached=True)


def failed(status: int | None, error: ErrorKind) -> FetchResult:
    return result(status=status, error=error, size=None)


def summary_of(*results: FetchResult) -> Summary:
    summary = Summary()
    for item in results:
        summary.add(item)
    return summary


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


# --- counts -----------------------------------------------------------------


def test_empty_summary_counts_nothing() -> None:
    figures = Summary().figures(1.0)
    assert (figures.total, figures.ok, figures.failed, figures.bytes) == (0, 0, 0, 0)
    assert figures.by_status == {}
    assert figures.by_error == {}


def test_empty_summary_has_no_latency() -> None:
    assert Summary().figures(1.0).latency == Latency(min=None, median=None, p95=None, max=None)


def test_total_counts_every_result() -> None:
    summary = summary_of(result(), failed(404, ErrorKind.HTTP_STATUS), invalid_result())
    assert summary.total == 3


def test_ok_counts_ok_results() -> None:
    summary = summary_of(result(), result(status=204), failed(404, ErrorKind.HTTP_STATUS))
    assert summary.ok == 2


def test_failed_is_total_minus_ok() -> None:
    summary = summary_of(result(), failed(None, ErrorKind.DNS), invalid_result())
    assert summary.failed == 2
    assert summary.figures(1.0).failed == 2


def test_by_status_counts_each_code() -> None:
    summary = summary_of(
        result(), result(), failed(404, ErrorKind.HTTP_STATUS), failed(503, ErrorKind.HTTP_STATUS)
    )
    assert summary.figures(1.0).by_status == {200: 2, 404: 1, 503: 1}
    assert summary.figures(1.0).to_json()["by_status"] == {"200": 2, "404": 1, "503": 1}


def test_by_status_is_sorted_by_code() -> None:
    summary = summary_of(failed(503, ErrorKind.HTTP_STATUS), result(), result(status=204))
    assert list(summary.figures(1.0).by_status) == [200, 204, 503]


def test_results_without_status_are_not_in_by_status() -> None:
    summary = summary_of(failed(None, ErrorKind.TIMEOUT), invalid_result())
    assert summary.figures(1.0).by_status == {}


def test_by_error_counts_each_kind() -> None:
    summary = summary_of(
        failed(None, ErrorKind.TIMEOUT),
        failed(None, ErrorKind.TIMEOUT),
        failed(None, ErrorKind.DNS),
        failed(404, ErrorKind.HTTP_STATUS),
        invalid_result(),
    )
    assert summary.figures(1.0).to_json()["by_error"] == {
        "dns": 1,
        "http_status": 1,
        "invalid_url": 1,
        "timeout": 2,
    }
    assert list(summary.figures(1.0).by_error) == [
        ErrorKind.DNS,
        ErrorKind.HTTP_STATUS,
        ErrorKind.INVALID_URL,
        ErrorKind.TIMEOUT,
    ]


def test_ok_results_are_not_in_by_error() -> None:
    assert summary_of(result(), result()).figures(1.0).by_error == {}


def test_excluded_is_reported_as_set() -> None:
    summary = summary_of(result())
    summary.excluded = 4
    figures = summary.figures(1.0)
    assert (figures.excluded, figures.total) == (4, 1)


# --- transient / permanent --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, ErrorKind.HTTP_STATUS),
        (500, ErrorKind.HTTP_STATUS),
        (502, ErrorKind.HTTP_STATUS),
        (504, ErrorKind.HTTP_STATUS),
        (408, ErrorKind.HTTP_STATUS),
        (429, ErrorKind.HTTP_STATUS),
        (None, ErrorKind.TIMEOUT),
        (None, ErrorKind.CONNECT),
    ],
)
def test_transient_failures_are_counted_as_transient(status: int | None, error: ErrorKind) -> None:
    summary = summary_of(failed(status, error))
    assert (summary.transient, summary.permanent) == (1, 0)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, ErrorKind.HTTP_STATUS),
        (403, ErrorKind.HTTP_STATUS),
        (410, ErrorKind.HTTP_STATUS),
        (None, ErrorKind.DNS),
        (None, ErrorKind.TLS),
        (None, ErrorKind.PROTOCOL),
        (302, ErrorKind.TOO_MANY_REDIRECTS),
    ],
)
def test_permanent_failures_are_counted_as_permanent(status: int | None, error: ErrorKind) -> None:
    summary = summary_of(failed(status, error))
    assert (summary.transient, summary.permanent) == (0, 1)


def test_invalid_url_is_permanent() -> None:
    summary = summary_of(invalid_result())
    assert (summary.transient, summary.permanent) == (0, 1)


def test_timeout_after_headers_is_transient() -> None:
    summary = summary_of(result(status=200, error=ErrorKind.TIMEOUT, size=4096))
    assert (summary.transient, summary.permanent) == (1, 0)


def test_ok_result_is_neither_transient_nor_permanent() -> None:
    summary = summary_of(result(), result(status=403))
    assert (summary.transient, summary.permanent) == (0, 0)


def test_failures_split_into_transient_and_permanent() -> None:
    summary = summary_of(
        result(),
        failed(503, ErrorKind.HTTP_STATUS),
        failed(None, ErrorKind.TIMEOUT),
        failed(404, ErrorKind.HTTP_STATUS),
        failed(None, ErrorKind.DNS),
        invalid_result(),
    )
    assert (summary.ok, summary.transient, summary.permanent) == (1, 2, 3)
    assert summary.transient + summary.permanent == summary.failed


# --- bytes ------------------------------------------------------------------


def test_bytes_sum_the_sizes() -> None:
    summary = summary_of(result(size=100), result(size=2048), failed(404, ErrorKind.HTTP_STATUS))
    assert summary.figures(1.0).bytes == 2148


def test_missing_sizes_add_no_bytes() -> None:
    summary = summary_of(result(size=None), invalid_result(), failed(None, ErrorKind.TIMEOUT))
    assert summary.figures(1.0).bytes == 0


def test_failed_result_bytes_are_counted() -> None:
    summary = summary_of(result(status=404, error=ErrorKind.HTTP_STATUS, size=512))
    assert summary.figures(1.0).bytes == 512


# --- latency ----------------------------------------------------------------

MILLISECONDS = [n / 1000 for n in range(1, 1001)]


def latency_of(values: list[float]) -> Latency:
    return summary_of(*(result(elapsed=v) for v in values)).figures(1.0).latency


def same(seconds: float) -> Latency:
    return Latency(min=seconds, median=seconds, p95=seconds, max=seconds)


def test_latency_min_and_max_are_exact() -> None:
    latency = latency_of(MILLISECONDS)
    assert (latency.min, latency.max) == (0.001, 1.0)


def test_latency_median_is_within_one_percent() -> None:
    assert latency_of(MILLISECONDS).median == pytest.approx(0.5, rel=0.01)


def test_latency_p95_is_within_one_percent() -> None:
    assert latency_of(MILLISECONDS).p95 == pytest.approx(0.95, rel=0.01)


def test_latency_does_not_depend_on_order() -> None:
    shuffled = MILLISECONDS[:]
    random.Random(7).shuffle(shuffled)
    assert latency_of(shuffled) == latency_of(MILLISECONDS)


def test_latency_over_a_wide_range_is_within_one_percent() -> None:
    values = [0.0001 * 1.07**n for n in range(250)]  # 100 µs to about 2 hours
    latency = latency_of(values)
    assert latency.median == pytest.approx(nearest_rank(values, 0.5), rel=0.01)
    assert latency.p95 == pytest.approx(nearest_rank(values, 0.95), rel=0.01)


def test_latency_of_one_result_is_that_result() -> None:
    assert latency_of([0.25]) == same(0.25)


def test_latency_of_zero_seconds_is_zero() -> None:
    assert latency_of([0.0, 0.0]) == same(0.0)


def test_percentile_is_none_without_timed_results() -> None:
    assert Summary().percentile(0.5) is None


def test_percentile_stays_within_min_and_max() -> None:
    summary = summary_of(result(elapsed=0.2), result(elapsed=0.2001))
    assert 0.2 <= summary.percentile(0.5) <= 0.2001  # type: ignore[operator]
    assert 0.2 <= summary.percentile(1.0) <= 0.2001  # type: ignore[operator]


def test_invalid_results_are_not_timed() -> None:
    latency = summary_of(invalid_result(), result(elapsed=0.2), invalid_result()).figures(1.0)
    assert latency.latency == same(0.2)


def test_only_untimed_results_give_no_latency() -> None:
    summary = summary_of(invalid_result(), result(attempts=0, elapsed=0.0))
    assert summary.figures(1.0).latency == Latency()


def test_failed_attempts_are_timed() -> None:
    assert summary_of(failed(None, ErrorKind.TIMEOUT)).figures(1.0).latency.max == 0.1


def test_latency_figures_are_rounded_to_microseconds() -> None:
    latency = latency_of([0.1234567891])
    assert latency == same(0.123457)


# --- figures / --summary-json -----------------------------------------------


def test_figures_are_frozen() -> None:
    figures = summary_of(result()).figures(1.0)
    assert isinstance(figures, SummaryFigures)
    with pytest.raises(dataclasses.FrozenInstanceError):
        figures.total = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        figures.latency.min = 0.0  # type: ignore[misc]


def test_figures_do_not_change_as_the_summary_goes_on() -> None:
    summary = summary_of(result(status=404, error=ErrorKind.HTTP_STATUS))
    figures = summary.figures(1.0)
    summary.add(result(status=404, error=ErrorKind.HTTP_STATUS))
    assert (figures.total, figures.by_status, figures.by_error) == (
        1,
        {404: 1},
        {ErrorKind.HTTP_STATUS: 1},
    )


def test_json_keys_are_the_spec_keys_in_order_then_cached() -> None:
    assert list(summary_of(result()).figures(1.0).to_json()) == SPEC_KEYS + EXTRA_KEYS


def test_json_latency_keys_are_exactly_the_spec_keys() -> None:
    latency = summary_of(result()).figures(1.0).to_json()["latency"]
    assert isinstance(latency, dict)
    assert list(latency) == ["min", "median", "p95", "max"]


def test_json_is_the_figures() -> None:
    summary = summary_of(result(), failed(404, ErrorKind.HTTP_STATUS), invalid_result())
    summary.excluded = 2
    assert summary.figures(2.0).to_json() == {
        "total": 3,
        "ok": 1,
        "failed": 2,
        "excluded": 2,
        "by_status": {"200": 1, "404": 1},
        "by_error": {"http_status": 1, "invalid_url": 1},
        "bytes": 0,
        "latency": {"min": 0.1, "median": 0.1, "p95": 0.1, "max": 0.1},
        "wall": 2.0,
        "rps": 1.0,  # the invalid line made no request
        "cached": 0,
    }


def test_json_round_trips_through_json() -> None:
    summary = summary_of(result(), failed(404, ErrorKind.HTTP_STATUS), invalid_result())
    figures = summary.figures(2.5).to_json()
    assert json.loads(json.dumps(figures)) == figures


def test_json_error_kinds_are_plain_strings() -> None:
    by_error = summary_of(failed(None, ErrorKind.DNS)).figures(1.0).to_json()["by_error"]
    assert isinstance(by_error, dict)
    assert [type(kind) for kind in by_error] == [str]


def test_json_counts_have_json_types() -> None:
    figures = summary_of(result(), failed(None, ErrorKind.DNS)).figures(2.0).to_json()
    for key in ("total", "ok", "failed", "excluded", "bytes"):
        assert type(figures[key]) is int, key
    assert isinstance(figures["wall"], float)
    assert isinstance(figures["rps"], float)


def test_wall_is_the_given_seconds() -> None:
    assert summary_of(result()).figures(2.5).wall == 2.5


def test_rps_is_total_over_wall() -> None:
    summary = summary_of(*(result() for _ in range(10)))
    assert summary.figures(4.0).rps == 2.5


def test_rps_counts_only_requests_made() -> None:
    summary = summary_of(result(), result(), cache_hit(), cache_hit(), invalid_result())
    assert summary.figures(1.0).rps == 2.0


def test_cached_counts_results_served_without_a_request() -> None:
    summary = summary_of(result(), cache_hit(), cache_hit())
    assert (summary.cached, summary.figures(1.0).cached) == (2, 2)


def test_json_has_the_cached_count() -> None:
    assert summary_of(cache_hit(), result()).figures(1.0).to_json()["cached"] == 1


def test_cache_hits_are_not_timed() -> None:
    assert summary_of(cache_hit()).figures(1.0).latency == Latency()


def test_rps_with_zero_wall_is_zero() -> None:
    assert summary_of(result()).figures(0.0).rps == 0.0


# --- fixed memory -----------------------------------------------------------


def test_histogram_size_does_not_grow_with_results() -> None:
    summary = Summary()
    size = len(summary._histogram)
    statuses = (200, 404, 503)
    for n in range(100_000):
        status = statuses[n % 3]
        error = None if status == 200 else ErrorKind.HTTP_STATUS
        summary.add(result(status=status, error=error, size=10, elapsed=(n % 5000) / 1000 + 0.001))
    assert len(summary._histogram) == size
    assert summary.total == 100_000
    assert len(summary.by_status) == 3


# --- in flight ----------------------------------------------------------------


def test_in_flight_counts_records_the_fetcher_is_working_on() -> None:
    clock = iter([10.0, 11.0])
    in_flight = InFlight(clock=lambda: next(clock))
    release = asyncio.Event()
    seen: list[tuple[int, float | None]] = []

    async def slow(record: UrlRecord) -> FetchResult:
        await release.wait()
        return result()

    async def main() -> None:
        fetch = in_flight.wrap(slow)
        record = UrlRecord(source="urls.txt", line=1, url="https://a.example/")
        tasks = [asyncio.ensure_future(fetch(record)) for _ in range(2)]
        await asyncio.sleep(0)
        seen.append((in_flight.count, in_flight.oldest()))
        release.set()
        await asyncio.gather(*tasks)
        seen.append((in_flight.count, in_flight.oldest()))

    asyncio.run(main())
    assert seen == [(2, 10.0), (0, None)]


def test_in_flight_forgets_a_record_whose_fetch_raised() -> None:
    in_flight = InFlight()

    async def broken(record: UrlRecord) -> FetchResult:
        raise asyncio.CancelledError

    async def main() -> None:
        record = UrlRecord(source="urls.txt", line=1, url="https://a.example/")
        with pytest.raises(asyncio.CancelledError):
            await in_flight.wrap(broken)(record)

    asyncio.run(main())
    assert in_flight.count == 0
