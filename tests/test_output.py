"""Result formats, their labels and the line sink: text, jsonl, csv, none; safe_text; human_size."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

import pytest

from conftest import invalid_result
from fetchcli.model import FIELDS, ErrorKind, FetchResult
from fetchcli.sinks.formats import (
    FORMATS,
    Format,
    Formatter,
    error_label,
    format_jsonl,
    format_text,
    make_formatter,
    status_label,
)
from fetchcli.sinks.writer import _PENDING_LINES, LineSink
from fetchcli.text import human_size, redact_url, safe_text

SPEC_KEYS = [
    "source",
    "line",
    "url",
    "final_url",
    "status",
    "ok",
    "size",
    "elapsed",
    "attempts",
    "redirects",
    "content_type",
    "truncated",
    "error",
    "message",
    "column",
    "cached",
    "saved",
    "fetched_at",
]
RAW_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def ok_result(**changes: Any) -> FetchResult:
    fields: dict[str, Any] = {
        "source": "urls.txt",
        "line": 3,
        "url": "https://a.example/",
        "final_url": "https://a.example/",
        "status": 200,
        "ok": True,
        "size": 1229,
        "elapsed": 0.123,
        "attempts": 1,
        "redirects": 0,
        "content_type": "text/html",
        "truncated": False,
    }
    fields.update(changes)
    return FetchResult(**fields)


def timeout_result(**changes: Any) -> FetchResult:
    fields: dict[str, Any] = {
        "source": "-",
        "line": 9,
        "url": "https://b.example/",
        "elapsed": 10.001,
        "attempts": 3,
        "error": ErrorKind.TIMEOUT,
        "message": "no complete response within 10s",
    }
    fields.update(changes)
    return FetchResult(**fields)


def not_found_result() -> FetchResult:
    return ok_result(
        status=404, ok=False, size=512, error=ErrorKind.HTTP_STATUS, message="404 Not Found"
    )


class CountingStream(io.StringIO):
    """A text stream that counts flush calls and what was written before each."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.flushed_values: list[str] = []

    def flush(self) -> None:
        self.flushes += 1
        self.flushed_values.append(self.getvalue())
        super().flush()


# --- safe_text --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a\x1b[31mred", "a\\x1b[31mred"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("csi\x9b2J", "csi\\x9b2J"),
        ("next\x85line", "next\\x85line"),
        ("two\nlines", "two\\x0alines"),
        ("carriage\rreturn", "carriage\\x0dreturn"),
        ("tab\there", "tab\\x09here"),
        ("bell\x07", "bell\\x07"),
    ],
)
def test_safe_text_escapes_control_characters(raw: str, escaped: str) -> None:
    assert safe_text(raw) == escaped


@pytest.mark.parametrize(
    "text", ["https://a.example/", "straße", "日本語", "emoji 🎉", "naïve café", "[bold]x[/]", ""]
)
def test_safe_text_leaves_ordinary_unicode_alone(text: str) -> None:
    assert safe_text(text) == text


def test_safe_text_output_has_no_raw_control_characters() -> None:
    every_control = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)])
    assert not RAW_CONTROL.search(safe_text(every_control))


