"""The library API: `fetch_stream(urls, options)`, with sources, fetchers and the engine wired.

Usage:

    from fetchcli import FetchOptions, fetch_stream

    async with contextlib.aclosing(fetch_stream(urls, FetchOptions(concurrency=100))) as results:
        async for result in results:
            print(result.status, result.url)

`open_fetcher(options)` is the one place that decides how a record is
fetched: the HTTP fetcher here, or the --workers processes, each wrapped in
the --cache when one is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from fetchcli.engine.dedup import Deduplicated
from fetchcli.engine.limits import Limits
from fetchcli.engine.stream import stream
from fetchcli.model import Fetcher, FetchResult, Page, UrlRecord, invalid_result
from fetchcli.options import FetchOptions, InputRules, Method, RequestSpec
from fetchcli.sources.rules import InputFilter

if TYPE_CHECKING:
    from fetchcli.sinks.summary import InFlight

Urls = Iterable[str | UrlRecord] | AsyncIterable[str | UrlRecord]


async def fetch_stream(
    urls: Urls,
    options: FetchOptions | None = None,
    *,
    stop: asyncio.Event | None = None,
    in_flight: InFlight | None = None,
    pages: Iterable[Page] = (),
) -> AsyncGenerator[FetchResult, None]:
    """Fetch every URL and yield one result each, as they complete.

    `urls` holds strings (each one input line, with the input rules of
    `options` applied) or ready-made `UrlRecord`s, in a sync or async iterable.
    Setting `stop` ends the run early but gently: requests in flight are
    cancelled, and every result already complete is still yielded. `pages`
    (with --extract) are pages the caller has already read: a link to one
    reuses its outcome instead of requesting it again.
    """
    options = options or FetchOptions()
    async with open_fetcher(options, pages) as (fetcher, limits):
        if in_flight is not None:  # the live display says what a stalled run waits on
            fetcher = in_flight.wrap(fetcher)
        records = _records(urls, options.rules)
        work = stream(records, options.schedule, fetcher, limits=limits, stop=stop)
        async with aclosing(work) as results:
            async for result in results:
                yield result


@asynccontextmanager
async def open_fetcher(
    options: FetchOptions, pages: Iterable[Page] = ()
) -> AsyncIterator[tuple[Fetcher, Limits]]:
    """The fetcher a run uses, and the limits the engine applies around it.

    Remote records go to the HTTP fetcher (or the --workers processes), wrapped
    in the --cache when one is given. With --extract, `file://` records go to
    the local checker, and each distinct target is fetched once per run. With
    --workers each process applies its share of --per-host and --rate itself,
    so the engine here applies none.
    """
    async with AsyncExitStack() as stack:
        cache = None
        if options.cache is not None:  # opened first: a bad file stops the run before any work
            from fetchcli.sinks.cache import ResultCache
            from fetchcli.sinks.cache_key import cache_variant

            variant = cache_variant(options.request)
            cache = ResultCache(options.cache, options.max_cache_age, variant=variant)
            await stack.enter_async_context(cache)
        remote: Fetcher
        if options.rules.extract and options.documents.offline:
            remote, limits = _offline, Limits.of(options.schedule)  # no wire is even loaded
        else:
            remote, limits = await _open_remote(options, stack)
        if cache is not None:
            remote = cache.wrap(remote, options.request.accept)
        if not options.rules.extract:
            yield remote, limits
            return
        pages = list(pages)
        spec = options.request
        known = [r for page in pages if _read_as_a_link(page, spec) for r in page.results()]
        remote = Deduplicated(remote, known)  # one request per page, whatever its #fragments
        if options.documents.check_fragments:
            from fetchcli.http.page import open_page_reader
            from fetchcli.local.fragments import RemoteFragments

            connections = options.schedule.concurrency
            read = await stack.enter_async_context(open_page_reader(options.request, connections))
            remote = RemoteFragments(remote, read, pages)
        yield _by_scheme(remote, Deduplicated(_local_checker(options))), limits


def _read_as_a_link(page: Page, spec: RequestSpec) -> bool:
    """Whether reading a page (GET, redirects followed, up to --max-body) is what checking a
    link to it would have done: then its outcome stands for the link's."""
    plain = spec.method is Method.GET and spec.follow and spec.save_dir is None
    return plain and page.size < spec.max_body


async def _open_remote(options: FetchOptions, stack: AsyncExitStack) -> tuple[Fetcher, Limits]:
    """The HTTP fetcher here, or the --workers pool, and the limits of this engine."""
    if options.schedule.workers > 1:
        from fetchcli.engine.workers import WorkerPool

        pool = await stack.enter_async_context(WorkerPool(options.schedule, options.request))
        return pool.fetch, Limits()
    from fetchcli.http.fetch import open_http_fetcher  # httpx: imported when first needed

    limits = Limits.of(options.schedule)
    spec, connections = options.request, options.schedule.concurrency
    fetcher = await stack.enter_async_context(open_http_fetcher(spec, connections, limits.gate))
    return fetcher, limits


async def _offline(record: UrlRecord) -> FetchResult:
    """--offline: a remote link that reached the fetcher (none should) is not fetched."""
    return invalid_result(replace(record, error="not checked: --offline fetches nothing"))


def _local_checker(options: FetchOptions) -> Fetcher:
    from fetchcli.local import LocalChecker, LocalRules

    docs = options.documents
    rules = LocalRules(fallback_extensions=docs.fallback_extensions, index_files=docs.index_files)
    return LocalChecker(rules)


def _by_scheme(remote: Fetcher, local: Fetcher) -> Fetcher:
    """`file:` records to the local checker, every other one to the remote fetcher."""

    async def route(record: UrlRecord) -> FetchResult:
        if record.url.startswith("file:") and record.error is None:
            return await local(record)
        return await remote(record)

    return route


async def _records(urls: Urls, rules: InputRules) -> AsyncGenerator[UrlRecord, None]:
    applied = InputFilter(rules)
    number = 0
    async with aclosing(_aiter(urls)) as items:
        async for item in items:
            number += 1
            if isinstance(item, UrlRecord):
                yield item
            else:
                for record in applied.records("<input>", number, item):
                    yield record


async def _aiter(urls: Urls) -> AsyncGenerator[str | UrlRecord, None]:
    if isinstance(urls, AsyncIterable):
        async for item in urls:
            yield item
    else:
        for item in urls:
            yield item
