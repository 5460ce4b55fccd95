"""Result formats and the writer: text, jsonl, csv, none; safe_text; human_size."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from fetchcli.errors import ErrorKind
from fetchcli.output import (
    FORMATS,
    ResultWriter,
    format_jsonl,
    format_text,
    human_size,
    safe_text,
)
from fetchcli.results import FIELDS, FetchResult

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
]
RAW_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def ok_result(**changes: object) -> FetchResult:
    fields: dict[str, object] = {
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
    return FetchResult(**fields)  # type: ignore[arg-type]


def timeout_result(**changes: object) -> FetchResult:
    fields: dict[str, object] = {
        "source": "-",
        "line": 9,
        "url": "https://b.example/",
        "elapsed": 10.001,
        "attempts": 3,
        "error": ErrorKind.TIMEOUT,
        "message": "no complete response within 10s",
    }
    fields.update(changes)
    return FetchResult(**fields)  # type: ignore[arg-type]


def not_found_result() -> FetchResult:
    return ok_result(
        status=404, ok=False, size=512, error=ErrorKind.HTTP_STATUS, message="404 Not Found"
    )


def invalid_result() -> FetchResult:
    return FetchResult(
        source="urls.txt",
        line=4,
        url="ftp://x.example/",
        error=ErrorKind.INVALID_URL,
        message="unsupported scheme 'ftp'",
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
    stream = io.StringIO()
    writer = ResultWriter(stream, "csv")
    for result in results:
        writer.write(result)
    return list(csv.reader(io.StringIO(stream.getvalue())))


def test_csv_header_row_is_the_jsonl_keys_in_order() -> None:
    assert csv_rows()[0] == SPEC_KEYS


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
    stream = io.StringIO()
    ResultWriter(stream, "csv").write(timeout_result(message='said "no", then left'))
    assert stream.getvalue().splitlines()[1].endswith('"said ""no"", then left"')


def test_csv_message_with_comma_and_quote_round_trips() -> None:
    message = 'said "no", then left'
    row = dict(zip(SPEC_KEYS, csv_rows(timeout_result(message=message))[1], strict=True))
    assert row["message"] == message


def test_csv_escapes_control_characters() -> None:
    stream = io.StringIO()
    ResultWriter(stream, "csv").write(timeout_result(message="a\nb\x1bc"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert not RAW_CONTROL.search(stream.getvalue().replace("\n", ""))


def test_csv_header_can_be_left_out() -> None:
    stream = io.StringIO()
    ResultWriter(stream, "csv", header=False).write(ok_result())
    assert len(stream.getvalue().splitlines()) == 1
    assert not stream.getvalue().startswith("source,")


# --- none and the writer ---------------------------------------------------


def test_none_format_writes_nothing() -> None:
    stream = io.StringIO()
    writer = ResultWriter(stream, "none")
    writer.write(ok_result())
    writer.write(timeout_result())
    assert stream.getvalue() == ""
    assert writer.lines == 0


def test_none_format_has_no_line() -> None:
    assert ResultWriter(io.StringIO(), "none").format(ok_result()) is None


def test_formats_are_exactly_the_spec_formats() -> None:
    assert set(FORMATS) == {"text", "jsonl", "csv", "none"}


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_writer_writes_one_line_per_result(fmt: str) -> None:
    stream = io.StringIO()
    writer = ResultWriter(stream, fmt)
    results = [ok_result(), timeout_result(message="x\ny"), not_found_result(), invalid_result()]
    for result in results:
        writer.write(result)
    assert stream.getvalue().count("\n") == len(results)
    assert stream.getvalue().endswith("\n")
    assert writer.lines == len(results)


def test_writer_jsonl_lines_parse_as_json() -> None:
    stream = io.StringIO()
    writer = ResultWriter(stream, "jsonl")
    writer.write(ok_result())
    writer.write(timeout_result())
    assert [json.loads(line)["line"] for line in stream.getvalue().splitlines()] == [3, 9]


def test_writer_line_equals_format() -> None:
    stream = io.StringIO()
    writer = ResultWriter(stream, "text")
    writer.write(ok_result())
    assert stream.getvalue() == writer.format(ok_result()) + "\n"


@pytest.mark.parametrize("fmt", ["text", "jsonl", "csv"])
def test_writer_flushes_each_whole_line(fmt: str) -> None:
    stream = CountingStream()
    writer = ResultWriter(stream, fmt)
    header_flushes = stream.flushes
    for result in (ok_result(), timeout_result(), not_found_result()):
        writer.write(result)
    assert stream.flushes - header_flushes == 3
    assert all(value.endswith("\n") for value in stream.flushed_values)


def test_csv_writer_flushes_the_header() -> None:
    stream = CountingStream()
    ResultWriter(stream, "csv")
    assert stream.flushes == 1
    assert stream.getvalue() == ",".join(SPEC_KEYS) + "\n"


def test_writer_propagates_broken_pipe() -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    with pytest.raises(BrokenPipeError):
        ResultWriter(Broken(), "text").write(ok_result())
