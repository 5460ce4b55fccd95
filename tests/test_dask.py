"""fetchcli.dask on a real local cluster: the same records as one single-process run."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

import dask.bag as db
from distributed import Client, LocalCluster
from pytest_httpserver import HTTPServer

from fetchcli import FetchOptions, fetch_stream
from fetchcli.dask import fetch_bag, fetch_to_jsonl
from fetchcli.sources.readers import iter_records

pytestmark = pytest.mark.dask

OPTIONS = FetchOptions(default_scheme="http", retries=0, timeout=5.0, concurrency=8)
Key = tuple[int, str]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(r"^/ok/")).respond_with_data(
        "ok page", content_type="text/plain"
    )
    server.expect_request(re.compile(r"^/missing/")).respond_with_data("gone", status=404)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture(scope="module")
def lines(server: HTTPServer) -> list[str]:
    """About 60 lines: ok pages, 404s, comments, blanks and invalid lines."""
    base = f"http://127.0.0.1:{server.port}"
    mixed = {
        0: lambda i: f"{base}/missing/{i}",
        1: lambda i: f"   # note {i}",
        2: lambda i: "   ",
        3: lambda i: "ftp://x",
        4: lambda i: f"127.0.0.1:{server.port}/ok/{i}",
    }
    body = [mixed.get(i % 7, lambda i: f"{base}/ok/{i}")(i) for i in range(56)]
    return [
        "# links for the cluster",
        "",
        *body,
        f"see {base}/ok/a and ({base}/missing/b).",
        "x" * 9000,
        f"{base}/ok/dup",
        f"{base}/ok/dup",
    ]


@pytest.fixture(scope="module")
def url_path(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> Path:
    path = tmp_path_factory.mktemp("dask") / "urls.txt"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def single_process(path: Path, options: FetchOptions) -> dict[Key, dict[str, Any]]:
    """The reference: the CLI's reader and one fetch_stream over the whole file."""

    async def collect() -> list[dict[str, Any]]:
        records = iter_records([str(path)], options.rules)
        async with aclosing(fetch_stream(records, options)) as results:
            return [result.to_record() async for result in results]

    return by_key(asyncio.run(collect()))


def by_key(records: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Records by (line, url), asserting each appears once; timings are not outcomes."""
    timing = ("elapsed", "fetched_at")
    keyed = {
        (r["line"], r["url"]): {k: v for k, v in r.items() if k not in timing} for r in records
    }
    assert len(keyed) == len(records), "a record came back more than once"
    return keyed


def test_fetch_bag_matches_a_single_process_run(
    client: Client, lines: list[str], url_path: Path
) -> None:
    bag = fetch_bag(lines, OPTIONS, npartitions=4, source=str(url_path))
    assert bag.npartitions == 4
    got = by_key(bag.compute())

    expected_lines = {n for n, text in enumerate(lines, 1) if text.strip()[:1] not in ("", "#")}
    assert sorted(line for line, _ in got) == sorted(expected_lines)
    assert got == single_process(url_path, OPTIONS)
    outcomes = {(r["status"], r["error"]) for r in got.values()}
    assert {(200, None), (404, "http_status"), (None, "invalid_url")} <= outcomes


def test_fetch_to_jsonl_writes_one_record_per_line(
    client: Client, lines: list[str], url_path: Path, tmp_path: Path
) -> None:
    paths = fetch_to_jsonl(
        lines, tmp_path / "out", OPTIONS, npartitions=4, source=str(url_path), client=client
    )

    assert [p.name for p in paths] == [f"part-{i:05d}.jsonl" for i in range(4)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in paths]
    records = [json.loads(text) for p in paths for text in p.read_text("utf-8").splitlines()]
    assert by_key(records) == single_process(url_path, OPTIONS)


@pytest.mark.parametrize(
    "options",
    [
        FetchOptions(default_scheme="http", retries=0, timeout=5.0, shard=(2, 3)),
        FetchOptions(default_scheme="http", retries=0, timeout=5.0, shard=(3, 4), extract=True),
        FetchOptions(default_scheme="http", retries=0, timeout=5.0, exclude=("/missing/",)),
    ],
    ids=["shard", "extract-shard", "exclude"],
)
def test_input_rules_hold_across_bag_partitions(
    client: Client, url_path: Path, options: FetchOptions
) -> None:
    bag = db.read_text(str(url_path), blocksize=None).repartition(5)
    got = by_key(fetch_bag(bag, options, source=str(url_path)).compute())
    assert got == single_process(url_path, options)
    assert got


def test_unique_is_refused_before_any_work(lines: list[str]) -> None:
    with pytest.raises(ValueError, match="--unique"):
        fetch_bag(lines, FetchOptions(unique=True))


def test_options_pickle_to_workers(client: Client) -> None:
    options = FetchOptions(
        concurrency=7,
        mode="gather",
        accept="200-299,404",
        headers={"X-Token": "abc"},
        shard="2/5",
        include=("example",),
        connect_timeout=1.5,
    )
    assert pickle.loads(pickle.dumps(options)) == options
    assert client.submit(copy.copy, options, pure=False).result(timeout=30) == options


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_core_does_not_import_dask() -> None:
    done = run_python(
        "import sys, fetchcli, fetchcli.engine.stream, fetchcli.cli.app\n"
        "from fetchcli import FetchOptions, fetch_stream\n"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('dask', 'distributed') or m == 'fetchcli.dask'))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_import_without_dask_names_the_extra() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['dask'] = None\n"
        "try:\n"
        "    import fetchcli.dask\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'fetchcli[dask]'" in done.stdout
