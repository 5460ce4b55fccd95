"""The textbook asyncio fetcher: one httpx.AsyncClient, a Semaphore and gather.

This is the pattern most asyncio tutorials show, and the baseline the
benchmark compares fetchcli with. It reads every URL of URLFILE into memory,
fetches them all with at most C in flight through one client whose pool holds
C connections, reads every body, and prints one JSON line on stdout:
`{"ok": N, "failed": N, "bytes": N, "errors": {...}}` (ok = status 200).

Usage:

    python benchmarks/textbook_httpx.py URLFILE C
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

import httpx
from _limits import raise_open_files


async def fetch_all(urls: list[str], concurrency: int) -> dict[str, object]:
    """Fetch every URL, C at a time, and count the outcomes."""
    limits = httpx.Limits(max_connections=concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits) as client:

        async def get(url: str) -> tuple[int, int]:
            async with semaphore:
                response = await client.get(url)
                return response.status_code, len(response.content)

        outcomes = await asyncio.gather(*(get(u) for u in urls), return_exceptions=True)
    errors: Counter[str] = Counter()
    ok = size = 0
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            errors[type(outcome).__name__] += 1
        elif outcome[0] == 200:
            ok += 1
            size += outcome[1]
        else:
            errors[f"status {outcome[0]}"] += 1
    return {"ok": ok, "failed": len(urls) - ok, "bytes": size, "errors": dict(errors)}


def main() -> None:
    """Read the URL file and C from argv, fetch, print the counts."""
    path, concurrency = sys.argv[1], int(sys.argv[2])
    raise_open_files(concurrency)
    with open(path, encoding="utf-8") as lines:
        urls = [line.strip() for line in lines if line.strip()]
    print(json.dumps(asyncio.run(fetch_all(urls, concurrency))))


if __name__ == "__main__":
    main()
