"""Each distinct target fetched once per run; every later occurrence reuses its outcome.

A documentation tree links to the same pages from many places. Every place
gets its own record (its own source, line and column), but the target is
requested once: a repeat waits for the first request if it is still in
flight, and is then answered with `attempts` 0 and `cached` true.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from fetchcli.model import Fetcher, FetchResult, UrlRecord, changed, now, place_of
from fetchcli.sources.normal_form import normalize_url, unique_key


def target_key(url: str) -> str:
    """What one request answers: the URL's normal form without its fragment (`--unique`'s key).

    Records come normalized by the input rules; a local link keeps its fragment (an
    anchor of that file is a check of its own), a remote fragment is checked after the
    request (--check-fragments), per occurrence.
    """
    return unique_key(url)


class Deduplicated:
    """A fetcher that asks `fetcher` once per distinct target and reuses the outcome.

    Usage: `fetch = Deduplicated(http_fetcher)`; `await fetch(record)` for every occurrence.
    """

    def __init__(self, fetcher: Fetcher, known: Iterable[FetchResult] = ()) -> None:
        self._fetcher = fetcher
        # Outcomes the run already has (pages read for their links) count as fetched.
        self._done = {target_key(normalize_url(r.url)[0]): r for r in known}
        self._pending: dict[str, asyncio.Future[FetchResult]] = {}

    async def __call__(self, record: UrlRecord) -> FetchResult:
        if record.error is not None:
            return await self._fetcher(record)
        key = target_key(record.url)
        done = self._done.get(key)
        if done is not None:
            return _repeat(done, record)
        pending = self._pending.get(key)
        if pending is not None:
            first = await asyncio.shield(pending)
            return _repeat(first, record)
        future: asyncio.Future[FetchResult] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await self._fetcher(record)
        except asyncio.CancelledError:
            future.cancel()  # waiting repeats share the first one's fate: a stop ends the run
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: the waiters re-raise it, nobody else must
            raise
        finally:
            del self._pending[key]
        self._done[key] = result
        future.set_result(result)
        return result


def _repeat(first: FetchResult, record: UrlRecord) -> FetchResult:
    """The first occurrence's outcome, told for this occurrence's place."""
    # Not moved: the final URL is this occurrence's own (its #fragment may differ).
    final_url = record.url if first.final_url == first.url else first.final_url
    return changed(
        first,
        **place_of(record),
        final_url=final_url,
        elapsed=0.0,
        attempts=0,
        cached=True,
        fetched_at=now(),
    )
