"""Cancellation leaves nothing behind: no easy handle in the multi, no open socket.

Library runs (`fetch_stream`) share the test's event loop with a raw server
that notices at once when the client closes a connection, so this process's
socket count (client and server sides) returns to where it started only if
every client socket was closed. The transport is watched through a subclass
that records, as it closes, how many transfers were still in its multi handle:
cancellation must have removed them all before that.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import aclosing
from typing import Any, ClassVar

import pytest
from test_curl_transport import Raw, Respond, asynchronous, ok, raw_server, reply, silent

import fetchcli.http.client
from fetchcli.api import fetch_stream
from fetchcli.engine.workers import WorkerError
from fetchcli.http.curl import CurlTransport
from fetchcli.model import FetchResult
from fetchcli.options import ORDER_WINDOW_FACTOR, FetchOptions, Order

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform != "linux", reason="counts sockets in /proc/self/fd"),
]

# Longest wait for a condition the test is waiting on (each is polled every POLL seconds).
SETTLE = 10.0
POLL = 0.01


class Watched(CurlTransport):
    """A CurlTransport that records how many transfers it still held when closed."""

    made: ClassVar[list[Watched]] = []  # since the `transports` fixture began

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.active_at_close: int | None = None
        Watched.made.append(self)

    async def aclose(self) -> None:
        self.active_at_close = self.active_transfers
        await super().aclose()


@pytest.fixture
def transports(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Watched]]:
    """The transports the run makes (the HTTP client builds them from this name)."""
    monkeypatch.setattr(fetchcli.http.client, "CurlTransport", Watched)
    Watched.made = []
    yield Watched.made


def open_sockets() -> int:
    """Sockets open in this process (client, server and the event loop's own)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # the fd of the listing itself, closed meanwhile
    return count


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds, at most SETTLE seconds."""
    for _ in range(round(SETTLE / POLL)):
        if condition():
            return
        await asyncio.sleep(POLL)
    pytest.fail(f"still not {what} after {SETTLE:g}s")


def children(of: int | None = None) -> dict[int, bytes]:
    """The processes whose parent is `of` (this one by default): pid → command line."""
    parent = os.getpid() if of is None else of
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()  # the name may hold anything
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue  # it ended meanwhile
        if int(fields[1]) == parent:
            found[int(entry)] = command
    return found


def workers_of(parent: int | None = None) -> list[int]:
    """The --workers child processes of a process (of this one by default)."""
    return [
        pid for pid, command in children(parent).items() if b"fetchcli.engine.workers" in command
    ]


def slow_or_fast() -> Respond:
    """A responder: /slow never answers (it waits for the client to close), others at once."""
    fast = reply(ok())

    async def respond(
        head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if head.startswith(b"GET /slow"):
            await silent(head, reader, writer)
        else:
            await fast(head, reader, writer)

    return respond


async def stop_when(condition: Callable[[], bool], what: str, stop: asyncio.Event) -> None:
    await until(condition, what)
    stop.set()


async def fetch_all(
    urls: list[str], options: FetchOptions, stop: asyncio.Event | None = None
) -> list[FetchResult]:
    """Every result of a library run, which must end within SETTLE seconds."""
    got = []
    async with asyncio.timeout(SETTLE), aclosing(fetch_stream(urls, options, stop=stop)) as run:
        async for result in run:
            got.append(result)
    return got


async def nothing_left(server: Raw, sockets: int, transports: list[Watched]) -> None:
    """No transfer was left for close() to end, the server saw every connection closed,
    and this process holds the sockets it held before the run."""
    assert transports and [t.active_at_close for t in transports] == [0] * len(transports)
    await until(lambda: server.open == 0, "every connection closed")
    await until(lambda: open_sockets() == sockets, f"back to {sockets} open sockets")


# --- library runs stopped or broken midway ----------------------------------------------------


@asynchronous
async def test_a_stopped_run_leaves_no_handle_or_socket(transports: list[Watched]) -> None:
    async with raw_server(slow_or_fast()) as server:
        sockets = open_sockets()
        urls = [server.url(f"/fast?{n}") for n in range(6)]
        urls += [server.url(f"/slow?{n}") for n in range(20)]
        options = FetchOptions(concurrency=4, retries=0, timeout=30.0)
        stop = asyncio.Event()

        # Stop once every connection is waiting on a /slow answer: the 6 fast ones answered
        # and 4 slow ones asked (in_flight alone also counts a fast one being answered).
        def busy() -> bool:
            return server.in_flight == 4 and len(server.heads) == 10

        stopper = asyncio.create_task(stop_when(busy, "busy", stop))
        got = await fetch_all(urls, options, stop)
        await stopper
        assert sorted(r.url for r in got) == sorted(urls[:6]) and all(r.ok for r in got)
        assert len(server.heads) == 10  # the 6 answered and the 4 cancelled
        await nothing_left(server, sockets, transports)


@asynchronous
async def test_a_run_stopped_while_input_order_holds_results_leaves_nothing(
    transports: list[Watched],
) -> None:
    async with raw_server(slow_or_fast()) as server:
        sockets = open_sockets()
        urls = [server.url("/slow"), *(server.url(f"/fast?{n}") for n in range(20))]
        options = FetchOptions(concurrency=2, order=Order.INPUT, retries=0, timeout=30.0)
        window = ORDER_WINDOW_FACTOR * 2  # no URL starts further ahead of the first
        stop = asyncio.Event()
        stopper = asyncio.create_task(
            stop_when(lambda: len(server.heads) == window and server.in_flight == 1, "full", stop)
        )
        got = await fetch_all(urls, options, stop)
        await stopper
        # What completed is written after the stop, in input order, without the first.
        assert [r.url for r in got] == urls[1 : len(got) + 1] and all(r.ok for r in got)
        assert len(server.heads) == window
        await nothing_left(server, sockets, transports)


@asynchronous
async def test_a_worker_killed_mid_run_stops_the_run_and_leaves_nothing(
    transports: list[Watched],
) -> None:
    async with raw_server(slow_or_fast()) as server:
        sockets = open_sockets()
        urls = [server.url(f"/slow?{n}") for n in range(8)]
        options = FetchOptions(concurrency=4, workers=2, retries=0, timeout=30.0)

        async def kill_the_worker() -> int:
            await until(lambda: server.in_flight == 4, "both engines busy")
            (worker,) = workers_of()
            os.kill(worker, signal.SIGKILL)
            return worker

        killer = asyncio.create_task(kill_the_worker())
        with pytest.raises(WorkerError, match="worker process 1 exited"):
            await fetch_all(urls, options)
        worker = await killer
        assert worker not in children()  # reaped, not left a zombie
        assert workers_of() == []
        await nothing_left(server, sockets, transports)


# --- the command, interrupted or broken midway ---------------------------------------------------


async def start_cli(urls: list[str], *args: str) -> asyncio.subprocess.Process:
    """`python -m fetchcli ARGS -` reading `urls` on stdin, writing jsonl."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "fetchcli", "--format", "jsonl", "-r", "0", *args, "-"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write("".join(f"{url}\n" for url in urls).encode())
    await process.stdin.drain()
    process.stdin.close()
    return process


async def finish(process: asyncio.subprocess.Process) -> tuple[int, list[str], str]:
    """Wait (at most SETTLE seconds) for the process: exit code, stdout lines, stderr."""
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), SETTLE)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"fetchcli did not end within {SETTLE:g}s")
    assert process.returncode is not None
    return process.returncode, stdout.decode().splitlines(), stderr.decode()


