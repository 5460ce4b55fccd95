"""One run of the command: wires sources → engine → sinks, summary and terminal.

The CLI checks usage (`fetchcli.cli.usage`) and then builds a `Run` from
FetchOptions and `RunSettings` (the output-side flags); `execute()` prepares
the outputs (the only side effects before fetching), runs, and returns the
exit code (`fetchcli.cli.exitcodes`). Streams and terminal flags come from an
injectable `Environment`, so tests can fake a terminal; what is drawn or
printed there is the `Terminal`'s (and only it imports Rich, on first use).
Signals (`fetchcli.cli.signals`) cancel the fetching task only; flushing, the
summary and the exit code happen after it has stopped.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING

from fetchcli.api import fetch_stream
from fetchcli.cli.environment import Environment, fit_open_files
from fetchcli.cli.exitcodes import ExitCode, Outcome, exit_code
from fetchcli.cli.signals import GentleStop, exit_at_once_on_signal
from fetchcli.cli.terminal import Terminal
from fetchcli.cli.usage import RunSettings, UsageProblem, documents_to_read, sources_to_read
from fetchcli.engine.loop import run as run_loop
from fetchcli.model import FetchResult, Page, UrlRecord
from fetchcli.options import FetchOptions, Method
from fetchcli.sinks.failures import FailureList
from fetchcli.sinks.formats import make_formatter
from fetchcli.sinks.summary import Summary, SummaryFigures
from fetchcli.sinks.writer import LineSink
from fetchcli.sources.readers import (
    STDIN,
    aiter_in_thread,
    count_records,
    is_url_source,
    iter_records,
    stdin_is_stream,
)
from fetchcli.sources.rules import InputFilter, SourceStats

if TYPE_CHECKING:
    from fetchcli.demo.check import DemoCheck
    from fetchcli.sinks.report import Report
    from fetchcli.sinks.resume import ResumeState
    from fetchcli.sources.walk import Document


class Run:
    """One invocation, its usage already checked: `execute()` returns the exit code."""

    def __init__(
        self,
        options: FetchOptions,
        settings: RunSettings,
        env: Environment | None = None,
        *,
        documents: list[Document] | None = None,
    ) -> None:
        self.documents = documents  # an --extract run's, found by the usage checks
        self.settings = settings
        self.env = env or Environment()
        self.options = options
        self.sources = sources_to_read(settings, bool(self.env.stdin_isatty))
        self.summary = Summary()
        self.failures = FailureList()
        self.formatter = make_formatter(
            settings.output_format, bodiless=options.request.method is Method.HEAD
        )
        self.stats = SourceStats()
        self.terminal = Terminal(
            self.env, quiet=settings.quiet, results_on_stdout=settings.output is None
        )
        self.signals = GentleStop(asyncio.Event(), on_exit=self.terminal.abandon)
        self.pages: dict[str, Page] = {}  # --extract pages read for their links
        self.input_error: str | None = None
        self.fatal: str | None = None
        self.demo: DemoCheck | None = None
        self.report: Report | None = None
        self.resume: ResumeState | None = None
        self.sink: LineSink | None = None

    def execute(self) -> int:
        """Prepare the outputs, run to the end (or to a signal) and return the exit code.

        Raises UsageProblem when --resume finds a file it cannot continue.
        """
        self._prepare()
        assert self.sink is not None
        code = run_loop(self._main())
        with exit_at_once_on_signal():
            self.sink.close(create=self.input_error is None)
        if self.sink.error is not None:
            self.terminal.warn(f"fetchcli: error: cannot write results: {self.sink.error}")
            return ExitCode.USAGE
        return code

    def _prepare(self) -> None:
        """The side effects before fetching: file limit, --save, --report, --resume, output."""
        warn = self.env.stderr.write
        self.options = fit_open_files(self.options, lambda line: warn(line + "\n"))
        made = [self.options.request.save_dir] if self.options.request.save_dir else []
        for path in (self.settings.output, self.settings.summary_json, self.settings.report):
            if path is not None and str(path) != "-":
                made.append(str(path.parent))
        if self.options.cache is not None:
            made.append(os.path.dirname(self.options.cache))
        for folder in filter(None, made):  # missing folders are made, as `mkdir -p` would
            Path(folder).mkdir(parents=True, exist_ok=True)
        if self.settings.report is not None:
            from fetchcli.sinks.report import ReportError, open_report

            try:
                self.report = open_report(self.settings.report)
            except ReportError as exc:
                raise UsageProblem(str(exc)) from None
        if self.settings.resume:
            self.resume = self._load_resume()
        self.sink = self._open_output()
        if self.settings.demo:
            from fetchcli.demo.check import DemoCheck

            self.demo = DemoCheck(self.options)

    def _load_resume(self) -> ResumeState:
        """Read the earlier results (they count in summary and report); cut a partial last line."""
        from fetchcli.sinks import resume

        output = self.settings.output
        assert output is not None  # usage_problems() made sure

        def take(result: FetchResult) -> None:
            self.summary.add(result)
            self.failures.add(result)
            if self.report is not None:
                self.report.add(result)

        try:
            return resume.load(output, self.sources, self.options.rules.extract, take)
        except resume.ResumeError as exc:
            raise UsageProblem(str(exc)) from None
        except OSError as exc:
            raise UsageProblem(f"--resume: cannot read {str(output)!r}: {exc.strerror}") from None

    def _open_output(self) -> LineSink:
        path = self.settings.output
        if path is None or str(path) == "-":
            stream = self.env.stdout
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")
            return LineSink(lambda: stream, owns_stream=False)
        mode = "a" if self.resume is not None or self.settings.append else "w"
        # Opened on first use: a run that fails before any result leaves FILE as it was.
        return LineSink(lambda: path.open(mode, encoding="utf-8", newline=""), owns_stream=True)

    async def _main(self) -> int:
        started = time.perf_counter()
        work = asyncio.create_task(self._consume())
        self.terminal.start(self.summary)
        try:
            with self.signals.installed(work):
                await work
        except asyncio.CancelledError:
            if self.signals.received is None:
                raise
        except BrokenPipeError:
            self.terminal.reader_gone()
        except OSError as exc:  # a source failed part-way: say so, keep what was done
            if self.sink is None or exc is not self.sink.error:  # the sink's: told by execute
                self.input_error = f"fetchcli: error: reading input failed: {exc}"
        except _loaded(_PART_ERRORS) as exc:  # --cache, --resume or --save failed part-way
            self.input_error = f"fetchcli: error: {exc}"
        except _loaded(_WORKER_ERRORS) as exc:  # a --workers process died: results are written
            self.fatal = f"fetchcli: error: {exc}; rerun with --resume to finish"
        finally:
            await self.terminal.finish()
        figures = self.summary.figures(time.perf_counter() - started)
        await asyncio.to_thread(self._write_files, figures)
        return self._finish(figures)

    async def _consume(self) -> None:
        if self.settings.demo:
            from fetchcli.demo import site as demo

            async with demo.DemoSite() as site:
                urls = demo.demo_urls(site.base_url)
                if not self.settings.quiet:
                    self.terminal.warn(
                        f"demo: fetching {len(urls)} URLs from a small site served on"
                        f" {site.base_url} (fast and slow pages, 404s, 500s, redirects,"
                        " a large body, invalid lines): no network needed"
                    )
                self.terminal.set_total(len(urls))
                try:
                    await self._fetch(self._strings("demo", urls))
                finally:
                    self.summary.excluded = self.stats.excluded
            return
        if self.options.rules.extract:
            documents = await self._documents()
            try:
                await self._fetch(aiter_in_thread(documents))
            finally:
                self.summary.excluded = self.stats.excluded
            return
        counting = threading.Event()
        if self._files_size() is not None and self._countable():
            sources, shard = self.sources, self.options.rules.shard
            self.terminal.count_total(lambda: count_records(sources, shard, counting))
        stdin = self.env.stdin
        eager = STDIN in self.sources and stdin_is_stream(stdin)
        lines = iter_records(self.sources, self.options.rules, self.stats, stdin)
        if self.resume is not None:
            lines = self.resume.pending(lines, by_url=self.options.rules.extract)
        records = aiter_in_thread(lines, eager=eager)
        try:
            await self._fetch(records)
        finally:
            counting.set()
            self.summary.excluded = self.stats.excluded

    async def _documents(self) -> Iterator[UrlRecord]:
        """--extract: the records of the links in every document (pages fetched first)."""
        env, options = self.env, self.options
        documents = self.documents
        if documents is None:
            tty = bool(env.stdin_isatty)
            found = await asyncio.to_thread(documents_to_read, options, self.settings, tty)
            documents = found[0]
        urls = [d.url for d in documents if d.url is not None]
        if urls and not options.documents.offline:
            from fetchcli.http.page import fetch_pages

            self.pages = await fetch_pages(urls, options.request)
        from fetchcli.sources.extract import document_records  # Markdown parser: when needed

        records = document_records(
            documents, options.rules, options.documents, self.stats, env.stdin, self.pages
        )
        if self.resume is not None:
            records = self.resume.pending(records, by_url=True)
        return records

    def _countable(self) -> bool:
        return not self.options.rules.filters

    async def _strings(self, source: str, urls: list[str]) -> AsyncIterator[UrlRecord]:
        rules = InputFilter(self.options.rules, self.stats)
        for number, url in enumerate(urls, start=1):
            for record in rules.records(source, number, url):
                yield record

    async def _fetch(self, records: AsyncIterator[UrlRecord]) -> None:
        if self.settings.dump:
            await self._dump(records)
            return
        header = self.formatter.header()
        appended = self.settings.append and _has_content(self.settings.output)
        if header is not None and not (self.resume and self.resume.keys) and not appended:
            await self._emit(header)
        stop = self.signals.stop
        work = fetch_stream(
            records,
            self.options,
            stop=stop,
            in_flight=self.terminal.in_flight,
            pages=self.pages.values(),
        )
        async with aclosing(work) as results:
            async for result in results:
                await self._take(result)
        footer = self.formatter.footer()
        if footer is not None:
            await self._emit(footer)

    async def _dump(self, records: AsyncIterator[UrlRecord]) -> None:
        """--dump: the links that would be checked, in --format, and nothing fetched."""
        from fetchcli.sinks.dump import dump_header, dump_line

        fmt = self.settings.output_format
        header = dump_header(fmt)
        if header is not None:
            await self._emit(header)
        async for record in records:
            line = dump_line(record, fmt)
            if line is not None:
                await self._emit(line)

    async def _take(self, result: FetchResult) -> None:
        self.summary.add(result)
        self.failures.add(result)
        if self.report is not None:
            self.report.add(result)
        if self.demo is not None:
            self.demo.add(result)
        line = self.formatter.line(result)
        if line is not None:
            await self._emit(line)

    async def _emit(self, line: str) -> None:
        if not self.terminal.hold(line):
            assert self.sink is not None
            await self.sink.put(line)

    def _write_files(self, figures: SummaryFigures) -> None:
        """--summary-json and --report, written once the run has ended (off the event loop)."""
        interrupted = self.signals.received is not None
        if self.settings.summary_json is not None:
            import json

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
        interrupted = self.signals.received is not None
        nothing_done = self.input_error is not None and not self.summary.total
        quiet = self.settings.quiet or self.settings.dump
        if not quiet and not self.terminal.broken_pipe and not nothing_done:
            self.terminal.print_summary(figures, interrupted=interrupted)
            self.terminal.print_failures(self.failures.lines(), count=self.failures.count)
            if self.demo is not None:
                self.terminal.report_demo(self.summary.total, self.demo.mismatches)
        for message in (self.input_error, self.fatal, self._empty(), self._interrupted()):
            if message is not None:
                self.terminal.warn(message)
        return exit_code(
            Outcome(
                input_error=self.input_error is not None,
                fatal=self.fatal is not None,
                signal=self.signals.received,
                broken_pipe=self.terminal.broken_pipe,
                demo_passed=None if self.demo is None else self.demo.passed,
                permanent=self.summary.permanent,
                transient=self.summary.transient,
            )
        )

    def _empty(self) -> str | None:
        """A warning for a run that had nothing to do: its input held no URL (or no link)."""
        if self.summary.total or self.input_error or self.fatal or self.signals.received:
            return None
        if self.settings.dump:
            return None
        if self.summary.excluded:
            return f"fetchcli: warning: every URL was excluded ({self.summary.excluded})"
        what = "no link in the documents" if self.options.rules.extract else "no URL in the input"
        return f"fetchcli: warning: {what}; nothing was checked"

    def _interrupted(self) -> str | None:
        """After a stop: how much was done, and the command that finishes the run."""
        if self.signals.received is None:
            return None
        count, total = self.summary.total, self._total()
        if total is None or total < count:
            done = f"fetchcli: stopped after {count} results; the rest were not done"
        else:
            done = f"fetchcli: stopped after {count} of {total} results; {total - count} not done"
        settings = self.settings
        if settings.output is None or settings.output_format.value != "jsonl" or settings.demo:
            return done
        return f"{done}; finish the run with: {_resume_command()}"

    def _total(self) -> int | None:
        """How many results the whole input holds, when that can be known quickly.

        The live line counted it already; otherwise only regular files are counted (a pipe
        or FIFO cannot be read again), and only small ones: a stopped run ends at once.
        """
        if self.resume is not None:  # the input holds lines done in an earlier run too
            return None
        if self.terminal.total is not None:
            return self.terminal.total
        if self.options.rules.extract or not self._countable():
            return None
        size = self._files_size()
        if size is None or size > _COUNTED_AFTER_A_STOP:
            return None
        try:
            return count_records(self.sources, self.options.rules.shard)
        except OSError:
            return None

    def _files_size(self) -> int | None:
        """The total size of the sources when all can be read again (files, URLs), else None.

        stdin, a FIFO or `<(cmd)` is read once, by the run: counting it would take its lines.
        """
        size = 0
        for source in self.sources:
            if source == STDIN:
                return None
            if is_url_source(source):
                continue
            try:
                found = os.stat(source)
            except OSError:
                return None
            if not stat.S_ISREG(found.st_mode):
                return None
            size += found.st_size
        return size


# Input counted after a stop to say how much was not done (about 0.1 s of counting).
_COUNTED_AFTER_A_STOP = 8 * 1024 * 1024


def _resume_command() -> str:
    """This command line with --resume: it skips what the -o FILE already holds."""
    import shlex

    args = [arg for arg in sys.argv[1:] if arg not in ("--resume", "--append")]
    return shlex.join(["fetchcli", *args, "--resume"])


# The errors of parts that only some runs use, named by module, so that a run does not import
# sqlite3 (--cache) or pickle (--workers) just to name an error: one whose module was never
# imported was never raised.
_PART_ERRORS = (
    ("fetchcli.sinks.cache", "CacheError"),
    ("fetchcli.sinks.resume", "ResumeError"),
    ("fetchcli.http.save", "SaveError"),
)
_WORKER_ERRORS = (("fetchcli.engine.workers", "WorkerError"),)


def _loaded(errors: tuple[tuple[str, str], ...]) -> tuple[type[Exception], ...]:
    """The error classes among `errors` whose modules are imported (an except clause's tuple)."""
    return tuple(getattr(sys.modules[name], error) for name, error in errors if name in sys.modules)


def _has_content(path: Path | None) -> bool:
    """Whether an --append file already holds lines (then a csv header is not repeated)."""
    try:
        return path is not None and path.stat().st_size > 0
    except OSError:
        return False