# --- human_size -------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (512, "512B"),
        (1023, "1023B"),
        (1024, "1.0KiB"),
        (1229, "1.2KiB"),
        (1536, "1.5KiB"),
        (5 * 1024 * 1024, "5.0MiB"),
        (3 * 1024**3, "3.0GiB"),
        (2 * 1024**4, "2.0TiB"),
        (2048 * 1024**4, "2048.0TiB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_human_size_of_none_is_a_dash() -> None:
    assert human_size(None) == "-"


# --- text -------------------------------------------------------------------


def test_text_format_of_ok_result() -> None:
    assert format_text(ok_result()) == "200 1.2KiB 0.123s https://a.example/"


def test_text_format_of_404_shows_the_status() -> None:
    assert format_text(not_found_result()) == "404 512B 0.123s https://a.example/"


def test_text_format_of_timeout_without_status_shows_error_kind() -> None:
    assert format_text(timeout_result()) == "ERR:timeout - 10.001s https://b.example/"


def test_text_format_of_timeout_after_headers_shows_error_kind() -> None:
    line = format_text(timeout_result(status=200, size=4096))
    assert line.startswith("ERR:timeout ")
    assert line.endswith(" 10.001s https://b.example/")


def test_text_format_of_invalid_url_shows_error_kind() -> None:
    assert format_text(invalid_result()) == "ERR:invalid_url - 0.000s ftp://x.example/"


def test_text_format_escapes_control_characters_in_url() -> None:
    line = format_text(FetchResult(source="s", line=1, url="\\xff\x1b[2J"))
    assert "\x1b" not in line
    assert line.endswith("\\xff\\x1b[2J")


def test_text_format_is_one_line() -> None:
    line = format_text(timeout_result(url="https://b.example/\nfake 200 line"))
    assert "\n" not in line


# --- jsonl ------------------------------------------------------------------


def test_jsonl_has_exactly_the_spec_keys_in_order() -> None:
    assert list(json.loads(format_jsonl(ok_result()))) == SPEC_KEYS


def test_result_fields_are_the_spec_keys_in_order() -> None:
    assert list(FIELDS) == SPEC_KEYS


def test_jsonl_of_ok_result_has_spec_types() -> None:
    record = json.loads(format_jsonl(ok_result()))
    assert record == {
        "source": "urls.txt",
        "line": 3,
        "url": "https://a.example/",
        "final_url": "https://a.example/",
        "status": 200,
        "ok": True,
        "size": 1229,
        "elapsed": 0.123,
        "attempts": 1,
        "redirects": 0,
        "content_type": "text/html",
        "truncated": False,
        "error": None,
        "message": None,
        "column": None,
        "cached": False,
        "saved": None,
        "fetched_at": None,
    }
    assert type(record["line"]) is int
    assert type(record["status"]) is int
    assert type(record["ok"]) is bool
    assert type(record["truncated"]) is bool
    assert type(record["elapsed"]) is float


def test_jsonl_of_failure_has_nulls_and_error_string() -> None:
    record = json.loads(format_jsonl(timeout_result()))
    assert record["status"] is None
    assert record["size"] is None
    assert record["final_url"] is None
    assert record["content_type"] is None
    assert record["ok"] is False
    assert record["error"] == "timeout"
    assert record["message"] == "no complete response within 10s"


def test_jsonl_elapsed_is_a_float_even_when_whole() -> None:
    assert '"elapsed": 2.0' in format_jsonl(ok_result(elapsed=2.0))


def test_jsonl_uses_json_literals() -> None:
    line = format_jsonl(timeout_result())
    assert '"ok": false' in line
    assert '"status": null' in line
    assert '"truncated": false' in line


@pytest.mark.parametrize("char", ["\x1b", "\x85", "\x9b", "\x7f", "\x00", "\n", "\r"])
def test_jsonl_escapes_control_characters_in_message(char: str) -> None:
    message = f"bad{char}[31mthing"
    line = format_jsonl(timeout_result(message=message))
    assert not RAW_CONTROL.search(line)
    assert json.loads(line)["message"] == message


def test_jsonl_keeps_ordinary_unicode_readable() -> None:
    line = format_jsonl(ok_result(url="https://münchen.example/日本"))
    assert "https://münchen.example/日本" in line


def test_jsonl_is_one_line() -> None:
    assert "\n" not in format_jsonl(timeout_result(message="a\nb", url="https://b.example/\n"))


# --- csv --------------------------------------------------------------------


def csv_rows(*results: FetchResult) -> list[list[str]]:
    """The header row and one row per result, parsed back as a csv reader sees them."""
    formatter = make_formatter(Format.CSV)
    header = formatter.header()
    assert header is not None
    lines = [header]
    for result in results:
        line = formatter.line(result)
        assert line is not None
        assert "\n" not in line
        lines.append(line)
    return list(csv.reader(io.StringIO("".join(f"{line}\n" for line in lines))))


def test_csv_header_row_is_the_jsonl_keys_in_order() -> None:
    assert csv_rows()[0] == SPEC_KEYS
    assert make_formatter(Format.CSV).header() == ",".join(SPEC_KEYS)


def test_csv_row_has_one_field_per_key() -> None:
    rows = csv_rows(ok_result(), timeout_result())
    assert [len(row) for row in rows] == [len(SPEC_KEYS)] * 3


def test_csv_of_ok_result() -> None:
    row = dict(zip(SPEC_KEYS, csv_rows(ok_result())[1], strict=True))
    assert row == {
        "source": "urls.txt",
        "line": "3",
        "url": "https://a.example/",
        "final_url": "https://a.example/",
        "status": "200",
        "ok": "true",
        "size": "1229",
        "elapsed": "0.123",
        "attempts": "1",
        "redirects": "0",
        "content_type": "text/html",
        "truncated": "false",
        "error": "",
        "message": "",
        "column": "",
        "cached": "false",
        "saved": "",
        "fetched_at": "",
    }


def test_csv_null_is_an_empty_field() -> None:
    row = dict(zip(SPEC_KEYS, csv_rows(timeout_result())[1], strict=True))
    assert row["status"] == ""
    assert row["size"] == ""
    assert row["final_url"] == ""
    assert row["content_type"] == ""


def test_csv_booleans_are_true_and_false() -> None:
    row = dict(zip(SPEC_KEYS, csv_rows(ok_result(truncated=True))[1], strict=True))
    assert (row["ok"], row["truncated"]) == ("true", "true")
    row = dict(zip(SPEC_KEYS, csv_rows(timeout_result())[1], strict=True))
    assert (row["ok"], row["truncated"]) == ("false", "false")


def test_csv_error_is_the_kind_name() -> None:
    row = dict(zip(SPEC_KEYS, csv_rows(timeout_result())[1], strict=True))
    assert row["error"] == "timeout"


def test_csv_quotes_message_with_comma_and_quote() -> None:
    line = make_formatter(Format.CSV).line(timeout_result(message='said "no", then left'))
    assert line is not None
    assert '"said ""no"", then left"' in line


def test_csv_message_with_comma_and_quote_round_trips() -> None:
    message = 'said "no", then left'
    row = dict(zip(SPEC_KEYS, csv_rows(timeout_result(message=message))[1], strict=True))
    assert row["message"] == message


def test_csv_escapes_control_characters() -> None:
    line = make_formatter(Format.CSV).line(timeout_result(message="a\nb\x1bc"))
    assert line is not None
    assert len(line.splitlines()) == 1
    assert not RAW_CONTROL.search(line)
    assert len(csv_rows(timeout_result(message="a\nb\x1bc"))) == 2


def test_csv_row_does_not_include_the_header() -> None:
    # The header is its own line (`header()`), so a caller can leave it out.
    formatter = make_formatter(Format.CSV)
    line = formatter.line(ok_result())
    assert line is not None
    assert len(line.splitlines()) == 1
    assert not line.startswith("source,")
    assert line != formatter.header()


def test_csv_rows_are_the_same_on_every_call() -> None:
    formatter = make_formatter(Format.CSV)
    first = formatter.line(ok_result())
    formatter.line(timeout_result(message="x,y"))
    assert formatter.line(ok_result()) == first


@pytest.mark.parametrize("fmt", [Format.TEXT, Format.JSONL, Format.NONE])
def test_formats_other_than_csv_have_no_header(fmt: Format) -> None:
    assert make_formatter(fmt).header() is None


@pytest.mark.parametrize("fmt", list(Format))
def test_no_format_has_a_footer(fmt: Format) -> None:
    assert make_formatter(fmt).footer() is None


@pytest.mark.parametrize(
    ("fmt", "format_line"), [(Format.TEXT, format_text), (Format.JSONL, format_jsonl)]
)
def test_formatter_line_is_the_format_function(
    fmt: Format, format_line: Callable[[FetchResult], str]
) -> None:
    formatter = make_formatter(fmt)
    for result in (ok_result(), timeout_result(), not_found_result(), invalid_result()):
        assert formatter.line(result) == format_line(result)


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="xml"):
        Format("xml")


