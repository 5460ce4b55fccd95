"""The three `--mode` strategies: how the engine schedules a `handle(seq, record)` per URL.

Each takes the numbered records, the engine's `handle` coroutine and the
concurrency `n`, and returns once every record is handled; all three give the
same results:

- `queue` (default): `n` workers pull from a bounded queue that is fed lazily
  from the input. Memory O(n): it streams a list of any length.
- `semaphore`: one task per URL, created up front, gated by a semaphore of `n`.
  Memory O(N).
- `gather`: one coroutine per URL under `asyncio.gather`; the connection pool
  (`n` connections) is the only bound. Memory O(N): the textbook pattern.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from fetchcli.engine.tasks import cancel_all
from fetchcli.model import UrlRecord
from fetchcli.options import Mode

Handle = Callable[[int, UrlRecord], Awaitable[None]]


async def queue_mode(records: AsyncIterator[tuple[int, UrlRecord]], handle: Handle, n: int) -> None:
    """A fixed pool of n workers pulls from a bounded queue that one producer fills lazily."""
    queue: asyncio.Queue[tuple[int, UrlRecord] | None] = asyncio.Queue(maxsize=n)
    stop = _StopOnFailure()  # a dead worker must not leave the producer blocked

    async def worker() -> None:
        while True:
            try:  # at once when an item waits (most of the time): no coroutine to await
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                item = await queue.get()
            if item is None:
                return
            await handle(*item)

    workers: list[asyncio.Task[None]] = []
    try:
        source_failure = None
        try:
            async for item in records:
                if len(workers) < n:  # start workers as work arrives: small inputs need few
                    workers.append(asyncio.create_task(worker()))
                    workers[-1].add_done_callback(stop.watch)
                try:
                    queue.put_nowait(item)
                except asyncio.QueueFull:  # every worker is busy: wait for one
                    await queue.put(item)
        except Exception as exc:  # a source failed: finish what was read, then say so
            source_failure = exc
        for _ in workers:
            await queue.put(None)  # one sentinel per worker
        await asyncio.gather(*workers)
        if source_failure is not None:
            raise source_failure
    except asyncio.CancelledError:
        stop.raise_failure()
        raise
    finally:
        stop.settle()
        await cancel_all(workers)


async def semaphore_mode(
    records: AsyncIterator[tuple[int, UrlRecord]], handle: Handle, n: int
) -> None:
    """One task per URL, created up front, gated by a semaphore."""
    semaphore = asyncio.Semaphore(n)

    async def gated(seq: int, record: UrlRecord) -> None:
        async with semaphore:
            await handle(seq, record)

    await _start_all(records, gated)


async def gather_mode(
    records: AsyncIterator[tuple[int, UrlRecord]], handle: Handle, n: int
) -> None:
    """asyncio.gather over one coroutine per URL; the connection pool bounds concurrency."""
    await _start_all(records, handle)


async def _start_all(records: AsyncIterator[tuple[int, UrlRecord]], run: Handle) -> None:
    """One task per record, then wait for all; a failing source still lets started ones end.

    Whatever stops this early (a cancellation, a failing task) cancels the rest. A failing
    task stops the reading at once: under --order input the window would wait for its
    result forever.
    """
    tasks: list[asyncio.Task[None]] = []
    stop = _StopOnFailure()
    try:
        try:
            async for seq, record in records:
                tasks.append(asyncio.ensure_future(run(seq, record)))
                tasks[-1].add_done_callback(stop.watch)
        except Exception:
            await asyncio.gather(*tasks)
            raise
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        stop.raise_failure()
        raise
    finally:
        stop.settle()
        await cancel_all(tasks)


class _StopOnFailure:
    """Ends a strategy at its first failing task, the way a TaskGroup would.

    `watch` (each task's done-callback) cancels the strategy's own task once, at the
    first failure, and not while something else is cancelling it (a stop, a closed
    stream: its clean-up must not be cut short). When that cancellation arrives,
    `raise_failure` raises the failure in its place, unless another cancellation came
    too: then the CancelledError goes on, never swallowed.

    Usage: `task.add_done_callback(stop.watch)`; in `except asyncio.CancelledError:`
    call `stop.raise_failure()`, then `raise`; first thing in `finally:`, `stop.settle()`.
    """

    def __init__(self) -> None:
        self._strategy = asyncio.current_task()
        self._failure: BaseException | None = None
        self._cancelled = False  # whether this one asked for the strategy's cancellation

    def watch(self, task: asyncio.Task[None]) -> None:
        """A task's done-callback: stop the strategy at the first failure."""
        if task.cancelled() or (exc := task.exception()) is None:
            return
        strategy = self._strategy
        if self._failure is not None or strategy is None or strategy.cancelling():
            return
        self._failure = exc
        self._cancelled = strategy.cancel()

    def settle(self) -> None:
        """In the strategy's `finally`: take back a cancellation this one asked for that
        came as no CancelledError (a gather cancelled just as a task of it fails raises
        that task's error instead), so that nobody takes it for a consumer's."""
        if self._cancelled and self._strategy is not None:
            self._cancelled = False
            self._strategy.uncancel()

    def raise_failure(self) -> None:
        """Raise the failure if the cancellation being handled was this one's alone."""
        if self._failure is None or not self._cancelled or self._strategy is None:
            return
        self._cancelled = False
        if self._strategy.uncancel() == 0:
            raise self._failure from None


STRATEGIES = {
    Mode.QUEUE: queue_mode,
    Mode.SEMAPHORE: semaphore_mode,
    Mode.GATHER: gather_mode,
}
