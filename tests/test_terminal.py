"""The terminal side of a run: the status line, batching beside it, broken pipes, summary."""

from __future__ import annotations

import asyncio
import io
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from fetchcli.cli.environment import Environment
from fetchcli.cli.progress import StatusFigures, StatusLine, make_console, print_summary
from fetchcli.cli.terminal import _TERMINAL_BATCH, REFRESH_SECONDS, Terminal, _Pace
from fetchcli.model import ErrorKind, FetchResult, UrlRecord
from fetchcli.sinks.failures import FailureList
from fetchcli.sinks.formats import status_label
from fetchcli.sinks.summary import Summary, SummaryFigures

Clock = Callable[[], float]


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError


def terminal(
    *,
    stdout: io.StringIO | None = None,
    tty: bool = True,
    quiet: bool = False,
    clock: Clock = time.monotonic,
) -> Terminal:
    env = Environment(
        stdin=io.BytesIO(),
        stdout=stdout or io.StringIO(),
        stderr=io.StringIO(),
        stdout_isatty=tty,
        stderr_isatty=tty,
    )
    return Terminal(env, quiet=quiet, results_on_stdout=True, clock=clock)


@pytest.fixture(autouse=True)
def screen_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consoles on a StringIO take their size from COLUMNS and LINES (not the test's terminal)."""
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("LINES", "24")


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


# --- the status line: layout ------------------------------------------------------

BIG = StatusFigures(
    done=131_346, total=200_000, ok=123_456, failed=7_890, rate=12_345.0,
    size=1_288_490_188, elapsed=3_725.0, eta=5.6,
)  # fmt: skip
# Each number of BIG as the line may show it: with or without thousands separators.
BIG_NUMBERS = {
    "done": ("131,346/", "131346/"), "total": ("/200,000", "/200000"),
    "ok": ("123,456", "123456"), "failed": ("7,890", "7890"), "rate": ("12,345", "12345"),
    "bytes": ("1.2GiB",), "elapsed": ("1:02:05",), "eta": ("0:05",),
}  # fmt: skip
SMALL = StatusFigures(done=3, total=10, ok=3, rate=2.5, size=1234, elapsed=1.2, eta=3.0)
_SGR = re.compile(r"\x1b\[([0-9;]*)m")
RED = {"31", "91"}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def rendered(figures: StatusFigures, width: int) -> str:
    """The status line as drawn on a colour terminal `width` columns wide."""
    console = Console(
        file=io.StringIO(), force_terminal=True, width=width, color_system="standard"
    )  # fmt: skip
    return StatusLine(console).render(figures)


def plain(text: str) -> str:
    return _SGR.sub("", text)


def sgr_codes(text: str) -> set[str]:
    return {code for params in _SGR.findall(text) for code in params.split(";")}


@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_number_is_visible_from_60_columns(width: int) -> None:
    line = plain(rendered(BIG, width))
    assert [name for name, forms in BIG_NUMBERS.items() if not any(f in line for f in forms)] == []


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_the_status_line_fits_in_the_width(width: int) -> None:
    assert len(plain(rendered(BIG, width))) < width


def test_at_40_columns_done_ok_and_failed_stay() -> None:
    line = plain(rendered(BIG, 40))
    assert "131346/200000" in line and "123456" in line and "7890" in line


def test_as_the_width_shrinks_the_bar_goes_first_then_the_spinner_then_the_labels() -> None:
    first_width_without: dict[str, int] = {}
    for width in range(120, 39, -1):
        line = plain(rendered(BIG, width))
        shown = {"bar": "━" in line, "spinner": line[0] in SPINNER, "labels": "failed" in line}
        for part, present in shown.items():
            if not present:
                first_width_without.setdefault(part, width)
    assert first_width_without["bar"] > first_width_without["spinner"]
    assert first_width_without["spinner"] > first_width_without["labels"]


def test_the_bar_is_shortened_before_it_is_dropped() -> None:
    assert 0 < plain(rendered(SMALL, 80)).count("━") < plain(rendered(SMALL, 120)).count("━")


def test_a_healthy_status_line_has_nothing_red() -> None:
    assert sgr_codes(rendered(SMALL, 120)) & RED == set()


def test_failures_on_the_status_line_are_red() -> None:
    assert RED & sgr_codes(rendered(BIG, 120))


def test_the_rate_is_not_coloured() -> None:
    line = rendered(BIG, 120)
    assert "12,345 req/s" in line
    assert not re.search(r"\x1b\[(?!0m)[0-9;]*m12,345 req/s", line)


def test_the_eta_is_shown_once_the_total_is_known() -> None:
    assert "ETA 0:05" in plain(rendered(BIG, 120))


def test_there_is_no_eta_or_bar_without_a_total() -> None:
    line = plain(rendered(StatusFigures(done=5, ok=5, rate=1.0), 120))
    assert "ETA" not in line and "━" not in line


def test_a_stall_says_how_many_are_in_flight_and_for_how_long() -> None:
    stalled = StatusFigures(done=0, total=1, idle=12.3, in_flight=3, oldest=12.5)
    assert "waiting on 3 · oldest 12s" in plain(rendered(stalled, 120))


def test_a_stall_with_nothing_known_in_flight_says_how_long_since_a_result() -> None:
    stalled = StatusFigures(done=0, total=1, idle=12.3)
    assert "no result for 12s" in plain(rendered(stalled, 120))


def test_no_stall_is_shown_before_two_seconds() -> None:
    busy = StatusFigures(done=0, total=1, idle=1.9, in_flight=3, oldest=1.9)
    assert "waiting" not in plain(rendered(busy, 120))


def test_a_stall_keeps_every_number_at_60_columns() -> None:
    stalled = StatusFigures(
        done=131_346, total=200_000, ok=123_456, failed=7_890, size=10, elapsed=75.0,
        idle=12.0, in_flight=3, oldest=14.0,
    )  # fmt: skip
    line = plain(rendered(stalled, 60))
    assert re.search(r"131,?346/200,?000", line)
    assert "3 waiting 14s" in line and "1:15" in line


# --- the status line: pace ------------------------------------------------------


def test_the_eta_is_what_is_left_over_the_recent_rate() -> None:
    pace = _Pace(0.0, 0, 0)
    pace.sample(5.0, 50, 50)
    assert pace.eta(5.0, 100, 50) == 5.0


def test_there_is_no_eta_while_nothing_completes() -> None:
    pace = _Pace(0.0, 0, 0)
    pace.sample(5.0, 0, 0)
    assert pace.eta(5.0, 100, 0) is None


def test_the_rate_counts_requests_made_not_cache_hits() -> None:
    pace = _Pace(0.0, 0, 0)
    pace.sample(2.0, 100, 10)  # 90 of the 100 results came from the cache
    assert pace.rate(2.0) == 5.0


def test_the_rate_is_over_the_last_seconds_only() -> None:
    pace = _Pace(0.0, 0, 0)
    pace.sample(1.0, 1000, 1000)
    for second in range(2, 11):
        pace.sample(float(second), 1000, 1000)
    assert pace.rate(10.0) == 0.0


def test_a_stalled_run_shows_what_is_in_flight() -> None:
    now = [0.0]
    term = terminal(clock=lambda: now[0])
    assert term.in_flight is not None
    hang = asyncio.Event()

    async def hanging(record: UrlRecord) -> FetchResult:
        await hang.wait()
        raise AssertionError("never completes")

    async def main() -> None:
        assert term.in_flight is not None
        fetch = term.in_flight.wrap(hanging)
        request = asyncio.ensure_future(
            fetch(UrlRecord(source="-", line=1, url="https://a.example/"))
        )
        await asyncio.sleep(0)
        term.start(Summary())
        now[0] = 12.0
        await asyncio.sleep(REFRESH_SECONDS * 1.5)
        await term.finish()
        request.cancel()
        await asyncio.wait({request})

    asyncio.run(main())
    assert "waiting on 1 · oldest 12s" in term.env.stderr.getvalue()  # type: ignore[attr-defined]


# --- the status line: redraws -----------------------------------------------------


class Recorder(io.StringIO):
    """A stream that keeps each write() call apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def run_fast(seconds: float = 1.0) -> tuple[Recorder, float, int]:
    """Results at about 10 000 a second for `seconds`, both streams on one terminal."""
    screen = Recorder()
    env = Environment(
        stdin=io.BytesIO(), stdout=screen, stderr=screen, stdout_isatty=True, stderr_isatty=True
    )  # fmt: skip
    term = Terminal(env, quiet=False, results_on_stdout=True)
    summary = Summary()
    done = outcome(200)

    async def main() -> tuple[float, int]:
        started = time.monotonic()
        term.start(summary)
        count = 0
        while time.monotonic() - started < seconds:
            for _ in range(20):
                summary.add(done)
                term.hold(f"200 100B 0.250s https://a.example/{count}")
                count += 1
            await asyncio.sleep(0.002)
        await term.finish()
        return time.monotonic() - started, count

    elapsed, count = asyncio.run(main())
    return screen, elapsed, count


def status_writes(screen: Recorder) -> list[str]:
    return [text for text in screen.writes if "req/s" in text]


def test_redraws_are_at_most_one_per_refresh_at_a_high_result_rate() -> None:
    screen, elapsed, count = run_fast()
    assert count > 2000 and count == screen.getvalue().count("https://a.example/")
    assert len(status_writes(screen)) <= elapsed / REFRESH_SECONDS + 2


def test_no_write_takes_the_status_line_down_without_putting_it_back() -> None:
    screen, _, _ = run_fast(0.5)
    erasing = [text for text in screen.writes if "\x1b[2K" in text]
    assert erasing and all("req/s" in text for text in erasing[:-1])  # the last ends the run


def test_each_redraw_erases_and_draws_in_one_write() -> None:
    screen, _, _ = run_fast(0.5)
    assert all(re.search(r"\r\x1b\[2K[^\n]*req/s", text) for text in status_writes(screen))


def test_a_batch_goes_out_in_the_same_write_as_the_redraw() -> None:
    screen, _, _ = run_fast(0.5)
    assert any("https://a.example/" in text for text in status_writes(screen))


# --- the status line: piped results -----------------------------------------------


@pytest.fixture
def piped() -> Iterator[Terminal]:
    """A live terminal whose stdout is a pipe (`fetchcli … | jq`), stderr a 24-row terminal."""
    read, write = os.pipe()
    with open(write, "w") as stdout, open(read, "rb"):
        env = Environment(
            stdin=io.BytesIO(), stdout=stdout, stderr=io.StringIO(),
            stdout_isatty=False, stderr_isatty=True,
        )  # fmt: skip
        yield Terminal(env, quiet=False, results_on_stdout=True)


def tick_once(term: Terminal) -> str:
    async def main() -> None:
        term.start(Summary())
        await asyncio.sleep(REFRESH_SECONDS / 4)
        await term.finish()

    asyncio.run(main())
    text: str = term.env.stderr.getvalue()  # type: ignore[attr-defined]
    return text


def test_a_piped_stdout_pins_the_status_line_below_a_scroll_region(piped: Terminal) -> None:
    text = tick_once(piped)
    assert "\x1b[1;23r" in text  # everything else scrolls in rows 1-23
    assert re.search(r"\x1b7\x1b\[24;1H\x1b\[2K[^\n]*req/s[^\n]*\x1b8", text)


def test_a_pinned_status_line_gives_the_screen_back_when_the_run_ends(piped: Terminal) -> None:
    assert tick_once(piped).endswith("\x1b7\x1b[24;1H\x1b[2K\x1b[r\x1b8")


def test_piped_results_do_not_wait_for_the_refresh(piped: Terminal) -> None:
    assert not piped.hold("line")


def test_results_written_to_a_file_keep_the_status_line_in_place(tmp_path: Path) -> None:
    with (tmp_path / "out.txt").open("w") as stdout:
        env = Environment(
            stdin=io.BytesIO(), stdout=stdout, stderr=io.StringIO(),
            stdout_isatty=False, stderr_isatty=True,
        )  # fmt: skip
        text = tick_once(Terminal(env, quiet=False, results_on_stdout=True))
    assert "\r\x1b[2K" in text and not re.search(r"\x1b\[1;\d+r", text)


def test_abandon_gives_the_scroll_region_back_at_once(piped: Terminal) -> None:
    async def main() -> None:
        piped.start(Summary())
        await asyncio.sleep(REFRESH_SECONDS / 4)
        piped.abandon()

    asyncio.run(main())
    assert piped.env.stderr.getvalue().endswith("\x1b[r\x1b8")  # type: ignore[attr-defined]


def test_a_resized_terminal_moves_the_pinned_line_to_its_new_bottom_row() -> None:
    rows = [24]
    status = StatusLine(Console(file=io.StringIO(), force_terminal=True), rows=lambda: rows[0])
    status.show("first")
    rows[0] = 30
    assert "\x1b[1;29r" in status.show("second") and "\x1b[30;1H" in status.show("third")


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
    assert lines[-1] == "500B in 2.00s  (2.0 req/s)"  # 4 requests: the invalid line made none


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


def test_a_healthy_summary_has_nothing_red() -> None:
    assert sgr_codes(summary_text(figures_of(outcome(200), outcome(204)), tty=True)) & RED == set()


def test_the_failed_row_is_red_when_there_are_failures() -> None:
    assert "\x1b[31mfailed" in summary_text(figures_of(*MIXED), tty=True)


def test_cache_hits_have_their_own_summary_row() -> None:
    hit = FetchResult(
        source="urls.txt", line=2, url="https://a.example/", status=200, ok=True, size=10,
        attempts=0, cached=True,
    )  # fmt: skip
    assert table_rows(summary_text(figures_of(outcome(200), hit, hit)))["cached"] == "2"


def test_there_is_no_cached_row_without_cache_hits() -> None:
    assert "cached" not in table_rows(summary_text(figures_of(outcome(200))))


def test_the_summary_rate_leaves_cache_hits_out() -> None:
    hit = FetchResult(
        source="urls.txt", line=2, url="https://a.example/", status=200, ok=True, size=10,
        attempts=0, cached=True,
    )  # fmt: skip
    assert summary_text(figures_of(hit, hit)).splitlines()[-1] == "20B in 2.00s  (0.0 req/s)"


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