def test_each_run_gets_its_own_formatter() -> None:
    assert make_formatter(Format.CSV) is not make_formatter(Format.CSV)


# --- status labels ----------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "label"),
    [
        (ok_result(), "200"),
        (not_found_result(), "404"),
        (timeout_result(), "ERR:timeout"),
        (timeout_result(status=200, size=4096), "ERR:timeout"),
        (invalid_result(), "ERR:invalid_url"),
    ],
)
def test_status_label_is_the_code_or_the_error_kind(result: FetchResult, label: str) -> None:
    assert status_label(result) == label


def test_text_format_starts_with_the_status_label() -> None:
    for result in (ok_result(), not_found_result(), timeout_result(), invalid_result()):
        assert format_text(result).split(" ", 1)[0] == status_label(result)


def test_error_label_names_the_kind() -> None:
    assert error_label(ErrorKind.DNS) == "ERR:dns"


# --- none and the writer ---------------------------------------------------


def emit(stream: io.StringIO, fmt: Format, results: list[FetchResult]) -> int:
    """Write results as a run does: the header and footer (if any) around each line, via a sink.

    Returns how many lines were put.
    """
    formatter = make_formatter(fmt)
    header, footer = formatter.header(), formatter.footer()
    lines = [] if header is None else [header]
    lines += [line for result in results if (line := formatter.line(result)) is not None]
    lines += [] if footer is None else [footer]
    sink = LineSink(lambda: stream, owns_stream=False)

    async def main() -> None:
        for line in lines:
            await sink.put(line)

    try:
        asyncio.run(main())
    finally:
        sink.close()
    assert sink.error is None
    assert not sink.broken
    return len(lines)


