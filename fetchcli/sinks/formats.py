"""Result formats (text, jsonl, csv, none): one line per result.

Each format is a one-method formatter picked from `FORMATS`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

from fetchcli.model import FIELDS, ErrorKind, FetchResult
from fetchcli.text import human_size, safe_text

# JSON escapes C0 itself; DEL, C1 and bidi overrides pass through json.dumps unescaped.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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
