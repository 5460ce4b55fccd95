"""The command in-process (CliRunner): flags, formats, exit codes, usage errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import Result

from conftest import REFUSED, jsonl
from fetchcli.model import FIELDS

RunCli = Callable[..., Result]
UrlFile = Callable[..., Path]


def test_one_result_per_non_comment_line(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile
) -> None:
    path = url_file(
        "# a comment",
        "",
        site.url_for("/ok"),
        "   # indented comment",
        "ftp://example.invalid/x",
        b"\xff\xfe not utf-8",
        "x" * 9000,
        site.url_for("/missing"),
    )
    result = run_cli(str(path), "--format", "jsonl", "-q", "-r", "0")
    records = jsonl(result.stdout)
    assert sorted(r["line"] for r in records) == [3, 5, 6, 7, 8]
    assert all(r["source"] == str(path) for r in records)
    invalid = [r for r in records if r["error"] == "invalid_url"]
    assert sorted(r["line"] for r in invalid) == [5, 6, 7]
    assert all(r["attempts"] == 0 for r in invalid)


def test_jsonl_has_exactly_the_contract_keys_in_order(site: HTTPServer, run_cli: RunCli) -> None:
    result = run_cli("-", "--format", "jsonl", "-q", input=site.url_for("/ok") + "\n")
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert list(record) == [
        "source", "line", "url", "final_url", "status", "ok", "size", "elapsed",
        "attempts", "redirects", "content_type", "truncated", "error", "message",
        "column", "cached", "saved", "fetched_at",
    ]  # fmt: skip
    assert record["source"] == "-" and record["status"] == 200 and record["ok"] is True
    assert record["size"] == len("hello world") and isinstance(record["elapsed"], float)


def test_csv_has_a_header_and_the_same_fields(site: HTTPServer, run_cli: RunCli) -> None:
    urls = f"{site.url_for('/ok')}\n{REFUSED}\n"
    result = run_cli("-", "--format", "csv", "-q", "-r", "0", input=urls)
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == FIELDS and len(rows) == 3
    failed = next(dict(zip(FIELDS, row, strict=True)) for row in rows[1:] if row[5] == "false")
    assert failed["status"] == "" and failed["error"] == "connect"


def test_text_format_shows_status_size_time_url(site: HTTPServer, run_cli: RunCli) -> None:
    urls = f"{site.url_for('/ok')}\n{site.url_for('/missing')}\n{REFUSED}\n"
    lines = sorted(run_cli("-", "-q", "-r", "0", input=urls).stdout.splitlines())
    assert lines[0].startswith("200 11B ") and lines[0].endswith(site.url_for("/ok"))
    assert lines[1].startswith("404 4B ")
    assert lines[2].startswith("ERR:connect - ") and lines[2].endswith(REFUSED)


def test_text_format_shows_no_size_for_head(site: HTTPServer, run_cli: RunCli) -> None:
    line = run_cli("-", "-q", "-X", "HEAD", input=site.url_for("/ok") + "\n").stdout.strip()
    assert line.startswith("200 - ") and line.endswith(site.url_for("/ok"))
    record = jsonl(
        run_cli("-", "-q", "-X", "HEAD", "--format", "jsonl", input=site.url_for("/ok")).stdout
    )
    assert record[0]["size"] == 0  # the record keeps SPEC's number; only text shows `-`


def test_format_none_writes_no_results(site: HTTPServer, run_cli: RunCli) -> None:
    result = run_cli("-", "--format", "none", input=site.url_for("/ok") + "\n")
    assert result.stdout == "" and result.exit_code == 0


def test_output_file_replaces_its_content(
    site: HTTPServer, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old content\n" * 10)
    run_cli("-", "-o", str(out), "--format", "jsonl", "-q", input=site.url_for("/ok") + "\n")
    assert [r["status"] for r in jsonl(out.read_text())] == [200]


def test_exit_0_when_every_result_is_ok(site: HTTPServer, run_cli: RunCli) -> None:
    assert run_cli("-", "-q", input=site.url_for("/ok") + "\n").exit_code == 0


def test_exit_1_for_a_broken_link(site: HTTPServer, run_cli: RunCli) -> None:
    urls = f"{site.url_for('/ok')}\n{site.url_for('/missing')}\n{site.url_for('/busy')}\n"
    assert run_cli("-", "-q", "-r", "0", input=urls).exit_code == 1


def test_exit_1_for_an_invalid_line(run_cli: RunCli) -> None:
    assert run_cli("-", "-q", input="javascript:alert(1)\n").exit_code == 1


def test_exit_3_when_failures_are_only_transient(site: HTTPServer, run_cli: RunCli) -> None:
    urls = f"{site.url_for('/ok')}\n{site.url_for('/busy')}\n{site.url_for('/broken')}\n{REFUSED}\n"
    assert run_cli("-", "-q", "-r", "0", input=urls).exit_code == 3


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["-c", "0"], "--concurrency"),
        (["--concurrency", "10001"], "--concurrency"),
        (["-t", "0"], "--timeout"),
        (["-H", "no colon here"], "--header"),
        (["--accept", "2xx"], "--accept"),
        (["--shard", "3/2"], "--shard"),
        (["-X", "POST"], "--method"),
        (["--format", "xml"], "--format"),
        (["--exclude", "("], "--exclude"),
        (["--mode", "threads"], "--mode"),
        (["-c", "many"], "--concurrency"),
        (["-t", "5 parsecs"], "--timeout"),
        (["--connect-timeout", "-1s"], "--connect-timeout"),
        (["--max-body", "1Q"], "--max-body"),
        (["--rate", "10/fortnight"], "--rate"),
        (["--max-cache-age", "soon"], "--max-cache-age"),
    ],
)
def test_usage_errors_exit_2_with_a_short_message(
    run_cli: RunCli, url_file: UrlFile, args: list[str], names: str
) -> None:
    result = run_cli(str(url_file("http://127.0.0.1:9/")), *args)
    assert result.exit_code == 2
    assert names in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 5
    assert result.stdout == ""


def test_unreadable_source_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    result = run_cli(str(missing))
    assert result.exit_code == 2 and "nope.txt" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_output_is_a_usage_error(
    run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    result = run_cli(str(url_file(REFUSED)), "-o", str(tmp_path / "a-file" / "out.txt"))
    assert result.exit_code == 2 and "--output" in result.stderr


def test_missing_folders_of_every_output_are_made(
    run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    outputs = {
        "-o": new / "a" / "out.txt",
        "--summary-json": new / "b" / "s.json",
        "--report": new / "c" / "r.md",
        "--cache": new / "d" / "links.db",
    }
    args = [arg for flag, path in outputs.items() for arg in (flag, str(path))]
    result = run_cli(str(url_file(REFUSED)), "-q", "-r", "0", *args)
    assert result.exit_code == 3
    assert all(path.is_file() for path in outputs.values())


def test_output_naming_an_input_file_is_refused_before_it_is_touched(
    run_cli: RunCli, url_file: UrlFile
) -> None:
    path = url_file(REFUSED, REFUSED)
    before = path.read_bytes()
    result = run_cli(str(path), "-o", str(path))
    assert result.exit_code == 2 and "input file is output file" in result.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize("flag", ["--summary-json", "--report"])
def test_two_outputs_naming_one_file_are_refused(
    run_cli: RunCli, url_file: UrlFile, tmp_path: Path, flag: str
) -> None:
    out = tmp_path / "out.md"
    result = run_cli(str(url_file(REFUSED)), "-o", str(out), flag, str(out))
    assert result.exit_code == 2 and flag in result.stderr and not out.exists()


def test_summary_goes_to_stderr_and_results_to_stdout(site: HTTPServer, run_cli: RunCli) -> None:
    result = run_cli("-", "--format", "jsonl", input=site.url_for("/ok") + "\n")
    assert len(jsonl(result.stdout)) == 1
    assert "total" in result.stderr and "200" in result.stderr
    assert "\x1b[" not in result.stderr  # stderr is no terminal: no ANSI codes


def test_quiet_turns_off_the_summary(site: HTTPServer, run_cli: RunCli) -> None:
    result = run_cli("-", "-q", input=site.url_for("/ok") + "\n")
    assert result.stderr == ""


def test_summary_json_has_the_contract_keys(
    site: HTTPServer, run_cli: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "summary.json"
    urls = f"{site.url_for('/ok')}\n{site.url_for('/missing')}\nftp://x.invalid/\n"
    run_cli("-", "-q", "-r", "0", "--summary-json", str(path), input=urls)
    figures = json.loads(path.read_text())
    assert set(figures) == {
        "total", "ok", "failed", "excluded", "by_status", "by_error", "bytes", "latency",
        "wall", "rps", "cached",
    }  # fmt: skip
    assert (figures["total"], figures["ok"], figures["failed"]) == (3, 1, 2)
    assert figures["by_status"] == {"200": 1, "404": 1}
    assert figures["by_error"] == {"http_status": 1, "invalid_url": 1}
    assert set(figures["latency"]) == {"min", "median", "p95", "max"}


def test_excluded_urls_give_no_result_and_are_counted(
    site: HTTPServer, run_cli: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "summary.json"
    urls = f"{site.url_for('/ok')}\n{site.url_for('/missing')}\n"
    result = run_cli(
        "-", "-q", "--format", "jsonl", "--exclude", "missing", "--summary-json", str(path),
        input=urls,
    )  # fmt: skip
    assert [r["line"] for r in jsonl(result.stdout)] == [1]
    assert json.loads(path.read_text())["excluded"] == 1


def test_environment_variables_set_options(site: HTTPServer, run_cli: RunCli) -> None:
    result = run_cli(
        "-", "-q", input=site.url_for("/missing") + "\n", env={"FETCHCLI_ACCEPT": "404"}
    )
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FETCHCLI_TIMEOUT", "abc"), ("FETCHCLI_CONCURRENCY", "0"), ("FETCHCLI_MAX_BODY", "lots")],
)
def test_a_bad_value_from_a_variable_names_the_variable(
    run_cli: RunCli, url_file: UrlFile, variable: str, value: str
) -> None:
    result = run_cli(str(url_file(REFUSED)), env={variable: value})
    assert result.exit_code == 2
    assert f"(from {variable})" in result.stderr


def test_a_bad_flag_value_does_not_name_a_variable(run_cli: RunCli, url_file: UrlFile) -> None:
    result = run_cli(str(url_file(REFUSED)), "-t", "abc")
    assert result.exit_code == 2 and "FETCHCLI_" not in result.stderr


@pytest.mark.parametrize(
    ("args", "key", "expected"),
    [
        (["-t", "1500ms"], "timeout", 1.5),
        (["--max-body", "1K"], "max_body", 1024),
        (["--rate", "120/m"], "rate", 2.0),
    ],
)
def test_option_values_take_units(
    args: list[str],
    key: str,
    expected: float,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    url_file: UrlFile,
) -> None:
    from fetchcli.cli import run as run_module

    seen: list[object] = []

    class Spy(run_module.Run):
        def execute(self) -> int:
            spec, schedule = self.options.request, self.options.schedule
            seen.append(getattr(spec, key, None) or getattr(schedule, key, None))
            return 0

    monkeypatch.setattr(run_module, "Run", Spy)
    assert run_cli(str(url_file(REFUSED)), *args).exit_code == 0
    assert seen == [expected]


def test_a_flag_wins_over_its_environment_variable(site: HTTPServer, run_cli: RunCli) -> None:
    result = run_cli(
        "-", "-q", "--format", "jsonl", input=site.url_for("/ok") + "\n",
        env={"FETCHCLI_FORMAT": "csv"},
    )  # fmt: skip
    assert jsonl(result.stdout)[0]["status"] == 200


def test_a_bad_environment_value_is_a_usage_error(run_cli: RunCli, url_file: UrlFile) -> None:
    result = run_cli(str(url_file(REFUSED)), env={"FETCHCLI_CONCURRENCY": "0"})
    assert result.exit_code == 2 and "--concurrency" in result.stderr


def test_markup_and_control_characters_never_reach_output_raw(
    httpserver: HTTPServer, run_cli: RunCli
) -> None:
    httpserver.expect_request("/m").respond_with_data(
        "x", status=418, headers={"Content-Type": "text/[bold red]x[/]\x1b[31m"}
    )
    url = httpserver.url_for("/m") + "?q=[bold]x[/bold]"
    result = run_cli("-", "--format", "csv", "-r", "0", input=url + "\n")
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    assert "[bold]x[/bold]" in result.stdout  # shown literally, not interpreted


def test_version_and_help(run_cli: RunCli) -> None:
    assert run_cli("--version").stdout.startswith("fetchcli ")
    help_text = run_cli("--help").stdout
    for flag in ("--concurrency", "--mode", "--format", "--accept", "FETCHCLI_CONCURRENCY"):
        assert flag in help_text


def test_cache_serves_fresh_ok_results_without_fetching(
    site: HTTPServer, run_cli: RunCli, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache.db")
    urls = f"{site.url_for('/ok')}\n{site.url_for('/missing')}\n"
    first = jsonl(run_cli("-", "-q", "--format", "jsonl", "--cache", cache, input=urls).stdout)
    requests_before = len(site.log)
    second = jsonl(run_cli("-", "-q", "--format", "jsonl", "--cache", cache, input=urls).stdout)
    by_line = {r["line"]: r for r in second}
    assert {r["line"]: r["attempts"] for r in first} == {1: 1, 2: 1}
    assert by_line[1]["attempts"] == 0 and by_line[1]["status"] == 200  # from the cache
    assert by_line[2]["attempts"] == 1  # failures are always fetched again
    assert [r.path for r, _ in site.log[requests_before:]] == ["/missing"]


def test_a_foreign_cache_file_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "cache.db"
    bad.write_bytes(b"this is not a database" * 100)
    result = run_cli("-", "--cache", str(bad), input=REFUSED + "\n")
    assert result.exit_code == 2 and "--cache" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_md_lists_each_failure_with_source_and_line(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    path = url_file(site.url_for("/ok"), site.url_for("/missing"))
    report = tmp_path / "report.md"
    run_cli(str(path), "-q", "--report", str(report))
    lines = report.read_text().splitlines()
    assert "### " + str(path).replace("_", "\\_") in lines
    assert [row.split(" | ")[:2] for row in lines if row.startswith("| 2 ")] == [["| 2", "404"]]
    assert not any(row.startswith("| 1 ") for row in lines)


def test_a_run_with_failures_ends_with_the_list_of_them(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile
) -> None:
    path = url_file(site.url_for("/ok"), site.url_for("/missing"))
    result = run_cli(str(path))
    failures = result.stderr.split("failures (1):", 1)[1].splitlines()
    assert failures[1].split() == [f"{path}:2", "404", site.url_for("/missing")]


def test_report_xml_is_junit_with_one_case_per_url(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    import xml.etree.ElementTree as ET

    path = url_file(site.url_for("/ok"), site.url_for("/missing"), "ftp://x.invalid/")
    report = tmp_path / "report.xml"
    run_cli(str(path), "-q", "--report", str(report))
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert len(suite.findall("testcase")) == 3 and suite.get("failures") == "2"


def test_report_with_another_suffix_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("-", "--report", str(tmp_path / "r.txt"), input=REFUSED + "\n")
    assert result.exit_code == 2 and "--report" in result.stderr


def test_cache_keeps_results_of_other_methods_and_redirect_rules_apart(
    site: HTTPServer, run_cli: RunCli, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache.db")
    url = site.url_for("/moved") + "\n"
    run_cli("-", "-q", "--cache", cache, input=url)
    nofollow = jsonl(
        run_cli("-", "-q", "--format", "jsonl", "--cache", cache, "--no-follow", input=url).stdout
    )
    head = jsonl(
        run_cli("-", "-q", "--format", "jsonl", "--cache", cache, "-X", "HEAD", input=url).stdout
    )
    assert nofollow[0]["status"] == 301 and nofollow[0]["attempts"] == 1
    assert head[0]["attempts"] == 1 and head[0]["size"] == 0


def test_append_adds_to_the_output_file_with_one_csv_header(
    run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    out = tmp_path / "log.csv"
    for _ in range(2):
        run_cli(
            str(url_file(REFUSED)), "-q", "-r", "0", "--format", "csv", "-o", str(out), "--append"
        )
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert len(rows) == 3 and rows[0] == list(FIELDS)


def test_append_needs_an_output_file(run_cli: RunCli, url_file: UrlFile) -> None:
    result = run_cli(str(url_file(REFUSED)), "--append")
    assert result.exit_code == 2 and "--append" in result.stderr