def test_none_format_writes_nothing() -> None:
    stream = CountingStream()
    lines = emit(stream, Format.NONE, [ok_result(), timeout_result()])
    assert stream.getvalue() == ""
    assert lines == 0
    assert stream.flushes == 0


def test_none_format_has_no_line() -> None:
    formatter = make_formatter(Format.NONE)
    assert formatter.line(ok_result()) is None
    assert formatter.line(timeout_result()) is None
    assert formatter.header() is None


def test_formats_are_exactly_the_spec_formats() -> None:
    assert set(Format) == {"text", "jsonl", "csv", "none"}
    assert set(FORMATS) == set(Format)


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_has_a_formatter(fmt: Format) -> None:
    formatter: Formatter = make_formatter(fmt)
    assert type(formatter) is FORMATS[fmt]


@pytest.mark.parametrize("fmt", [Format.TEXT, Format.JSONL])
def test_writer_writes_one_line_per_result(fmt: Format) -> None:
    stream = io.StringIO()
    results = [ok_result(), timeout_result(message="x\ny"), not_found_result(), invalid_result()]
    lines = emit(stream, fmt, results)
    assert stream.getvalue().count("\n") == len(results)
    assert stream.getvalue().endswith("\n")
    assert lines == len(results)


def test_writer_jsonl_lines_parse_as_json() -> None:
    stream = io.StringIO()
    emit(stream, Format.JSONL, [ok_result(), timeout_result()])
    assert [json.loads(line)["line"] for line in stream.getvalue().splitlines()] == [3, 9]


def test_writer_line_equals_format() -> None:
    stream = io.StringIO()
    emit(stream, Format.TEXT, [ok_result()])
    line = make_formatter(Format.TEXT).line(ok_result())
    assert line is not None
    assert stream.getvalue() == line + "\n"


@pytest.mark.parametrize("fmt", [Format.TEXT, Format.JSONL, Format.CSV])
def test_writer_flushes_each_whole_line(fmt: Format) -> None:
    stream = CountingStream()
    header_flushes = 0 if make_formatter(fmt).header() is None else 1
    emit(stream, fmt, [ok_result(), timeout_result(), not_found_result()])
    assert stream.flushes - header_flushes == 3
    assert all(value.endswith("\n") for value in stream.flushed_values)


def test_csv_writer_flushes_the_header() -> None:
    stream = CountingStream()
    assert emit(stream, Format.CSV, []) == 1
    assert stream.flushes == 1
    assert stream.getvalue() == ",".join(SPEC_KEYS) + "\n"


def test_writer_propagates_broken_pipe() -> None:
    formatter = make_formatter(Format.TEXT)
    stream = BrokenStream()
    sink = LineSink(lambda: stream, owns_stream=False)

    async def main() -> None:
        with pytest.raises(BrokenPipeError):
            for _ in range(10 * _PENDING_LINES):
                line = formatter.line(ok_result())
                assert line is not None
                await sink.put(line)
                await asyncio.sleep(0)

    try:
        asyncio.run(main())
    finally:
        sink.close()
    assert sink.broken


# --- the line sink ----------------------------------------------------------


