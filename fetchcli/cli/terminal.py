"""The terminal side of a run: live status, result batching, warnings, summary, failures.

Rich (with `fetchcli.cli.progress`) is imported only when something is drawn or
printed: a quiet run (`-q`) never loads it, and a run whose stderr is not a
terminal loads it only for the summary or a warning, once the run has ended.

The status line is redrawn only by the ticker, at most once per REFRESH_SECONDS,
and each redraw is one write. Where results share the terminal:

- stdout is that terminal: results wait and are written above the line at each
  refresh, in the same write as the redraw when both streams are one terminal;
- stdout is a pipe (`fetchcli … | jq`): the reader may print to the terminal at
  any moment, so the line is pinned to the bottom row below a scroll region and
  taken down (region and all) before the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from fetchcli.sinks.summary import InFlight
from fetchcli.text import safe_text

if TYPE_CHECKING:
    from rich.console import Console

    from fetchcli.cli.environment import Environment
    from fetchcli.cli.progress import StatusFigures, StatusLine
    from fetchcli.sinks.summary import Summary, SummaryFigures

# How often the status line is redrawn (from counters, never once per result).
REFRESH_SECONDS = 0.2
# Rates (and so the ETA) are measured over this much recent time.
RATE_WINDOW_SECONDS = 5.0

# Result lines waiting for the next refresh are written sooner when this many wait,
# which bounds memory; below about 25 000 results/s the refresh always comes first.
_TERMINAL_BATCH = 5000


class Terminal:
    """stderr, and stdout when results share its terminal, as one run sees them.

    Usage: `terminal.start(summary)`; per result `terminal.hold(line)` or write it
    elsewhere; `await terminal.finish()`; then `terminal.print_summary(summary.figures(wall))`
    and `terminal.print_failures(failures.lines(), count=failures.count)`. When live,
    `terminal.in_flight` wraps the fetcher (`fetch_stream(…, in_flight=terminal.in_flight)`)
    so that a stalled run can say what it is waiting on.
    """

    def __init__(
        self,
        env: Environment,
        *,
        quiet: bool,
        results_on_stdout: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = env
        self.broken_pipe = False
        self._clock = clock
        self._console: Console | None = None
        self._status: StatusLine | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._total: int | None = None
        live = bool(env.stderr_isatty) and not quiet
        self.in_flight = InFlight(clock) if live else None
        shared = live and results_on_stdout
        # Batch result lines only when they share the terminal with the status line.
        self._batch: list[str] | None = [] if shared and env.stdout_isatty else None
        # Both streams one terminal: results and the redraw go out in one write.
        self._combined = self._batch is not None and _same_terminal(env.stdout, env.stderr)
        if live:
            from fetchcli.cli.progress import StatusLine

            pinned = shared and not env.stdout_isatty and _is_pipe(env.stdout)
            self._status = StatusLine(self.console, rows=self._rows if pinned else None)

    @property
    def live(self) -> bool:
        """Whether the status line is shown (stderr is a terminal and the run is not quiet)."""
        return self._status is not None

    @property
    def console(self) -> Console:
        """The stderr console, made (and Rich imported) on first use."""
        if self._console is None:
            from fetchcli.cli.progress import make_console

            self._console = make_console(self.env.stderr, bool(self.env.stderr_isatty))
        return self._console

    @property
    def total(self) -> int | None:
        """How many results the run will have, once known."""
        return self._total

    def set_total(self, total: int | None) -> None:
        self._total = total

    def count_total(self, count: Callable[[], int | None]) -> None:
        """Count the status line's total in a thread, if live; count() must end when stopped."""
        if self._status is None:
            return
        loop = asyncio.get_running_loop()

        def run() -> None:
            with contextlib.suppress(OSError):
                total = count()
                if total is not None:
                    loop.call_soon_threadsafe(self.set_total, total)

        threading.Thread(target=run, name="fetchcli-count", daemon=True).start()

    def start(self, summary: Summary) -> None:
        """Redraw the status line from summary's counters until `finish()` (if live)."""
        if self._status is not None:
            pace = _Pace(self._clock(), summary.total, summary.requests)
            self._ticker = asyncio.create_task(self._tick(self._status, summary, pace))

    async def finish(self) -> None:
        """Stop redrawing, write the lines still waiting and take the status line down."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.wait({self._ticker})
        if self._status is not None:
            self._write(self._take(), None)

    def abandon(self) -> None:
        """Take the status line down at once (before `os._exit` on a second signal)."""
        if self._status is not None:
            with contextlib.suppress(OSError, ValueError):
                self._put(self.env.stderr, self._status.hide())

    def hold(self, line: str) -> bool:
        """Keep a result line for the next refresh; False when lines do not wait here."""
        if self._batch is None:
            return False
        self._batch.append(line + "\n")
        if len(self._batch) >= _TERMINAL_BATCH:
            self.flush()
        return True

    def flush(self) -> None:
        """Write the waiting result lines above the status line (redrawn as it was)."""
        if not self._batch or self._status is None:
            return
        self._write(self._take(), self._status.last if self._status.drawn else None)

    def reader_gone(self) -> None:
        """stdout's reader went away: stop quietly, and keep exit-time flushes from failing."""
        self.broken_pipe = True
        self._batch = None
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.env.stdout.fileno())

    async def _tick(self, status: StatusLine, summary: Summary, pace: _Pace) -> None:
        while True:
            self._write(self._take(), status.render(self._figures(summary, pace)))
            await asyncio.sleep(REFRESH_SECONDS)

    def _figures(self, summary: Summary, pace: _Pace) -> StatusFigures:
        from fetchcli.cli.progress import StatusFigures

        now = self._clock()
        pace.sample(now, summary.total, summary.requests)
        in_flight = self.in_flight
        oldest = None if in_flight is None else in_flight.oldest()
        return StatusFigures(
            done=summary.total,
            total=self._total,
            ok=summary.ok,
            failed=summary.failed,
            rate=pace.rate(now),
            size=summary.bytes,
            elapsed=now - pace.started,
            eta=pace.eta(now, self._total, summary.total),
            in_flight=None if in_flight is None else in_flight.count,
            oldest=None if oldest is None else now - oldest,
            idle=now - pace.last_result,
        )

    def _take(self) -> str:
        if not self._batch:
            return ""
        text = "".join(self._batch)
        self._batch.clear()
        return text

    def _write(self, results: str, line: str | None) -> None:
        """Results above the status line, then the line (None: take it down), no gap between."""
        status = self._status
        assert status is not None
        hide = status.hide() if results or line is None else ""
        show = "" if line is None else status.show(line)
        if self._combined:  # one write: the screen never shows the terminal without its line
            self._put_results(hide + results + show)
            return
        if hide:
            self._put(self.env.stderr, hide)
        if results:
            self._put_results(results)
        if show:
            self._put(self.env.stderr, show)

    def _put_results(self, text: str) -> None:
        try:
            self._put(self.env.stdout, text)
        except BrokenPipeError:
            self.reader_gone()

    @staticmethod
    def _put(stream: TextIO, text: str) -> None:
        if text:
            stream.write(text)
            stream.flush()

    def _rows(self) -> int:
        """The height of stderr's terminal, read at each redraw (it may be resized)."""
        try:
            return os.get_terminal_size(self.env.stderr.fileno()).lines
        except (OSError, ValueError, AttributeError):
            return self.console.size.height

    def warn(self, message: str) -> None:
        """One line on stderr (above the status line, if shown); untrusted text, never markup."""
        if self._console is None and not self.env.stderr_isatty:
            # What Rich would write to a file or pipe, without importing it (~30 ms).
            self._put(self.env.stderr, f"{safe_text(message)}\n")
            return
        from rich.text import Text

        status = self._status if self._status is not None and self._status.drawn else None
        if status is not None:
            self._put(self.env.stderr, status.hide())
        self.console.print(Text(safe_text(message)), soft_wrap=True)
        if status is not None:
            self._put(self.env.stderr, status.show(status.last))

    def print_summary(self, figures: SummaryFigures, *, interrupted: bool) -> None:
        """The end-of-run summary on stderr."""
        from fetchcli.cli.progress import print_summary

        print_summary(self.console, figures, interrupted=interrupted)

    def print_failures(self, lines: list[str], *, count: int) -> None:
        """The list of failures on stderr after the summary: `failures (count):`, then lines.

        Usage: `terminal.print_failures(failures.lines(), count=failures.count)`.
        """
        from fetchcli.cli.progress import print_failures

        print_failures(self.console, lines, count)

    def report_demo(self, total: int, mismatches: list[str]) -> None:
        """Whether every demo URL gave the result the demo site is built to produce."""
        from rich.text import Text

        if not mismatches:
            self.console.print(
                Text(
                    f"demo: all {total} URLs gave the result the demo site"
                    " is built to produce (404s, 500s and invalid lines included)",
                    style="green",
                )
            )
            return
        for line in mismatches[:20]:
            self.console.print(Text(f"demo: unexpected result: {safe_text(line)}", style="red"))


