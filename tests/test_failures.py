"""The list of failures after the summary: order, caps, messages, redaction, safe text."""

from __future__ import annotations

import re

import pytest

from fetchcli.model import ErrorKind, FetchResult
from fetchcli.sinks.failures import (
    MAX_KEPT,
    MAX_LINES,
    TRANSIENT_MARK,
    FailureList,
    first_in_order,
    order_line,
    status_span,
)
from fetchcli.text import redact_text, redact_url


def failure(
    source: str = "docs/a.md",
    line: int = 1,
    column: int | None = None,
    *,
    url: str = "https://a.example/x",
    status: int | None = 404,
    error: ErrorKind = ErrorKind.HTTP_STATUS,
    message: str | None = None,
) -> FetchResult:
    return FetchResult(
        source=source, line=line, column=column, url=url, status=status, ok=False,
        error=error, message=message,
    )  # fmt: skip


def success(source: str = "docs/a.md", line: int = 1) -> FetchResult:
    return FetchResult(source=source, line=line, url="https://a.example/", status=200, ok=True)


def timeout(source: str = "docs/a.md", line: int = 1) -> FetchResult:
    return failure(source, line, status=None, error=ErrorKind.TIMEOUT)


def failure_lines(*results: FetchResult, limit: int = MAX_LINES) -> list[str]:
    failures = FailureList()
    for result in results:
        failures.add(result)
    return failures.lines(limit)


def places(lines: list[str]) -> list[str]:
    """The WHERE column of each line."""
    return [line.split()[0] for line in lines]


# --- the line --------------------------------------------------------------------


def test_a_line_is_where_status_and_url() -> None:
    assert failure_lines(failure("docs/a.md", 12, 5)) == [
        "docs/a.md:12:5  404  https://a.example/x"
    ]


def test_where_has_no_column_when_the_result_has_none() -> None:
    assert failure_lines(failure("urls.txt", 3)) == ["urls.txt:3  404  https://a.example/x"]


def test_an_error_without_a_status_shows_its_kind() -> None:
    line = failure_lines(failure(status=None, error=ErrorKind.FILE))[0]
    assert line.split()[1] == "ERR:file"


def test_columns_line_up() -> None:
    lines = failure_lines(failure(line=9), failure(line=10, status=None, error=ErrorKind.DNS))
    assert lines == [
        "docs/a.md:9   404      https://a.example/x",
        "docs/a.md:10  ERR:dns  https://a.example/x",
    ]


def test_a_message_that_says_more_follows_the_url() -> None:
    message = "no anchor #setup in docs/install.md"
    line = failure_lines(failure(status=None, error=ErrorKind.FRAGMENT, message=message))[0]
    assert line.endswith("https://a.example/x  " + message)


@pytest.mark.parametrize("message", ["404 Not Found", "404", "404 Page Gone"])
def test_a_message_that_is_only_the_status_line_is_left_out(message: str) -> None:
    assert failure_lines(failure(message=message))[0].endswith("https://a.example/x")


def test_a_message_that_is_only_the_error_kind_is_left_out() -> None:
    line = failure_lines(failure(status=None, error=ErrorKind.DNS, message="dns"))[0]
    assert line.endswith("https://a.example/x")


def test_a_status_line_with_a_note_is_shown() -> None:
    message = "503 Service Unavailable; server asked to retry after 600s"
    line = failure_lines(failure(status=503, message=message))[0]
    assert message in line


def test_a_transient_failure_is_marked() -> None:
    assert failure_lines(timeout())[0].endswith("  " + TRANSIENT_MARK)
    assert TRANSIENT_MARK not in failure_lines(failure())[0]


def test_no_control_character_reaches_a_line() -> None:
    hostile = failure(
        "docs/\x1b[31ma.md", url="https://a.example/\x1b]0;pwn\x07", message="bad\nline\u202e"
    )
    line = failure_lines(hostile)[0]
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202e]", line)
    assert "docs/\\x1b[31ma.md:1" in line and "bad\\x0aline\\u202e" in line


def test_a_password_in_the_url_is_hidden() -> None:
    line = failure_lines(failure(url="https://user:secret@a.example/x"))[0]
    assert "secret" not in line and "https://user:***@a.example/x" in line


def test_a_password_in_the_message_is_hidden() -> None:
    message = "redirect to an unfetchable URL: ftp://me:hunter2@files.example/"
    line = failure_lines(failure(status=None, error=ErrorKind.INVALID_URL, message=message))[0]
    assert "hunter2" not in line and "ftp://me:***@files.example/" in line


# --- order -----------------------------------------------------------------------


def test_permanent_failures_come_before_transient_ones() -> None:
    lines = failure_lines(timeout(line=1), failure(line=2), timeout(line=3), failure(line=4))
    assert places(lines) == ["docs/a.md:2", "docs/a.md:4", "docs/a.md:1", "docs/a.md:3"]


