"""engine.dedup: one request per distinct target, a record for every occurrence."""

from __future__ import annotations

import asyncio

from fetchcli.engine.dedup import Deduplicated
from fetchcli.model import FIELDS, ErrorKind, FetchResult, Page, UrlRecord

# Told for each occurrence's own place; every other field is the first outcome's.
_PLACE = {"source", "line", "column", "url", "final_url", "elapsed", "attempts", "cached"}
_PLACE |= {"fetched_at"}


def _outcome(record: UrlRecord) -> FetchResult:
    return FetchResult(
        source=record.source, line=record.line, column=record.column, url=record.url,
        final_url="https://h.test/moved", status=404, ok=True, size=7, elapsed=0.5,
        attempts=2, redirects=1, content_type="text/html", truncated=True,
        error=ErrorKind.HTTP_STATUS, message="Not Found", cached=True, saved="/tmp/x.html",
        fetched_at="2026-11-30T00:00:00.000Z",
    )  # fmt: skip


def test_the_outcome_used_here_sets_every_field_apart_from_its_default() -> None:
    # Else a field added later, left at its default on both sides, would pass unseen.
    outcome = _outcome(UrlRecord(source="a.md", line=1, column=2, url="https://h.test/p"))
    default = FetchResult(source="", line=0, url="")
    same = [name for name in FIELDS if getattr(outcome, name) == getattr(default, name)]
    assert same == []


def test_a_repeat_keeps_every_field_of_the_outcome_but_its_place() -> None:
    asked: list[str] = []

    async def fetcher(record: UrlRecord) -> FetchResult:
        asked.append(record.url)
        return _outcome(record)

    async def run() -> tuple[FetchResult, FetchResult]:
        fetch = Deduplicated(fetcher)
        first = await fetch(UrlRecord(source="a.md", line=1, column=2, url="https://h.test/p#x"))
        again = await fetch(UrlRecord(source="b.md", line=3, column=4, url="https://h.test/p"))
        return first, again

    first, again = asyncio.run(run())
    assert asked == ["https://h.test/p#x"]
    for name in set(FIELDS) - _PLACE:
        assert getattr(again, name) == getattr(first, name), name
    assert (again.source, again.line, again.column, again.url) == ("b.md", 3, 4, "https://h.test/p")
    assert (again.attempts, again.elapsed, again.cached) == (0, 0.0, True)
    assert again.final_url == first.final_url  # it moved: the same final URL


def test_a_page_already_read_is_not_requested_again() -> None:
    async def fetcher(record: UrlRecord) -> FetchResult:
        raise AssertionError(f"requested {record.url}")

    page = Page(url="https://h.test/", final_url="https://h.test/home", status=200, text="")

    async def run() -> list[FetchResult]:
        fetch = Deduplicated(fetcher, page.results())
        urls = ("https://h.test/", "https://h.test/home#top")
        return [await fetch(UrlRecord(source="-", line=1, url=url)) for url in urls]

    asked, final = asyncio.run(run())
    assert (asked.ok, asked.status, asked.redirects, asked.final_url) == (
        True, 200, 0, "https://h.test/home",
    )  # fmt: skip
    assert (final.ok, final.final_url, final.cached) == (True, "https://h.test/home#top", True)