@asynchronous
async def test_sigint_mid_run_exits_130_and_closes_every_connection() -> None:
    async with raw_server(slow_or_fast()) as server:
        urls = [server.url(f"/fast?{n}") for n in range(3)]
        urls += [server.url(f"/slow?{n}") for n in range(10)]
        process = await start_cli(urls, "-c", "4")
        await until(lambda: server.in_flight == 4, "four requests waiting")
        process.send_signal(signal.SIGINT)
        code, lines, stderr = await finish(process)
        assert code == 130, stderr
        assert len(lines) == 3 and all('"ok": true' in line for line in lines)
        await until(lambda: server.open == 0, "every connection closed")


@asynchronous
async def test_a_worker_killed_mid_run_ends_the_command_with_an_error() -> None:
    async with raw_server(slow_or_fast()) as server:
        urls = [server.url(f"/slow?{n}") for n in range(8)]
        process = await start_cli(urls, "--workers", "2", "-c", "4")
        await until(lambda: server.in_flight == 4, "both processes busy")
        (worker,) = workers_of(process.pid)
        os.kill(worker, signal.SIGKILL)
        code, lines, stderr = await finish(process)
        assert code == 1 and lines == [], stderr
        assert "worker process 1 exited" in stderr and "--resume" in stderr
        assert "nothing was checked" not in stderr  # the input had URLs: the worker failed
        await until(lambda: server.open == 0, "every connection closed")
