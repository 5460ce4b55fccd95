"""stream: schedules records onto a fetcher and yields the results.

The modes (`fetchcli.engine.strategies`) are small interchangeable strategies
over one `handle(seq, record)` coroutine, which fetches a record and puts its
result on one bounded queue; `stream` drains that queue. The engine runs as a
task of its own, so the generator never yields inside a task group or a
cancel scope, and closing the generator cancels the engine and waits for it.
How a record is fetched is the fetcher's business: HTTP, a cache around it,
or the --workers processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable
from contextlib import aclosing, asynccontextmanager, suppress
from dataclasses import dataclass

from fetchcli.engine.limits import Limits, host_of
from fetchcli.engine.order import InputOrder
from fetchcli.engine.strategies import STRATEGIES
from fetchcli.engine.tasks import cancel_all
from fetchcli.model import Fetcher, FetchResult, UrlRecord, invalid_result
from fetchcli.options import Order, Schedule


@dataclass(frozen=True, slots=True)
class _Failed:
    """The engine stopped on an exception; the consumer re-raises it."""

    exc: Exception


@dataclass(frozen=True, slots=True)
class _Ended:
    """The engine handled every record (or was stopped): the stream ends."""


_END = _Ended()
# What the engine puts on the queue that `stream` drains.
_Item = FetchResult | _Failed | _Ended


async def stream(
    records: AsyncIterable[UrlRecord],
    schedule: Schedule,
    fetcher: Fetcher,
    *,
    limits: Limits | None = None,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[FetchResult, None]:
    """Fetch every record with `fetcher` and yield one result each, as they complete.

    Usage:

        async with contextlib.aclosing(stream(records, Schedule(), fetcher)) as results:
            async for result in results:
                print(result.status, result.url)

    `limits.hosts` parks records whose host is busy (the fetcher holds each
    attempt in `limits.gate`). The engine closes `records` when it ends. Setting
    `stop` ends the run early but gently: work in flight is cancelled, and every
    result already complete is yielded.
    """
    queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max(64, schedule.concurrency))
    engine = asyncio.create_task(
        _run(aiter(records), schedule, fetcher, limits or Limits(), queue, stop)
    )
    try:
        while True:
            try:  # results often wait already: take one without a coroutine to await
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                item = await queue.get()
            if isinstance(item, _Ended):
                break
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        engine.cancel()
        await asyncio.wait({engine})


async def _run(
    records: AsyncIterator[UrlRecord],
    schedule: Schedule,
    fetcher: Fetcher,
    limits: Limits,
    queue: asyncio.Queue[_Item],
    stop: asyncio.Event | None,
) -> None:
    put = queue.put
    try:
        hosts = limits.hosts
        order = InputOrder(schedule.concurrency) if schedule.order is Order.INPUT else None

        async def emit(seq: int, result: FetchResult) -> None:
            if order is None:
                await put(result)
            else:
                order.add(seq, result)
                await order.flush(put)

        async def fetch(seq: int, record: UrlRecord) -> None:
            await emit(seq, await fetcher(record))

        async def handle(seq: int, record: UrlRecord) -> None:
            if record.error is not None:
                result = invalid_result(record)
            elif hosts is None:
                result = await fetcher(record)
            else:
                await hosts.run(host_of(record.url), seq, record, fetch)
                return
            if order is None and not queue.full():  # the usual case, without a coroutine
                queue.put_nowait(result)
            else:
                await emit(seq, result)

        numbered = _numbered(records) if order is None else order.admit(records)
        async with _closing(records), aclosing(numbered):
            strategy = STRATEGIES[schedule.mode](numbered, handle, schedule.concurrency)
            await _until_done_or_stopped(strategy, stop)
        if order is not None:  # after a stop: what did complete, in order, gaps and all
            await order.flush(put, everything=True)
    except Exception as exc:
        await _last(queue, _Failed(exc))
    else:
        await _last(queue, _END)


async def _last(queue: asyncio.Queue[_Item], item: _Item) -> None:
    """Put the engine's last item, or, when the engine is being cancelled (its consumer
    has left), never wait for room: nobody would take it, and the cancellation goes on.

    (A cancellation can be used up without a CancelledError: a gather cancelled just as
    a task of it fails raises that task's error instead.)
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        with suppress(asyncio.QueueFull):
            queue.put_nowait(item)
        raise asyncio.CancelledError
    await queue.put(item)


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


async def _numbered(
    records: AsyncIterator[UrlRecord],
) -> AsyncGenerator[tuple[int, UrlRecord], None]:
    seq = 0
    async for record in records:
        yield seq, record
        seq += 1


@asynccontextmanager
async def _closing(records: AsyncIterator[UrlRecord]) -> AsyncIterator[None]:
    """Close an async generator of records when the engine ends (a reader thread stops)."""
    try:
        yield
    finally:
        aclose = getattr(records, "aclose", None)
        if aclose is not None:
            await aclose()
