"""The terminal side of a run: batching beside the status line, broken pipes, warnings, summary."""

from __future__ import annotations

import asyncio
import io

from fetchcli.cli.environment import Environment
from fetchcli.cli.progress import make_console, print_summary
from fetchcli.cli.terminal import _TERMINAL_BATCH, Terminal
from fetchcli.model import ErrorKind, FetchResult
from fetchcli.sinks.failures import FailureList
from fetchcli.sinks.formats import status_label
from fetchcli.sinks.summary import Summary, SummaryFigures


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError


def terminal(
    *, stdout: io.StringIO | None = None, tty: bool = True, quiet: bool = False
) -> Terminal:
    env = Environment(
        stdin=io.BytesIO(),
        stdout=stdout or io.StringIO(),
        stderr=io.StringIO(),
        stdout_isatty=tty,
        stderr_isatty=tty,
    )
    return Terminal(env, quiet=quiet, results_on_stdout=True)


def test_result_lines_wait_for_the_refresh_while_the_status_is_live() -> None:
    term = terminal()
    assert term.hold("first")
    assert term.env.stdout.getvalue() == ""  # type: ignore[attr-defined]

    async def main() -> None:
        term.start(Summary())
        await term.finish()

    asyncio.run(main())
    assert term.env.stdout.getvalue() == "first\n"  # type: ignore[attr-defined]


def test_a_full_batch_is_written_before_the_refresh() -> None:
    term = terminal()
    for n in range(_TERMINAL_BATCH):
        term.hold(str(n))
    assert term.env.stdout.getvalue().count("\n") == _TERMINAL_BATCH  # type: ignore[attr-defined]


def test_result_lines_do_not_wait_without_a_status_line() -> None:
    assert not terminal(tty=False).hold("line")
    assert not terminal(quiet=True).hold("line")


def test_a_broken_pipe_while_writing_a_batch_marks_the_reader_gone() -> None:
    term = terminal(stdout=_ClosedPipe())
    term.hold("line")
    term.flush()
    assert term.broken_pipe and not term.hold("later")


def test_a_quiet_terminal_makes_no_console_until_it_warns() -> None:
    term = terminal(quiet=True)
    assert not term.live and term._console is None
    term.warn("fetchcli: error: \x1b[31mred")
    assert term.env.stderr.getvalue() == "fetchcli: error: \\x1b[31mred\n"  # type: ignore[attr-defined]


# --- the summary ------------------------------------------------------------


def outcome(status: int | None, error: ErrorKind | None = None, attempts: int = 1) -> FetchResult:
    return FetchResult(
        source="urls.txt", line=1, url="https://a.example/", status=status,
        ok=error is None, size=100, elapsed=0.25, attempts=attempts, error=error,
    )  # fmt: skip


def figures_of(*results: FetchResult, excluded: int = 0) -> SummaryFigures:
    summary = Summary()
    for result in results:
        summary.add(result)
    summary.excluded = excluded
    return summary.figures(2.0)


def summary_text(figures: SummaryFigures, *, tty: bool = False, interrupted: bool = False) -> str:
    stream = io.StringIO()
    print_summary(make_console(stream, tty), figures, interrupted=interrupted)
    return stream.getvalue()


def table_rows(text: str) -> dict[str, str]:
    """The summary table's `result: count` rows, as drawn without a terminal (ASCII box)."""
    cells = (line.strip("|").split("|") for line in text.splitlines() if line.startswith("|"))
    return {label.strip(): count.strip() for label, count in cells}


MIXED = (
    outcome(200),
    outcome(404, ErrorKind.HTTP_STATUS),
    outcome(None, ErrorKind.TIMEOUT),
    outcome(200, ErrorKind.TIMEOUT),  # a timeout after the headers: no usable status
    outcome(None, ErrorKind.INVALID_URL, attempts=0),
)


def test_summary_rows_use_the_labels_of_text_output() -> None:
    text = summary_text(figures_of(*MIXED))
    labels = {status_label(result) for result in MIXED}
    assert labels == {"200", "404", "ERR:timeout", "ERR:invalid_url"}
    assert labels <= set(table_rows(text))


def test_summary_counts_a_status_outside_accept_once_under_its_code() -> None:
    text = summary_text(figures_of(*MIXED))
    assert "ERR:http_status" not in text
    assert "404" in text


