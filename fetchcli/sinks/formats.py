"""Result formats (text, jsonl, csv, none): an optional header, one line per result, a footer.

`Format` is the closed set of `--format` values; `FORMATS` maps each to its
`Formatter` class, and `make_formatter()` builds one for a run.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from enum import StrEnum
from functools import cache
from typing import Any, Protocol

from fetchcli.model import FIELDS, ErrorKind, FetchResult
from fetchcli.text import human_size, redact_url, safe_text


class Format(StrEnum):
    """The `--format` choices."""

    TEXT = "text"
    JSONL = "jsonl"
    CSV = "csv"
    NONE = "none"


def error_label(kind: ErrorKind | None) -> str:
    """`ERR:kind`: how an outcome without a usable status is shown (`ERR:timeout`)."""
    return f"ERR:{kind}"


def status_label(result: FetchResult) -> str:
    """The status as outputs show it: the code, or `ERR:kind` when there is no usable status.

    Usage: `status_label(result)` gives `404` for a 404, `ERR:timeout` for a timeout.
    """
    # A timeout or reset after the headers came has a status, but not a usable one.
    if result.status is not None and result.error in (None, ErrorKind.HTTP_STATUS):
        return str(result.status)
    if result.ok:
        return "OK"  # a local file found on disk: no status to show
    return error_label(result.error)


def format_text(result: FetchResult, *, bodiless: bool = False) -> str:
    """`STATUS SIZE TIME URL`, then `→ FINAL_URL` when it moved and `(truncated)` when cut.

    `ERR:kind` stands in place of the status when there is no usable status; the
    size is `-` when no body was read (`bodiless`: the run sends HEAD).
    """
    size = "-" if bodiless else human_size(result.size)
    line = (
        f"{status_label(result)} {size} {result.elapsed:.3f}s {safe_text(redact_url(result.url))}"
    )
    if result.redirects and result.final_url and result.final_url != result.url:
        line += f" → {safe_text(redact_url(result.final_url))}"
    if result.truncated:
        line += " (truncated)"
    return line


def format_jsonl(result: FetchResult) -> str:
    """One JSON object with the contract's keys in order."""
    dumps, unsafe = _json_tools()
    line = dumps(_shown(result), ensure_ascii=False)
    if unsafe.search(line):
        line = unsafe.sub(lambda m: f"\\u{ord(m.group()):04x}", line)
    return line


@cache
def _json_tools() -> tuple[Callable[..., str], re.Pattern[str]]:
    """json.dumps, and what it leaves unescaped that a line must not hold.

    JSON escapes C0 itself; DEL, C1 and bidi overrides pass through json.dumps unescaped.
    Loaded on first use: a run in another format does not import json.
    """
    import json

    return json.dumps, re.compile(r"[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Formatter(Protocol):
    """What a format writes: a header line, one line per result, a footer line (None: no line).

    Usage: `fmt = make_formatter(Format.CSV); fmt.header(); fmt.line(result); fmt.footer()`.
    """

    def header(self) -> str | None:
        """The line before the first result, if the format has one."""
        ...

    def line(self, result: FetchResult) -> str | None:
        """The line for one result (no newline), or None when the format writes none."""
        ...

    def footer(self) -> str | None:
        """The line after the last result, if the format has one."""
        ...


class _LineFormat:
    """A format with no header and no footer."""

    def header(self) -> str | None:
        return None

    def footer(self) -> str | None:
        return None


class TextFormat(_LineFormat):
    """`STATUS SIZE TIME URL` per result; `bodiless` shows the size as `-` (HEAD reads none)."""

    def __init__(self, *, bodiless: bool = False) -> None:
        self._bodiless = bodiless

    def line(self, result: FetchResult) -> str | None:
        return format_text(result, bodiless=self._bodiless)


class JsonlFormat(_LineFormat):
    """One JSON object per result."""

    def line(self, result: FetchResult) -> str | None:
        return format_jsonl(result)


class NoneFormat(_LineFormat):
    """No per-result output (summary only)."""

    def line(self, result: FetchResult) -> str | None:
        return None


class CsvFormat(_LineFormat):
    """RFC 4180 quoting; null is an empty field, booleans are true/false; a header row."""

    def __init__(self) -> None:
        import csv  # only a csv run pays for it

        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="")

    def header(self) -> str | None:
        return ",".join(FIELDS)

    def line(self, result: FetchResult) -> str | None:
        self._buffer.seek(0)
        self._buffer.truncate()
        record = _shown(result)
        for name in _FROM_SERVERS:
            record[name] = _inert(record[name])
        self._writer.writerow([_csv_value(v) for v in record.values()])
        return self._buffer.getvalue()


def _shown(result: FetchResult) -> dict[str, Any]:
    """The record as written: a password in a URL shown as `***`."""
    record = result.to_record()
    for name in ("url", "final_url"):
        if record[name]:
            record[name] = redact_url(record[name])
    return record


# CSV cells whose text a server chose; OWASP: a cell starting with one of these
# is a formula to a spreadsheet, so it is written with a leading apostrophe.
_FROM_SERVERS = ("content_type", "message")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return safe_text(value)
    return value


FORMATS: dict[Format, type[Formatter]] = {
    Format.TEXT: TextFormat,
    Format.JSONL: JsonlFormat,
    Format.CSV: CsvFormat,
    Format.NONE: NoneFormat,
}


def make_formatter(fmt: Format, *, bodiless: bool = False) -> Formatter:
    """A fresh formatter for `fmt` (csv keeps a buffer, so each run gets its own).

    `bodiless` (the run sends HEAD) makes text show `-` for the size, not `0B`.
    Usage: `formatter = make_formatter(Format.JSONL)`.
    """
    if fmt is Format.TEXT:
        return TextFormat(bodiless=bodiless)
    return FORMATS[fmt]()
