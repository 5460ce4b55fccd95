"""Benchmark fetchcli beside curl, textbook httpx and raw aiohttp on a local nginx.

Starts nginx on 127.0.0.1 (a free port, generated config and files in a temp
dir; falls back to benchmarks/fallback_server.py when nginx is absent), runs
every client as a separate process measured with os.wait4 (wall, CPU = user +
sys, peak RSS), checks that each run got every response right, repeats each
cell --repeat times interleaved (round-robin across clients in a repetition),
and prints a Markdown report of medians. All traffic stays on 127.0.0.1.

Workloads (--only picks some; default all):
  1k       5 000 URLs × 1 KiB at c=50: curl --parallel, textbook httpx, raw
           aiohttp, fetchcli --mode queue|semaphore|gather, fetchcli best
  100k     1 000 URLs × 100 KiB at c=50: the same clients
  sweep    5 000 × 1 KiB at c = 10, 50, 200, 1000: fetchcli best, textbook httpx
  startup  python -c pass, python -m fetchcli --version, fetchcli --version,
           python -m fetchcli --help, a 10-URL run; plus python -X importtime
  memory   fetchcli --mode queue peak RSS at 10 000, 100 000, 1 000 000 URLs

Definitions: req/s = N ÷ wall; CPU s / 1000 req = (user + sys) ÷ N × 1000, the
interpreter's start-up included; × curl wall = this client's wall ÷ curl's
wall in the same repetition (curl = 1.0, bigger is slower); × textbook req/s =
this client's req/s ÷ the textbook client's in the same repetition. Ratios
are medians of those per-repetition ratios. A run that does not get N
responses of status 200 with full bodies is reported as failed, never as a
number.

Usage:

  python benchmarks/run.py --output benchmarks/results-2026-11-25.md
  python benchmarks/run.py --quick --only 1k,sweep
  python benchmarks/run.py --fetchcli-best-args '--mode queue --workers 2'
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from _clients import Client, Job, Verdict, curl_lines, make_clients, skip_reason
from _measure import Usage, local_env, run_measured
from _report import (
    Cell,
    Run,
    machine_lines,
    memory_table,
    startup_table,
    sweep_table,
    targets_table,
    throughput_table,
)
from _servers import FILES, Server, ServerError, local_server

WORKLOADS = ("1k", "100k", "sweep", "startup", "memory")
CONCURRENCY = 50
THROUGHPUT_CLIENTS = (
    "curl", "textbook", "aiohttp", "fetchcli-queue", "fetchcli-semaphore",
    "fetchcli-gather", "fetchcli-best",
)  # fmt: skip
SWEEP_CLIENTS = ("fetchcli-best", "textbook")
STARTUP_URLS = 10
WARMUP_URLS = 20
MEMORY_MIN_RPS = 200  # the memory runs' timeout assumes at least this rate
WRITE_CHUNK = 10_000  # URL lines per write: big files are streamed to disk


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    """Sizes for a full, quick or tiny run."""

    n_small: int
    n_large: int
    repeat: int
    sweep: tuple[int, ...]
    memory: tuple[int, ...]
    startup_runs: int


PRESETS = {
    "full": Preset(
        n_small=5000,
        n_large=1000,
        repeat=3,
        sweep=(10, 50, 200, 1000),
        memory=(10_000, 100_000, 1_000_000),
        startup_runs=10,
    ),
    "quick": Preset(
        n_small=500,
        n_large=500,
        repeat=1,
        sweep=(10, 50),
        memory=(10_000, 100_000),
        startup_runs=5,
    ),
    "tiny": Preset(n_small=100, n_large=100, repeat=1, sweep=(10,), memory=(), startup_runs=3),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What to run, resolved from the preset and the flags."""

    preset: str
    n_small: int
    n_large: int
    repeat: int
    sweep: tuple[int, ...]
    memory: tuple[int, ...]
    startup_runs: int
    only: tuple[str, ...]
    server: str
    best_args: str
    run_timeout: float
    output: Path | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A throughput workload: N URLs of one file at some concurrencies, for some clients."""

    key: str
    title: str
    file: str
    n: int
    concurrencies: tuple[int, ...]
    clients: tuple[str, ...]


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x.replace("_", "")) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"values must be ≥ 1: {text!r}")
    return values


def _workloads(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(WORKLOADS)}, got {text!r}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    """Turn the command line into Settings."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 500 URLs, 1 repetition, sweep c=10,50, memory 10k and 100k only",
    )
    size.add_argument(
        "--tiny",
        action="store_true",
        help="test run: 100 URLs, 1 repetition, sweep c=10 only, no memory curve",
    )
    parser.add_argument("--repeat", type=int, help="repetitions of each cell (default 3)")
    parser.add_argument(
        "--n", type=int, help="URLs in every throughput workload (overrides 5000 / 1000)"
    )
    parser.add_argument(
        "--only",
        type=_workloads,
        default=WORKLOADS,
        help=f"comma-separated workloads to run, of {','.join(WORKLOADS)} (default all)",
    )
    parser.add_argument(
        "--sweep", type=_int_list, help="concurrencies of the sweep (default 10,50,200,1000)"
    )
    parser.add_argument(
        "--memory-points",
        type=_int_list,
        help="URL counts of the memory curve (default 10000,100000,1000000)",
    )
    parser.add_argument(
        "--startup-runs", type=int, help="runs of each start-up command (default 10)"
    )
    parser.add_argument(
        "--server",
        choices=("auto", "nginx", "fallback"),
        default="auto",
        help="auto: nginx if installed, else the fallback asyncio server (default auto)",
    )
    parser.add_argument(
        "--fetchcli-best-args",
        default="--mode queue",
        help="extra fetchcli flags of the 'fetchcli best' row and the sweep "
        "(default '--mode queue')",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=600.0,
        help="seconds before one client run is killed and counted as failed (default 600)",
    )
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    preset_name = "quick" if args.quick else "tiny" if args.tiny else "full"
    preset = PRESETS[preset_name]
    for name in ("repeat", "n", "startup_runs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be ≥ 1")
    return Settings(
        preset=preset_name,
        n_small=args.n or preset.n_small,
        n_large=args.n or preset.n_large,
        repeat=args.repeat or preset.repeat,
        sweep=args.sweep or preset.sweep,
        memory=preset.memory if args.memory_points is None else args.memory_points,
        startup_runs=args.startup_runs or preset.startup_runs,
        only=args.only,
        server=args.server,
        best_args=args.fetchcli_best_args,
        run_timeout=args.run_timeout,
        output=args.output,
    )