def test_summary_shows_totals_latency_bytes_and_rate() -> None:
    text = summary_text(figures_of(*MIXED, excluded=3))
    rows = table_rows(text)
    assert (rows["excluded"], rows["total"], rows["ok"], rows["failed"]) == ("3", "5", "1", "4")
    assert (rows["200"], rows["ERR:timeout"]) == ("2", "2")  # a late timeout had a status
    lines = text.splitlines()
    assert "latency  min 0.250s  median 0.250s  p95 0.250s  max 0.250s" in lines
    assert lines[-1] == "500B in 2.00s  (2.5 req/s)"


def test_summary_without_timed_results_has_no_latency_line() -> None:
    text = summary_text(figures_of(outcome(None, ErrorKind.INVALID_URL, attempts=0)))
    assert "latency" not in text


def test_summary_has_colour_only_on_a_terminal() -> None:
    figures = figures_of(*MIXED)
    assert "\x1b[" in summary_text(figures, tty=True)
    assert "\x1b[" not in summary_text(figures, tty=False)


def test_an_interrupted_summary_says_so() -> None:
    assert "interrupted" in summary_text(figures_of(*MIXED), interrupted=True)
    assert "interrupted" not in summary_text(figures_of(*MIXED))


def test_terminal_prints_the_summary_on_stderr() -> None:
    term = terminal(tty=False)
    term.print_summary(figures_of(*MIXED), interrupted=False)
    assert term.env.stdout.getvalue() == ""  # type: ignore[attr-defined]
    assert term.env.stderr.getvalue() == summary_text(figures_of(*MIXED))  # type: ignore[attr-defined]


# --- the list of failures ----------------------------------------------------


def failures_of(*results: FetchResult) -> FailureList:
    failures = FailureList()
    for result in results:
        failures.add(result)
    return failures


FAILURES = failures_of(
    FetchResult(source="docs/a.md", line=3, column=5, url="https://a.example/x", status=404,
                error=ErrorKind.HTTP_STATUS, message="404 Not Found"),
    FetchResult(source="docs/a.md", line=9, url="https://b.example/", error=ErrorKind.TIMEOUT,
                message="no complete response within 10s"),
)  # fmt: skip


def printed_failures(failures: FailureList, *, tty: bool) -> str:
    term = terminal(tty=tty)
    term.print_failures(failures.lines(), count=failures.count)
    assert term.env.stdout.getvalue() == ""  # type: ignore[attr-defined]
    text: str = term.env.stderr.getvalue()  # type: ignore[attr-defined]
    return text


def test_failures_are_printed_on_stderr_under_a_heading() -> None:
    assert printed_failures(FAILURES, tty=False).splitlines() == [
        "",
        "failures (2):",
        "docs/a.md:3:5  404          https://a.example/x",
        "docs/a.md:9    ERR:timeout  https://b.example/  no complete response within 10s"
        "  (transient)",
    ]


def test_failures_have_no_ansi_when_stderr_is_not_a_terminal() -> None:
    assert "\x1b" not in printed_failures(FAILURES, tty=False)


def test_failure_statuses_are_coloured_on_a_terminal() -> None:
    text = printed_failures(FAILURES, tty=True)
    red, yellow = "\x1b[31m", "\x1b[33m"
    assert f"{red}404" in text
    assert f"{yellow}ERR:timeout" in text and f"{yellow}(transient)" in text


def test_a_long_failure_line_is_not_wrapped() -> None:
    failures = failures_of(outcome(404, ErrorKind.HTTP_STATUS))
    long_url = "https://a.example/" + "p" * 300
    failures.add(FetchResult(source="a.md", line=2, url=long_url, error=ErrorKind.DNS))
    assert long_url in printed_failures(failures, tty=False)


def test_failure_text_is_never_markup() -> None:
    url = "https://a.example/[bold red]x[/]\x1b[2J"
    failures = failures_of(FetchResult(source="[b]a.md", line=1, url=url, error=ErrorKind.DNS))
    text = printed_failures(failures, tty=True)
    assert "[b]a.md:1" in text and "[bold red]x[/]\\x1b[2J" in text
    assert "\x1b[2J" not in text


def test_no_failures_print_nothing() -> None:
    assert printed_failures(FailureList(), tty=True) == ""


def test_the_more_line_follows_the_failure_lines() -> None:
    failures = failures_of(*(outcome(404, ErrorKind.HTTP_STATUS) for _ in range(60)))
    lines = printed_failures(failures, tty=False).splitlines()
    assert lines[1] == "failures (60):"
    assert lines[-1] == "… and 10 more (see --report or --format jsonl)"
