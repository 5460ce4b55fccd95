"""Lazy readers that turn input lines into `UrlRecord`s.

Every rule of SPEC "Input" is applied here, in this order: strip and skip
blank/comment lines (or pull URLs out of free text with `--extract`), `--shard`,
scheme and validity, `--include`/`--exclude`, `--unique`. A bad line becomes a
record with `error` set, never an exception.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import stat
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

from fetchcli.options import MAX_LINE_BYTES, SCHEMES, FetchOptions

STDIN = "-"
# Batches (or, from a pipe, records) the reader thread may have waiting.
_PENDING_BATCHES = 4
_BOM = b"\xef\xbb\xbf"
# Read a little past the limit so that "too long" is decided after stripping.
_READ_LIMIT = MAX_LINE_BYTES * 8
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?!\d+(?:[/?#]|$))")
_BAD_CHAR = re.compile(r"[\x00-\x20\x7f-\x9f]")
# --extract: an http(s) URL runs until whitespace, a quote, an angle or square
# bracket (only an IPv6 host has those); trailing punctuation is trimmed
# afterwards (balanced parentheses are kept), and HTML's `&amp;` becomes `&`.
_URL_IN_TEXT = re.compile(r"https?://(?:\[[0-9A-Fa-f:.]+\])?[^\s<>\"'`\[\]]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}>*_"


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlRecord:
    """One input record: where it came from and the URL to fetch, or why not."""

    source: str
    line: int
    url: str
    error: str | None = None


@dataclass(slots=True)
class SourceStats:
    """What the reader skipped, for the summary."""

    excluded: int = 0
    duplicates: int = 0
    records: int = 0
    names: list[str] = field(default_factory=list)


def normalize_url(text: str, default_scheme: str = "https") -> tuple[str, str | None]:
    """Return the URL to fetch and None, or the text and why it cannot be fetched."""
    if _BAD_CHAR.search(text):
        return text, "URL contains whitespace or control characters"
    match = _SCHEME.match(text)
    if match is None:
        url = f"{default_scheme}://{text}"
    elif match.group(1).lower() in SCHEMES:
        url = match.group(1).lower() + text[match.end(1) :]
    else:
        return text, f"unsupported scheme {match.group(1).lower()!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return url, f"malformed URL: {exc}"
    if not parts.hostname or parts.netloc.endswith(":"):
        return url, "URL has no host" if not parts.hostname else "URL has an empty port"
    return url, None


def _fetched_form(url: str) -> str:
    """What is actually requested: host case and the #fragment do not matter."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def extract_urls(text: str) -> list[str]:
    """All http(s) URLs in a line of free text, without trailing punctuation."""
    urls = []
    for match in _URL_IN_TEXT.finditer(text):
        url = match.group(0).replace("&amp;", "&")
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if "://" in url and url.split("://", 1)[1]:
            urls.append(url)
    return urls


class InputRules:
    """Applies the input rules to lines one at a time, keeping the state they need.

    Usage: `for record in rules.records("urls.txt", 7, b"example.com/a"): ...`
    """

    def __init__(self, options: FetchOptions, stats: SourceStats | None = None) -> None:
        self.stats = stats if stats is not None else SourceStats()
        self._options = options
        self._include = [re.compile(p) for p in options.include]
        self._exclude = [re.compile(p) for p in options.exclude]
        self._shard_k, self._shard_n = options.shard or (1, 1)
        self._seen: set[bytes] = set()
        self._position = -1

    def records(
        self, source: str, number: int, raw: bytes | str, *, too_long: bool = False
    ) -> Iterator[UrlRecord]:
        """The records one input line gives: none, one, or (with --extract) several."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        for text, error in _candidates(raw, self._options.extract, too_long):
            self._position += 1
            if self._position % self._shard_n != self._shard_k - 1:
                continue
            if error is None:
                text, error = normalize_url(text, self._options.default_scheme)
                if error is None and self._skips(text):
                    continue
            self.stats.records += 1
            yield UrlRecord(source=source, line=number, url=text, error=error)

    def _skips(self, url: str) -> bool:
        if (self._exclude and any(p.search(url) for p in self._exclude)) or (
            self._include and not any(p.search(url) for p in self._include)
        ):
            self.stats.excluded += 1
            return True
        if self._options.unique:
            # A 16-byte digest keeps the seen-set small for huge inputs.
            key = hashlib.blake2b(_fetched_form(url).encode(), digest_size=16).digest()
            if key in self._seen:
                self.stats.duplicates += 1
                return True
            self._seen.add(key)
        return False


def iter_records(
    sources: Iterable[str], options: FetchOptions, stats: SourceStats | None = None
) -> Iterator[UrlRecord]:
    """Yield the records of each source in turn, reading lazily."""
    rules = InputRules(options, stats)
    for name in sources:
        rules.stats.names.append(name)
        for number, raw, too_long in _read_lines(name):
            yield from rules.records(name, number, raw, too_long=too_long)


def _candidates(raw: bytes, extract: bool, too_long: bool) -> Iterator[tuple[str, str | None]]:
    """The (text, error) pairs one raw line contributes; none for blank/comment lines."""
    stripped = raw.strip()
    if not stripped or (stripped.startswith(b"#") and not extract):
        return
    if too_long or len(stripped) > MAX_LINE_BYTES:
        prefix = stripped[:200].decode("utf-8", "backslashreplace")
        yield f"{prefix}…", f"line longer than {MAX_LINE_BYTES} bytes"
        return
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        if not extract:
            yield stripped.decode("utf-8", "backslashreplace"), "line is not valid UTF-8"
            return
        text = stripped.decode("utf-8", "replace")
    if extract:
        for url in extract_urls(text):
            yield url, None
    else:
        yield text, None


def _read_lines(name: str) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, raw bytes, too long) for each line of a source."""
    if name == STDIN:
        yield from _split(sys.stdin.buffer)
        return
    with open(name, "rb") as stream:
        yield from _split(stream)


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
    """Raise OSError now if a source cannot be opened, so the CLI can exit 2 before work."""
    if name != STDIN:
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


def stdin_is_stream() -> bool:
    """Whether stdin is a pipe or terminal (read line by line) rather than a file."""
    try:
        return not stat.S_ISREG(os.fstat(sys.stdin.fileno()).st_mode)
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
            positions += sum(1 for _ in _candidates(raw, False, too_long))
    k, n = shard or (1, 1)
    return max(0, (positions - k + n) // n)
