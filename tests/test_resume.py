"""--resume: loading a previous jsonl file, resumed CLI runs, and SIGKILL-then-resume trials."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import Result

from fetchcli.model import FIELDS, ErrorKind, FetchResult
from fetchcli.sinks.formats import format_jsonl
from fetchcli.sinks.resume import ResumeError, ResumeState, load
from servers import ThreadedServer

RunCli = Callable[..., Result]
UrlFile = Callable[..., Path]


def record_line(source: str, line: int, url: str = "http://127.0.0.1:9/x", **fields: object) -> str:
    """One jsonl line as fetchcli writes it (an ok 200 unless told otherwise)."""
    values: dict[str, Any] = {"status": 200, "ok": True, "size": 5, "attempts": 1, **fields}
    return format_jsonl(FetchResult(source=source, line=line, url=url, **values)) + "\n"


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a jsonl file, parsed; split on \\n only, as the contract does."""
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(raw) for raw in complete.split(b"\n")[:-1]]


def keys_of(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["source"], r["line"]) for r in records]


def load_file(path: Path, sources: list[str]) -> tuple[ResumeState, list[FetchResult]]:
    taken: list[FetchResult] = []
    state = load(path, sources, False, taken.append)
    return state, taken


# --- resume.load ---------------------------------------------------------------------------


def test_load_cuts_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    whole = record_line("urls.txt", 1) + record_line("urls.txt", 2)
    partial = record_line("urls.txt", 3)[:40]
    path.write_text(whole + partial, encoding="utf-8")
    state, taken = load_file(path, ["urls.txt"])
    assert path.read_text(encoding="utf-8") == whole
    assert set(state.keys) == {("urls.txt", 1), ("urls.txt", 2)}
    assert [r.line for r in taken] == [1, 2]


