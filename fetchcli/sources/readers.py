"""Lazy readers: sources (files, stdin) read line by line into `UrlRecord`s, off the event loop."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import BinaryIO

from fetchcli.model import UrlRecord
from fetchcli.options import MAX_LINE_BYTES, InputRules
from fetchcli.sources.rules import InputFilter, SourceStats, candidates

STDIN = "-"
# Batches (or, from a pipe, records) the reader thread may have waiting.
_PENDING_BATCHES = 4
_BOM = b"\xef\xbb\xbf"
# Read a little past the limit so that "too long" is decided after stripping.
_READ_LIMIT = MAX_LINE_BYTES * 8


def iter_records(
    sources: Iterable[str],
    rules: InputRules,
    stats: SourceStats | None = None,
    stdin: BinaryIO | None = None,
) -> Iterator[UrlRecord]:
    """Yield the records of each source in turn, reading lazily (`-` reads `stdin`)."""
    applied = InputFilter(rules, stats)
    for name in sources:
        for number, raw, too_long in _read_lines(name, stdin):
            yield from applied.records(name, number, raw, too_long=too_long)


def _read_lines(name: str, stdin: BinaryIO | None = None) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, raw bytes, too long) for each line of a source."""
    if name == STDIN:
        yield from _split(sys.stdin.buffer if stdin is None else stdin)
        return
    if is_url_source(name):
        yield 1, name.encode("utf-8", "surrogateescape"), False
        return
    with open(name, "rb") as stream:
        yield from _split(stream)


def is_url_source(name: str) -> bool:
    """Whether a SOURCE is one http(s) URL to fetch: not an existing file, but a URL."""
    return name.lower().startswith(("http://", "https://")) and not os.path.exists(name)


def _split(stream: BinaryIO) -> Iterator[tuple[int, bytes, bool]]:
    number = 0
    while chunk := stream.readline(_READ_LIMIT):
        number += 1
        if number == 1 and chunk.startswith(_BOM):
            chunk = chunk[len(_BOM) :]  # editors on Windows start UTF-8 files with one
        if len(chunk) == _READ_LIMIT and not chunk.endswith(b"\n"):
            yield (number, *_long_line(chunk, stream))
        else:
            yield number, chunk, False


def _long_line(piece: bytes, stream: BinaryIO) -> tuple[bytes, bool]:
    """Strip a line too big to read at once, piece by piece, in bounded memory.

    Returns what stripping leaves and False, or a prefix of it and True when
    that is longer than MAX_LINE_BYTES; the rest of the line is read and dropped.
    """
    content = b""
    gap = b""  # whitespace after the content: inner, should more content follow
    while True:
        ended = piece.endswith(b"\n") or len(piece) < _READ_LIMIT
        body = piece.rstrip() if content else piece.strip()
        if body:
            content += gap + body
            gap = piece[len(piece.rstrip()) :]
        elif content:
            gap = (gap + piece)[: MAX_LINE_BYTES + 1]
        if len(content) > MAX_LINE_BYTES:
            while not ended and (piece := stream.readline(_READ_LIMIT)):
                ended = piece.endswith(b"\n")
            return content[:200], True
        if ended:
            return content, False
        piece = stream.readline(_READ_LIMIT)


def check_readable(name: str) -> None:
    """Raise OSError now if a source cannot be opened, so the CLI can exit 2 before work.

    A pipe (a FIFO, `<(cmd)`) is not opened: its writer would write to this open and lose
    what it wrote when it closes. Its permissions are checked instead.
    """
    if name == STDIN or is_url_source(name):
        return
    if stat.S_ISFIFO(os.stat(name).st_mode):
        if not os.access(name, os.R_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        return
    with open(name, "rb"):
        pass


async def aiter_in_thread(
    records: Iterator[UrlRecord], *, eager: bool = False, batch: int = 256
) -> AsyncIterator[UrlRecord]:
    """Iterate a blocking record iterator in a thread, so reads never stall the event loop.

    Memory stays bounded: the thread waits while a few batches are unread.
    `eager` passes records on one by one, for a pipe or terminal, so that
    `tail -f log | fetchcli -` fetches each URL as it arrives.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[list[UrlRecord] | BaseException | None] = asyncio.Queue()
    room = threading.Semaphore(_PENDING_BATCHES if not eager else _PENDING_BATCHES * batch)
    stop = threading.Event()

    def put(item: list[UrlRecord] | BaseException | None) -> None:
        # A slot per item bounds memory; call_soon_threadsafe is cheap enough to
        # hand over single records when reading a pipe.
        while not room.acquire(timeout=0.5):
            if stop.is_set():
                return
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:
        pending: list[UrlRecord] = []
        try:
            for record in records:
                pending.append(record)
                if len(pending) >= batch or eager:
                    put(pending)
                    pending = []
                if stop.is_set():
                    return
            put(pending)
            put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(pending)  # what was read before the failure still gets its results
            put(exc)

    thread = threading.Thread(target=produce, name="fetchcli-reader", daemon=True)
    thread.start()
    try:
        while (item := await queue.get()) is not None:
            room.release()
            if isinstance(item, BaseException):
                raise item
            for record in item:
                yield record
    finally:
        stop.set()


def stdin_is_stream(stdin: BinaryIO | None = None) -> bool:
    """Whether stdin is a pipe or terminal (read line by line) rather than a file."""
    try:
        stream = sys.stdin.buffer if stdin is None else stdin
        return not stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return True


def count_records(
    sources: Iterable[str], shard: tuple[int, int] | None, stop: threading.Event | None = None
) -> int | None:
    """How many records plain (non-extract) reading gives, for the progress total.

    None when `stop` was set before the count was done.
    """
    positions = 0
    for name in sources:
        for _, raw, too_long in _read_lines(name):
            if stop is not None and stop.is_set():
                return None
            positions += sum(1 for _ in candidates(raw, False, too_long))
    k, n = shard or (1, 1)
    return max(0, (positions - k + n) // n)
