"""Work run in a thread once per key, whose result every caller for that key shares.

Usage:

    table: dict[str, Shared[bytes]] = {}
    data = await shared(table, path, lambda: Path(path).read_bytes())   # read once per path
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class Shared(Generic[_T]):
    """Work run in a thread once, whose result every caller for one key awaits."""

    __slots__ = ("_task", "_waiters")

    def __init__(self, work: Callable[[], _T]) -> None:
        self._waiters: list[asyncio.Future[_T]] = []
        self._task = asyncio.ensure_future(asyncio.to_thread(work))
        self._task.add_done_callback(self._wake)

    async def result(self) -> _T:
        """The work's result, at once when it is done."""
        if self._task.done():
            return self._task.result()
        # A waiter per caller, not the task itself: a cancelled caller cancels only its
        # waiter, never the work that others wait for.
        waiter: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def _wake(self, task: asyncio.Future[_T]) -> None:
        """Hand the result to every waiter at once: one callback, not one per waiter."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if waiter.done():  # its caller was cancelled
                continue
            if task.cancelled():
                waiter.cancel()
            elif (error := task.exception()) is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(task.result())


async def shared(table: dict[str, Shared[_T]], key: str, work: Callable[[], _T]) -> _T:
    """`work()` run in a thread once per key; concurrent callers share its result."""
    entry = table.get(key)
    if entry is None:
        entry = table[key] = Shared(work)
    return await entry.result()
