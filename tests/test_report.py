"""--report FILE: suffix dispatch, Markdown and JUnit content, escaping, atomic write, memory."""

from __future__ import annotations

import os
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fetchcli.model import ErrorKind, FetchResult
from fetchcli.sinks.report import REPORTS, JUnitReport, MarkdownReport, ReportError, open_report
from fetchcli.sinks.summary import Summary, SummaryFigures

HOSTILE = "bad | cell\nnext <script>alert(1)</script> \x1b[31mred"


def ok(line: int = 1, url: str = "https://a.example/", source: str = "urls.txt") -> FetchResult:
    return FetchResult(
        source=source, line=line, url=url, final_url=url, status=200, ok=True,
        size=100, elapsed=0.05, attempts=1,
    )  # fmt: skip


def failed(
    line: int = 2,
    url: str = "https://a.example/missing",
    *,
    status: int | None = 404,
    error: ErrorKind = ErrorKind.HTTP_STATUS,
    message: str | None = "Not Found",
    source: str = "urls.txt",
    column: int | None = None,
) -> FetchResult:
    return FetchResult(
        source=source, line=line, url=url, final_url=url if status else None,
        status=status, ok=False, size=0 if status else None, elapsed=0.2, attempts=1,
        error=error, message=message, column=column,
    )  # fmt: skip


def flaky(line: int, source: str = "urls.txt") -> FetchResult:
    """A transient failure: a timeout."""
    return failed(line, status=None, error=ErrorKind.TIMEOUT, message="timed out", source=source)


def table_rows(text: str) -> list[str]:
    """The failure rows of a Markdown report (not the counts or latency tables)."""
    failures = text.split("\n## ", 1)[1]
    return [row for row in failures.splitlines() if row.startswith("| ") and row != TABLE_HEAD]


TABLE_HEAD = "| line | status | url | message |"


def write_report(path: Path, *results: FetchResult, interrupted: bool = False) -> str:
    """Run results through a report and a Summary, finish it, and return the file's text."""
    report = open_report(path)
    summary = Summary()
    for result in results:
        report.add(result)
        summary.add(result)
    report.finish(summary.figures(1.5), interrupted=interrupted)
    return path.read_text(encoding="utf-8")


def figures() -> SummaryFigures:
    return Summary().figures(1.0)


def markdown_html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    html: str = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    return html


# --- dispatch and usage errors ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [("r.md", MarkdownReport), ("R.MD", MarkdownReport), ("r.xml", JUnitReport)],
)
def test_open_report_picks_report_by_suffix_case_insensitively(
    tmp_path: Path, name: str, kind: type
) -> None:
    report = open_report(tmp_path / name)
    assert isinstance(report, kind)
    report.discard()


def test_reports_dict_maps_md_and_xml() -> None:
    assert sorted(REPORTS) == [".md", ".xml"]
    assert (REPORTS[".md"], REPORTS[".xml"]) == (MarkdownReport, JUnitReport)


def test_other_suffix_is_a_one_line_error_naming_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ReportError) as info:
        open_report(tmp_path / "x.txt")
    message = str(info.value)
    assert "--report" in message and "x.txt'" in message
    assert ".md" in message and ".xml" in message
    assert "\n" not in message


def test_missing_directory_fails_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="--report") as info:
        open_report(tmp_path / "nope" / "r.md")
    assert "nope" in str(info.value)


# --- Markdown --------------------------------------------------------------------


def test_markdown_has_counts_by_status_and_error(tmp_path: Path) -> None:
    text = write_report(
        tmp_path / "r.md", ok(1), ok(2), failed(3), failed(4, status=None, error=ErrorKind.TIMEOUT)
    )
    assert "| status | 200 | 2 |" in text
    assert "| status | 404 | 1 |" in text
    assert "| error | http\\_status | 1 |" in text
    assert "| error | timeout | 1 |" in text
    assert "**4 results** · 2 ok · 2 failed · 0 excluded" in text
    assert "| latency | min | median | p95 | max |" in text


def test_markdown_lists_every_failure_with_its_line(tmp_path: Path) -> None:
    text = write_report(
        tmp_path / "r.md",
        ok(1),
        failed(7),
        failed(9, "https://b.example/", status=None, error=ErrorKind.DNS, message="no host"),
    )
    assert table_rows(text) == [
        "| 7 | 404 | https://a.example/missing | Not Found |",
        "| 9 | ERR:dns | https://b.example/ | no host |",
    ]
    assert "## Failures (2)" in text and "### urls.txt" in text


