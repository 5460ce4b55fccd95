"""The benchmark's Markdown report: sections, tables, import-time summary, commands."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from _clients import Client, Job
from _machine import machine_lines
from _report import Cell, memory_table, startup_table, sweep_table, targets_table, throughput_table
from _servers import Server
from _settings import CONCURRENCY, Settings, workloads


def summarize_importtime(text: str, exit_code: int) -> str:
    """Total import time, module count, heavy modules loaded, top-level imports by time."""
    rows: list[tuple[int, int, str]] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        parts = line.split("|")
        if len(parts) != 3:
            continue
        self_us = int(parts[0].split(":")[1])
        level = len(parts[2]) - len(parts[2].lstrip()) - 1
        rows.append((self_us, int(parts[1]), parts[2].strip() if level == 0 else ""))
    names = {line.split("|")[2].strip() for line in text.splitlines() if line.count("|") == 2}
    heavy = [
        m for m in ("httpx", "httpcore", "rich", "rich.progress", "typer", "aiohttp") if m in names
    ]
    top = sorted((r for r in rows if r[2]), key=lambda r: -r[1])[:6]
    listed = ", ".join(f"{name} {cum / 1000:.1f}" for _, cum, name in top)
    status = "" if exit_code == 0 else f" (exit code {exit_code})"
    return (
        f"{sum(r[0] for r in rows) / 1000:.1f} ms importing {len(rows)} modules{status}; "
        f"loads {', '.join(heavy) or 'none of httpx/httpcore/rich/typer/aiohttp'}; "
        f"slowest top-level imports (cumulative ms): {listed}"
    )


def commands_lines(clients: dict[str, Client], python: str) -> list[str]:
    """How each client is run, with placeholders, for anyone repeating a row by hand."""
    job = Job(
        urls=Path("URLFILE"),
        curl_config=Path("URLFILE.curl"),
        n=0,
        size=0,
        concurrency=CONCURRENCY,
        scratch=Path("RUNDIR"),
    )
    lines = []
    for client in clients.values():
        argv = [Path(a).name if a == python else a for a in client.argv(job)]
        shown = shlex.join(argv).replace(str(Path(__file__).parent), "benchmarks")
        lines.append(f"- {client.label}: `{shown}`")
    return lines


def render(
    *,
    settings: Settings,
    clients: dict[str, Client],
    python: str,
    floor_mib: float,
    server: Server,
    results: dict[str, list[Cell]],
    imports: list[str],
) -> str:
    """The whole Markdown report."""
    s = settings
    sweep_ref = CONCURRENCY if CONCURRENCY in s.sweep else s.sweep[0]
    out = ["# fetchcli benchmark", "", "## Machine", "", *machine_lines(), ""]
    out += ["## Server", "", f"- {server.kind}: {server.description}", f"- {server.base_url}", ""]
    out += [
        "## Method",
        "",
        f"- settings: {s.preset}; {s.repeat} repetition(s) per cell, interleaved "
        "(round-robin across clients, each repetition starting one client later); "
        f"medians of correct runs; best = `{s.best_args}`",
        "- every client is a separate process, started and reaped with `os.wait4` by the small "
        "helper `benchmarks/_spawn.py`: wall = spawn to reap; CPU = user + sys of the client "
        "and the processes it reaped; peak RSS = ru_maxrss (the largest single process, not a "
        "sum over worker processes). Linux counts the image a child was forked from in its "
        f"ru_maxrss, so no run can show less than the helper's {floor_mib:.1f} MiB "
        "(measured with `true`); such rows show `≤` that floor",
        "- req/s = N ÷ wall; CPU s / 1000 req includes interpreter start-up",
        "- × curl wall = this client's wall ÷ curl's wall in the same repetition "
        "(curl = 1.00, bigger is slower); × textbook req/s = this client's req/s ÷ the "
        "textbook client's in the same repetition (bigger is faster); ratios are medians "
        "of per-repetition ratios",
        "- a run counts only if every URL got status 200 with its full body "
        "(curl: `-w '%{http_code} %{size_download}'` lines; scripts: their JSON counts; "
        "fetchcli: `--summary-json` ok and bytes) and the client exited 0",
        "- the server shares the 2 cores with the client: absolute numbers are lower than "
        "on separate machines; compare ratios",
        "",
    ]
    for workload in workloads(s):
        cells = results.get(workload.key, [])
        if workload.key == "sweep":
            out += [f"## {workload.title}", "", *sweep_table(cells, sweep_ref, floor_mib), ""]
        else:
            out += [f"## {workload.title}", "", *throughput_table(cells, floor_mib), ""]
    if "startup" in s.only:
        out += ["## Start-up", "", f"Medians of {s.startup_runs} runs each, interleaved.", ""]
        out += [
            *startup_table(results.get("startup", []), floor_mib),
            "",
            "`python -X importtime`, one run each:",
            "",
        ]
        out += [*imports, ""]
    if "memory" in s.only:
        points = ", ".join(f"{n:,}" for n in s.memory) or "none (--tiny or --memory-points)"
        out += [
            "## Memory curve",
            "",
            f"`python -m fetchcli URLFILE -q --format none -c {CONCURRENCY} --mode queue`, "
            f"one run per point ({points}); URL files streamed to disk.",
            "",
            *memory_table(results.get("memory", []), floor_mib),
            "",
        ]
    out += ["## Targets (issue 4)", "", *targets_table(results, sweep_ref), ""]
    out += ["## Commands", "", *commands_lines(clients, python), ""]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    out += [f"Load average (1/5/15 min) at the end: {load}", ""]
    return "\n".join(out)