def test_load_of_a_file_holding_only_a_partial_line_empties_it(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"source": "urls.txt", "li')
    state, taken = load_file(path, ["urls.txt"])
    assert not state.keys and taken == []
    assert path.read_bytes() == b""


def test_load_of_a_whole_file_cuts_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    text = "".join(record_line("urls.txt", n) for n in range(1, 4))
    path.write_text(text, encoding="utf-8")
    _, taken = load_file(path, ["urls.txt"])
    assert len(taken) == 3
    assert path.read_text(encoding="utf-8") == text


def test_load_of_a_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    state, taken = load_file(path, ["urls.txt"])
    assert not state.keys and taken == [] and not path.exists()


def test_load_hands_earlier_failures_to_take_with_their_error_kind(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(
        record_line(
            "urls.txt", 1, status=404, ok=False, error=ErrorKind.HTTP_STATUS, message="404"
        ),
        encoding="utf-8",
    )
    _, taken = load_file(path, ["urls.txt"])
    assert taken[0].error is ErrorKind.HTTP_STATUS and taken[0].status == 404


def test_load_of_garbage_names_resume_and_the_line_number(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(record_line("urls.txt", 1) + "this is not json\nnor this\n", encoding="utf-8")
    with pytest.raises(ResumeError) as caught:
        load_file(path, ["urls.txt"])
    assert "--resume" in str(caught.value) and "line 2" in str(caught.value)


@pytest.mark.parametrize(
    "line",
    ['["a", "list"]', '{"source": "urls.txt", "line": 1}', '{"unknown": 1}', "null", "  "],
)
def test_load_refuses_json_that_is_not_a_fetchcli_record(tmp_path: Path, line: str) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ResumeError, match=r"--resume.*line 1"):
        load_file(path, ["urls.txt"])


def test_load_refuses_records_of_a_source_this_run_does_not_read(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(record_line("urls.txt", 1) + record_line("other.txt", 1), encoding="utf-8")
    with pytest.raises(ResumeError, match=r"--resume.*other\.txt"):
        load_file(path, ["urls.txt"])


# --- the CLI ---------------------------------------------------------------------------------


def ok_urls(site: HTTPServer, count: int) -> list[str]:
    return [site.url_for(f"/ok?n={n}") for n in range(1, count + 1)]


def requested_numbers(site: HTTPServer) -> list[int]:
    return sorted(int(request.args["n"]) for request, _ in site.log if "n" in request.args)


def test_resume_without_output_is_a_usage_error(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile
) -> None:
    result = run_cli(str(url_file(site.url_for("/ok"))), "--resume", "--format", "jsonl", "-q")
    assert result.exit_code == 2 and "--resume" in result.stderr
    assert site.log == []


def test_resume_with_text_format_is_a_usage_error(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    path = url_file(site.url_for("/ok"))
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "text", "-q")
    assert result.exit_code == 2 and "--resume" in result.stderr
    assert site.log == [] and not out.exists()


def test_resume_with_a_source_given_twice_is_a_usage_error(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    path = str(url_file(site.url_for("/ok")))
    result = run_cli(path, path, "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert result.exit_code == 2 and "given twice" in result.stderr
    assert site.log == [] and not out.exists()
    # Without --resume a file may be read twice: each line gives its result twice.
    again = run_cli(path, path, "--format", "jsonl", "-q")
    assert again.exit_code == 0 and len(again.stdout.splitlines()) == 2


def test_resume_of_a_garbage_file_is_a_usage_error_naming_the_line(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("garbage\n", encoding="utf-8")
    path = url_file(site.url_for("/ok"))
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert result.exit_code == 2 and "--resume" in result.stderr and "line 1" in result.stderr
    assert "Traceback" not in result.stderr and site.log == []


def test_a_refused_resume_leaves_the_file_unchanged(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    out = tmp_path / "notes.jsonl"
    out.write_bytes(b"not a fetchcli file\nits last line has no newline")
    path = url_file(site.url_for("/ok"))
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert result.exit_code == 2
    assert out.read_bytes() == b"not a fetchcli file\nits last line has no newline"


def test_resume_fetches_only_the_lines_missing_from_the_file(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    urls = ok_urls(site, 6)
    path = url_file(*urls)
    out = tmp_path / "out.jsonl"
    out.write_text("".join(record_line(str(path), n, urls[n - 1]) for n in (1, 3, 5)), "utf-8")
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert result.exit_code == 0
    assert requested_numbers(site) == [2, 4, 6]


def test_resume_appends_after_the_records_already_there(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    urls = ok_urls(site, 6)
    path = url_file(*urls)
    out = tmp_path / "out.jsonl"
    before = "".join(record_line(str(path), n, urls[n - 1]) for n in (2, 5))
    out.write_text(before, encoding="utf-8")
    run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert out.read_text(encoding="utf-8").startswith(before)
    assert sorted(r["line"] for r in read_records(out)[2:]) == [1, 3, 4, 6]


def test_resume_completes_the_file_with_no_duplicates_and_no_gaps(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    urls = ok_urls(site, 10)
    path = url_file("# a comment", *urls[:5], "", *urls[5:])
    out = tmp_path / "out.jsonl"
    first = run_cli(str(path), "-o", str(out), "--format", "jsonl", "-q")
    assert first.exit_code == 0
    done = read_records(out)
    lines = sorted(r["line"] for r in done)
    # Keep every other record, as a run killed part-way might have.
    out.write_text("".join(json.dumps(r) + "\n" for r in done[::2]), encoding="utf-8")
    site.clear_log()
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert result.exit_code == 0
    records = read_records(out)
    assert sorted(r["line"] for r in records) == lines
    assert len(site.log) == len(done) - len(done[::2])


def test_resume_of_a_complete_file_fetches_nothing(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    path = url_file(*ok_urls(site, 4))
    out = tmp_path / "out.jsonl"
    run_cli(str(path), "-o", str(out), "--format", "jsonl", "-q")
    before = out.read_bytes()
    site.clear_log()
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert result.exit_code == 0 and site.log == [] and out.read_bytes() == before


def test_resume_cuts_a_partial_line_before_appending(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    urls = ok_urls(site, 3)
    path = url_file(*urls)
    out = tmp_path / "out.jsonl"
    out.write_text(record_line(str(path), 1, urls[0]) + record_line(str(path), 2)[:30], "utf-8")
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert result.exit_code == 0
    records = read_records(out)
    assert out.read_bytes().endswith(b"\n")
    assert sorted(keys_of(records)) == [(str(path), n) for n in (1, 2, 3)]
    assert all(list(r) == list(FIELDS) for r in records)


def test_resume_into_a_missing_file_starts_it(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    path = url_file(*ok_urls(site, 3))
    out = tmp_path / "out.jsonl"
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert result.exit_code == 0 and len(read_records(out)) == 3


def test_resumed_exit_code_counts_a_404_recorded_by_the_first_run(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    path = url_file(site.url_for("/missing"), *ok_urls(site, 3))
    out = tmp_path / "out.jsonl"
    first = run_cli(str(path), "-o", str(out), "--format", "jsonl", "-q")
    assert first.exit_code == 1
    kept = [r for r in read_records(out) if r["status"] == 404]
    out.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    site.clear_log()
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert requested_numbers(site) == [1, 2, 3]  # the 404 is not fetched again
    assert result.exit_code == 1


def test_resumed_exit_code_counts_a_transient_failure_recorded_earlier(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    urls = ok_urls(site, 2)
    path = url_file(*urls, site.url_for("/broken"))
    out = tmp_path / "out.jsonl"
    out.write_text(
        record_line(
            str(path), 3, site.url_for("/broken"), status=500, ok=False, error=ErrorKind.HTTP_STATUS
        ),
        "utf-8",
    )
    result = run_cli(str(path), "--resume", "-o", str(out), "--format", "jsonl", "-q")
    assert requested_numbers(site) == [1, 2]
    assert result.exit_code == 3


def test_resumed_summary_json_counts_the_whole_file(
    site: HTTPServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    urls = ok_urls(site, 4)
    path = url_file(*urls)
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    out.write_text(record_line(str(path), 1, urls[0]) + record_line(str(path), 2, urls[1]), "utf-8")
    args = ("--resume", "-o", str(out), "--format", "jsonl", "-q", "--summary-json", str(summary))
    run_cli(str(path), *args)
    figures = json.loads(summary.read_text(encoding="utf-8"))
    assert figures["total"] == 4 and figures["ok"] == 4


# --- SIGKILL, then resume, with real processes ---------------------------------------------

KILL_AFTER_LINES = (10, 60, 120)
TRIAL_URLS = 200
POLL_SECONDS = 0.005
WAIT_SECONDS = 10.0


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as running:
        yield running


def complete_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def start(urls: Path, out: Path) -> subprocess.Popen[bytes]:
    args = ["-c", "8", "--format", "jsonl", "-o", str(out), "-q", "--resume", str(urls)]
    return subprocess.Popen(
        [sys.executable, "-m", "fetchcli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_after(process: subprocess.Popen[bytes], out: Path, lines: int) -> int:
    """SIGKILL the process once `out` has at least `lines` complete lines; return how many."""
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while complete_lines(out) < lines:
            assert process.poll() is None, f"the run ended before {lines} lines were written"
            assert time.monotonic() < deadline, f"{lines} lines not written within {WAIT_SECONDS}s"
            time.sleep(POLL_SECONDS)
        assert process.poll() is None, "the run ended before it could be killed"
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
    return complete_lines(out)


def assert_whole_records(out: Path, source: str) -> Counter[tuple[str, int]]:
    """Every complete line is a valid record of this run; returns the count of each key."""
    records = read_records(out)
    for record in records:
        assert list(record) == list(FIELDS)
        assert record["source"] == source and 1 <= record["line"] <= TRIAL_URLS
        assert record["ok"] is True and record["status"] == 200
    return Counter(keys_of(records))


def test_runs_killed_at_any_point_and_resumed_write_each_line_exactly_once(
    server: ThreadedServer, url_file: UrlFile, tmp_path: Path
) -> None:
    source = url_file(*[server.url(f"/hold?delay=0.05&n={n}") for n in range(TRIAL_URLS)])
    out = tmp_path / "out.jsonl"
    for threshold in KILL_AFTER_LINES:
        assert kill_after(start(source, out), out, threshold) < TRIAL_URLS
        counts = assert_whole_records(out, str(source))
        assert max(counts.values()) == 1, "a record was written twice"
    # A kill in the middle of a write leaves half a line behind.
    with out.open("ab") as stream:
        stream.write(record_line(str(source), 1)[:57].encode())
    final = start(source, out)
    _, stderr = final.communicate(timeout=30)
    assert final.returncode == 0, stderr.decode(errors="replace")
    counts = assert_whole_records(out, str(source))
    assert out.read_bytes().endswith(b"\n")
    assert sorted(counts) == [(str(source), n) for n in range(1, TRIAL_URLS + 1)]
    assert set(counts.values()) == {1}


def test_resume_over_a_changed_input_is_refused(
    run_cli: Callable[..., Result], url_file: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    first = url_file("ftp://a.invalid/1", "ftp://a.invalid/2", name="list.txt")
    run_cli(str(first), "-q", "--format", "jsonl", "-o", str(out))
    written = out.read_text()
    out.write_text(written.splitlines(keepends=True)[0])
    changed = url_file("ftp://b.invalid/1", "ftp://a.invalid/2", name="list.txt")
    result = run_cli(str(changed), "-q", "--format", "jsonl", "-o", str(out), "--resume")
    assert result.exit_code == 2 and "--resume" in result.stderr and "changed" in result.stderr
    assert "Traceback" not in result.stderr
