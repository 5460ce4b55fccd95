"""--order input: results held until all earlier ones are out, within a bounded window."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

from fetchcli.model import FetchResult, UrlRecord
from fetchcli.options import ORDER_WINDOW_FACTOR


class InputOrder:
    """--order input: hold results until all earlier ones are out, within a bounded window."""

    def __init__(self, concurrency: int) -> None:
        self._window = ORDER_WINDOW_FACTOR * concurrency
        self._next = 0  # the oldest sequence number not yet written
        self._held: dict[int, FetchResult] = {}
        self._moved = asyncio.Event()
        self._lock = asyncio.Lock()  # one writer at a time keeps the order

    async def admit(
        self, records: AsyncIterator[UrlRecord]
    ) -> AsyncGenerator[tuple[int, UrlRecord], None]:
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
        self, put: Callable[[FetchResult], Awaitable[None]], everything: bool = False
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