def test_markdown_untrusted_message_stays_in_one_inert_cell(tmp_path: Path) -> None:
    text = write_report(tmp_path / "r.md", failed(3, message=HOSTILE))
    assert "\x1b" not in text and "<script>" not in text
    html = markdown_html(text)
    failures_table = html.split("Failures")[1]
    assert failures_table.count("<tr>") == 2  # header and the one failure
    assert failures_table.count("<td>") == 4
    assert "<script>" not in html
    assert "bad | cell\\x0anext &lt;script&gt;" in html


def test_markdown_url_with_html_and_pipe_cannot_render(tmp_path: Path) -> None:
    url = "https://a.example/<img src=x onerror=alert(1)>|`x`"
    html = markdown_html(write_report(tmp_path / "r.md", failed(3, url)))
    assert "<img" not in html and "<code>" not in html
    assert html.split("Failures")[1].count("<td>") == 4


def test_markdown_says_when_there_are_no_failures(tmp_path: Path) -> None:
    text = write_report(tmp_path / "r.md", ok(1), ok(2))
    assert "No failures" in text
    assert "| line |" not in text and "Transient" not in text


def test_markdown_groups_failures_by_source_in_first_seen_order(tmp_path: Path) -> None:
    results = (ok(source="z.md"), failed(1, source="a.md"), failed(2, source="z.md"))
    text = write_report(tmp_path / "r.md", *results)
    assert text.index("### z.md") < text.index("### a.md")
    assert text.count("### ") == 2 and text.count(TABLE_HEAD) == 2


def test_markdown_sorts_a_sources_failures_by_line_then_column(tmp_path: Path) -> None:
    results = (failed(9), failed(2, column=7), failed(2), failed(2, column=3))
    lines = [row.split(" | ")[0] for row in table_rows(write_report(tmp_path / "r.md", *results))]
    assert lines == ["| 2", "| 2:3", "| 2:7", "| 9"]


def test_markdown_puts_transient_failures_apart_after_the_others(tmp_path: Path) -> None:
    text = write_report(tmp_path / "r.md", flaky(1), failed(2), flaky(3))
    permanent, transient = text.split("\n## Transient failures (2)\n")
    assert "## Failures (1)" in permanent and "| 2 | 404 |" in permanent
    assert [row.split(" | ")[0] for row in table_rows("\n## " + transient)] == ["| 1", "| 3"]


def test_markdown_with_only_transient_failures_has_only_their_section(tmp_path: Path) -> None:
    text = write_report(tmp_path / "r.md", ok(1), flaky(2))
    assert "## Transient failures (1)" in text
    assert "## Failures" not in text and "No failures" not in text


def test_markdown_source_heading_is_inert(tmp_path: Path) -> None:
    text = write_report(tmp_path / "r.md", failed(1, source="docs/<b>*x*_y_ #\x1b.md #"))
    html = markdown_html(text)
    assert "<h3>docs/&lt;b&gt;*x*_y_ #\\x1b.md #</h3>" in html
    assert "<b>" not in html and "<em>" not in html


def test_markdown_stays_under_1_mib_with_a_note_on_what_is_left_out(tmp_path: Path) -> None:
    count = 6_000
    # Over 1.8 MiB of rows, added last line first: the cut keeps the first lines in order.
    results = [failed(n, "https://a.example/" + "p" * 300) for n in range(count, 0, -1)]
    text = write_report(tmp_path / "r.md", *results)
    assert (tmp_path / "r.md").stat().st_size < 1024 * 1024
    rows = table_rows(text)
    assert 1_000 < len(rows) < count
    assert [row.split(" | ")[0] for row in rows[:3]] == ["| 1", "| 2", "| 3"]
    note = f"… {count - len(rows)} more failures not shown (the report is capped under 1 MiB;"
    assert note in text


def test_markdown_cut_in_permanent_failures_leaves_out_every_transient_row(
    tmp_path: Path,
) -> None:
    results = [failed(n, "https://a.example/" + "p" * 300) for n in range(1, 4_001)]
    text = write_report(tmp_path / "r.md", *results, flaky(1), flaky(2))
    transient = text.split("## Transient failures (2)\n")[1]
    assert table_rows("\n## " + transient) == []
    assert "… 2 more failures not shown" in transient


def test_markdown_hides_passwords(tmp_path: Path) -> None:
    message = "redirect to an unfetchable URL: ftp://me:hunter2@files.example/"
    text = write_report(
        tmp_path / "r.md", failed(1, "https://user:secret@a.example/", message=message)
    )
    assert "secret" not in text and "hunter2" not in text
    assert "https://user:\\*\\*\\*@a.example/" in text


def test_markdown_marks_an_interrupted_run(tmp_path: Path) -> None:
    assert "interrupted" in write_report(tmp_path / "r.md", ok(1), interrupted=True)
    assert "interrupted" not in write_report(tmp_path / "s.md", ok(1))


