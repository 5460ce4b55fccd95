"""Whole-run reports for `--report FILE`: Markdown (a CI job summary) or JUnit XML.

A report only observes: `add()` is called once per result as the run goes and
`finish()` writes the file when it ends. Per-result text is spooled to an
unnamed temporary file beside the report, so memory does not grow with the
number of URLs, and the report appears whole or not at all (`os.replace`).

The Markdown report groups failures by source and sorts them by line: each is
spooled with its sort key, and `finish()` reads the spool once, keeping only the
rows that fit under the size cap (a bounded heap), so memory stays bounded.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Protocol, TextIO
from xml.sax.saxutils import escape, quoteattr

from fetchcli.model import FetchResult
from fetchcli.sinks.failures import FailureOrder, OrderKey, first_in_order
from fetchcli.sinks.formats import status_label
from fetchcli.sinks.summary import SummaryFigures
from fetchcli.text import human_size, redact_text, redact_url, safe_text

# Lone surrogates (from undecodable input) cannot be encoded as UTF-8 strictly.
_ENCODING_ERRORS = "backslashreplace"
# Markdown-active characters in a table cell: `|` splits cells, `<`/`>`/`&` open
# HTML or entities, the rest make code, emphasis, links or strike-through.
_MD_CELL = str.maketrans(
    {char: "\\" + char for char in "\\|`*_[]~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)
# Illegal in XML 1.0 (C0 but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF), plus DEL
# and C1, which are legal but discouraged and act as terminal controls when a CI
# prints the failure text. Written as the characters it takes, not as the negation of
# the legal ranges, which takes ~10 ms to compile: every run with --report pays for it.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# GitHub drops a job summary over 1 MiB: failure rows and their headings stay
# under this, which leaves room for the head (at most ~1000 status-code rows).
_FAILURE_BYTES = 900 * 1024
_CAPPED_NOTE = "more failures not shown (the report is capped under 1 MiB; see --format jsonl)"
_FAILURE_TABLE = "| line | status | url | message |\n|---|---|---|---|\n"


class ReportError(ValueError):
    """A `--report FILE` that cannot be written; the message is one line naming the flag."""


class Report(Protocol):
    """A whole-run report sink.

    Usage: `report = open_report(path)`; `report.add(result)` per result; then
    `report.finish(summary.figures(wall), interrupted)` (blocking file I/O: run it
    in `asyncio.to_thread` from the event loop), or `report.discard()` on error.
    """

    def add(self, result: FetchResult) -> None: ...

    def finish(self, figures: SummaryFigures, interrupted: bool = False) -> None: ...

    def discard(self) -> None: ...


class _SpooledReport:
    """Spools one entry per result to a temporary file; `finish()` wraps it in head and tail."""

    description: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results = 0
        self.failures = 0
        self._started = datetime.now(UTC)
        try:
            # Beside the report, not in /tmp: /tmp may be RAM (tmpfs), and a
            # directory we cannot write is found before the run, not after it.
            self._spool: TextIO = tempfile.TemporaryFile(  # noqa: SIM115 - closed by discard()
                "w+",
                encoding="utf-8",
                errors=_ENCODING_ERRORS,
                newline="",
                dir=path.parent,
                prefix=".fetchcli-report-",
            )
        except OSError as exc:
            raise ReportError(f"--report FILE cannot be written: {safe_text(str(exc))}") from exc

    def add(self, result: FetchResult) -> None:
        """Count one result and spool its entry."""
        self.results += 1
        if not result.ok:
            self.failures += 1
        entry = self._entry(result)
        if entry:
            self._spool.write(entry)

    def finish(self, figures: SummaryFigures, interrupted: bool = False) -> None:
        """Write the whole report atomically, then drop the spool."""
        try:
            self._spool.flush()
            self._spool.seek(0)
            _write_atomically(self.path, lambda out: self._render(out, figures, interrupted))
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop the spool without writing the report."""
        self._spool.close()

    def _entry(self, result: FetchResult) -> str:
        raise NotImplementedError

    def _render(self, out: TextIO, figures: SummaryFigures, interrupted: bool) -> None:
        raise NotImplementedError


