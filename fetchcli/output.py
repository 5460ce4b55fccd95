"""Result formats (text, jsonl, csv, none) and the writer that puts lines out.

Each format is a one-method formatter picked from `FORMATS`; the writer
writes one whole line per result and flushes it, so a pipeline sees results
as they complete and a killed run leaves only whole lines behind.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import queue
import re
import threading
from collections.abc import Callable
from typing import TextIO

from fetchcli.errors import ErrorKind
from fetchcli.results import FIELDS, FetchResult

# C0 controls, DEL, C1 controls and bidirectional overrides: never written raw,
# so that nothing from the network can move a terminal's cursor, change its
# colours, split a line or make text read differently from what it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# JSON escapes C0 itself; DEL, C1 and bidi overrides pass through json.dumps unescaped.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
# Lines the writer thread may hold before `put` waits (bounded memory for a slow reader).
_PENDING_LINES = 4096
_FULL_WAIT = 0.01


def safe_text(text: str) -> str:
    """Escape control characters as `\\xNN` so text can go to a terminal or a line."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def human_size(size: int | None) -> str:
    """`512B`, `1.2KiB`, `3.0MiB`; `-` for no size."""
    if size is None:
        return "-"
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size}B" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_text(result: FetchResult) -> str:
    """`STATUS SIZE TIME URL`, or `ERR:kind - TIME URL` when there is no usable status."""
    if result.status is not None and result.error in (None, ErrorKind.HTTP_STATUS):
        head = str(result.status)
    else:
        head = f"ERR:{result.error}"
    return f"{head} {human_size(result.size)} {result.elapsed:.3f}s {safe_text(result.url)}"


def format_jsonl(result: FetchResult) -> str:
    """One JSON object with the contract's keys in order."""
    line = json.dumps(result.to_record(), ensure_ascii=False)
    if _JSON_UNSAFE.search(line):
        line = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)
    return line


class _CsvFormat:
    """RFC 4180 quoting; null is an empty field, booleans are true/false."""

    header = ",".join(FIELDS)

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="")

    def __call__(self, result: FetchResult) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow([_csv_value(v) for v in result.to_record().values()])
        return self._buffer.getvalue()


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return safe_text(value)
    return value


Formatter = Callable[[FetchResult], str]
FORMATS: dict[str, Callable[[], Formatter | None]] = {
    "text": lambda: format_text,
    "jsonl": lambda: format_jsonl,
    "csv": _CsvFormat,
    "none": lambda: None,
}


class ResultWriter:
    """Formats results as lines (`format`), with the header line the format needs first.

    Usage: `writer = ResultWriter("csv"); writer.header; writer.format(result)`.
    """

    def __init__(self, fmt: str) -> None:
        self._format = FORMATS[fmt]()
        self.header: str | None = getattr(self._format, "header", None)

    def format(self, result: FetchResult) -> str | None:
        """The line for a result (no newline), or None for the `none` format."""
        return None if self._format is None else self._format(result)


class LineSink:
    """Writes whole lines, each flushed, from a thread of its own.

    A slow or stalled reader of stdout then never blocks the event loop (and
    so never stretches timings or delays signals); `put` waits, off the loop,
    only while many lines are pending. The stream is opened on first use, so
    a run that fails before any result leaves `-o FILE` as it was.
    Usage: `sink = LineSink(lambda: sys.stdout); await sink.put(line); sink.close()`.
    """

    def __init__(self, open_stream: Callable[[], TextIO], *, owns_stream: bool) -> None:
        self._open = open_stream
        self._owns = owns_stream
        self._stream: TextIO | None = None
        self._lines: queue.Queue[str | None] = queue.Queue(maxsize=_PENDING_LINES)
        self.broken = False  # the reader went away (`| head`)
        self.error: OSError | None = None
        self._create = True  # open the stream at close even if no line came (-o FILE replaced)
        self._thread = threading.Thread(target=self._run, name="fetchcli-writer", daemon=True)
        self._thread.start()

    async def put(self, line: str) -> None:
        """Queue one line (without its newline); BrokenPipeError once the reader is gone."""
        while True:
            if self.broken:
                raise BrokenPipeError("stdout was closed")
            if self.error is not None:
                raise self.error
            try:
                self._lines.put_nowait(line)
                return
            except queue.Full:
                # A stalled reader: wait on the loop (not in a thread), so signals still work.
                await asyncio.sleep(_FULL_WAIT)

    def close(self, *, create: bool = True) -> None:
        """Write what is pending, then close. With `create=False` an unopened file stays as it was.

        Waits in short steps, so that a signal handler can still end the process
        while a stalled reader holds the last lines.
        """
        self._create = create
        while True:
            try:
                self._lines.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        while self._thread.is_alive():
            self._thread.join(0.1)

    def _run(self) -> None:
        while (line := self._lines.get()) is not None:
            if self.broken or self.error is not None:
                continue  # keep draining so that put() never waits forever
            try:
                self._write(line)
            except BrokenPipeError:
                self.broken = True
            except OSError as exc:
                self.error = exc
        try:
            if self._stream is None and self.error is None and self._create:
                self._stream = self._open()
            if self._stream is not None and self._owns:
                self._stream.close()
        except OSError as exc:
            self.error = self.error or exc

    def _write(self, line: str) -> None:
        if self._stream is None:
            self._stream = self._open()
        self._stream.write(line + "\n")
        self._stream.flush()
