"""The model every layer shares: records in, results out, and the fetcher seam between them.

Usage:

    async def fetcher(record: UrlRecord) -> FetchResult: ...   # any Fetcher
    result = await fetcher(UrlRecord(source="urls.txt", line=3, url="https://a.example/"))

This module imports nothing of fetchcli's (nor any third-party package): the
sources produce `UrlRecord`s, a `Fetcher` turns each into a `FetchResult`, the
engine schedules records onto a fetcher and the sinks observe the results.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """Why a result failed; exactly the kinds of the jsonl `error` field."""

    INVALID_URL = "invalid_url"
    TIMEOUT = "timeout"
    CONNECT = "connect"
    DNS = "dns"
    TLS = "tls"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    PROTOCOL = "protocol"
    HTTP_STATUS = "http_status"
    FILE = "file"  # a local link's target is missing (link checking)
    FRAGMENT = "fragment"  # a #fragment names no anchor of its target (link checking)


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlRecord:
    """One input record: where it came from and the URL to fetch, or why not."""

    source: str
    line: int
    url: str
    error: str | None = None
    column: int | None = None  # where a link found by --extract starts (1-based)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """The outcome of one input record; fields are the jsonl keys, in order.

    Usage: `if not result.ok: print(result.url, result.error, result.message)`.
    """

    source: str
    line: int
    url: str
    final_url: str | None = None
    status: int | None = None
    ok: bool = False
    size: int | None = None
    elapsed: float = 0.0
    attempts: int = 0
    redirects: int = 0
    content_type: str | None = None
    truncated: bool = False
    error: ErrorKind | None = None
    message: str | None = None
    column: int | None = None  # where the link starts in its document (--extract)
    cached: bool = False  # served from --cache, or from an earlier occurrence in this run
    saved: str | None = None  # the file --save wrote the body to
    fetched_at: str | None = None  # RFC 3339, UTC: when the result was completed

    def to_record(self) -> dict[str, Any]:
        """The jsonl/csv record: a dict in the contract's key order."""
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_record(cls, record: object) -> FetchResult:
        """Rebuild a result from its jsonl record; ValueError if it is not one."""
        if not isinstance(record, dict) or list(record) != list(FIELDS):
            raise ValueError("not a fetchcli record")
        error = record["error"]
        return cls(**{**record, "error": None if error is None else ErrorKind(error)})


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FetchResult))
_VALUES = operator.attrgetter(*FIELDS)


def changed(result: FetchResult, **changes: Any) -> FetchResult:
    """`dataclasses.replace(result, **changes)` in about half the time.

    A link check answers thousands of repeated links from one earlier result each.
    """
    values = dict(zip(FIELDS, _VALUES(result), strict=True))
    values.update(changes)
    return FetchResult(**values)


# The seam: how one record becomes its result. The HTTP fetcher, the cache
# around a fetcher and the --workers pool are all one of these.
Fetcher = Callable[[UrlRecord], Awaitable[FetchResult]]

# What an attempt passes through before it may start (--per-host, --rate):
# an async context manager per URL, held for the attempt.
Gate = Callable[[str], AbstractAsyncContextManager[object]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """A page read whole for its links: an --extract SOURCE that is a URL.

    The run already knows its outcome, so a link back to it is not requested again.
    Usage: `Page(url=u, final_url=u, status=200, text=html).results()`.
    """

    url: str
    final_url: str
    status: int
    text: str
    content_type: str | None = None
    size: int = 0  # body bytes read
    elapsed: float = 0.0
    redirects: int = 0

    def results(self) -> list[FetchResult]:
        """Its outcome as a link would get it: for its URL and, if it moved, its final URL."""
        found = [self._result(self.url, self.redirects)]
        if self.final_url != self.url:
            found.append(self._result(self.final_url, 0))
        return found

    def _result(self, url: str, redirects: int) -> FetchResult:
        return FetchResult(
            source="",
            line=0,
            url=url,
            final_url=self.final_url,
            status=self.status,
            ok=True,
            size=self.size,
            elapsed=self.elapsed,
            attempts=1,
            redirects=redirects,
            content_type=self.content_type,
            fetched_at=now(),
        )


def place_of(record: UrlRecord) -> dict[str, Any]:
    """The fields a result takes from its record: where it came from and what was asked."""
    return {
        "source": record.source,
        "line": record.line,
        "column": record.column,
        "url": record.url,
    }


def result_for(record: UrlRecord, **fields: Any) -> FetchResult:
    """A result for `record`, completed now: the one place a fetcher copies the record's fields.

    Usage: `result_for(record, status=200, ok=True, size=512, attempts=1)`.
    """
    return FetchResult(
        source=record.source,  # place_of(record), spelled out: one result per request
        line=record.line,
        column=record.column,
        url=record.url,
        fetched_at=now(),
        **fields,
    )


def invalid_result(record: UrlRecord) -> FetchResult:
    """The result for a record that is not fetched because its URL is invalid."""
    return result_for(record, error=ErrorKind.INVALID_URL, message=record.error)


def now() -> str:
    """The time for `fetched_at`: RFC 3339, UTC, in milliseconds (`2026-11-30T09:25:36.120Z`)."""
    global _last, _second
    millis = int(time.time() * 1000)
    last = _last
    if millis == last[0]:  # results complete several to a millisecond
        return last[1]
    whole, fraction = divmod(millis, 1000)
    if whole != _second[0]:  # the date and time are formatted once a second, not per result
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    _last = (millis, f"{_second[1]}.{fraction:03d}Z")
    return _last[1]


_second: tuple[int, str] = (-1, "")  # the whole second last formatted, and its text
_last: tuple[int, str] = (-1, "")  # the millisecond last given, and its text


# The two outcome rules, side by side: their sets differ on purpose. A 500 is
# transient (the server may recover) but not retried (it rarely does within
# seconds), while 408/429/502/503/504 are both.
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
_RETRY_KINDS = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECT})
_TRANSIENT_STATUSES = frozenset({408, 429, *range(500, 600)})


def is_retryable(kind: ErrorKind | None, status: int | None) -> bool:
    """Whether another attempt may succeed: connect errors, timeouts, 408/429/502/503/504."""
    if kind is not None and kind is not ErrorKind.HTTP_STATUS:
        return kind in _RETRY_KINDS
    return status in RETRY_STATUSES


def is_transient(result: FetchResult) -> bool:
    """Whether a failed result may pass later (exit 3) rather than being broken (exit 1)."""
    if result.error is ErrorKind.HTTP_STATUS:
        return result.status in _TRANSIENT_STATUSES
    # A timeout or reset is transient even when headers (a status) had arrived.
    return result.error in _RETRY_KINDS
