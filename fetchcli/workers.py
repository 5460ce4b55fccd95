"""--workers N: N processes fetch, the parent alone writes.

One Python process tops out at a few thousand requests a second on its own
core; more cores need more processes. The parent keeps the whole contract
(input rules, ordering, output, progress, summary, resume) and hands each
record to a child process: under `--per-host`, the one chosen by a hash of
its host, so the limit stays exact; otherwise the least busy one, so that
even a single-host list uses every process. Each child keeps its connections.
A child is `python -m fetchcli.workers`: the usual engine, reading records
as JSON lines on stdin and writing results as JSON lines on stdout, in
completion order, tagged with the parent's id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import signal
import sys
import zlib
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from urllib.parse import urlsplit

from fetchcli.options import FetchOptions, Order
from fetchcli.results import FetchResult
from fetchcli.sources import UrlRecord

# Lines between the processes can be long (a URL of 8 KiB, a long message).
_LINE_LIMIT = 1 << 20


class WorkerError(RuntimeError):
    """A worker process died with records still waiting for it."""


def child_options(options: FetchOptions, workers: int) -> FetchOptions:
    """What each child runs with: its share of concurrency and rate, no input rules."""
    return dataclasses.replace(
        options,
        workers=1,
        concurrency=max(1, math.ceil(options.concurrency / workers)),
        rate=options.rate / workers,
        order=Order.COMPLETION,
        unique=False,
        shard=None,
        extract=False,
        include=(),
        exclude=(),
    )


def _options_to_json(options: FetchOptions) -> str:
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    fields["accept"] = sorted(options.accept)
    return json.dumps(fields, default=str)


class WorkerPool:
    """Child processes that fetch records; `await pool.fetch(record)` gives its result.

    Usage: `async with WorkerPool(options, 2) as pool: result = await pool.fetch(record)`.
    """

    def __init__(self, options: FetchOptions, workers: int) -> None:
        self._options = child_options(options, workers)
        self._by_host = options.per_host > 0
        self._load = [0] * workers
        self._count = workers
        self._children: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self._waiting: dict[int, tuple[int, asyncio.Future[FetchResult]]] = {}
        self._next_id = 0
        self._abandoned = False  # a fetch was cancelled: children may still be busy

    async def __aenter__(self) -> WorkerPool:
        config = _options_to_json(self._options)
        for _ in range(self._count):
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "fetchcli.workers",
                config,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=_LINE_LIMIT,
            )
            self._children.append(child)
            self._readers.append(asyncio.create_task(self._read(len(self._readers), child)))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for child in self._children:
            if child.stdin is not None:
                with suppress(OSError):
                    child.stdin.close()
        if exc_info[0] is not None or self._abandoned:  # stopped early: nothing more is wanted
            for child in self._children:
                with suppress(ProcessLookupError):
                    child.terminate()
        for child in self._children:
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.wait(self._readers)

    def _pick(self, record: UrlRecord) -> int:
        """The child for a record: by host under --per-host (exact limits), else the least busy."""
        if self._by_host:
            host = urlsplit(record.url).hostname or ""
            return zlib.crc32(host.encode()) % self._count
        return min(range(self._count), key=self._load.__getitem__)

    async def fetch(self, record: UrlRecord) -> FetchResult:
        """Send a record to a child and wait for its result."""
        index = self._pick(record)
        child = self._children[index]
        self._load[index] += 1
        ident = self._next_id
        self._next_id += 1
        future: asyncio.Future[FetchResult] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = (index, future)
        line = json.dumps([ident, record.source, record.line, record.url]) + "\n"
        try:
            assert child.stdin is not None
            child.stdin.write(line.encode())
            await child.stdin.drain()
            return await future
        except asyncio.CancelledError:
            self._abandoned = True
            raise
        finally:
            self._waiting.pop(ident, None)
            self._load[index] -= 1

    async def _read(self, index: int, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        while line := await child.stdout.readline():
            ident, record = json.loads(line)
            _, future = self._waiting.get(ident, (index, None))
            if future is not None and not future.done():
                future.set_result(FetchResult.from_record(record))
        # A child that ends while its records wait has failed: say so, lose nothing silently.
        code = await child.wait()
        for owner, future in list(self._waiting.values()):
            if owner == index and not future.done():
                future.set_exception(
                    WorkerError(f"worker process {index + 1} exited (code {code})")
                )


async def _serve(options: FetchOptions) -> None:
    """A child: records on stdin, results on stdout, until stdin ends."""
    from fetchcli.engine import fetch_stream

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    idents: dict[tuple[str, int, str], list[int]] = {}

    async def records() -> AsyncIterator[UrlRecord]:
        while line := await reader.readline():
            ident, source, number, url = json.loads(line)
            idents.setdefault((source, number, url), []).append(ident)
            yield UrlRecord(source=source, line=number, url=url)

    out = sys.stdout.buffer
    flushing = False

    def flush() -> None:
        nonlocal flushing
        flushing = False
        out.flush()

    async with aclosing(fetch_stream(records(), options)) as results:
        async for result in results:
            key = (result.source, result.line, result.url)
            ident = idents[key].pop(0)
            if not idents[key]:
                del idents[key]
            out.write((json.dumps([ident, result.to_record()]) + "\n").encode())
            if not flushing:  # one write for all results of this turn of the loop
                flushing = True
                loop.call_soon(flush)
    out.flush()


def main() -> None:
    """Entry point of a child process: `python -m fetchcli.workers OPTIONS_JSON`."""
    from fetchcli.__main__ import skip_httpx_cli

    skip_httpx_cli()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for the group
    fields = json.loads(sys.argv[1])
    fields["shard"] = None
    options = FetchOptions(**fields)
    with suppress(BrokenPipeError):
        asyncio.run(_serve(options))
    os._exit(0)  # the parent has everything; skip slow interpreter teardown


if __name__ == "__main__":
    main()
