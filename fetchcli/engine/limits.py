"""--per-host and --rate: the limits every attempt passes through, in all modes."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from urllib.parse import urlsplit

from fetchcli.model import Gate, UrlRecord
from fetchcli.options import Mode, Schedule


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


@dataclass(frozen=True, slots=True)
class Limits:
    """The --per-host and --rate limits of one engine: `hosts` parks records, `gate` holds attempts.

    Usage: `limits = Limits.of(schedule)`; the fetcher passes each attempt through
    `limits.gate`, and the engine parks records for busy hosts with `limits.hosts`.
    """

    hosts: HostLimit | None = None
    gate: Gate | None = None

    @classmethod
    def of(cls, schedule: Schedule) -> Limits:
        """The limits a schedule asks for (none when it asks for none)."""
        hosts = (
            HostLimit(schedule.per_host, 4 * schedule.concurrency) if schedule.per_host else None
        )
        rate = RateLimit(schedule.rate) if schedule.rate else None
        slots = schedule.concurrency if schedule.mode is Mode.GATHER else None
        return cls(hosts=hosts, gate=make_gate(hosts, rate, slots))


def make_gate(
    hosts: HostLimit | None, rate: RateLimit | None, slots: int | None = None
) -> Gate | None:
    """The per-host and rate limits as one async context manager per attempt, or None.

    `slots` (gather mode, where the pool is the only bound) keeps more requests
    from passing the rate limit than there are connections: otherwise those
    queued for a connection would all start together when connections free up.
    """
    if hosts is None and rate is None:
        return None
    pool = asyncio.Semaphore(slots) if slots and rate is not None else None

    @asynccontextmanager
    async def gate(url: str) -> AsyncIterator[None]:
        async with (
            hosts.hold(host_of(url)) if hosts is not None else nullcontext(),
            pool if pool is not None else nullcontext(),
        ):
            if rate is not None:
                await rate.wait()
            yield

    return gate


class HostLimit:
    """At most n in flight per host, without letting a busy host stall the rest.

    A record for a host that is at its limit is parked (up to `park_limit` in
    all) and its worker moves on; whoever finishes a request for that host runs
    the host's parked records next. A host's entry lives only while it has
    requests, so memory follows what is in flight, not how many hosts were seen.
    """

    def __init__(self, n: int, park_limit: int) -> None:
        self._n = n
        self._park_limit = park_limit
        self._parked_total = 0
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}
        self._parked: dict[str, deque[tuple[int, UrlRecord]]] = {}

    async def run(
        self,
        host: str,
        seq: int,
        record: UrlRecord,
        fetch: Callable[[int, UrlRecord], Awaitable[None]],
    ) -> None:
        """Fetch a record now, or park it while its host is busy; then run the host's parked."""
        entry = self._slots.get(host)
        if entry is not None and entry[1][0] >= self._n and self._parked_total < self._park_limit:
            self._parked.setdefault(host, deque()).append((seq, record))
            self._parked_total += 1
            return
        await fetch(seq, record)
        while (parked := self._parked.get(host)) is not None:
            item = parked.popleft()
            if not parked:
                del self._parked[host]
            self._parked_total -= 1
            await fetch(*item)

    def hold(self, host: str) -> AbstractAsyncContextManager[None]:
        return self._hold(host)

    @asynccontextmanager
    async def _hold(self, host: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.setdefault(host, (asyncio.Semaphore(self._n), [0]))
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._slots[host]


class RateLimit:
    """At most `rate` starts per second: starts are spaced 1/rate apart (a one-token bucket)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self._next)
        self._next = start + self._interval  # reserved before awaiting: no lock needed
        if start > now:
            await asyncio.sleep(start - now)