def workloads(settings: Settings) -> list[Workload]:
    """The throughput workloads selected by --only."""
    small, large = settings.n_small, settings.n_large
    every = [
        Workload(
            key="1k",
            title=f"{small:,} × 1 KiB, c={CONCURRENCY}",
            file="1k",
            n=small,
            concurrencies=(CONCURRENCY,),
            clients=THROUGHPUT_CLIENTS,
        ),
        Workload(
            key="100k",
            title=f"{large:,} × 100 KiB, c={CONCURRENCY}",
            file="100k",
            n=large,
            concurrencies=(CONCURRENCY,),
            clients=THROUGHPUT_CLIENTS,
        ),
        Workload(
            key="sweep",
            title=f"Concurrency sweep: {small:,} × 1 KiB",
            file="1k",
            n=small,
            concurrencies=settings.sweep,
            clients=SWEEP_CLIENTS,
        ),
    ]
    return [w for w in every if w.key in settings.only]


def judge(usage: Usage, verdict: Verdict, job: Job, timeout: float) -> str | None:
    """Why the run is not a correct one, or None when it is."""
    if usage.timed_out:
        return f"killed after the {timeout:.0f} s run timeout"
    problems = []
    if usage.exit_code != 0:
        tail = f" ({usage.stderr_tail[:160]})" if usage.stderr_tail else ""
        problems.append(f"exit code {usage.exit_code}{tail}")
    if verdict.ok != job.n:
        problems.append(f"{verdict.ok}/{job.n} ok")
    elif verdict.bytes != job.n * job.size:
        problems.append(f"{verdict.bytes} body bytes, expected {job.n * job.size}")
    if problems and verdict.detail:
        problems.append(verdict.detail[:160])
    return "; ".join(problems).replace("\n", " ") or None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    """Runs the workloads against one server and keeps the cells."""

    def __init__(self, settings: Settings, server: Server, workdir: Path) -> None:
        self.settings = settings
        self.server = server
        self.workdir = workdir
        self.python = sys.executable
        self.clients = make_clients(self.python, settings.best_args)
        self.env = local_env()
        self._files: dict[tuple[str, int], Path] = {}
        self._curl: dict[Path, Path] = {}

    def url_file(self, file: str, n: int) -> Path:
        """A file of n URLs /FILE?n=i, each unique, written to disk in chunks."""
        key = (file, n)
        if key not in self._files:
            path = self.workdir / f"urls-{file}-{n}.txt"
            base = f"{self.server.base_url}/{file}?n="
            with path.open("w", encoding="utf-8") as out:
                for start in range(0, n, WRITE_CHUNK):
                    stop = min(n, start + WRITE_CHUNK)
                    out.write("".join(f"{base}{i}\n" for i in range(start, stop)))
            self._files[key] = path
        return self._files[key]

    def job(self, file: str, n: int, concurrency: int, name: str) -> Job:
        """The job for one cell; curl's config is written on first use."""
        urls = self.url_file(file, n)
        config = self._curl.get(urls)
        if config is None and self.clients["curl"].skip is None:
            config = urls.with_suffix(".curl")
            curl_lines(urls, config)
            self._curl[urls] = config
        scratch = self.workdir / "runs" / name
        scratch.mkdir(parents=True, exist_ok=True)
        return Job(
            urls=urls,
            curl_config=config or urls.with_suffix(".curl"),
            n=n,
            size=FILES[file],
            concurrency=concurrency,
            scratch=scratch,
        )

    def measure(self, client: Client, job: Job, timeout: float) -> Run:
        """Run the client once on the job and judge the run."""
        (job.scratch / "summary.json").unlink(missing_ok=True)
        stdout = job.scratch / "stdout"
        usage = run_measured(client.argv(job), env=self.env, timeout=timeout, stdout=stdout)
        verdict = client.verify(job, stdout)
        return Run(usage=usage, n=job.n, error=judge(usage, verdict, job, timeout))

    def run_cells(
        self, title: str, cells: list[tuple[Cell, Job]], repeat: int, timeout: float
    ) -> None:
        """Run every cell `repeat` times, round-robin, starting one later each repetition."""
        active = [(cell, job) for cell, job in cells if cell.skip is None]
        for rep in range(repeat):
            shift = rep % len(active) if active else 0
            for cell, job in active[shift:] + active[:shift]:
                run = self.measure(cell.client, job, timeout)
                cell.runs.append(run)
                outcome = (
                    f"{run.usage.wall:.2f} s, {run.rps:,.0f} req/s, "
                    f"CPU {run.usage.cpu:.2f} s, RSS {run.rss_mib:.0f} MiB"
                    if run.ok
                    else f"FAILED: {run.error}"
                )
                _log(f"[{title} {rep + 1}/{repeat}] {cell.label} c={cell.concurrency}: {outcome}")

    def warm_up(self, keys: Sequence[str]) -> None:
        """Run each client once on a few URLs, unrecorded, so caches and .pyc files are warm."""
        job = self.job("1k", WARMUP_URLS, 10, "warmup")
        for key in keys:
            client = self.clients[key]
            if client.skip is None:
                run = self.measure(client, job, self.settings.run_timeout)
                if not run.ok:
                    _log(f"[warm-up] {client.label}: FAILED: {run.error}")

    def throughput(self, workload: Workload) -> list[Cell]:
        """All cells of one throughput workload, measured."""
        cells = []
        for concurrency in workload.concurrencies:
            for key in workload.clients:
                client = self.clients[key]
                label = client.label.replace(" C", f" {concurrency}", 1)
                cell = Cell(
                    client=client,
                    concurrency=concurrency,
                    label=label,
                    skip=skip_reason(client, concurrency),
                )
                job = self.job(workload.file, workload.n, concurrency, f"{workload.key}-{key}")
                cells.append((cell, job))
        self.run_cells(workload.key, cells, self.settings.repeat, self.settings.run_timeout)
        return [cell for cell, _ in cells]

    def startup(self) -> list[Cell]:
        """Start-up commands, each run --startup-runs times, interleaved."""
        python = self.python
        script = Path(python).parent / "fetchcli"
        once = Job(
            urls=Path(os.devnull),
            curl_config=Path(os.devnull),
            n=1,
            size=0,
            concurrency=1,
            scratch=self.workdir / "runs" / "startup",
        )
        once.scratch.mkdir(parents=True, exist_ok=True)

        def command(label: str, argv: list[str], word: str, skip: str | None = None) -> Cell:
            def verify(job: Job, stdout: Path) -> Verdict:
                return Verdict(ok=int(word in stdout.read_text(errors="replace")), bytes=0)

            client = Client(key=label, label=label, argv=lambda job: argv, verify=verify, skip=skip)
            return Cell(client=client, concurrency=1, label=label, skip=skip)

        cells = [
            (command("python -c pass", [python, "-c", "pass"], ""), once),
            (command("python -m fetchcli --version", [python, "-m", "fetchcli", "--version"],
                     "fetchcli"), once),
            (command("fetchcli --version", [str(script), "--version"], "fetchcli",
                     None if script.exists() else f"no console script at {script}"), once),
            (command("python -m fetchcli --help", [python, "-m", "fetchcli", "--help"],
                     "Usage"), once),
        ]  # fmt: skip
        run_client = self.clients["fetchcli-queue"]
        label = f"python -m fetchcli URLS ({STARTUP_URLS} URLs, -q --format none)"
        ten = Cell(client=run_client, concurrency=STARTUP_URLS, label=label)
        cells.append((ten, self.job("1k", STARTUP_URLS, STARTUP_URLS, "startup-run")))
        self.run_cells("startup", cells, self.settings.startup_runs, self.settings.run_timeout)
        return [cell for cell, _ in cells]

    def importtime(self) -> list[str]:
        """Lines on what `python -X importtime` shows for --version and a 10-URL run."""
        urls = self.url_file("1k", STARTUP_URLS)
        commands = {
            "python -m fetchcli --version": ["-m", "fetchcli", "--version"],
            f"python -m fetchcli URLS ({STARTUP_URLS} URLs)": [
                "-m", "fetchcli", str(urls), "-q", "--format", "none",
            ],
        }  # fmt: skip
        lines = []
        for label, args in commands.items():
            stderr = self.workdir / "runs" / "importtime.stderr"
            usage = run_measured(
                [self.python, "-X", "importtime", *args],
                env=self.env,
                timeout=self.settings.run_timeout,
                stdout=stderr.with_suffix(".out"),
            )
            text = stderr.with_suffix(".stderr").read_text(errors="replace")
            lines.append(f"- `{label}`: " + summarize_importtime(text, usage.exit_code))
        return lines

    def memory(self) -> list[Cell]:
        """Peak RSS of fetchcli --mode queue at each memory point, one run each."""
        cells = []
        client = self.clients["fetchcli-queue"]
        for n in self.settings.memory:
            timeout = max(self.settings.run_timeout, n / MEMORY_MIN_RPS + 120)
            job = self.job("1k", n, CONCURRENCY, f"memory-{n}")
            cell = Cell(client=client, concurrency=CONCURRENCY, label=f"{n:,}")
            self.run_cells("memory", [(cell, job)], 1, timeout)
            cells.append(cell)
            if n > 100_000:  # a big URL file is not needed again
                job.urls.unlink(missing_ok=True)
                job.curl_config.unlink(missing_ok=True)
                self._files.pop(("1k", n), None)
        return cells


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


