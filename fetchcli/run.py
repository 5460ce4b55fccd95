"""One run of the command: wires sources → engine → writer, summary and progress.

The CLI builds a `Run` from FetchOptions and `RunSettings` (the output-side
flags) and calls `execute()`, which returns the exit code. Streams and
terminal flags come from an injectable `Environment`, so tests can fake a
terminal. Signals cancel the fetching task only; flushing, the summary and
the exit code happen after it has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from fetchcli import resume
from fetchcli.cache import CacheError
from fetchcli.engine import fetch_stream
from fetchcli.environment import Environment, fit_open_files
from fetchcli.errors import ExitCode
from fetchcli.options import FetchOptions
from fetchcli.output import LineSink, ResultWriter, safe_text
from fetchcli.progress import REFRESH_SECONDS, StatusLine, make_console, print_summary
from fetchcli.report import Report, ReportError, open_report
from fetchcli.results import FetchResult
from fetchcli.resume import ResumeState
from fetchcli.save import SaveError
from fetchcli.sources import (
    STDIN,
    InputRules,
    SourceStats,
    UrlRecord,
    aiter_in_thread,
    check_readable,
    count_records,
    iter_records,
    stdin_is_stream,
)
from fetchcli.summary import Summary

# With results and the live status on one terminal, results are written in
# batches at each refresh (or sooner when this many wait), so they never tear
# the status line.
_TERMINAL_BATCH = 200


# After a first signal, how long the run may take to write what completed.
_GRACE_SECONDS = 5.0


class UsageProblem(Exception):
    """A usage error found before any work starts; the CLI exits 2 with its message."""


def _check_writable(flag: str, path: Path | None) -> None:
    """Fail now, not after the run, if a file cannot be written (nothing is truncated)."""
    if path is None:
        return
    if path.is_dir():
        raise UsageProblem(f"{flag}: {str(path)!r} is a directory")
    if not path.parent.is_dir():
        raise UsageProblem(f"{flag}: no directory {str(path.parent)!r}")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise UsageProblem(f"{flag}: cannot write {str(path)!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """The output-side settings of a run: what the engine does not need to know."""

    sources: list[str]
    output_format: str = "text"
    output: Path | None = None
    summary_json: Path | None = None
    quiet: bool = False
    demo: bool = False
    resume: bool = False
    report: Path | None = None


class Run:
    """One invocation: checks usage on construction, then `execute()` returns the exit code."""

    def __init__(
        self, options: FetchOptions, settings: RunSettings, env: Environment | None = None
    ) -> None:
        self.settings = settings
        self.env = env or Environment()
        self.options = fit_open_files(options, lambda line: self.env.stderr.write(line + "\n"))
        self.sources = list(settings.sources)
        if not self.sources and not settings.demo:
            if self.env.stdin_isatty:
                raise UsageProblem("no URLs to read: give a file, or - for stdin (or try --demo)")
            self.sources = [STDIN]
        for name in self.sources:
            try:
                check_readable(name)
            except OSError as exc:
                raise UsageProblem(f"cannot read source {name!r}: {exc.strerror or exc}") from None
        if settings.demo and self.sources:
            raise UsageProblem("--demo reads no source: drop the file names, or drop --demo")
        _check_writable("--summary-json", settings.summary_json)
        self.summary = Summary()
        self.report = self._open_report()
        self.resume = self._load_resume()
        self.writer = ResultWriter(settings.output_format)
        self.sink = self._open_output()
        self.stats = SourceStats()
        self.console = make_console(self.env.stderr, bool(self.env.stderr_isatty))
        live = bool(self.env.stderr_isatty) and not settings.quiet
        self.status = StatusLine(self.console) if live else None
        # Batch result lines only when they share the terminal with the status line.
        self._batch: list[str] | None = (
            [] if live and settings.output is None and self.env.stdout_isatty else None
        )
        self.stop = asyncio.Event()
        self.interrupted: int | None = None
        self.broken_pipe = False
        self.input_error: str | None = None
        self.fatal: str | None = None
        self.demo_mismatches: list[str] = []
        self._expected: object = None

    def _open_report(self) -> Report | None:
        if self.settings.report is None:
            return None
        try:
            return open_report(self.settings.report)
        except ReportError as exc:
            raise UsageProblem(str(exc)) from None

    def _load_resume(self) -> ResumeState | None:
        settings = self.settings
        if not settings.resume:
            return None
        if settings.output is None or settings.output_format != "jsonl":
            raise UsageProblem("--resume needs -o FILE and --format jsonl")
        if settings.demo:
            raise UsageProblem("--resume does not combine with --demo")

        def take(result: FetchResult) -> None:  # earlier results count in summary and report
            self.summary.add(result)
            if self.report is not None:
                self.report.add(result)

        try:
            return resume.load(settings.output, self.sources, self.options.extract, take)
        except resume.ResumeError as exc:
            raise UsageProblem(str(exc)) from None
        except OSError as exc:
            name = str(settings.output)
            raise UsageProblem(f"--resume: cannot read {name!r}: {exc.strerror}") from None

    def _open_output(self) -> LineSink:
        path = self.settings.output
        if path is None or str(path) == "-":
            stream = self.env.stdout
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
            return LineSink(lambda: stream, owns_stream=False)
        _check_writable("-o/--output", path)
        mode = "a" if self.resume is not None else "w"
        # Opened on first use: a run that fails before any result leaves FILE as it was.
        return LineSink(lambda: path.open(mode, encoding="utf-8", newline=""), owns_stream=True)

    def execute(self) -> int:
        """Run to the end (or to a signal) and return the exit code."""
        code = asyncio.run(self._main())
        previous = {
            signum: signal.signal(signum, lambda n, _f: os._exit(128 + n))
            for signum in (signal.SIGINT, signal.SIGTERM)
        }  # while the last lines drain, a signal ends the process at once
        try:
            self.sink.close(create=self.input_error is None)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if self.sink.error is not None:
            self._warn(f"fetchcli: error: cannot write results: {self.sink.error}")
            return ExitCode.USAGE
        return code

    async def _main(self) -> int:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        work = asyncio.create_task(self._consume())
        ticker = asyncio.create_task(self._tick()) if self.status is not None else None
        handled = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._on_signal, signum, work)
                handled.append(signum)
        try:
            await work
        except asyncio.CancelledError:
            if self.interrupted is None:
                raise
        except BrokenPipeError:
            self._reader_gone()
        except OSError as exc:  # a source failed part-way: say so, keep what was done
            self.input_error = f"fetchcli: error: reading input failed: {exc}"
        except (CacheError, resume.ResumeError, SaveError) as exc:
            self.input_error = f"fetchcli: error: {exc}"
        except RuntimeError as exc:  # a --workers process died: finished results are written
            self.fatal = f"fetchcli: error: {exc}; rerun with --resume to finish"
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            if ticker is not None:
                ticker.cancel()
                await asyncio.wait({ticker})
            self._flush_batch()
            if self.status is not None:
                self.status.clear()
        figures = self.summary.to_dict(time.perf_counter() - started)
        await asyncio.to_thread(self._write_files, figures)
        return self._finish(figures)

    def _on_signal(self, signum: int, work: asyncio.Task[None]) -> None:
        if self.interrupted is not None:  # a second signal: stop at once
            os._exit(128 + signum)
        self.interrupted = signum
        # Stop the engine gently: in-flight requests are cancelled, and what
        # completed is still written. Whatever else the run is waiting on ends too.
        self.stop.set()
        asyncio.get_running_loop().call_later(_GRACE_SECONDS, work.cancel)

    async def _consume(self) -> None:
        if self.settings.demo:
            from fetchcli import demo

            async with demo.DemoSite() as site:
                urls = demo.demo_urls(site.base_url)
                self._expected = demo.expected_outcome
                if self.status is not None:
                    self.status.set_total(len(urls))
                try:
                    await self._fetch(self._strings("demo", urls))
                finally:
                    self.summary.excluded = self.stats.excluded
            return
        counting = threading.Event()
        if self.status is not None and STDIN not in self.sources and self._countable():
            self._count(counting)
        eager = STDIN in self.sources and stdin_is_stream()
        lines = iter_records(self.sources, self.options, self.stats)
        if self.resume is not None:
            lines = self.resume.pending(lines, by_url=self.options.extract)
        records = aiter_in_thread(lines, eager=eager)
        try:
            await self._fetch(records)
        finally:
            counting.set()
            self.summary.excluded = self.stats.excluded

    def _countable(self) -> bool:
        o = self.options
        return not (o.extract or o.unique or o.include or o.exclude)

    def _count(self, stop: threading.Event) -> None:
        """Count the records for the progress total in a thread that a stop ends at once."""
        loop = asyncio.get_running_loop()
        status = self.status
        assert status is not None

        def count() -> None:
            with contextlib.suppress(OSError):
                total = count_records(self.sources, self.options.shard, stop)
                if total is not None:
                    loop.call_soon_threadsafe(status.set_total, total)

        threading.Thread(target=count, name="fetchcli-count", daemon=True).start()

    async def _strings(self, source: str, urls: list[str]) -> AsyncIterator[UrlRecord]:
        rules = InputRules(self.options, self.stats)
        for number, url in enumerate(urls, start=1):
            for record in rules.records(source, number, url):
                yield record

    async def _fetch(self, records: AsyncIterator[UrlRecord]) -> None:
        if self.writer.header is not None and not (self.resume and self.resume.keys):
            await self._emit(self.writer.header)
        async with aclosing(fetch_stream(records, self.options, stop=self.stop)) as results:
            async for result in results:
                await self._take(result)

    async def _take(self, result: FetchResult) -> None:
        self.summary.add(result)
        if self.report is not None:
            self.report.add(result)
        if self._expected is not None:
            self._check_demo(result)
        line = self.writer.format(result)
        if line is not None:
            await self._emit(line)

    async def _emit(self, line: str) -> None:
        if self._batch is None:
            await self.sink.put(line)
            return
        self._batch.append(line + "\n")
        if len(self._batch) >= _TERMINAL_BATCH:
            self._flush_batch()

    def _flush_batch(self) -> None:
        if not self._batch:
            return
        if self.status is not None:
            self.status.clear()
        try:
            self.env.stdout.write("".join(self._batch))
            self.env.stdout.flush()
        except BrokenPipeError:
            self._reader_gone()
        if self._batch is not None:
            self._batch.clear()

    def _check_demo(self, result: FetchResult) -> None:
        want = self._expected(result.url, self.options)  # type: ignore[operator]
        got = (result.status, None if result.error is None else str(result.error))
        if got != want:
            self.demo_mismatches.append(f"{result.url}: expected {want}, got {got}")

    async def _tick(self) -> None:
        status = self.status
        assert status is not None
        while True:
            self._flush_batch()
            summary = self.summary
            status.update(
                done=summary.total, ok=summary.ok, failed=summary.failed, size=summary.bytes
            )
            status.draw()
            await asyncio.sleep(REFRESH_SECONDS)

    def _reader_gone(self) -> None:
        """stdout's reader went away: stop quietly, and keep exit-time flushes from failing."""
        self.broken_pipe = True
        self._batch = None
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.env.stdout.fileno())

    def _write_files(self, figures: dict[str, object]) -> None:
        """--summary-json and --report, written once the run has ended (off the event loop)."""
        interrupted = self.interrupted is not None
        if self.settings.summary_json is not None:
            text = json.dumps(figures, indent=2) + "\n"
            try:
                self.settings.summary_json.write_text(text, encoding="utf-8")
            except OSError as exc:
                self._warn(f"fetchcli: cannot write --summary-json: {exc.strerror}")
        if self.report is not None:
            try:
                self.report.finish(figures, interrupted=interrupted)
            except OSError as exc:
                self._warn(f"fetchcli: cannot write --report: {exc.strerror}")

    def _warn(self, message: str) -> None:
        self.console.print(Text(safe_text(message)), soft_wrap=True)

    def _finish(self, figures: dict[str, object]) -> int:
        nothing_done = self.input_error is not None and not self.summary.total
        if not self.settings.quiet and not self.broken_pipe and not nothing_done:
            print_summary(self.console, figures, interrupted=self.interrupted is not None)
            if self.settings.demo:
                self._report_demo()
        if self.input_error is not None:
            self._warn(self.input_error)
            return ExitCode.USAGE
        if self.fatal is not None:
            self._warn(self.fatal)
            return ExitCode.FAILED
        if self.interrupted is not None:
            return ExitCode.SIGINT if self.interrupted == signal.SIGINT else ExitCode.SIGTERM
        if self.broken_pipe:
            return ExitCode.BROKEN_PIPE
        if self.settings.demo:
            return ExitCode.FAILED if self.demo_mismatches else ExitCode.OK
        if self.summary.permanent:
            return ExitCode.FAILED
        return ExitCode.TRANSIENT if self.summary.transient else ExitCode.OK

    def _report_demo(self) -> None:
        if not self.demo_mismatches:
            self.console.print(
                Text(
                    f"demo: all {self.summary.total} URLs gave the result the demo site"
                    " is built to produce (404s, 500s and invalid lines included)",
                    style="green",
                )
            )
            return
        for line in self.demo_mismatches[:20]:
            self.console.print(Text(f"demo: unexpected result: {safe_text(line)}", style="red"))
