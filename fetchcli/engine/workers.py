"""--workers N: N processes fetch, the parent alone writes.

One Python process tops out at a few thousand requests a second on its own
core; more cores need more processes. `WorkerPool.fetch` is a `Fetcher`: the
parent keeps the whole contract (input rules, ordering, cache, output,
progress, summary, resume) and hands each record to one of N engines: its own
(the parent fetches too, so `--workers 2` starts one child, and work begins
before the child has started) or a child process. Under `--per-host` the
engine is chosen by a hash of the host, so the limit stays exact; otherwise it
is the least busy one, so that even a single-host list uses every process.
Each engine keeps its connections and applies its share of --rate itself.
A child is `python -m fetchcli.engine.workers`: an engine over its own HTTP
fetcher (never the parent's pipeline), reading its Schedule and RequestSpec
and then records as JSON lines on stdin, and writing results as JSON lines on
stdout, in completion order, tagged with the parent's id.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import pickle
import signal
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, suppress
from dataclasses import replace
from urllib.parse import urlsplit

from fetchcli.engine.limits import Limits
from fetchcli.engine.loop import run as run_loop
from fetchcli.engine.stream import stream
from fetchcli.http.save import SaveError
from fetchcli.model import FetchResult, UrlRecord
from fetchcli.options import Order, RequestSpec, Schedule

# Lines between the processes can be long (a URL of 8 KiB, a long message).
_LINE_LIMIT = 1 << 20
# In place of a result's id: the child stopped on an error (what it was follows).
_FAILED = "failed"
# This process takes about half a child's share: it also reads input, writes output and
# talks to the children (weights 1, 1.5, 2, 3 measured on 2 cores; 2 was best).
_CHILD_WEIGHT = 2


class WorkerError(RuntimeError):
    """A worker process died with records still waiting for it."""


def share_of(schedule: Schedule, share: float) -> Schedule:
    """What one engine runs with: its share of concurrency and rate, in completion order."""
    return replace(
        schedule,
        workers=1,
        concurrency=max(1, math.ceil(schedule.concurrency * share)),
        rate=schedule.rate * share,
        order=Order.COMPLETION,
    )


class WorkerPool:
    """N engines that fetch records; `await pool.fetch(record)` gives its result.

    Engine 0 runs in this process; engines 1..N-1 are child processes.
    Usage: `async with WorkerPool(Schedule(workers=2), RequestSpec()) as pool: await pool.fetch(r)`.
    """

    def __init__(self, schedule: Schedule, spec: RequestSpec) -> None:
        workers = schedule.workers
        total = 1 + _CHILD_WEIGHT * (workers - 1)
        self._schedules = [
            share_of(schedule, (1 if index == 0 else _CHILD_WEIGHT) / total)
            for index in range(workers)
        ]
        self._spec = spec
        self._capacity = [engine.concurrency for engine in self._schedules]
        self._by_host = schedule.per_host > 0
        self._load = [0] * workers
        self._count = workers
        self._order: list[int] = [*range(1, workers), 0]  # children first on a tie
        self._broken: Exception | None = None  # a child died: the run cannot go on whole
        self._closing = False
        self._children: list[asyncio.subprocess.Process] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._local: asyncio.Queue[tuple[int, UrlRecord] | None] = asyncio.Queue()
        self._waiting: dict[int, tuple[int, asyncio.Future[FetchResult]]] = {}
        self._local_failure: BaseException | None = None
        self._next_id = 0
        self._abandoned = False  # a fetch was cancelled: children may still be busy

    async def __aenter__(self) -> WorkerPool:
        # Every child has the same share. Sent on stdin, not in argv: headers may hold secrets.
        config = _config_line(self._schedules[-1], self._spec)
        for index in range(1, self._count):
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "fetchcli.engine.workers",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=_LINE_LIMIT,
            )
            assert child.stdin is not None
            child.stdin.write(config)
            self._children.append(child)
            self._tasks.append(asyncio.create_task(self._read(index, child)))
        self._tasks.append(asyncio.create_task(self._run_local()))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        self._local.put_nowait(None)
        for child in self._children:
            if child.stdin is not None:
                with suppress(OSError):
                    child.stdin.close()
        stopped = exc_info[0] is not None or self._abandoned  # nothing more is wanted
        if stopped:
            for child in self._children:
                with suppress(ProcessLookupError):
                    child.terminate()
        for child in self._children:
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()
        local = self._tasks[-1]
        if stopped:
            local.cancel()
        await asyncio.wait({local})
        for reader in self._tasks[:-1]:
            reader.cancel()
        await asyncio.wait(self._tasks)

    def _pick(self, record: UrlRecord) -> int:
        """The engine for a record: by host under --per-host (exact limits), else the least busy."""
        if self._by_host:
            host = urlsplit(record.url).hostname or ""
            return zlib.crc32(host.encode()) % self._count
        return min(self._order, key=lambda index: self._load[index] / self._capacity[index])

    async def fetch(self, record: UrlRecord) -> FetchResult:
        """Hand a record to an engine and wait for its result."""
        if self._broken is not None:
            raise self._broken
        index = self._pick(record)
        self._load[index] += 1
        ident = self._next_id
        self._next_id += 1
        future: asyncio.Future[FetchResult] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = (index, future)
        try:
            if index == 0:
                if self._local_failure is not None:
                    raise self._local_failure
                self._local.put_nowait((ident, record))
            else:
                child = self._children[index - 1]
                assert child.stdin is not None
                child.stdin.write(_record_line(ident, record))
                await child.stdin.drain()
            return await future
        except asyncio.CancelledError:
            self._abandoned = True
            raise
        finally:
            self._waiting.pop(ident, None)
            self._load[index] -= 1

    def _deliver(self, ident: int, result: FetchResult) -> None:
        _, future = self._waiting.get(ident, (0, None))
        if future is not None and not future.done():
            future.set_result(result)

    def _fail(self, index: int, exc: BaseException) -> None:
        """Fail the records waiting for engine `index`: lose nothing silently."""
        for owner, future in list(self._waiting.values()):
            if owner == index and not future.done():
                future.set_exception(exc)

    async def _run_local(self) -> None:
        """Engine 0: the usual engine, in this process, on the records routed to it."""

        async def incoming() -> AsyncIterator[tuple[int, UrlRecord]]:
            while (item := await self._local.get()) is not None:
                yield item

        try:
            await serve(incoming(), self._schedules[0], self._spec, self._deliver)
        except Exception as exc:  # e.g. a failing --save disk: the run stops, as with one process
            self._local_failure = exc
            self._fail(0, exc)

    async def _read(self, index: int, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        failure: Exception | None = None
        while line := await child.stdout.readline():
            ident, record = json.loads(line)
            if ident == _FAILED:
                failure = _relayed(index, record)
            else:
                self._deliver(ident, FetchResult.from_record(record))
        code = await child.wait()
        failure = failure or WorkerError(f"worker process {index} exited (code {code})")
        if not self._closing:  # not asked to end: records routed to it would wait forever
            self._broken = failure
        self._fail(index, failure)


def _relayed(index: int, failure: dict[str, str]) -> Exception:
    """The error a child stopped on, as this process raises it (same exit code as one process)."""
    if failure["kind"] == "save":
        return SaveError(failure["message"])
    return WorkerError(f"worker process {index} failed: {failure['message']}")


def _failure(exc: Exception) -> dict[str, str]:
    """What a child tells the parent about the error it stops on."""
    if isinstance(exc, SaveError):
        return {"kind": "save", "message": str(exc)}
    return {"kind": "error", "message": f"{type(exc).__name__}: {exc}"}


def _config_line(schedule: Schedule, spec: RequestSpec) -> bytes:
    """A child's settings as one line: the option values themselves, pickled whole."""
    return base64.b64encode(pickle.dumps((schedule, spec))) + b"\n"


