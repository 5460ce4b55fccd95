"""Summary: run-wide counts and latency percentiles in fixed memory; what is in flight."""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fetchcli.model import ErrorKind, Fetcher, FetchResult, UrlRecord, is_transient

# Latencies go into logarithmic buckets 1% wide from 10 µs to ~3 hours, so the
# percentiles are within 1% and memory does not grow with the number of URLs.
_BASE = 1e-5
_GROWTH = math.log(1.01)
_BUCKETS = 2100
# Figures are rounded once, here, so the summary, --summary-json and reports agree.
_SECONDS_DIGITS = 6
_RPS_DIGITS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Latency of timed results in seconds (min and max exact, percentiles within 1%).

    All four are None when no result was timed (every one invalid or cached).
    """

    min: float | None = None
    median: float | None = None
    p95: float | None = None
    max: float | None = None

    def items(self) -> tuple[tuple[str, float | None], ...]:
        """`(name, seconds)` pairs in the order they are shown: min, median, p95, max."""
        return (("min", self.min), ("median", self.median), ("p95", self.p95), ("max", self.max))


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryFigures:
    """The run's figures as the summary, `--summary-json` and reports show them.

    `cached` counts results served from --cache or from an earlier occurrence
    in the run (no request made); `rps` counts only requests made (results
    with attempts > 0), so cache hits do not inflate it.

    Usage: `figures = summary.figures(wall); figures.failed; figures.latency.p95`.
    """

    total: int
    ok: int
    failed: int
    excluded: int
    by_status: Mapping[int, int]  # sorted by code
    by_error: Mapping[ErrorKind, int]  # sorted by name
    bytes: int
    latency: Latency
    wall: float
    rps: float
    cached: int = 0

    def to_json(self) -> dict[str, object]:
        """The `--summary-json` object: the contract's keys in order, status codes as strings.

        `cached` comes last, after the keys SPEC lists, so their order is unchanged.
        """
        return {
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "excluded": self.excluded,
            "by_status": {str(code): n for code, n in self.by_status.items()},
            "by_error": {str(kind): n for kind, n in self.by_error.items()},
            "bytes": self.bytes,
            "latency": dict(self.latency.items()),
            "wall": self.wall,
            "rps": self.rps,
            "cached": self.cached,
        }


class Summary:
    """Counts by status and error kind, bytes, and a latency histogram.

    Usage: `summary.add(result)` for each result, then `summary.figures(wall)`.
    """

    def __init__(self) -> None:
        self.total = 0
        self.ok = 0
        self.cached = 0
        self.requests = 0  # results with attempts > 0: what req/s counts
        self.excluded = 0
        self.transient = 0
        self.permanent = 0
        self.bytes = 0
        self.by_status: Counter[int] = Counter()
        self.by_error: Counter[ErrorKind] = Counter()
        self._histogram = [0] * _BUCKETS
        self._timed = 0
        self._min = math.inf
        self._max = 0.0

    @property
    def failed(self) -> int:
        return self.total - self.ok

    def add(self, result: FetchResult) -> None:
        """Count one result."""
        self.total += 1
        if result.ok:
            self.ok += 1
        elif is_transient(result):
            self.transient += 1
        else:
            self.permanent += 1
        if result.status is not None:
            self.by_status[result.status] += 1
        if result.error is not None:
            self.by_error[result.error] += 1
        self.bytes += result.size or 0
        self.cached += result.cached
        if result.attempts:
            self.requests += 1
            self._time(result.elapsed)

    def _time(self, seconds: float) -> None:
        self._timed += 1
        self._min = min(self._min, seconds)
        self._max = max(self._max, seconds)
        index = 0 if seconds <= _BASE else int(math.log(seconds / _BASE) / _GROWTH) + 1
        self._histogram[min(index, _BUCKETS - 1)] += 1

    def percentile(self, fraction: float) -> float | None:
        """The latency below which `fraction` of timed results fall (within 1%)."""
        if not self._timed:
            return None
        rank = max(1, math.ceil(fraction * self._timed))
        seen = 0
        for index, count in enumerate(self._histogram):
            seen += count
            if seen >= rank:
                # The geometric middle of the bucket, kept inside what was seen.
                value = _BASE * math.exp((index - 0.5) * _GROWTH) if index else _BASE
                return min(max(value, self._min), self._max)
        return self._max

    def figures(self, wall: float) -> SummaryFigures:
        """The figures after `wall` seconds of run time."""
        return SummaryFigures(
            total=self.total,
            ok=self.ok,
            failed=self.failed,
            excluded=self.excluded,
            by_status=dict(sorted(self.by_status.items())),
            by_error=dict(sorted(self.by_error.items())),
            bytes=self.bytes,
            latency=self._latency(),
            wall=round(wall, _SECONDS_DIGITS),
            rps=round(self.requests / wall, _RPS_DIGITS) if wall > 0 else 0.0,
            cached=self.cached,
        )

    def _latency(self) -> Latency:
        if not self._timed:
            return Latency()
        return Latency(
            min=round(self._min, _SECONDS_DIGITS),
            median=_round(self.percentile(0.5)),
            p95=_round(self.percentile(0.95)),
            max=round(self._max, _SECONDS_DIGITS),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _SECONDS_DIGITS)


class InFlight:
    """The records a fetcher is working on now, for the live status line.

    Usage: `fetcher = in_flight.wrap(fetcher)`; then, at any time, `in_flight.count`
    and `in_flight.oldest()`. A record counts from the moment the fetcher takes it
    (after --per-host parking) until its result, retries and Retry-After waits included.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ids = itertools.count()
        # Start times by id; a dict keeps insertion order, so the first is the oldest.
        self._started: dict[int, float] = {}

    @property
    def count(self) -> int:
        return len(self._started)

    def oldest(self) -> float | None:
        """When the longest-running record was taken (clock time), or None when none is."""
        return next(iter(self._started.values()), None)

    def wrap(self, fetcher: Fetcher) -> Fetcher:
        """The same fetcher, counted."""

        async def fetch(record: UrlRecord) -> FetchResult:
            key = next(self._ids)
            self._started[key] = self._clock()
            try:
                return await fetcher(record)
            finally:
                del self._started[key]

        return fetch
