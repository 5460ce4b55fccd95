"""One run of the command: wires sources → engine → writer, summary and terminal.

The CLI builds a `Run` from FetchOptions and `RunSettings` (the output-side
flags) and calls `execute()`, which returns the exit code. Streams and
terminal flags come from an injectable `Environment`, so tests can fake a
terminal; what is drawn or printed there is the `Terminal`'s (and only it
imports Rich, on first use). Signals cancel the fetching task only; flushing,
the summary and the exit code happen after it has stopped.
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
from typing import TYPE_CHECKING

from fetchcli.api import fetch_stream
from fetchcli.cli.environment import Environment, fit_open_files
from fetchcli.cli.exitcodes import ExitCode
from fetchcli.cli.terminal import Terminal
from fetchcli.http.save import SaveError
from fetchcli.model import FetchResult, UrlRecord
from fetchcli.options import FetchOptions
from fetchcli.sinks import resume
from fetchcli.sinks.cache import CacheError
from fetchcli.sinks.formats import Format, make_formatter
from fetchcli.sinks.resume import ResumeState
from fetchcli.sinks.summary import Summary, SummaryFigures
from fetchcli.sinks.writer import LineSink
from fetchcli.sources.readers import (
    STDIN,
    aiter_in_thread,
    check_readable,
    count_records,
    iter_records,
    stdin_is_stream,
)
from fetchcli.sources.rules import InputFilter, SourceStats

if TYPE_CHECKING:
    from fetchcli.sinks.report import Report

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
    output_format: Format = Format.TEXT
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
        self.formatter = make_formatter(settings.output_format)
        self.sink = self._open_output()
        self.stats = SourceStats()
        self.terminal = Terminal(
            self.env, quiet=settings.quiet, results_on_stdout=settings.output is None
        )
        self.stop = asyncio.Event()
        self.interrupted: int | None = None
        self.input_error: str | None = None
        self.fatal: str | None = None
        self.demo_mismatches: list[str] = []
        self._expected: object = None

    def _open_report(self) -> Report | None:
        if self.settings.report is None:
            return None
        from fetchcli.sinks.report import ReportError, open_report

        try:
            return open_report(self.settings.report)
        except ReportError as exc:
            raise UsageProblem(str(exc)) from None

    def _load_resume(self) -> ResumeState | None:
        settings = self.settings
        if not settings.resume:
            return None
        if settings.output is None or settings.output_format != Format.JSONL:
            raise UsageProblem("--resume needs -o FILE and --format jsonl")
        if settings.demo:
            raise UsageProblem("--resume does not combine with --demo")
        twice = sorted({name for name in self.sources if self.sources.count(name) > 1})
        if twice:  # a result names its (source, line): the two could not be told apart
            raise UsageProblem(f"--resume: source {twice[0]!r} is given twice")

        def take(result: FetchResult) -> None:  # earlier results count in summary and report
            self.summary.add(result)
            if self.report is not None:
                self.report.add(result)

        try:
            return resume.load(settings.output, self.sources, self.options.rules.extract, take)
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
            self.terminal.warn(f"fetchcli: error: cannot write results: {self.sink.error}")
            return ExitCode.USAGE
        return code

    async def _main(self) -> int:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        work = asyncio.create_task(self._consume())
        self.terminal.start(self.summary)
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
            self.terminal.reader_gone()
        except OSError as exc:  # a source failed part-way: say so, keep what was done
            self.input_error = f"fetchcli: error: reading input failed: {exc}"
        except (CacheError, resume.ResumeError, SaveError) as exc:
            self.input_error = f"fetchcli: error: {exc}"
        except RuntimeError as exc:  # a --workers process died: finished results are written
            self.fatal = f"fetchcli: error: {exc}; rerun with --resume to finish"
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            await self.terminal.finish()
        figures = self.summary.figures(time.perf_counter() - started)
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
            from fetchcli.demo import site as demo

            async with demo.DemoSite() as site:
                urls = demo.demo_urls(site.base_url)
                self._expected = demo.expected_outcome
                self.terminal.set_total(len(urls))
                try:
                    await self._fetch(self._strings("demo", urls))
                finally:
                    self.summary.excluded = self.stats.excluded
            return
        counting = threading.Event()
        if STDIN not in self.sources and self._countable():
            sources, shard = self.sources, self.options.rules.shard
            self.terminal.count_total(lambda: count_records(sources, shard, counting))
        eager = STDIN in self.sources and stdin_is_stream()
        lines = iter_records(self.sources, self.options.rules, self.stats)
        if self.resume is not None:
            lines = self.resume.pending(lines, by_url=self.options.rules.extract)
        records = aiter_in_thread(lines, eager=eager)
        try:
            await self._fetch(records)
        finally:
            counting.set()
            self.summary.excluded = self.stats.excluded

    def _countable(self) -> bool:
        return not self.options.rules.filters

    async def _strings(self, source: str, urls: list[str]) -> AsyncIterator[UrlRecord]:
        rules = InputFilter(self.options.rules, self.stats)
        for number, url in enumerate(urls, start=1):
            for record in rules.records(source, number, url):
                yield record

    async def _fetch(self, records: AsyncIterator[UrlRecord]) -> None:
        header = self.formatter.header()
        if header is not None and not (self.resume and self.resume.keys):
            await self._emit(header)
        async with aclosing(fetch_stream(records, self.options, stop=self.stop)) as results:
            async for result in results:
                await self._take(result)
        footer = self.formatter.footer()
        if footer is not None:
            await self._emit(footer)

    async def _take(self, result: FetchResult) -> None:
        self.summary.add(result)
        if self.report is not None:
            self.report.add(result)
        if self._expected is not None:
            self._check_demo(result)
        line = self.formatter.line(result)
        if line is not None:
            await self._emit(line)

    async def _emit(self, line: str) -> None:
        if not self.terminal.hold(line):
            await self.sink.put(line)

    def _check_demo(self, result: FetchResult) -> None:
        want = self._expected(result.url, self.options)  # type: ignore[operator]
        got = (result.status, None if result.error is None else str(result.error))
        if got != want:
            self.demo_mismatches.append(f"{result.url}: expected {want}, got {got}")

    def _write_files(self, figures: SummaryFigures) -> None:
        """--summary-json and --report, written once the run has ended (off the event loop)."""
        interrupted = self.interrupted is not None
        if self.settings.summary_json is not None:
            text = json.dumps(figures.to_json(), indent=2) + "\n"
            try:
                self.settings.summary_json.write_text(text, encoding="utf-8")
            except OSError as exc:
                self.terminal.warn(f"fetchcli: cannot write --summary-json: {exc.strerror}")
        if self.report is not None:
            try:
                self.report.finish(figures, interrupted=interrupted)
            except OSError as exc:
                self.terminal.warn(f"fetchcli: cannot write --report: {exc.strerror}")

    def _finish(self, figures: SummaryFigures) -> int:
        nothing_done = self.input_error is not None and not self.summary.total
        if not self.settings.quiet and not self.terminal.broken_pipe and not nothing_done:
            self.terminal.print_summary(figures, interrupted=self.interrupted is not None)
            if self.settings.demo:
                self.terminal.report_demo(self.summary.total, self.demo_mismatches)
        if self.input_error is not None:
            self.terminal.warn(self.input_error)
            return ExitCode.USAGE
        if self.fatal is not None:
            self.terminal.warn(self.fatal)
            return ExitCode.FAILED
        if self.interrupted is not None:
            return ExitCode.SIGINT if self.interrupted == signal.SIGINT else ExitCode.SIGTERM
        if self.terminal.broken_pipe:
            return ExitCode.BROKEN_PIPE
        if self.settings.demo:
            return ExitCode.FAILED if self.demo_mismatches else ExitCode.OK
        if self.summary.permanent:
            return ExitCode.FAILED
        return ExitCode.TRANSIENT if self.summary.transient else ExitCode.OK
