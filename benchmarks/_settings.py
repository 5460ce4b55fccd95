"""The benchmark's settings: presets, flags, and the throughput workloads they select."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

WORKLOADS = ("1k", "1k-https", "1k-h2", "100k", "sweep", "startup", "memory")
CONCURRENCY = 50
THROUGHPUT_CLIENTS = (
    "curl", "lychee", "textbook", "aiohttp", "fetchcli-queue", "fetchcli-semaphore",
    "fetchcli-gather", "fetchcli-best",
)  # fmt: skip
SWEEP_CLIENTS = ("fetchcli-best", "aiohttp", "textbook")
# Those that speak HTTP/2 (aiohttp does not; the textbook script stays on HTTP/1.1).
H2_CLIENTS = ("curl", "lychee", "fetchcli-queue", "fetchcli-best")


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    """Sizes for a full, quick or tiny run."""

    n_small: int
    n_large: int
    repeat: int
    sweep: tuple[int, ...]
    memory: tuple[int, ...]
    startup_runs: int
    warm_up: bool = True  # one unrecorded run of each client first


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
    "tiny": Preset(
        n_small=100, n_large=100, repeat=1, sweep=(10,), memory=(), startup_runs=3, warm_up=False
    ),
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
    warm_up: bool
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
    tls: bool = False  # over HTTPS (HTTP/1.1)
    http2: bool = False  # over HTTPS with HTTP/2 (every client asked to use it)


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


def parse_args(argv: Sequence[str] | None, description: str) -> Settings:
    """Turn the command line into Settings; description is the --help text."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=description,
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
        default="--mode queue --workers 2",
        help="extra fetchcli flags of the 'fetchcli best' row and the sweep, given with '=' "
        "since they start with '--': --fetchcli-best-args='--mode semaphore --workers 3' "
        "(default '--mode queue --workers 2', the best measured on 2 cores)",
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
        warm_up=preset.warm_up,
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
            key="1k-https",
            title=f"{small:,} × 1 KiB over HTTPS (HTTP/1.1), c={CONCURRENCY}",
            file="1k",
            n=small,
            concurrencies=(CONCURRENCY,),
            clients=THROUGHPUT_CLIENTS,
            tls=True,
        ),
        Workload(
            key="1k-h2",
            title=f"{small:,} × 1 KiB over HTTPS + HTTP/2, c={CONCURRENCY}",
            file="1k",
            n=small,
            concurrencies=(CONCURRENCY,),
            clients=H2_CLIENTS,
            tls=True,
            http2=True,
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
