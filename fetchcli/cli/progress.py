"""The Rich parts: a one-line live status on stderr and the summary table.

The status is redrawn at a fixed rate (by `fetchcli.terminal`) from counters,
never once per result, so it costs the engine nothing measurable. It is one
line that the next draw overwrites in place (`\\r` + erase line), which lets
results written to the same terminal scroll above it without tearing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task
from rich.table import Table
from rich.text import Text

from fetchcli.model import ErrorKind
from fetchcli.sinks.failures import MORE_PREFIX, TRANSIENT_MARK, status_span
from fetchcli.sinks.formats import error_label
from fetchcli.text import human_size, safe_text

if TYPE_CHECKING:
    from fetchcli.sinks.summary import SummaryFigures

_ERASE_LINE = "\r\x1b[2K"


def make_console(stream: TextIO, terminal: bool) -> Console:
    """A console for stderr: colours and cursor control only on a real terminal."""
    return Console(
        file=stream,
        force_terminal=terminal,
        color_system="auto" if terminal else None,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )


class _CountColumn(ProgressColumn):
    """`done/total`, or just `done` while the total is unknown."""

    def render(self, task: Task) -> Text:
        total = "" if task.total is None else f"/{int(task.total)}"
        return Text(f"{int(task.completed)}{total}", style="progress.download")


class _OutcomeColumn(ProgressColumn):
    """Counts of ok and failed results."""

    def render(self, task: Task) -> Text:
        text = Text()
        text.append(f"ok {task.fields.get('ok', 0)}", style="green")
        text.append("  ")
        failed = task.fields.get("failed", 0)
        text.append(f"failed {failed}", style="red" if failed else "dim")
        return text


class _RateColumn(ProgressColumn):
    """Results per second over the whole run so far."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"· {rate:,.0f} req/s", style="progress.data.speed")


class _BytesColumn(ProgressColumn):
    """Body bytes read so far."""

    def render(self, task: Task) -> Text:
        return Text(f"· {human_size(task.fields.get('bytes', 0))}", style="progress.filesize")


class _ElapsedColumn(ProgressColumn):
    """Wall time since the start, as m:ss."""

    def render(self, task: Task) -> Text:
        seconds = int(task.elapsed or 0)
        return Text(f"· {seconds // 60}:{seconds % 60:02d}", style="progress.elapsed")


class StatusLine:
    """The live one-line progress display; draw() it at a fixed rate.

    Usage: `status.update(done=n, ok=k, failed=f, bytes=b); status.draw()`.
    """

    def __init__(self, console: Console, total: int | None = None) -> None:
        self._console = console
        self._progress = Progress(
            SpinnerColumn(),
            _CountColumn(),
            BarColumn(bar_width=24),
            _OutcomeColumn(),
            _RateColumn(),
            _BytesColumn(),
            _ElapsedColumn(),
            console=console,
            auto_refresh=False,
        )
        self._task = self._progress.add_task("fetch", total=total, ok=0, failed=0, bytes=0)
        self.drawn = False

    def set_total(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)

    def update(self, *, done: int, ok: int, failed: int, size: int) -> None:
        self._progress.update(self._task, completed=done, ok=ok, failed=failed, bytes=size)

    def render(self) -> str:
        """The status as one line of terminal text, cut to the console's width."""
        with self._console.capture() as capture:
            self._console.print(self._progress.make_tasks_table(self._progress.tasks), end="")
        return capture.get().split("\n", 1)[0]

    def draw(self) -> None:
        self._console.file.write(_ERASE_LINE + self.render())
        self._console.file.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self._console.file.write(_ERASE_LINE)
            self._console.file.flush()
            self.drawn = False


def print_summary(console: Console, figures: SummaryFigures, interrupted: bool = False) -> None:
    """The end-of-run summary: outcomes, status codes, error kinds, latency, throughput."""
    console.print(_summary_table(figures, console.is_terminal, interrupted))
    latency = figures.latency
    if latency.min is not None:
        parts = (f"{name} {value:.3f}s" for name, value in latency.items())
        console.print(Text("latency  " + "  ".join(parts)))
    console.print(
        Text(f"{human_size(figures.bytes)} in {figures.wall:.2f}s  ({figures.rps:,.1f} req/s)")
    )


def print_failures(console: Console, lines: list[str], count: int) -> None:
    """The list of failures after the summary: a heading, then the lines (never markup).

    Only the status (red; yellow when transient) and the transient mark are coloured,
    and only on a terminal; lines are printed whole (soft wrap) so they stay greppable.
    """
    if not lines:
        return
    console.print()
    console.print(Text(f"failures ({count}):", style="bold"))
    for line in lines:
        console.print(_failure_text(safe_text(line)), soft_wrap=True)


def _failure_text(line: str) -> Text:
    if line.startswith(MORE_PREFIX):
        return Text(line, style="dim")
    text = Text(line)
    transient = line.endswith(TRANSIENT_MARK)
    span = status_span(line)
    if span is not None:
        text.stylize("yellow" if transient else "red", *span)
    if transient:
        text.stylize("yellow", len(line) - len(TRANSIENT_MARK))
    return text


def _summary_table(figures: SummaryFigures, terminal: bool, interrupted: bool) -> Table:
    """Counts by status code and error kind, then total, ok and failed."""
    table = Table(
        box=box.SIMPLE_HEAD if terminal else box.ASCII2,
        show_header=True,
        title="interrupted" if interrupted else None,
        title_justify="left",
        pad_edge=False,
    )
    table.add_column("result")
    table.add_column("count", justify="right")
    for code, count in figures.by_status.items():
        table.add_row(Text(str(code), style=_status_style(code)), str(count))
    for kind, count in figures.by_error.items():
        # A status outside --accept is already counted in its status row.
        if kind != ErrorKind.HTTP_STATUS:
            table.add_row(Text(error_label(kind), style="red"), str(count))
    if figures.excluded:
        table.add_row(Text("excluded", style="dim"), str(figures.excluded))
    table.add_section()
    table.add_row(Text("total", style="bold"), str(figures.total))
    table.add_row(Text("ok", style="green"), str(figures.ok))
    table.add_row(Text("failed", style="red"), str(figures.failed))
    return table


def _status_style(code: int) -> str:
    if code < 300:
        return "green"
    if code < 400:
        return "cyan"
    return "yellow" if code < 500 else "red"
