"""fetch_stream: the engine, its limits and ordering, over one of the `--mode` strategies.

The modes (`fetchcli.strategies`) are small interchangeable strategies over
one `handle(seq, record)` coroutine, which fetches a record and puts its
result on one bounded queue; `fetch_stream` drains that queue. The engine runs
as a task of its own, so the generator never yields inside a task group or a
cancel scope, and closing the generator cancels the engine and waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fetchcli.engine.limits import Gate, HostLimit, RateLimit, host_of, make_gate
from fetchcli.engine.strategies import STRATEGIES, cancel_all
from fetchcli.model import FetchResult, UrlRecord, invalid_result
from fetchcli.options import ORDER_WINDOW_FACTOR, FetchOptions, Mode, Order
from fetchcli.sources.rules import InputRules

if TYPE_CHECKING:
    from fetchcli.sinks.cache import ResultCache

Urls = Iterable[str | UrlRecord] | AsyncIterable[str | UrlRecord]


@dataclass(frozen=True, slots=True)
class _Failed:
    """The engine stopped on an exception; the consumer re-raises it."""

    exc: Exception


_END = object()


async def fetch_stream(
    urls: Urls, options: FetchOptions | None = None, *, stop: asyncio.Event | None = None
) -> AsyncIterator[FetchResult]:
    """Fetch every URL and yield one result each, as they complete.

    Usage:

        async with contextlib.aclosing(fetch_stream(urls, FetchOptions())) as results:
            async for result in results:
                print(result.status, result.url)

    `urls` holds strings (each one input line, with the input rules of
    `options` applied) or ready-made `UrlRecord`s, in a sync or async iterable.
    Setting `stop` ends the run early but gently: requests in flight are
    cancelled, and every result already complete is still yielded.
    """
    options = options or FetchOptions()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=max(64, options.concurrency))
    engine = asyncio.create_task(_run(_records(urls, options), options, queue.put, stop))
    try:
        while (item := await queue.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        engine.cancel()
        await asyncio.wait({engine})


async def _run(
    records: AsyncIterator[UrlRecord],
    options: FetchOptions,
    put: Callable[[object], Awaitable[None]],
    stop: asyncio.Event | None,
) -> None:
    try:
        async with _fetcher(options) as fetch_result:
            hosts, rate = None, None
            if options.workers == 1:  # else each child process applies its share
                if options.per_host:
                    hosts = HostLimit(options.per_host, 4 * options.concurrency)
                if options.rate:
                    rate = RateLimit(options.rate)
            gate = make_gate(
                hosts, rate, options.concurrency if options.mode is Mode.GATHER else None
            )
            order = _InputOrder(options.concurrency) if options.order is Order.INPUT else None

            async def emit(seq: int, result: FetchResult) -> None:
                if order is None:
                    await put(result)
                else:
                    order.add(seq, result)
                    await order.flush(put)

            async def fetch(seq: int, record: UrlRecord) -> None:
                await emit(seq, await fetch_result(record, gate))

            async def handle(seq: int, record: UrlRecord) -> None:
                if record.error is not None:
                    await emit(seq, invalid_result(record))
                elif hosts is None:
                    await fetch(seq, record)
                else:
                    await hosts.run(host_of(record.url), seq, record, fetch)

            numbered = _numbered(records) if order is None else order.admit(records)
            async with aclosing(records), aclosing(numbered):
                strategy = STRATEGIES[options.mode](numbered, handle, options.concurrency)
                await _until_done_or_stopped(strategy, stop)
            if order is not None:  # after a stop: what did complete, in order, gaps and all
                await order.flush(put, everything=True)
    except Exception as exc:
        await put(_Failed(exc))
    else:
        await put(_END)


async def _until_done_or_stopped(strategy: Awaitable[None], stop: asyncio.Event | None) -> None:
    """Run a strategy to its end, or until `stop` is set (then cancel what is in flight)."""
    if stop is None:
        await strategy
        return
    work = asyncio.ensure_future(strategy)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_all([work, stopped])
    if not work.cancelled():
        work.result()  # re-raise what the strategy raised


async def _records(urls: Urls, options: FetchOptions) -> AsyncIterator[UrlRecord]:
    rules = InputRules(options)
    number = 0
    async with aclosing(_aiter(urls)) as items:
        async for item in items:
            number += 1
            if isinstance(item, UrlRecord):
                yield item
            else:
                for record in rules.records("<input>", number, item):
                    yield record


async def _aiter(urls: Urls) -> AsyncIterator[str | UrlRecord]:
    if isinstance(urls, AsyncIterable):
        async for item in urls:
            yield item
    else:
        for item in urls:
            yield item


async def _numbered(records: AsyncIterator[UrlRecord]) -> AsyncIterator[tuple[int, UrlRecord]]:
    seq = 0
    async for record in records:
        yield seq, record
        seq += 1


class _InputOrder:
    """--order input: hold results until all earlier ones are out, within a bounded window."""

    def __init__(self, concurrency: int) -> None:
        self._window = ORDER_WINDOW_FACTOR * concurrency
        self._next = 0  # the oldest sequence number not yet written
        self._held: dict[int, FetchResult] = {}
        self._moved = asyncio.Event()
        self._lock = asyncio.Lock()  # one writer at a time keeps the order

    async def admit(
        self, records: AsyncIterator[UrlRecord]
    ) -> AsyncIterator[tuple[int, UrlRecord]]:
        """Number the records, starting none more than the window ahead of `_next`."""
        seq = 0
        async for record in records:
            while seq - self._next >= self._window:
                self._moved.clear()
                await self._moved.wait()
            yield seq, record
            seq += 1

    def add(self, seq: int, result: FetchResult) -> None:
        """Hold a completed result until its turn."""
        self._held[seq] = result

    async def flush(
        self, put: Callable[[object], Awaitable[None]], everything: bool = False
    ) -> None:
        """Pass on the results whose turn has come (with `everything`, all held, in order).

        A result leaves the held set only once `put` took it, so a cancelled
        put loses nothing.
        """
        async with self._lock:
            while True:
                if self._next in self._held:
                    seq = self._next
                elif everything and self._held:
                    seq = min(self._held)
                else:
                    return
                await put(self._held[seq])
                del self._held[seq]
                self._next = seq + 1
                self._moved.set()


@asynccontextmanager
async def _fetcher(
    options: FetchOptions,
) -> AsyncIterator[Callable[[UrlRecord, Gate | None], Awaitable[FetchResult]]]:
    """How one record becomes a result: here (client, cache) or in --workers processes."""
    if options.workers > 1:
        from fetchcli.engine.workers import WorkerPool

        async with WorkerPool(options, options.workers) as pool:

            async def remote(record: UrlRecord, _gate: Gate | None) -> FetchResult:
                return await pool.fetch(record)

            yield remote
        return

    from fetchcli.http.client import make_client  # httpx and aiohttp: imported when first needed
    from fetchcli.http.fetch import fetch_one

    async with _open_cache(options) as cache, make_client(options) as client:

        async def local(record: UrlRecord, gate: Gate | None) -> FetchResult:
            result = await cache.lookup(record, options.accept) if cache is not None else None
            if result is None:
                result = await fetch_one(client, record, options, gate)
                if cache is not None:
                    await cache.store(result)
            return result

        yield local


def _open_cache(options: FetchOptions) -> AbstractAsyncContextManager[ResultCache | None]:
    """The --cache database, or nothing; it wraps fetch_one (served results have attempts 0)."""
    if options.cache is None:
        return nullcontext()
    from fetchcli.sinks.cache import ResultCache

    return ResultCache(options.cache, options.max_cache_age, variant=_cache_variant(options))


def _cache_variant(options: FetchOptions) -> str:
    """How results were fetched, when that is not the default GET that follows redirects."""
    default = FetchOptions()
    how = (options.method, options.follow, options.max_redirects)
    if how == (default.method, default.follow, default.max_redirects):
        return ""
    return f"{options.method} follow={options.follow} max_redirects={options.max_redirects}"
