"""The benchmark's results: runs, cells of repeated runs, medians, ratios, Markdown tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from _clients import Client
from _measure import Usage, median

NOT_RUN = "—"


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One measured run of a client and whether its results were all correct."""

    usage: Usage
    n: int
    error: str | None  # None: every response was a 200 with the full body

    @property
    def ok(self) -> bool:
        """True when the run was correct."""
        return self.error is None

    @property
    def rps(self) -> float:
        """Requests per second: n ÷ wall."""
        return self.n / self.usage.wall

    @property
    def cpu_per_1000(self) -> float:
        """CPU seconds (user + sys) per 1000 requests."""
        return self.usage.cpu / self.n * 1000

    @property
    def rss_mib(self) -> float:
        """Peak RSS in MiB."""
        return self.usage.maxrss_kib / 1024


@dataclass(kw_only=True)
class Cell:
    """One client at one concurrency in one workload; runs[i] is repetition i."""

    client: Client
    concurrency: int
    label: str
    skip: str | None = None
    runs: list[Run] = field(default_factory=list)

    @property
    def good(self) -> list[Run]:
        """The runs that were correct."""
        return [r for r in self.runs if r.ok]

    def median_of(self, metric: Callable[[Run], float]) -> float | None:
        """Median of a metric over the correct runs."""
        return median([metric(r) for r in self.good])

    def note(self) -> str:
        """Why the row has no numbers, or which runs failed; empty when all is well."""
        if self.skip:
            return f"skipped: {self.skip}"
        bad = [r for r in self.runs if not r.ok]
        if not self.runs:
            return "skipped: not run"
        if not bad:
            return ""
        first = bad[0].error or ""
        if len(bad) == len(self.runs):
            return f"FAILED: {first}"
        return f"{len(bad)} of {len(self.runs)} runs failed ({first}); medians of the rest"


def paired_ratio(a: Cell | None, b: Cell | None, metric: Callable[[Run], float]) -> float | None:
    """Median over repetitions of metric(a) ÷ metric(b), using only repetitions where both ran."""
    if a is None or b is None:
        return None
    pairs = zip(a.runs, b.runs, strict=False)  # a skipped or shorter cell pairs with nothing
    ratios = [metric(x) / metric(y) for x, y in pairs if x.ok and y.ok and metric(y)]
    return median(ratios)


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table cell, or a dash."""
    if value is None:
        return NOT_RUN
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def fmt_rss(cell: Cell, floor_mib: float) -> str:
    """Median peak RSS in MiB, or `≤ floor` when the client is no bigger than the helper."""
    rss = cell.median_of(lambda r: r.rss_mib)
    if rss is not None and rss <= floor_mib * 1.02:
        return f"≤ {floor_mib:.1f}"
    return fmt(rss, 1)


def _runs_ok(cell: Cell) -> str:
    return f"{len(cell.good)}/{len(cell.runs)}" if cell.runs else "0/0"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def throughput_table(cells: Sequence[Cell], floor_mib: float) -> list[str]:
    """Client rows with req/s, CPU, RSS and the ratios to curl and to the textbook baseline."""
    by_key = {c.client.key: c for c in cells}
    curl, textbook = by_key.get("curl"), by_key.get("textbook")
    rows = []
    for cell in cells:
        rps = cell.median_of(lambda r: r.rps)
        rows.append(
            [
                f"`{cell.label}`",
                fmt(rps, 0) if rps is not None else ("FAILED" if cell.runs else NOT_RUN),
                fmt(cell.median_of(lambda r: r.cpu_per_1000), 3),
                fmt_rss(cell, floor_mib),
                fmt(paired_ratio(cell, curl, lambda r: r.usage.wall)),
                fmt(paired_ratio(cell, textbook, lambda r: r.rps)),
                _runs_ok(cell),
                cell.note(),
            ]
        )
    header = [
        "client", "req/s", "CPU s / 1000 req", "peak RSS MiB",
        "× curl wall", "× textbook req/s", "runs ok", "note",
    ]  # fmt: skip
    return _table(header, rows)


def sweep_table(cells: Sequence[Cell], reference: int, floor_mib: float) -> list[str]:
    """Rows per client and concurrency, with ratios to the same client at the reference c."""
    refs = {c.client.key: c for c in cells if c.concurrency == reference}
    rows = []
    for cell in cells:
        ref = refs.get(cell.client.key)
        rps = cell.median_of(lambda r: r.rps)
        rows.append(
            [
                f"`{cell.label}`",
                str(cell.concurrency),
                fmt(rps, 0) if rps is not None else ("FAILED" if cell.runs else NOT_RUN),
                fmt(cell.median_of(lambda r: r.cpu_per_1000), 3),
                fmt_rss(cell, floor_mib),
                fmt(paired_ratio(cell, ref, lambda r: r.rps)),
                fmt(paired_ratio(cell, ref, lambda r: r.cpu_per_1000)),
                _runs_ok(cell),
                cell.note(),
            ]
        )
    header = [
        "client", "c", "req/s", "CPU s / 1000 req", "peak RSS MiB",
        f"req/s × c={reference}", f"CPU/req × c={reference}", "runs ok", "note",
    ]  # fmt: skip
    return _table(header, rows)


def startup_table(cells: Sequence[Cell], floor_mib: float) -> list[str]:
    """Start-up rows: wall and CPU in ms, RSS, and the ratio to `python -c pass`."""
    base = cells[0] if cells else None
    rows = []
    for cell in cells:
        wall = cell.median_of(lambda r: r.usage.wall * 1000)
        rows.append(
            [
                f"`{cell.label}`",
                fmt(wall, 1) if wall is not None else ("FAILED" if cell.runs else NOT_RUN),
                fmt(cell.median_of(lambda r: r.usage.cpu * 1000), 1),
                fmt_rss(cell, floor_mib),
                fmt(paired_ratio(cell, base, lambda r: r.usage.wall)),
                _runs_ok(cell),
                cell.note(),
            ]
        )
    header = ["command", "wall ms", "CPU ms", "peak RSS MiB", "× `python -c pass` wall"]
    return _table([*header, "runs ok", "note"], rows)


def memory_table(cells: Sequence[Cell], floor_mib: float) -> list[str]:
    """Peak RSS of queue mode by number of URLs, and its ratio to the smallest point."""
    first = next((c.median_of(lambda r: r.rss_mib) for c in cells if c.good), None)
    rows = []
    for cell in cells:
        rss = cell.median_of(lambda r: r.rss_mib)
        wall = cell.median_of(lambda r: r.usage.wall)
        rows.append(
            [
                cell.label,
                fmt_rss(cell, floor_mib)
                if rss is not None
                else ("FAILED" if cell.runs else NOT_RUN),
                fmt(rss / first if rss is not None and first else None),
                fmt(wall, 1),
                fmt(cell.median_of(lambda r: r.rps), 0),
                fmt(cell.median_of(lambda r: r.cpu_per_1000), 3),
                cell.note(),
            ]
        )
    if not rows:
        rows.append(["—"] * 6 + ["skipped: no memory points (--tiny, or --memory-points '')"])
    header = ["URLs", "peak RSS MiB", "× first point RSS", "wall s", "req/s", "CPU s / 1000 req"]
    return _table([*header, "note"], rows)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One of issue 4's goals: a measured ratio and its bound (None: recorded only)."""

    name: str
    value: float | None
    limit: float | None = None
    at_least: bool = True

    def row(self) -> str:
        """The target's table row."""
        goal = (
            "(recorded)"
            if self.limit is None
            else f"{'≥' if self.at_least else '≤'} {self.limit:g}"
        )
        if self.value is None:
            status = "not measured"
        elif self.limit is None:
            status = "recorded"
        else:
            met = self.value >= self.limit if self.at_least else self.value <= self.limit
            status = "met" if met else "missed"
        return f"| {self.name} | {fmt(self.value)} | {goal} | {status} |"


