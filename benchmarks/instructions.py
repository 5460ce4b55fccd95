"""Instructions per request, counted by callgrind: a figure the shared machine cannot move.

Wall-clock and CPU time on the project's shared 2-core machine move by ±15% from run to
run, which hides a 5% change. callgrind counts the instructions the client executes
(Python, libcurl and the C libraries), and gives the same count for the same code and
input within ~0.5%, whatever else the machine is doing. Each figure is
`(I(large) - I(small)) / (large - small)`: the instructions one more request costs,
start-up and warm-up cancelled out.

    python benchmarks/instructions.py                      # this checkout
    python benchmarks/instructions.py --tree /tmp/base     # another checkout, to compare
    python benchmarks/instructions.py --only fetch_one --small 500 --large 1500

Rows: `fetch_one` (the HTTP fetcher alone, in one process: `open_http_fetcher` with 50
workers), `fetch_stream` (the library's engine and input rules around it), `cli`
(`python -m fetchcli URLS -q --format none -c 50`). Each run fetches `/1k?i=N` from a
local nginx (or the Python fallback server) on 127.0.0.1; under callgrind a run is ~50×
slower, so a row takes about a minute. Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _servers import local_server

CONCURRENCY = 50
RUN_TIMEOUT = 900  # seconds for one run under callgrind

_FETCH_ONE = """
import asyncio, sys
sys.path.insert(0, {tree!r})
from fetchcli.http.fetch import open_http_fetcher
from fetchcli.model import UrlRecord
from fetchcli.options import RequestSpec
urls = open({urls!r}).read().split()
async def main():
    async with open_http_fetcher(RequestSpec(), {c}) as fetch:
        queue = iter(urls)
        async def worker():
            for url in queue:
                result = await fetch(UrlRecord(source="-", line=1, url=url))
                assert result.ok, result
        await asyncio.gather(*(worker() for _ in range({c})))
asyncio.run(main())
"""

_FETCH_STREAM = """
import asyncio, contextlib, sys
sys.path.insert(0, {tree!r})
from fetchcli.api import fetch_stream
from fetchcli.options import FetchOptions
urls = open({urls!r}).read().split()
async def main():
    ok = 0
    stream = fetch_stream(urls, FetchOptions(concurrency={c}))
    async with contextlib.aclosing(stream) as results:
        async for result in results:
            ok += result.ok
    assert ok == len(urls), ok
asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--only", default="fetch_one,fetch_stream,cli")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=3000)
    parser.add_argument("--server", default="auto", choices=["auto", "nginx", "fallback"])
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    if not 0 < args.small < args.large:
        parser.error("--small must be positive and below --large")
    tree = str(Path(args.tree).resolve())
    rows = [row.strip() for row in args.only.split(",") if row.strip()]
    with tempfile.TemporaryDirectory(prefix="fetchcli-instr-") as work:
        workdir = Path(work)
        workdir.chmod(0o755)  # nginx's worker (nobody when run as root) reads server/www/
        with local_server(args.server, workdir / "server") as server:
            files = {}
            for n in (args.small, args.large):
                path = workdir / f"urls-{n}.txt"
                path.write_text("".join(f"{server.base_url}/1k?i={i}\n" for i in range(n)))
                files[n] = path
            print(f"tree: {tree}\nserver: {server.description}")
            for row in rows:
                counts = [_count(row, tree, files[n], workdir) for n in (args.small, args.large)]
                per_request = (counts[1] - counts[0]) / (args.large - args.small)
                print(f"{row}: {per_request:,.0f} instructions per request")
    return 0


def _count(row: str, tree: str, urls: Path, workdir: Path) -> int:
    """Instructions callgrind counted for one run of `row` over the URLs in `urls`."""
    scripts = {"fetch_one": _FETCH_ONE, "fetch_stream": _FETCH_STREAM}
    if row in scripts:
        script = workdir / f"{row}.py"
        script.write_text(scripts[row].format(tree=tree, urls=str(urls), c=CONCURRENCY))
        argv = [sys.executable, str(script)]
    elif row == "cli":
        argv = [sys.executable, "-m", "fetchcli", str(urls), "-q", "--format", "none"]
        argv += ["-c", str(CONCURRENCY)]
    else:
        raise SystemExit(f"unknown row {row!r} (fetch_one, fetch_stream, cli)")
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv]
    # The tree's own fetchcli: the current directory comes first on sys.path for -m.
    env = {**os.environ, "PYTHONPATH": tree}
    done = subprocess.run(
        command, cwd=tree, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    if done.returncode != 0:
        raise SystemExit(f"{row} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"{row}: no instruction count in valgrind's output")
    return int(found.group(1))


if __name__ == "__main__":
    raise SystemExit(main())
