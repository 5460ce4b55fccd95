"""Result formats (text, jsonl, csv, none) and the writer that puts lines out.

Each format is a one-method formatter picked from `FORMATS`; the writer
writes one whole line per result and flushes it, so a pipeline sees results
as they complete and a killed run leaves only whole lines behind.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import TextIO

from fetchcli.errors import ErrorKind
from fetchcli.results import FIELDS, FetchResult

# C0 controls, DEL and C1 controls: never written raw, so that nothing from the
# network can move a terminal's cursor, change its colours or split a line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# JSON escapes C0 itself; DEL and C1 pass through json.dumps unescaped.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f]")
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def safe_text(text: str) -> str:
    """Escape control characters as `\\xNN` so text can go to a terminal or a line."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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
    """Writes each result as one whole, flushed line to a text stream.

    Usage: `writer = ResultWriter(sys.stdout, "jsonl"); writer.write(result)`.
    """

    def __init__(self, stream: TextIO, fmt: str, *, header: bool = True) -> None:
        self._stream = stream
        self._format = FORMATS[fmt]()
        self.lines = 0
        head = getattr(self._format, "header", None)
        if head and header:
            self._emit(head)

    def write(self, result: FetchResult) -> None:
        """Write one result; raises BrokenPipeError when the reader has gone."""
        if self._format is not None:
            self._emit(self._format(result))
            self.lines += 1

    def format(self, result: FetchResult) -> str | None:
        """The line for a result, without writing it."""
        return None if self._format is None else self._format(result)

    def _emit(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()