def _find(cells: Sequence[Cell], key: str, concurrency: int | None = None) -> Cell | None:
    matches = (c for c in cells if c.client.key == key and concurrency in (None, c.concurrency))
    return next(matches, None)


def targets_table(results: dict[str, list[Cell]], sweep_ref: int) -> list[str]:
    """Issue 4's targets as far as this run measured them, each met, missed or not measured."""
    best = "fetchcli-best"
    one, big, sweep = results.get("1k", []), results.get("100k", []), results.get("sweep", [])
    top = max((c.concurrency for c in sweep), default=sweep_ref)
    swept = top != sweep_ref  # one concurrency only: nothing to compare
    top_name = f"c={top}" if swept else "the highest c"
    wall: Callable[[Run], float] = lambda r: r.usage.wall  # noqa: E731
    rps: Callable[[Run], float] = lambda r: r.rps  # noqa: E731
    cpu: Callable[[Run], float] = lambda r: r.cpu_per_1000  # noqa: E731
    checks = [
        Target(
            name="1k: best ÷ textbook req/s",
            value=paired_ratio(_find(one, best), _find(one, "textbook"), rps),
            limit=8.0,
        ),
        Target(
            name="1k: best ÷ raw aiohttp req/s",
            value=paired_ratio(_find(one, best), _find(one, "aiohttp"), rps),
            limit=0.5,
        ),
        Target(
            name="1k: best wall ÷ curl wall",
            value=paired_ratio(_find(one, best), _find(one, "curl"), wall),
        ),
        Target(
            name="100k: best ÷ raw aiohttp req/s",
            value=paired_ratio(_find(big, best), _find(big, "aiohttp"), rps),
            limit=0.5,
        ),
        Target(
            name=f"sweep: best req/s at {top_name} ÷ at c={sweep_ref}",
            value=paired_ratio(_find(sweep, best, top), _find(sweep, best, sweep_ref), rps)
            if swept
            else None,
            limit=0.8,
        ),
        Target(  # context: how the fastest pure-asyncio client scales on this machine
            name=f"sweep: raw aiohttp req/s at {top_name} ÷ at c={sweep_ref}",
            value=paired_ratio(
                _find(sweep, "aiohttp", top), _find(sweep, "aiohttp", sweep_ref), rps
            )
            if swept
            else None,
        ),
        Target(
            name=f"sweep: best CPU per request at {top_name} ÷ at c={sweep_ref}",
            value=paired_ratio(_find(sweep, best, top), _find(sweep, best, sweep_ref), cpu)
            if swept
            else None,
            limit=1.3,
            at_least=False,
        ),
    ]
    memory = [c for c in results.get("memory", []) if c.good]
    if len(memory) >= 2:
        first, last = memory[0], memory[-1]
        checks.append(
            Target(
                name=f"memory: peak RSS at {last.label} ÷ at {first.label} URLs",
                value=last.good[0].rss_mib / first.good[0].rss_mib,
                limit=1.2,
                at_least=False,
            )
        )
    startup = {c.label: c for c in results.get("startup", [])}
    version = startup.get("fetchcli --version")
    if version is None or version.skip:
        version = startup.get("python -m fetchcli --version")
    if version is not None:
        checks.append(
            Target(
                name=f"start-up: `{version.label}` ÷ `python -c pass` wall",
                value=paired_ratio(version, startup.get("python -c pass"), wall),
                limit=2.0,
                at_least=False,
            )
        )
    return ["| target | measured | goal | status |", "|---|---|---|---|"] + [
        t.row() for t in checks
    ]