# --- JUnit XML -------------------------------------------------------------------


def test_junit_has_the_schema_elements_and_attributes(tmp_path: Path) -> None:
    root = ET.fromstring(write_report(tmp_path / "r.xml", ok(1), failed(2)))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    for attr in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp"):
        assert attr in suite.attrib
    assert suite.get("name") == "fetchcli"
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("urls.txt", "urls.txt:1 https://a.example/"),
        ("urls.txt", "urls.txt:2 https://a.example/missing"),
    ]
    assert all(c.get("time") is not None for c in cases)
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("type") == "http_status"
    assert failure.get("message") == "404: Not Found"
    assert "attempts: 1" in (failure.text or "")


def test_junit_counts_match_results_added(tmp_path: Path) -> None:
    results = [ok(n) for n in range(1, 6)] + [failed(n) for n in range(6, 9)]
    suite = ET.fromstring(write_report(tmp_path / "r.xml", *results)).find("testsuite")
    assert suite is not None
    assert len(suite.findall("testcase")) == int(suite.get("tests", "")) == 8
    assert len(suite.findall("testcase/failure")) == int(suite.get("failures", "")) == 3


def test_junit_drops_illegal_xml_characters_from_server_text(tmp_path: Path) -> None:
    message = 'bad\x00\x01\x1b[31m\x0b\ud800\ufffe\uffff end & <x> "q"'
    text = write_report(tmp_path / "r.xml", failed(2, message=message))
    failure = ET.fromstring(text).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == '404: bad[31m end & <x> "q"'
    assert "bad[31m end" in (failure.text or "")


def test_junit_test_cases_carry_file_and_line(tmp_path: Path) -> None:
    root = ET.fromstring(write_report(tmp_path / "r.xml", ok(1), failed(7, source="docs/a.md")))
    cases = root.findall("testsuite/testcase")
    assert [(c.get("file"), c.get("line")) for c in cases] == [
        ("urls.txt", "1"),
        ("docs/a.md", "7"),
    ]


def test_junit_name_has_the_column_when_there_is_one(tmp_path: Path) -> None:
    root = ET.fromstring(write_report(tmp_path / "r.xml", failed(7, column=5, source="a.md")))
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == "a.md:7:5 https://a.example/missing"


def test_junit_hides_passwords(tmp_path: Path) -> None:
    message = "redirect to an unfetchable URL: ftp://me:hunter2@files.example/"
    text = write_report(
        tmp_path / "r.xml", failed(1, "https://user:secret@a.example/", message=message)
    )
    assert "secret" not in text and "hunter2" not in text
    case = ET.fromstring(text).find("testsuite/testcase")
    assert case is not None and case.get("name") == "urls.txt:1 https://user:***@a.example/"
    assert "final_url: https://user:***@a.example/" in (case.findtext("failure") or "")


def test_junit_marks_an_interrupted_run(tmp_path: Path) -> None:
    root = ET.fromstring(write_report(tmp_path / "r.xml", ok(1), interrupted=True))
    prop = root.find("testsuite/properties/property")
    assert prop is not None and prop.attrib == {"name": "interrupted", "value": "true"}


# --- file handling ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["r.md", "r.xml"])
def test_report_file_appears_only_at_finish(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    report = open_report(path)
    report.add(failed(1))
    assert not path.exists()
    report.finish(figures())
    assert path.exists()
    assert os.listdir(tmp_path) == [name]  # no temp files left behind


def test_failed_finish_keeps_the_previous_report_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.md"
    path.write_text("previous run")
    report = open_report(path)
    report.add(failed(1))

    def disk_full(*_args: object) -> None:
        raise OSError("No space left on device")

    # The report is written, then the disk turns out full when it is synced.
    monkeypatch.setattr("fetchcli.sinks.report.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        report.finish(figures())
    assert path.read_text() == "previous run"
    assert os.listdir(tmp_path) == ["r.md"]


def test_discard_writes_nothing(tmp_path: Path) -> None:
    report = open_report(tmp_path / "r.xml")
    report.add(ok(1))
    report.discard()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["r.md", "r.xml"])
def test_memory_does_not_grow_with_results(tmp_path: Path, name: str) -> None:
    report = open_report(tmp_path / name)
    tracemalloc.start()
    try:
        # Built inside the traced span, so a report that kept them would show it;
        # failed ones, so the Markdown report has an entry for each too.
        for n in range(2_000):
            report.add(failed(n, f"https://a.example/page/{n}"))
        before = tracemalloc.get_traced_memory()[0]
        for n in range(2_000, 20_000):
            report.add(failed(n, f"https://a.example/page/{n}"))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    report.discard()
    # Holding 18,000 more results or rows would take megabytes.
    assert grown < 256 * 1024