class _Pace:
    """Recent rates and the time of the last result, from counters sampled at each refresh."""

    def __init__(self, now: float, done: int, requests: int) -> None:
        self.started = now
        self.last_result = now
        self._done = done
        self._samples: deque[tuple[float, int, int]] = deque([(now, done, requests)])

    def sample(self, now: float, done: int, requests: int) -> None:
        if done != self._done:
            self._done, self.last_result = done, now
        self._samples.append((now, done, requests))
        # Keep one sample at or before the window's start, so the window is always full.
        while len(self._samples) > 2 and self._samples[1][0] <= now - RATE_WINDOW_SECONDS:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        """Requests made per second over the window."""
        then, _, requests = self._samples[0]
        return (self._samples[-1][2] - requests) / (now - then) if now > then else 0.0

    def eta(self, now: float, total: int | None, done: int) -> float | None:
        """Seconds left at the recent pace of results (cache hits included), if known."""
        if total is None:
            return None
        if done >= total:
            return 0.0
        then, done_then, _ = self._samples[0]
        pace = (done - done_then) / (now - then) if now > then else 0.0
        return (total - done) / pace if pace > 0 else None


def _same_terminal(stdout: TextIO, stderr: TextIO) -> bool:
    """Whether both streams write to one terminal (then one write can carry both)."""
    if stdout is stderr:
        return True
    try:
        out, err = os.fstat(stdout.fileno()), os.fstat(stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    same_encoding = getattr(stdout, "encoding", None) == getattr(stderr, "encoding", None)
    return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino) and same_encoding


def _is_pipe(stream: TextIO) -> bool:
    """Whether a stream is a pipe or socket, whose reader may write to our terminal."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