class MarkdownReport(_SpooledReport):
    """Totals, counts, latency and the failures by file; fit for `$GITHUB_STEP_SUMMARY`.

    Failures are grouped by source (first-seen order) and sorted by line and
    column, permanent ones under `## Failures`, transient ones apart under
    `## Transient failures`; rows past the 1 MiB cap are counted in a note.
    """

    description = "Markdown"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._order = FailureOrder()

    def _entry(self, result: FetchResult) -> str:
        self._order.see(result)
        if result.ok:
            return ""
        where = str(result.line) if result.column is None else f"{result.line}:{result.column}"
        message = redact_text(result.message or "")
        cells = (where, status_label(result), redact_url(result.url), message)
        row = "| " + " | ".join(_md_cell(cell) for cell in cells) + " |"
        return self._order.spool_line(result, row)

    def _render(self, out: TextIO, figures: SummaryFigures, interrupted: bool) -> None:
        totals = [
            f"**{figures.total} results**",
            f"{figures.ok} ok",
            f"{figures.failed} failed",
            f"{figures.excluded} excluded",
            human_size(figures.bytes),
            f"wall {figures.wall:.2f}s",
            f"{figures.rps:.1f} req/s",
        ]
        if interrupted:
            totals.append("**interrupted**: only results completed before the stop")
        out.write("# fetchcli report\n\n" + " · ".join(totals) + "\n\n")
        out.write("| counted by | value | count |\n|---|---|---:|\n")
        for code, count in figures.by_status.items():
            out.write(f"| status | {_md_cell(str(code))} | {count} |\n")
        for kind, count in figures.by_error.items():
            out.write(f"| error | {_md_cell(str(kind))} | {count} |\n")
        latency = figures.latency.items()
        out.write("\n| latency | " + " | ".join(name for name, _ in latency) + " |\n")
        out.write("|---" + "|---:" * len(latency) + "|\n")
        out.write("| seconds | " + " | ".join(_seconds(value) for _, value in latency) + " |\n")
        if not self.failures:
            out.write("\n## Failures (0)\n\nNo failures: every result was ok.\n")
            return
        self._render_failures(out)

    def _render_failures(self, out: TextIO) -> None:
        """A section per kind of failure (permanent, transient), each with a table per source."""
        rows = first_in_order(self._spool, _FAILURE_BYTES)
        sections = (
            ("Failures", self.failures - self._order.transient, [r for r in rows if not r[0][0]]),
            ("Transient failures", self._order.transient, [r for r in rows if r[0][0]]),
        )
        left = _FAILURE_BYTES
        for title, total, chosen in sections:
            if not total:
                continue
            out.write(f"\n## {title} ({total})\n")
            shown, left = self._write_tables(out, chosen, left)
            if shown < total:
                out.write(f"\n… {total - shown} {_CAPPED_NOTE}\n")

    def _write_tables(
        self, out: TextIO, rows: list[tuple[OrderKey, str]], left: int
    ) -> tuple[int, int]:
        """Rows under a heading per source, while they fit in `left` bytes: (shown, left)."""
        source = -1
        for shown, (key, row) in enumerate(rows):
            block = row + "\n"
            if key[1] != source:
                heading = _md_cell(self._order.sources.names[key[1]]).replace("#", "\\#")
                block = f"\n### {heading}\n\n{_FAILURE_TABLE}{block}"
            size = len(block.encode("utf-8", _ENCODING_ERRORS))
            if size > left:
                return shown, 0  # nothing after a cut row is shown, in this section or the next
            out.write(block)
            left -= size
            source = key[1]
        return len(rows), left


class JUnitReport(_SpooledReport):
    """One test case per result and a failure element for each failed one."""

    description = "JUnit XML"

    def _entry(self, result: FetchResult) -> str:
        where = f"{result.source}:{result.line}"
        if result.column is not None:
            where += f":{result.column}"
        name = f"{where} {redact_url(result.url)}"
        # file/line: what CI annotation tools (GitLab, Jenkins, action reporters) read.
        attrs = (
            f"classname={_attr(result.source)} name={_attr(name)} file={_attr(result.source)}"
            f' line="{result.line}" time="{result.elapsed:.3f}"'
        )
        if result.ok:
            return f"    <testcase {attrs}/>\n"
        status = status_label(result)
        text = redact_text(result.message or "")
        message = f"{status}: {text}" if text else status
        final_url = redact_url(result.final_url) if result.final_url else "-"
        detail = (
            f"status: {status}\nmessage: {text or '-'}\n"
            f"final_url: {final_url}\nattempts: {result.attempts}"
        )
        kind = str(result.error) if result.error is not None else "failed"
        failure = f"<failure message={_attr(message)} type={_attr(kind)}>{_text(detail)}</failure>"
        return f"    <testcase {attrs}>\n      {failure}\n    </testcase>\n"

    def _render(self, out: TextIO, figures: SummaryFigures, interrupted: bool) -> None:
        counts = (
            f'tests="{self.results}" failures="{self.failures}" errors="0" skipped="0" '
            f'time="{figures.wall:.3f}"'
        )
        # The JUnit schema's timestamp has no zone; it is UTC.
        stamp = self._started.strftime("%Y-%m-%dT%H:%M:%S")
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(f'<testsuites name="fetchcli" {counts}>\n')
        out.write(f'  <testsuite name="fetchcli" {counts} timestamp="{stamp}">\n')
        if interrupted:
            out.write('    <properties><property name="interrupted" value="true"/></properties>\n')
        shutil.copyfileobj(self._spool, out)
        out.write("  </testsuite>\n</testsuites>\n")


REPORTS: dict[str, type[_SpooledReport]] = {".md": MarkdownReport, ".xml": JUnitReport}


def open_report(path: Path) -> Report:
    """Pick the report for `path` by suffix; nothing is written until `finish()`.

    Usage: `report = open_report(Path("links.xml"))`; raises ReportError on a bad path.
    """
    shown = safe_text(str(path))
    kind = REPORTS.get(path.suffix.lower())
    if kind is None:
        choices = " or ".join(f"{suffix} ({cls.description})" for suffix, cls in REPORTS.items())
        raise ReportError(f"--report FILE must end in {choices}, got '{shown}'")
    if not path.parent.is_dir():
        raise ReportError(
            f"--report FILE: directory '{safe_text(str(path.parent))}' does not exist"
        )
    if path.is_dir():
        raise ReportError(f"--report FILE: '{shown}' is a directory")
    return kind(path)


def _write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write a sibling temp file, then rename it over `path`: readers never see half a report."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the mode, as for any new file.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8", errors=_ENCODING_ERRORS, newline="") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _md_cell(text: str | None) -> str:
    """Untrusted text as one inert Markdown table cell: no new rows, cells, HTML or markup."""
    if not text:
        return "-"
    return safe_text(text).translate(_MD_CELL)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _xml_clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def _attr(text: str) -> str:
    return quoteattr(_xml_clean(text))


def _text(text: str) -> str:
    return escape(_xml_clean(text))
