"""The Rich parts: a one-line live status on stderr and the summary table.

The status is redrawn at a fixed rate (by `fetchcli.cli.terminal`) from
counters, never once per result. Its text is laid out here by priority, so
every number survives a narrow terminal: the bar shrinks or goes first, then
the spinner, then labels get shorter (Rich only styles it). It is one line,
either overwritten in place (`\r` + erase line), with results scrolling above
it, or pinned to the bottom row below a scroll region when another program
writing to the same terminal (`fetchcli … | jq`) must never have it glued to
its lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fetchcli.model import ErrorKind
from fetchcli.sinks.failures import MORE_PREFIX, TRANSIENT_MARK, status_span
from fetchcli.sinks.formats import error_label
from fetchcli.text import human_size, safe_text

if TYPE_CHECKING:
    from fetchcli.sinks.summary import SummaryFigures

_ERASE_LINE = "\r\x1b[2K"
# No result for this long: the line says what is in flight instead of a rate.
STALL_SECONDS = 2.0
_BAR_MAX, _BAR_MIN = 24, 6
_SPINNER, _ASCII_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏", "-\\|/"


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


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusFigures:
    """What the status line shows at one moment (seconds are float, bytes int).

    Usage: `status_text(StatusFigures(done=5, total=10, ok=4, failed=1), width=80)`.
    """

    done: int
    total: int | None = None
    ok: int = 0
    failed: int = 0
    rate: float = 0.0  # requests made per second, recently (cache hits are not requests)
    size: int = 0
    elapsed: float = 0.0
    eta: float | None = None  # None while no estimate can be made
    in_flight: int | None = None  # None when not known
    oldest: float | None = None  # age of the longest-running request in flight
    idle: float = 0.0  # since the last result

    @property
    def stalled(self) -> bool:
        return self.idle >= STALL_SECONDS


@dataclass(frozen=True, slots=True, kw_only=True)
class _Labels:
    """One way of labelling the numbers, from the longest to the tightest."""

    sep: str
    ok: str
    failed: str
    rate: str
    eta: str
    waiting: str  # {n} in flight, the oldest {age}
    idle: str  # nothing known in flight; no result for {age}
    commas: bool = True
    glyphs: bool = False  # ok/failed are marks, with an ASCII fallback


_LONG = _Labels(
    sep=" · ", ok="ok ", failed="failed ", rate=" req/s", eta="ETA ",
    waiting="waiting on {n} · oldest {age}", idle="no result for {age}",
)  # fmt: skip
_MEDIUM = replace(_LONG, sep=" ", waiting="waiting on {n}, oldest {age}")
_SHORT = replace(
    _MEDIUM, ok="✓", failed="✗", rate="/s", eta="eta ", waiting="{n} waiting {age}",
    idle="idle {age}", glyphs=True,
)  # fmt: skip
_TIGHT = replace(_SHORT, commas=False)
# Drop ranks of the tightest form (lowest goes first); ok and failed are never dropped.
_ELAPSED, _BYTES, _ETA, _RATE, _KEEP = range(5)
# Tried in order: the first that fits wins (only the first has the spinner and a bar).
_VARIANTS = ((True, _LONG), (False, _LONG), (False, _MEDIUM), (False, _SHORT), (False, _TIGHT))


def status_text(
    figures: StatusFigures, width: int, *, frame: int = 0, ascii_only: bool = False
) -> Text:
    """The status line laid out by priority to fit `width` cells, never dropping a number first.

    From 60 columns up every number is shown; below that the tightest form drops
    elapsed time, then bytes, then the ETA, then the rate, and keeps done, ok and failed.
    """
    room = max(1, width - 1)  # the last column stays free: a full line wraps on some terminals
    frames = _ASCII_SPINNER if ascii_only else _SPINNER
    spinner = Text(frames[frame % len(frames)] + " ", style="green")
    for spin, labels in _VARIANTS:
        count = _count(figures, labels.commas)
        parts = [text for _, text in _parts(figures, labels, ascii_only)]
        line = Text.assemble(spinner if spin else "", _joined([count, *parts], labels.sep))
        if line.cell_len > room:
            continue
        bar = _bar(figures, min(_BAR_MAX, room - line.cell_len - 1), ascii_only) if spin else None
        if bar is not None:
            line = Text.assemble(spinner, count, " ", bar, " ", _joined(parts, labels.sep))
        return line
    ranked = _parts(figures, _TIGHT, ascii_only)
    count = _count(figures, commas=False)
    line = _joined([count, *(text for _, text in ranked)], _TIGHT.sep)
    while line.cell_len > room and any(rank < _KEEP for rank, _ in ranked):
        ranked.remove(min(ranked, key=lambda item: item[0]))
        line = _joined([count, *(text for _, text in ranked)], _TIGHT.sep)
    line.truncate(room)
    return line


def _parts(figures: StatusFigures, labels: _Labels, ascii_only: bool) -> list[tuple[int, Text]]:
    """The labelled numbers after done/total, in display order, each with its drop rank."""
    num = _number(labels.commas)
    ok, failed = ("ok ", "x ") if ascii_only and labels.glyphs else (labels.ok, labels.failed)
    parts = [
        (_KEEP, Text(f"{ok}{num(figures.ok)}", style="green" if figures.ok else "dim")),
        (_KEEP, Text(f"{failed}{num(figures.failed)}", style="red" if figures.failed else "dim")),
    ]
    if figures.stalled:
        parts.append((_RATE, Text(_stall(figures, labels), style="yellow")))
    else:
        parts.append((_RATE, Text(f"{_rate(figures.rate, labels.commas)}{labels.rate}")))
    parts.append((_BYTES, Text(human_size(figures.size))))
    parts.append((_ELAPSED, Text(_clock(figures.elapsed), style="dim")))
    if figures.total is not None and not figures.stalled:
        eta = "--:--" if figures.eta is None else _clock(figures.eta)
        parts.append((_ETA, Text(f"{labels.eta}{eta}")))
    return parts


def _count(figures: StatusFigures, commas: bool) -> Text:
    num = _number(commas)
    total = "" if figures.total is None else f"/{num(figures.total)}"
    return Text(f"{num(figures.done)}{total}", style="bold")


def _stall(figures: StatusFigures, labels: _Labels) -> str:
    if figures.in_flight:
        age = figures.idle if figures.oldest is None else figures.oldest
        return labels.waiting.format(n=figures.in_flight, age=_age(age))
    return labels.idle.format(age=_age(figures.idle))


def _bar(figures: StatusFigures, width: int, ascii_only: bool) -> Text | None:
    if width < _BAR_MIN or figures.total is None:
        return None
    fraction = 1.0 if figures.total <= 0 else min(1.0, figures.done / figures.total)
    filled = round(width * fraction)
    mark = "#" if ascii_only else "━"
    rest = "-" if ascii_only else "━"
    return Text.assemble((mark * filled, "green"), (rest * (width - filled), "bright_black"))


def _joined(parts: list[Text], sep: str) -> Text:
    joined = Text()
    for index, part in enumerate(parts):
        if index:
            joined.append(sep, style="dim")
        joined.append_text(part)
    return joined


def _number(commas: bool) -> Callable[[int], str]:
    return (lambda n: f"{n:,}") if commas else str


def _rate(rate: float, commas: bool) -> str:
    if rate < 10:
        return f"{rate:.1f}"
    return f"{rate:,.0f}" if commas else f"{rate:.0f}"


def _clock(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _age(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds < 60 else _clock(seconds)


class StatusLine:
    """The live status line: the text each redraw writes, in one piece.

    Inline, the line is overwritten in place and results are written above it.
    Pinned (`rows` given), it sits on the terminal's bottom row, below a scroll
    region that holds everything else, so another program's output scrolls
    above it and never shares its line; `hide()` gives the whole screen back.

    Usage: `stream.write(status.show(status.render(figures)))`, …, `stream.write(status.hide())`.
    """

    def __init__(self, console: Console, rows: Callable[[], int] | None = None) -> None:
        self._console = console
        self._rows = rows
        self._region: int | None = None  # the bottom row, while the scroll region is set
        self._frame = 0
        self.drawn = False
        self.last = ""  # the last line shown, for a redraw between refreshes

    def render(self, figures: StatusFigures) -> str:
        """The status as one line of terminal text, fitted to the console's width."""
        self._frame += 1
        text = status_text(
            figures,
            self._console.width,
            frame=self._frame,
            ascii_only=self._console.options.ascii_only,
        )
        with self._console.capture() as capture:
            self._console.print(text, end="", no_wrap=True, overflow="crop", soft_wrap=True)
        return capture.get()

    def show(self, line: str) -> str:
        """What to write to put `line` on the screen in place of the one shown."""
        self.drawn, self.last = True, line
        if self._rows is None:
            return _ERASE_LINE + line
        rows = self._rows()
        if rows < 3 and self._region is None:  # no room for a region: overwrite in place
            return _ERASE_LINE + line
        setup = ""
        if rows != self._region:
            # Make room below the cursor, then keep rows 1…rows-1 for everything else
            # (setting a region homes the cursor, hence save and restore around it).
            setup = f"\n\x1b[1A\x1b7\x1b[1;{rows - 1}r\x1b8"
            self._region = rows
        return f"{setup}\x1b7\x1b[{rows};1H\x1b[2K{line}\x1b8"

    def hide(self) -> str:
        """What to write to take the line off the screen (and, pinned, end the region)."""
        if not self.drawn:
            return ""
        self.drawn = False
        if self._region is None:
            return _ERASE_LINE
        bottom, self._region = self._region, None
        return f"\x1b7\x1b[{bottom};1H\x1b[2K\x1b[r\x1b8"


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
    if figures.cached:  # served without a request: not in req/s
        table.add_row(Text("cached", style="cyan"), str(figures.cached))
    table.add_section()
    table.add_row(Text("total", style="bold"), str(figures.total))
    table.add_row(Text("ok", style="green" if figures.ok else "dim"), str(figures.ok))
    # Red only for failures that exist: a healthy run shows nothing red.
    table.add_row(Text("failed", style="red" if figures.failed else "dim"), str(figures.failed))
    return table


def _status_style(code: int) -> str:
    if code < 300:
        return "green"
    if code < 400:
        return "cyan"
    return "yellow" if code < 500 else "red"
