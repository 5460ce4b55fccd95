"""The terminal side of a run: live status, result batching, warnings, summary, failures.

Rich (with `fetchcli.progress`) is imported only when something is drawn or
printed: a quiet run (`-q`) never loads it, and a run whose stderr is not a
terminal loads it only for the summary or a warning, once the run has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from fetchcli.text import safe_text

if TYPE_CHECKING:
    from rich.console import Console

    from fetchcli.cli.environment import Environment
    from fetchcli.cli.progress import StatusLine
    from fetchcli.sinks.summary import Summary, SummaryFigures

# How often the status line is redrawn (from counters, never once per result).
REFRESH_SECONDS = 0.2

# With results and the live status on one terminal, results are written in
# batches at each refresh (or sooner when this many wait), so they never tear
# the status line.
_TERMINAL_BATCH = 200


class Terminal:
    """stderr, and stdout when results share its terminal, as one run sees them.

    Usage: `terminal.start(summary)`; per result `terminal.hold(line)` or write it
    elsewhere; `await terminal.finish()`; then `terminal.print_summary(summary.figures(wall))`
    and `terminal.print_failures(failures.lines(), count=failures.count)`.
    """

    def __init__(self, env: Environment, *, quiet: bool, results_on_stdout: bool) -> None:
        self.env = env
        self.broken_pipe = False
        self._console: Console | None = None
        self._status: StatusLine | None = None
        self._ticker: asyncio.Task[None] | None = None
        live = bool(env.stderr_isatty) and not quiet
        if live:
            from fetchcli.cli.progress import StatusLine

            self._status = StatusLine(self.console)
        # Batch result lines only when they share the terminal with the status line.
        self._batch: list[str] | None = (
            [] if live and results_on_stdout and env.stdout_isatty else None
        )

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

    def set_total(self, total: int | None) -> None:
        if self._status is not None:
            self._status.set_total(total)

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
            self._ticker = asyncio.create_task(self._tick(self._status, summary))

    async def finish(self) -> None:
        """Stop redrawing, write the lines still waiting and clear the status line."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.wait({self._ticker})
        self.flush()
        if self._status is not None:
            self._status.clear()

    def hold(self, line: str) -> bool:
        """Keep a result line for the next refresh; False when lines do not wait here."""
        if self._batch is None:
            return False
        self._batch.append(line + "\n")
        if len(self._batch) >= _TERMINAL_BATCH:
            self.flush()
        return True

    def flush(self) -> None:
        """Write the waiting result lines above the status line."""
        if not self._batch:
            return
        if self._status is not None:
            self._status.clear()
        try:
            self.env.stdout.write("".join(self._batch))
            self.env.stdout.flush()
        except BrokenPipeError:
            self.reader_gone()
        if self._batch is not None:
            self._batch.clear()

    def reader_gone(self) -> None:
        """stdout's reader went away: stop quietly, and keep exit-time flushes from failing."""
        self.broken_pipe = True
        self._batch = None
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.env.stdout.fileno())

    async def _tick(self, status: StatusLine, summary: Summary) -> None:
        while True:
            self.flush()
            status.update(
                done=summary.total, ok=summary.ok, failed=summary.failed, size=summary.bytes
            )
            status.draw()
            await asyncio.sleep(REFRESH_SECONDS)

    def warn(self, message: str) -> None:
        """One line on stderr; message is untrusted text, never markup."""
        from rich.text import Text

        self.console.print(Text(safe_text(message)), soft_wrap=True)

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
