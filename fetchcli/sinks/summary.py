"""Summary: run-wide counts and latency percentiles in fixed memory."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from fetchcli.model import FetchResult, is_transient

# Latencies go into logarithmic buckets 1% wide from 10 µs to ~3 hours, so the
# percentiles are within 1% and memory does not grow with the number of URLs.
_BASE = 1e-5
_GROWTH = math.log(1.01)
_BUCKETS = 2100


class Summary:
    """Counts by status and error kind, bytes, and a latency histogram.

    Usage: `summary.add(result)` for each result, then `summary.to_dict(wall)`.
    """

    def __init__(self) -> None:
        self.total = 0
        self.ok = 0
        self.excluded = 0
        self.transient = 0
        self.permanent = 0
        self.bytes = 0
        self.by_status: Counter[int] = Counter()
        self.by_error: Counter[str] = Counter()
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
            self.by_error[str(result.error)] += 1
        self.bytes += result.size or 0
        if result.attempts:
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

    def to_dict(self, wall: float) -> dict[str, Any]:
        """The `--summary-json` figures."""
        timed = bool(self._timed)
        return {
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "excluded": self.excluded,
            "by_status": {str(code): n for code, n in sorted(self.by_status.items())},
            "by_error": dict(sorted(self.by_error.items())),
            "bytes": self.bytes,
            "latency": {
                "min": round(self._min, 6) if timed else None,
                "median": _round(self.percentile(0.5)),
                "p95": _round(self.percentile(0.95)),
                "max": round(self._max, 6) if timed else None,
            },
            "wall": round(wall, 6),
            "rps": round(self.total / wall, 3) if wall > 0 else 0.0,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
