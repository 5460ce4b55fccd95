"""--workers N: several processes, one contract."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import Result

from conftest import REFUSED, jsonl
from servers import ThreadedServer

RunCli = Callable[..., Result]
UrlFile = Callable[..., Path]


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as running:
        yield running


def mixed(server: ThreadedServer) -> list[str]:
    return [
        "# a comment",
        server.url("/sized?bytes=10"),
        server.url("/status?code=404"),
        server.url("/status?code=503"),
        "ftp://example.invalid/",
        REFUSED,
        server.url("/redirect?n=2"),
        *(server.url(f"/sized?bytes={n}") for n in range(20)),
    ]


def outcome(record: dict[str, object]) -> tuple[object, ...]:
    keys = ("source", "line", "url", "status", "error", "size", "attempts", "redirects")
    return tuple(record[k] for k in keys)


def test_two_workers_give_the_same_results_as_one(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile
) -> None:
    path = url_file(*mixed(server))
    args = (str(path), "-q", "--format", "jsonl", "-r", "1", "--backoff", "0.01")
    one = run_cli(*args, "--workers", "1")
    two = run_cli(*args, "--workers", "2")
    assert sorted(map(outcome, jsonl(two.stdout))) == sorted(map(outcome, jsonl(one.stdout)))
    assert len(jsonl(two.stdout)) == 26 and two.exit_code == one.exit_code == 1


def test_per_host_holds_across_workers(server: ThreadedServer, run_cli: RunCli) -> None:
    assert server.server is not None
    server.server.max_in_flight = 0
    urls = "".join(server.url(f"/hold?delay=0.1&n={n}") + "\n" for n in range(12))
    result = run_cli("-", "-q", "--workers", "2", "-c", "8", "--per-host", "2", input=urls)
    assert result.exit_code == 0
    assert server.max_in_flight == 2


def test_order_input_holds_across_workers(server: ThreadedServer, run_cli: RunCli) -> None:
    urls = "".join(server.url(f"/hold?delay=0.0{n % 5}&n={n}") + "\n" for n in range(30))
    result = run_cli(
        "-", "-q", "--workers", "2", "--order", "input", "--format", "jsonl", input=urls
    )
    assert [r["line"] for r in jsonl(result.stdout)] == list(range(1, 31))


def test_resume_with_workers_completes_the_file(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    path = url_file(*(server.url(f"/sized?bytes={n}") for n in range(10)))
    out = tmp_path / "out.jsonl"
    full = run_cli(str(path), "-q", "--format", "jsonl", "-o", str(out))
    assert full.exit_code == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:4]) + lines[4][:20])  # a run killed mid-line
    run_cli(str(path), "-q", "--format", "jsonl", "-o", str(out), "--resume", "--workers", "2")
    assert sorted(r["line"] for r in jsonl(out.read_text())) == list(range(1, 11))


def test_workers_auto_is_accepted_and_a_bad_value_is_a_usage_error(
    site: HTTPServer, run_cli: RunCli
) -> None:
    assert run_cli("-", "-q", "--workers", "auto", input=site.url_for("/ok") + "\n").exit_code == 0
    bad = run_cli("-", "--workers", "many", input=site.url_for("/ok") + "\n")
    assert bad.exit_code == 2 and "--workers" in bad.stderr


def test_sigint_with_workers_exits_130_and_leaves_no_children(
    server: ThreadedServer, url_file: UrlFile
) -> None:
    path = url_file(*(server.url(f"/hold?delay=0.05&n={n}") for n in range(3)),
                    *(server.url(f"/hold?delay=20&k={n}") for n in range(4)))  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "--workers", "2", "--format", "jsonl", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr.decode()
    assert len([*lines, *rest.splitlines()]) == 3
    children = subprocess.run(
        ["pgrep", "-g", str(process.pid)], capture_output=True, text=True, check=False
    )
    assert children.stdout.strip() == ""


def test_two_workers_start_one_child_and_this_process_fetches_too(url_file: UrlFile) -> None:
    with ThreadedServer() as own:
        path = url_file(*(own.url(f"/hold?delay=1&n={n}") for n in range(8)))
        command = [sys.executable, "-m", "fetchcli", "--workers", "2", "-c", "8", str(path)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 15
            while own.in_flight < 5 and time.monotonic() < deadline:
                time.sleep(0.02)
            children = subprocess.run(
                ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
            out, _ = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 0 and len(out.splitlines()) == 8
    assert len(children) == 1
    # Each engine may hold 8 / 2 requests at once: more than 4 means both were fetching.
    assert own.max_in_flight > 4


def test_a_child_that_dies_while_idle_stops_the_run_with_a_clear_error() -> None:
    with ThreadedServer() as own:
        command = [sys.executable, "-m", "fetchcli", "--workers", "2", "-c", "4", "-q", "-"]
        process = subprocess.Popen(
            [*command, "--format", "jsonl"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            for n in range(4):
                process.stdin.write(f"{own.url(f'/sized?bytes=5&a={n}')}\n".encode())
            process.stdin.flush()
            first = [process.stdout.readline() for _ in range(4)]
            children = subprocess.run(
                ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
            assert len(children) == 1
            os.kill(int(children[0]), signal.SIGKILL)
            time.sleep(0.5)  # the parent sees the child's end before more input comes
            more = "".join(f"{own.url(f'/sized?bytes=5&b={n}')}\n" for n in range(6))
            _, stderr = process.communicate(more.encode(), timeout=30)
        finally:
            process.kill()
    assert all(first)
    assert process.returncode == 1, stderr.decode()
    assert "worker process 1 exited" in stderr.decode() and "--resume" in stderr.decode()


def test_workers_keep_as_many_requests_in_flight_as_concurrency_asks(url_file: UrlFile) -> None:
    # Each engine is sized by its share of the routing, so no child queues records
    # while this process has room: -c 12 means 12 at once, not fewer.
    with ThreadedServer() as own:
        path = url_file(*(own.url(f"/hold?delay=0.5&n={n}") for n in range(36)))
        command = [sys.executable, "-m", "fetchcli", "--workers", "2", "-c", "12", "-q"]
        done = subprocess.run([*command, str(path)], capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()
        assert own.max_in_flight == 12
