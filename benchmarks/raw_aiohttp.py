"""Raw aiohttp: one ClientSession, C workers on a bounded asyncio.Queue.

The fastest pure-asyncio Python client we know of, as a ceiling for
fetchcli. The URL file is read lazily by one producer into a queue of 2×C
slots; C workers fetch and read every body through one session whose
connector holds at most C connections. Prints one JSON line on stdout:
`{"ok": N, "failed": N, "bytes": N, "errors": {...}}` (ok = status 200).

Usage:

    python benchmarks/raw_aiohttp.py URLFILE C
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterable

import aiohttp
from _limits import raise_open_files


async def fetch_all(lines: Iterable[str], concurrency: int) -> dict[str, object]:
    """Fetch every URL among the lines with C workers and count the outcomes."""
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=2 * concurrency)
    errors: Counter[str] = Counter()
    counts = {"ok": 0, "failed": 0, "bytes": 0}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def work() -> None:
            while (url := await queue.get()) is not None:
                try:
                    async with session.get(url) as response:
                        body = await response.read()
                        status = response.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    errors[type(exc).__name__] += 1
                    counts["failed"] += 1
                    continue
                if status == 200:
                    counts["ok"] += 1
                    counts["bytes"] += len(body)
                else:
                    errors[f"status {status}"] += 1
                    counts["failed"] += 1

        workers = [asyncio.create_task(work()) for _ in range(concurrency)]
        for line in lines:  # a local file read lazily; each line is a quick read
            if url := line.strip():
                await queue.put(url)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    return {**counts, "errors": dict(errors)}


def main() -> None:
    """Read the URL file name and C from argv, fetch, print the counts."""
    path, concurrency = sys.argv[1], int(sys.argv[2])
    raise_open_files(concurrency)
    with open(path, encoding="utf-8") as lines:
        print(json.dumps(asyncio.run(fetch_all(lines, concurrency))))


if __name__ == "__main__":
    main()