def test_sources_keep_the_order_they_were_first_seen_in() -> None:
    results = (success("z.md"), failure("a.md"), failure("z.md"), failure("m.md"))
    assert places(failure_lines(*results)) == ["z.md:1", "a.md:1", "m.md:1"]


def test_failures_of_a_source_are_sorted_by_line_then_column() -> None:
    results = (
        failure(line=9),
        failure(line=2, column=7),
        failure(line=2),
        failure(line=2, column=3),
    )
    assert places(failure_lines(*results)) == [
        "docs/a.md:2",
        "docs/a.md:2:3",
        "docs/a.md:2:7",
        "docs/a.md:9",
    ]


def test_ok_results_give_no_line() -> None:
    assert failure_lines(success(), success()) == []


# --- caps ------------------------------------------------------------------------


def test_at_most_fifty_lines_then_how_many_more() -> None:
    lines = failure_lines(*(failure(line=n) for n in range(1, 121)))
    assert len(lines) == MAX_LINES + 1 == 51
    assert places(lines[:2]) == ["docs/a.md:1", "docs/a.md:2"]
    assert lines[-1] == "… and 70 more (see --report or --format jsonl)"


def test_no_more_line_when_every_failure_is_shown() -> None:
    lines = failure_lines(*(failure(line=n) for n in range(1, MAX_LINES + 1)))
    assert len(lines) == MAX_LINES and not lines[-1].startswith("…")


def test_the_limit_shows_permanent_failures_before_any_transient_one() -> None:
    results = [timeout(line=n) for n in range(1, 4)] + [failure(line=n) for n in range(4, 7)]
    lines = failure_lines(*results, limit=4)
    assert places(lines[:4]) == ["docs/a.md:4", "docs/a.md:5", "docs/a.md:6", "docs/a.md:1"]
    assert lines[-1].startswith("… and 2 more")


def test_past_the_keep_limit_failures_are_only_counted() -> None:
    failures = FailureList()
    for n in range(MAX_KEPT + 500):
        failures.add(failure(line=n))
    assert failures.count == MAX_KEPT + 500
    assert len(failures._permanent) + len(failures._transient) == MAX_KEPT
    assert (
        failures.lines()[-1]
        == f"… and {MAX_KEPT + 500 - MAX_LINES} more (see --report or --format jsonl)"
    )


def test_when_full_a_permanent_failure_takes_a_transient_ones_place() -> None:
    failures = FailureList(keep=3)
    for n in range(1, 4):
        failures.add(timeout(line=n))
    failures.add(failure(line=9))
    assert places(failures.lines()) == ["docs/a.md:9", "docs/a.md:1", "docs/a.md:2", "…"]
    assert failures.count == 4


# --- redact_url ------------------------------------------------------------------


def test_redact_url_hides_the_password() -> None:
    assert redact_url("https://user:secret@host/") == "https://user:***@host/"


@pytest.mark.parametrize(
    "url",
    [
        "https://host/",
        "https://user@host/",
        "https://host/a@b:c",
        "https://host/?q=a:b@c",
        "mailto:a@b.example",
        "not a url @ all:x",
    ],
)
def test_redact_url_leaves_other_urls_as_they_are(url: str) -> None:
    assert redact_url(url) == url


def test_redact_url_hides_a_password_holding_an_at_sign() -> None:
    assert redact_url("http://u:p@ss@host:8080/x") == "http://u:***@host:8080/x"


def test_redact_text_hides_every_password_in_a_message() -> None:
    text = "from https://a:1@x.example/ to http://b:2@y.example/p"
    assert redact_text(text) == "from https://a:***@x.example/ to http://b:***@y.example/p"


# --- helpers the terminal and the reports use -----------------------------------


def test_status_span_finds_the_status_after_where() -> None:
    line = failure_lines(failure("a b:1.md", 12, 5))[0]
    start, end = status_span(line) or (0, 0)
    assert line[start:end] == "404"


def test_first_in_order_keeps_the_first_rows_that_fit() -> None:
    rows = [((0, 0, line, 0, line), f"row{line}") for line in (5, 1, 4, 2, 3)]
    lines = [order_line(key, row) for key, row in rows]
    # Each row is 5 bytes with its newline: 3 fit in 15.
    assert [row for _, row in first_in_order(lines, 15)] == ["row1", "row2", "row3"]


def test_first_in_order_does_not_skip_a_row_that_did_not_fit() -> None:
    lines = [order_line((0, 0, 1, 0, 1), "a" * 9), order_line((0, 0, 2, 0, 2), "b" * 9)]
    lines.append(order_line((0, 0, 3, 0, 3), "c"))
    # 'b' does not fit after 'a'; 'c' would fit but comes after 'b' in order.
    assert [row for _, row in first_in_order(lines, 12)] == ["a" * 9]
