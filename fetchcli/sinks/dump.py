"""--dump: the links --extract would check, one line each, in the chosen --format."""

from __future__ import annotations

import csv
import io
import json

from fetchcli.model import UrlRecord
from fetchcli.sinks.formats import Format
from fetchcli.text import safe_text

DUMP_FIELDS = ("source", "line", "column", "url")


def dump_header(fmt: Format) -> str | None:
    """The line before the first link: csv's column names."""
    return ",".join(DUMP_FIELDS) if fmt is Format.CSV else None


def dump_line(record: UrlRecord, fmt: Format) -> str | None:
    """One link: `source:line:column url` as text, an object in jsonl, a row in csv."""
    values = (record.source, record.line, record.column, record.url)
    if fmt is Format.TEXT:
        where = f"{record.source}:{record.line}" + (f":{record.column}" if record.column else "")
        return safe_text(f"{where} {record.url}")
    if fmt is Format.JSONL:
        return json.dumps(dict(zip(DUMP_FIELDS, values, strict=True)), ensure_ascii=False)
    if fmt is Format.CSV:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(["" if v is None else v for v in values])
        return safe_text(buffer.getvalue())
    return None