def commands_lines(bench: Bench) -> list[str]:
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
    for client in bench.clients.values():
        argv = [Path(a).name if a == bench.python else a for a in client.argv(job)]
        shown = shlex.join(argv).replace(str(Path(__file__).parent), "benchmarks")
        lines.append(f"- {client.label}: `{shown}`")
    return lines


def render(bench: Bench, results: dict[str, list[Cell]], server: Server, imports: list[str]) -> str:
    """The whole Markdown report."""
    s = bench.settings
    sweep_ref = CONCURRENCY if CONCURRENCY in s.sweep else s.sweep[0]
    out = ["# fetchcli benchmark", "", "## Machine", "", *machine_lines(), ""]
    out += ["## Server", "", f"- {server.kind}: {server.description}", f"- {server.base_url}", ""]
    out += [
        "## Method",
        "",
        f"- settings: {s.preset}; {s.repeat} repetition(s) per cell, interleaved "
        "(round-robin across clients, each repetition starting one client later); "
        f"medians of correct runs; best = `{s.best_args}`",
        "- every client is a separate process measured with `os.wait4`: wall = spawn to reap; "
        "CPU = user + sys of the client and the processes it reaped; peak RSS = ru_maxrss "
        "(the largest single process, not a sum over worker processes)",
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
            out += [f"## {workload.title}", "", *sweep_table(cells, sweep_ref), ""]
        else:
            out += [f"## {workload.title}", "", *throughput_table(cells), ""]
    if "startup" in s.only:
        out += ["## Start-up", "", f"Medians of {s.startup_runs} runs each, interleaved.", ""]
        out += [
            *startup_table(results.get("startup", [])),
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
            *memory_table(results.get("memory", [])),
            "",
        ]
    out += ["## Targets (issue 4)", "", *targets_table(results, sweep_ref), ""]
    out += ["## Commands", "", *commands_lines(bench), ""]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    out += [f"Load average (1/5/15 min) at the end: {load}", ""]
    return "\n".join(out)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fetchcli-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(settings: Settings) -> str:
    """Start the server, run the selected workloads, stop the server, return the report."""
    results: dict[str, list[Cell]] = {}
    imports: list[str] = []
    with _workdir() as workdir, local_server(settings.server, workdir) as server:
        _log(f"server: {server.kind} at {server.base_url}")
        bench = Bench(settings, server, workdir)
        selected = workloads(settings)
        warm = sorted({k for w in selected for k in w.clients} | {"fetchcli-queue"})
        bench.warm_up(warm)
        for workload in selected:
            results[workload.key] = bench.throughput(workload)
        if "startup" in settings.only:
            results["startup"] = bench.startup()
            imports = bench.importtime()
        if "memory" in settings.only:
            results["memory"] = bench.memory()
        return render(bench, results, server, imports)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report and write it to --output."""
    settings = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        report = run(settings)
    except KeyboardInterrupt:
        _log("interrupted: server and clients stopped")
        return 130
    except ServerError as exc:
        _log(f"error: {exc}")
        return 1
    print(report)
    if settings.output is not None:
        settings.output.write_text(report, encoding="utf-8")
        _log(f"report written to {settings.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