class BrokenStream(io.StringIO):
    """A stream whose reader has gone (`| head`): every write raises BrokenPipeError."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise BrokenPipeError


class ClosingStream(CountingStream):
    """Keeps what was written when closed (a closed StringIO forgets it)."""

    final: str | None = None

    def close(self) -> None:
        self.final = self.getvalue()
        super().close()


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait, on the loop, until the writer thread has made `condition` true."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the writer thread did not get there in time"
        await asyncio.sleep(0.005)


def put_all(sink: LineSink, lines: list[str]) -> None:
    async def main() -> None:
        for line in lines:
            await sink.put(line)

    asyncio.run(main())


def test_sink_writes_lines_in_order_each_followed_by_a_newline_and_a_flush() -> None:
    stream = CountingStream()
    lines = [f"line {i}" for i in range(50)] + ["", "straße 日本"]
    sink = LineSink(lambda: stream, owns_stream=False)
    put_all(sink, lines)
    sink.close()
    assert stream.getvalue() == "".join(f"{line}\n" for line in lines)
    assert stream.flushes == len(lines)
    # Each flush comes right after one whole line: never a part line, never two lines at once.
    assert stream.flushed_values == [
        "".join(f"{line}\n" for line in lines[:n]) for n in range(1, len(lines) + 1)
    ]
    assert sink.error is None
    assert not sink.broken


def test_sink_leaves_open_a_stream_it_does_not_own() -> None:
    stream = CountingStream()
    sink = LineSink(lambda: stream, owns_stream=False)
    put_all(sink, ["a"])
    sink.close()
    assert not stream.closed
    assert stream.getvalue() == "a\n"


def test_sink_closes_a_stream_it_owns_after_the_last_line() -> None:
    stream = ClosingStream()
    sink = LineSink(lambda: stream, owns_stream=True)
    put_all(sink, ["a", "b"])
    sink.close()
    assert stream.closed
    assert stream.final == "a\nb\n"


def test_sink_writes_from_its_own_thread_and_put_does_not_wait_for_the_write() -> None:
    gate = threading.Event()
    writers: list[threading.Thread] = []

    class GatedStream(io.StringIO):
        def write(self, text: str) -> int:
            writers.append(threading.current_thread())
            gate.wait(5)
            return super().write(text)

    stream = GatedStream()
    sink = LineSink(lambda: stream, owns_stream=False)

    async def main() -> None:
        for line in ("a", "b", "c"):
            await sink.put(line)  # returns although the first write is still held
        assert stream.getvalue() == ""

    try:
        asyncio.run(main())
    finally:
        gate.set()
        sink.close()
    assert stream.getvalue() == "a\nb\nc\n"
    assert writers
    assert all(thread is not threading.main_thread() for thread in writers)


def test_sink_opens_the_stream_lazily_and_once() -> None:
    opened: list[threading.Thread] = []
    stream = CountingStream()

    def open_stream() -> io.StringIO:
        opened.append(threading.current_thread())
        return stream

    sink = LineSink(open_stream, owns_stream=False)
    time.sleep(0.05)
    assert opened == []  # not opened before the first line
    put_all(sink, ["a", "b", "c"])
    sink.close()
    assert len(opened) == 1
    assert stream.getvalue() == "a\nb\nc\n"


@pytest.fixture
def out_file(tmp_path: Path) -> Path:
    return tmp_path / "out.txt"


def file_opener(path: Path, calls: list[Path] | None = None) -> Callable[[], TextIO]:
    """Opens `path` for writing (so truncating it), as `-o FILE` does."""

    def open_stream() -> TextIO:
        if calls is not None:
            calls.append(path)
        return path.open("w", encoding="utf-8", newline="")

    return open_stream


def test_sink_close_without_create_leaves_an_existing_file_untouched(out_file: Path) -> None:
    out_file.write_text("results of an earlier run\n", encoding="utf-8")
    calls: list[Path] = []
    sink = LineSink(file_opener(out_file, calls), owns_stream=True)
    sink.close(create=False)
    assert out_file.read_text(encoding="utf-8") == "results of an earlier run\n"
    assert calls == []
    assert sink.error is None


def test_sink_close_without_create_does_not_create_a_missing_file(out_file: Path) -> None:
    sink = LineSink(file_opener(out_file), owns_stream=True)
    sink.close(create=False)
    assert not out_file.exists()
    assert sink.error is None


def test_sink_close_without_create_does_not_open_a_stream_it_does_not_own() -> None:
    opened: list[int] = []
    stream = CountingStream()

    def open_stream() -> io.StringIO:
        opened.append(1)
        return stream

    sink = LineSink(open_stream, owns_stream=False)
    sink.close(create=False)
    assert opened == []
    assert not stream.closed


@pytest.mark.parametrize("existing", [True, False])
def test_sink_close_without_lines_creates_or_truncates_the_file(
    out_file: Path, existing: bool
) -> None:
    if existing:
        out_file.write_text("results of an earlier run\n", encoding="utf-8")
    sink = LineSink(file_opener(out_file), owns_stream=True)
    sink.close()
    assert out_file.exists()
    assert out_file.read_text(encoding="utf-8") == ""
    assert sink.error is None


def test_sink_close_after_lines_replaces_the_file(out_file: Path) -> None:
    out_file.write_text("results of an earlier run\n", encoding="utf-8")
    sink = LineSink(file_opener(out_file), owns_stream=True)
    put_all(sink, ["a", "b"])
    sink.close()
    assert out_file.read_text(encoding="utf-8") == "a\nb\n"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_sink_close_without_create_still_writes_pending_lines(out_file: Path) -> None:
    # E.g. a source fails part-way after some results were put: those results must be kept.
    out_file.write_text("results of an earlier run\n", encoding="utf-8")
    sink = LineSink(file_opener(out_file), owns_stream=True)

    async def main() -> None:
        await sink.put("result")
        sink.close(create=False)  # at once, before the writer thread has taken the line

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1.0)  # keep the writer thread from running in between
    try:
        asyncio.run(main())
    finally:
        sys.setswitchinterval(previous)
    assert out_file.read_text(encoding="utf-8") == "result\n"
    assert sink.error is None


def test_sink_broken_pipe_sets_broken_and_a_later_put_raises() -> None:
    stream = BrokenStream()
    sink = LineSink(lambda: stream, owns_stream=False)

    async def main() -> None:
        await sink.put("first")
        await until(lambda: sink.broken)
        with pytest.raises(BrokenPipeError):
            await sink.put("second")
        with pytest.raises(BrokenPipeError):
            await sink.put("third")

    try:
        asyncio.run(main())
    finally:
        sink.close()  # returns
    assert sink.broken
    assert sink.error is None  # a reader going away is not a write error
    assert stream.writes == 1  # nothing more is written once the reader has gone


def test_sink_close_returns_after_a_broken_pipe_with_many_lines_queued() -> None:
    stream = BrokenStream()
    sink = LineSink(lambda: stream, owns_stream=True)
    raised = False

    async def main() -> None:
        nonlocal raised
        try:
            for i in range(_PENDING_LINES + 1000):
                await sink.put(f"line {i}")
        except BrokenPipeError:
            raised = True

    asyncio.run(main())
    started = time.monotonic()
    sink.close()
    assert time.monotonic() - started < 5
    assert sink.broken
    assert stream.writes == 1
    assert stream.closed
    assert raised


def test_sink_reports_an_open_error_and_a_later_put_raises_it(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "out.txt"
    sink = LineSink(file_opener(path), owns_stream=True)

    async def main() -> None:
        await sink.put("first")
        await until(lambda: sink.error is not None)
        with pytest.raises(OSError) as caught:
            await sink.put("second")
        assert caught.value is sink.error

    try:
        asyncio.run(main())
    finally:
        sink.close()  # returns
    assert isinstance(sink.error, FileNotFoundError)
    assert not sink.broken
    assert not path.parent.exists()


def test_sink_close_without_lines_reports_an_open_error(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "out.txt"
    sink = LineSink(file_opener(path), owns_stream=True)
    sink.close()
    assert isinstance(sink.error, FileNotFoundError)


def test_sink_close_without_create_does_not_report_an_open_error(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "out.txt"
    sink = LineSink(file_opener(path), owns_stream=True)
    sink.close(create=False)
    assert sink.error is None


def test_sink_reports_a_write_error_and_a_later_put_raises_it() -> None:
    full = OSError(28, "No space left on device")

    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise full

    sink = LineSink(FullDisk, owns_stream=True)

    async def main() -> None:
        await sink.put("first")
        await until(lambda: sink.error is not None)
        with pytest.raises(OSError) as caught:
            await sink.put("second")
        assert caught.value is full

    try:
        asyncio.run(main())
    finally:
        sink.close()
    assert sink.error is full
    assert not sink.broken


class StalledStream(io.StringIO):
    """A slow reader: each of the first `slow_lines` writes takes 0.05 s, then it catches up.

    (Slow for every line, 5000 lines would take over four minutes to drain.)
    """

    def __init__(self, slow_lines: int) -> None:
        super().__init__()
        self.slow_lines = slow_lines

    def write(self, text: str) -> int:
        if self.slow_lines > 0:
            self.slow_lines -= 1
            time.sleep(0.05)
        return super().write(text)


def test_sink_with_a_slow_reader_does_not_block_the_event_loop() -> None:
    stream = StalledStream(slow_lines=12)  # stalled for about 0.6 s
    lines = [f"result {i}" for i in range(_PENDING_LINES + 1000)]  # more than the sink holds
    sink = LineSink(lambda: stream, owns_stream=False)
    ticks: list[float] = []

    async def main() -> float:
        async def tick() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        started = time.perf_counter()
        for line in lines:
            await sink.put(line)
        finished = time.perf_counter()
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        assert finished - started > 0.3  # the puts did wait for the stalled reader
        return finished

    try:
        finished = asyncio.run(main())
    finally:
        sink.close()
    while_waiting = [t for t in ticks if t <= finished]
    assert len(while_waiting) >= 15  # ~60 if the loop is never held up
    gaps = [b - a for a, b in itertools.pairwise(while_waiting)]
    assert max(gaps) < 0.25  # never held up for the stalled writes
    assert stream.getvalue() == "".join(f"{line}\n" for line in lines)


# --- what text output shows, redaction, spreadsheet safety ----------------


def test_text_shows_where_a_redirect_led() -> None:
    moved = ok_result(redirects=2, final_url="https://a.example/new")
    assert format_text(moved).endswith(" https://a.example/ → https://a.example/new")


def test_text_marks_a_truncated_body() -> None:
    assert format_text(ok_result(truncated=True)).endswith(" (truncated)")


def test_text_shows_a_local_file_found_as_ok() -> None:
    found = ok_result(status=None, url="file:///repo/a.md", final_url="file:///repo/a.md")
    assert format_text(found).startswith("OK ")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@a.example/x", "https://user:***@a.example/x"),
        ("https://user@a.example/x", "https://user@a.example/x"),
        ("https://a.example/x?mail=me@b.example", "https://a.example/x?mail=me@b.example"),
        ("https://a.example/", "https://a.example/"),
    ],
)
def test_redact_url_hides_only_a_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_no_output_shows_a_password_in_a_url() -> None:
    result = ok_result(url="https://u:s3cret@a.example/", final_url="https://u:s3cret@a.example/")
    csv_line = make_formatter(Format.CSV).line(result)
    for line in (format_text(result), format_jsonl(result), csv_line):
        assert line is not None and "s3cret" not in line and "u:***@a.example" in line


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_cells_from_servers_cannot_be_formulas(start: str) -> None:
    result = timeout_result(message=f"{start}HYPERLINK(1)", content_type=f"{start}cmd")
    row = dict(zip(SPEC_KEYS, csv_rows(result)[1], strict=True))
    assert row["message"] == f"'{start}HYPERLINK(1)" and row["content_type"] == f"'{start}cmd"
    assert row["source"] == "-"  # our own cells are written as they are


def test_fetched_at_is_the_utc_time_to_the_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    from fetchcli import model

    ticks = iter([1764494736.1204, 1764494736.1207, 1764494736.1213, 1764494737.0009])
    clock = SimpleNamespace(time=lambda: next(ticks), strftime=time.strftime, gmtime=time.gmtime)
    monkeypatch.setattr(model, "time", clock)
    assert [model.now() for _ in range(4)] == [
        "2025-11-30T09:25:36.120Z",
        "2025-11-30T09:25:36.120Z",
        "2025-11-30T09:25:36.121Z",
        "2025-11-30T09:25:37.000Z",
    ]