def _read_config(line: bytes) -> tuple[Schedule, RequestSpec]:
    schedule, spec = pickle.loads(base64.b64decode(line))
    if not isinstance(schedule, Schedule) or not isinstance(spec, RequestSpec):
        raise TypeError("a worker's first line holds its Schedule and RequestSpec")
    return schedule, spec


def _record_line(ident: int, record: UrlRecord) -> bytes:
    return (json.dumps([ident, record.source, record.line, record.url]) + "\n").encode()


async def serve(
    incoming: AsyncIterator[tuple[int, UrlRecord]],
    schedule: Schedule,
    spec: RequestSpec,
    deliver: Callable[[int, FetchResult], None],
) -> None:
    """One engine over its own HTTP fetcher: results handed over with their record's id."""
    from fetchcli.http.fetch import open_http_fetcher

    idents: dict[tuple[str, int, str], list[int]] = {}

    async def records() -> AsyncIterator[UrlRecord]:
        async for ident, record in incoming:
            idents.setdefault((record.source, record.line, record.url), []).append(ident)
            yield record

    limits = Limits.of(schedule)
    async with open_http_fetcher(spec, schedule.concurrency, limits.gate) as fetcher:
        work = stream(records(), schedule, fetcher, limits=limits)
        async with aclosing(work) as results:
            async for result in results:
                key = (result.source, result.line, result.url)
                waiting = idents[key]
                ident = waiting.pop(0)
                if not waiting:
                    del idents[key]
                deliver(ident, result)


async def _serve_pipes() -> None:
    """A child: its settings, then records on stdin; results on stdout, until stdin ends."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    schedule, spec = _read_config(await reader.readline())

    async def incoming() -> AsyncIterator[tuple[int, UrlRecord]]:
        while line := await reader.readline():
            ident, source, number, url = json.loads(line)
            yield ident, UrlRecord(source=source, line=number, url=url)

    out = sys.stdout.buffer
    flushing = False

    def flush() -> None:
        nonlocal flushing
        flushing = False
        out.flush()

    def deliver(ident: int, result: FetchResult) -> None:
        nonlocal flushing
        out.write((json.dumps([ident, result.to_record()]) + "\n").encode())
        if not flushing:  # one write for all results of this turn of the loop
            flushing = True
            loop.call_soon(flush)

    await serve(incoming(), schedule, spec, deliver)
    out.flush()


def main() -> None:
    """Entry point of a child process: `python -m fetchcli.engine.workers` (settings on stdin)."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # httpx's own CLI: unused
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for the group
    with suppress(BrokenPipeError):
        try:
            run_loop(_serve_pipes())
        except Exception as exc:  # the parent stops the run and says so, as with one process
            sys.stdout.write(json.dumps([_FAILED, _failure(exc)]) + "\n")
            sys.stdout.flush()
            os._exit(1)
    os._exit(0)  # the parent has everything; skip slow interpreter teardown


if __name__ == "__main__":
    main()
