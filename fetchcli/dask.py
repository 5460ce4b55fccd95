"""Run the engine on a Dask cluster: one `fetch_stream` per partition of the input.

Usage:

    import dask.bag as db
    from dask.distributed import Client
    from fetchcli import FetchOptions
    from fetchcli.dask import fetch_bag, fetch_to_jsonl

    client = Client("tcp://scheduler:8786")
    paths = fetch_to_jsonl(lines, "/shared/out", FetchOptions(concurrency=100), client=client)
    failed = fetch_bag(db.read_text("/shared/urls.txt")).filter(lambda r: not r["ok"])

Every input line gets the record a single-machine run would give it: the same
`source`, the same 1-based `line` counted over the whole input, the same input
rules. `--shard` is honoured across partitions; `--unique` is a global rule and
is refused. `--concurrency`, `--per-host` and `--rate` hold per partition, not
per cluster. `output_dir` and `--save` must be paths the workers can write.
This module is an optional extra: the core never imports it.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import dask
    import dask.bag as db
    from dask.delayed import Delayed, delayed
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "fetchcli.dask needs Dask; install it with: pip install 'fetchcli[dask]'"
    ) from exc

from fetchcli.api import fetch_stream
from fetchcli.engine.loop import run as run_loop
from fetchcli.model import FetchResult, UrlRecord
from fetchcli.options import FetchOptions
from fetchcli.sinks.formats import format_jsonl
from fetchcli.sources.rules import InputFilter

if TYPE_CHECKING:
    from distributed import Client

DEFAULT_NPARTITIONS = 16
DEFAULT_SOURCE = "<dask>"
PART_NAME = "part-{:05d}.jsonl"

Lines = Sequence[str] | db.Bag
# (lines, --shard positions) before a partition: where its numbering starts
Offset = tuple[int, int]


def fetch_bag(
    lines: Lines,
    options: FetchOptions | None = None,
    *,
    npartitions: int | None = None,
    source: str = DEFAULT_SOURCE,
) -> db.Bag:
    """A lazy bag of result records (`FetchResult.to_record()` dicts), one per input record.

    Usage: `fetch_bag(urls, FetchOptions(retries=0), npartitions=8).compute()`.
    """
    options = _checked(options)
    bag: db.Bag = db.from_delayed(
        [
            delayed(_fetch_records)(part, index, offsets, options, source)
            for index, part, offsets in _plan(lines, options, npartitions)
        ]
    )
    return bag


def fetch_to_jsonl(
    lines: Lines,
    output_dir: str | Path,
    options: FetchOptions | None = None,
    *,
    npartitions: int | None = None,
    source: str = DEFAULT_SOURCE,
    client: Client | None = None,
) -> list[Path]:
    """Fetch on the cluster; each partition writes `part-NNNNN.jsonl` in output_dir.

    Usage: `fetch_to_jsonl(urls, "out", client=client)` → `[out/part-00000.jsonl, …]`.
    Computes on `client`, else on the current default scheduler.
    """
    options = _checked(options)
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    tasks = [
        delayed(_write_part)(
            part, index, offsets, options, source, str(directory / PART_NAME.format(index))
        )
        for index, part, offsets in _plan(lines, options, npartitions)
    ]
    paths = client.compute(tasks, sync=True) if client is not None else dask.compute(*tasks)
    return [Path(path) for path in paths]


def _checked(options: FetchOptions | None) -> FetchOptions:
    options = options or FetchOptions()
    if options.rules.unique:
        # A URL's first occurrence may sit in any earlier partition: no partition can tell.
        raise ValueError("--unique is not supported with fetchcli.dask; deduplicate the input")
    return options


def _plan(
    lines: Lines, options: FetchOptions, npartitions: int | None
) -> Iterator[tuple[int, Delayed, Delayed]]:
    """(index, partition, offsets of all partitions) for each partition, all lazy."""
    if isinstance(lines, str):
        raise TypeError("lines must be a sequence of lines or a Dask bag, not one string")
    if isinstance(lines, db.Bag):
        bag = lines if npartitions is None else lines.repartition(npartitions)
    else:
        lines = list(lines)
        wanted = DEFAULT_NPARTITIONS if npartitions is None else npartitions
        bag = db.from_sequence(lines, npartitions=max(1, min(wanted, len(lines))))
    parts = bag.to_delayed()
    offsets = delayed(_offsets)(*[delayed(_count)(part, options) for part in parts])
    for index, part in enumerate(parts):
        yield index, part, offsets


def _count(lines: Sequence[str], options: FetchOptions) -> Offset:
    """How many lines, and how many --shard positions, one partition holds."""
    if options.rules.shard is None:
        return len(lines), 0
    # With no filter on, every position (blank and comment lines have none) gives one record.
    rules = InputFilter(replace(options.rules, shard=None, include=(), exclude=()))
    return len(lines), sum(1 for text in lines for _ in rules.records("", 0, text))


def _offsets(*counts: Offset) -> list[Offset]:
    """Running totals: what comes before each partition."""
    starts = itertools.accumulate(counts, lambda a, b: (a[0] + b[0], a[1] + b[1]), initial=(0, 0))
    return list(starts)[:-1]


def _records(
    lines: Sequence[str], offset: Offset, options: FetchOptions, source: str
) -> Iterator[UrlRecord]:
    """The partition's records, numbered and filtered as in one pass over the whole input."""
    first_line, first_position = offset
    if options.rules.shard is not None:
        # Position p is kept when p % n == k - 1; here p = first_position + local position.
        k, n = options.rules.shard
        options = options.replace(shard=((k - 1 - first_position) % n + 1, n))
    rules = InputFilter(options.rules)
    for number, text in enumerate(lines, start=first_line + 1):
        yield from rules.records(source, number, text)


def _fetch(
    lines: Sequence[str], index: int, offsets: list[Offset], options: FetchOptions, source: str
) -> list[FetchResult]:
    """Fetch one partition on a worker with its own event loop."""

    async def collect() -> list[FetchResult]:
        records = _records(lines, offsets[index], options, source)
        async with aclosing(fetch_stream(records, options)) as results:
            return [result async for result in results]

    return run_loop(collect())


def _fetch_records(
    lines: Sequence[str], index: int, offsets: list[Offset], options: FetchOptions, source: str
) -> list[dict[str, Any]]:
    return [result.to_record() for result in _fetch(lines, index, offsets, options, source)]


def _write_part(
    lines: Sequence[str],
    index: int,
    offsets: list[Offset],
    options: FetchOptions,
    source: str,
    path: str,
) -> str:
    """Fetch one partition and write it whole; a rerun task never leaves a partial file."""
    results = _fetch(lines, index, offsets, options, source)
    temp = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(temp, "w", encoding="utf-8", newline="\n") as stream:
        stream.writelines(f"{format_jsonl(result)}\n" for result in results)
    os.replace(temp, path)
    return path
