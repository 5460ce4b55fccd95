"""--resume: the records a jsonl output file already holds, and a clean end to append to."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fetchcli.model import FetchResult, UrlRecord
from fetchcli.text import redact_url

Key = tuple[str, int] | tuple[str, int, str]


class ResumeError(Exception):
    """The file cannot be resumed; the message says why and names the file."""


@dataclass(slots=True)
class ResumeState:
    """What a previous run left: the records done, each with a short hash of its URL."""

    keys: dict[Key, int] = field(default_factory=dict)
    path: str = ""

    def pending(self, records: Iterable[UrlRecord], by_url: bool) -> Iterator[UrlRecord]:
        """The records not yet in the file; ResumeError if the input no longer matches it."""
        for record in records:
            url = redact_url(record.url)  # as the file holds it
            done = self.keys.get(record_key(record.source, record.line, url, by_url))
            if done is None:
                yield record
            elif done != _url_hash(url):
                raise ResumeError(
                    f"--resume: line {record.line} of {record.source!r} is not the URL that"
                    f" {self.path!r} holds for it; the input changed, so start a new file"
                )


def _url_hash(url: str) -> int:
    # 8 bytes per record instead of the URL itself: resuming 10 million lines stays small.
    return int.from_bytes(hashlib.blake2b(url.encode(), digest_size=8).digest(), "big")


def record_key(source: str, line: int, url: str, by_url: bool) -> Key:
    """Records match by source and line; with --extract a line holds several URLs."""
    return (source, line, url) if by_url else (source, line)


def load(
    path: Path, sources: list[str], by_url: bool, take: Callable[[FetchResult], None]
) -> ResumeState:
    """Read a previous run's file, cutting off a trailing partial line first.

    Each earlier result is handed to `take` (the summary), so that the summary
    and exit code of a resumed run speak for the whole file.
    """
    state = ResumeState(path=str(path))
    if not path.exists():
        return state
    end = _end_of_last_line(path)
    with path.open("rb") as stream:
        for number, raw in enumerate(_lines_before(stream, end), start=1):
            result = _parse(raw, path, number)
            if result.source not in sources:
                raise ResumeError(
                    f"--resume: {str(path)!r} holds results for source {result.source!r},"
                    " which this run does not read; resume with the same sources"
                )
            state.keys[record_key(result.source, result.line, result.url, by_url)] = _url_hash(
                result.url
            )
            take(result)
    # Only a file accepted as a whole loses its partial last line.
    _truncate(path, end)
    return state


def _parse(raw: bytes, path: Path, number: int) -> FetchResult:
    try:
        return FetchResult.from_record(json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise ResumeError(
            f"--resume: line {number} of {str(path)!r} is not a fetchcli jsonl record ({exc})"
        ) from None


def _lines_before(stream: BinaryIO, end: int) -> Iterator[bytes]:
    while stream.tell() < end and (raw := stream.readline()):
        yield raw


def _end_of_last_line(path: Path) -> int:
    """The offset just past the file's last newline (0 if it has none)."""
    with path.open("rb") as stream:
        end = stream.seek(0, os.SEEK_END)
        while end > 0:
            step = min(65536, end)
            stream.seek(end - step)
            newline = stream.read(step).rfind(b"\n")
            if newline >= 0:
                return end - step + newline + 1
            end -= step
    return 0


def _truncate(path: Path, end: int) -> None:
    """Cut the file at `end` (a partial line a killed run left)."""
    if end < path.stat().st_size:
        with path.open("rb+") as stream:
            stream.truncate(end)
            stream.flush()
            os.fsync(stream.fileno())
