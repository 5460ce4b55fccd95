"""benchmarks/run.py runs end to end with tiny N and reports every row (numbers or why not)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
NUMBER = re.compile(r"^[\d,]+(\.\d+)?$")
# The column that holds a row's headline number, by table.
HEADLINE = ("req/s", "wall ms", "peak RSS MiB")


def run_benchmark(tmp_path: Path, *args: str) -> str:
    """Run the benchmark with the tiny preset and return the report it wrote."""
    report = tmp_path / "report.md"
    done = subprocess.run(
        [sys.executable, str(RUN), "--tiny", "--output", str(report), *args],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = report.read_text(encoding="utf-8")
    assert done.stdout.strip() == text.strip()
    return text


def tables(report: str) -> dict[str, list[dict[str, str]]]:
    """Each Markdown table under its `## ` heading, as rows of {column: cell}."""
    found: dict[str, list[dict[str, str]]] = {}
    heading, header = "", None
    for line in report.splitlines():
        if line.startswith("## "):
            heading, header = line[3:], None
        elif line.startswith("|---"):
            continue
        elif line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if header is None:
                header = cells
                found[heading] = []
            else:
                found[heading].append(dict(zip(header, cells, strict=True)))
        else:
            header = None
    return found


def assert_rows_explained(rows: list[dict[str, str]]) -> None:
    """Every row has its headline number, or a note saying why it was skipped."""
    assert rows
    for row in rows:
        column = next(c for c in HEADLINE if c in row)
        note = row.get("note", "")
        assert NUMBER.match(row[column]) or note.startswith("skipped:"), row
        assert "FAILED" not in note, row


def test_tiny_run_reports_every_table(tmp_path: Path) -> None:
    report = run_benchmark(tmp_path)
    found = tables(report)
    wanted = ["× 1 KiB, c=50", "× 100 KiB, c=50", "Concurrency sweep", "Start-up", "Memory curve"]
    for name in wanted:
        heading = next((h for h in found if name in h), None)
        assert heading is not None, f"no table for {name}"
        assert_rows_explained(found[heading])
    assert "## Machine" in report and "## Targets (issue 4)" in report
    clients = {row["client"] for row in found[next(h for h in found if "× 1 KiB" in h)]}
    assert "`fetchcli --mode queue`" in clients and "`fetchcli --mode gather`" in clients


def test_fallback_server_is_used_when_forced(tmp_path: Path) -> None:
    report = run_benchmark(tmp_path, "--server", "fallback", "--only", "1k,sweep")
    server = report.split("## Server", 1)[1].split("##", 1)[0]
    assert "fallback_server.py" in server and "nginx/" not in server
    found = tables(report)
    for heading in (h for h in found if "KiB" in h):
        assert_rows_explained(found[heading])
