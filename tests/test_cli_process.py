"""The command as a real process: stdin pipes, broken pipes, signals, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import jsonl, run_process


@pytest.fixture
def slow_site() -> Iterator[HTTPServer]:
    """A threaded server whose /slow answers after 30 s and /fast at once."""
    server = HTTPServer(threaded=True)
    server.start()

    def slow(_request: Request) -> Response:
        for _ in range(300):  # bounded: 30 s at most
            time.sleep(0.1)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(slow)
    server.expect_request("/fast").respond_with_data("quick")
    yield server
    server.clear()
    server.stop()


def test_urls_piped_on_stdin_are_fetched(site: HTTPServer) -> None:
    urls = f"{site.url_for('/ok')}\n# skip\n{site.url_for('/other')}\n".encode()
    done = run_process(["--format", "jsonl", "-q"], input=urls)
    records = jsonl(done.stdout.decode())
    assert done.returncode == 0
    assert sorted((r["source"], r["line"]) for r in records) == [("-", 1), ("-", 3)]


def test_no_source_and_a_terminal_on_stdin_is_a_usage_error() -> None:
    if not os.path.exists("/dev/tty"):
        pytest.skip("no terminal available")
    try:
        tty = open("/dev/tty", "rb")  # noqa: SIM115
    except OSError:
        pytest.skip("no terminal available")
    with tty:
        done = run_process([], stdin=tty)
    assert done.returncode == 2 and b"stdin" in done.stderr


def test_head_closing_the_pipe_ends_quietly(site: HTTPServer) -> None:
    urls = "".join(f"{site.url_for('/ok')}?n={n}\n" for n in range(300))
    pipeline = (
        f'{sys.executable} -m fetchcli -q -c 4 - | head -n 3; echo "status=${{PIPESTATUS[0]}}" >&2'
    )
    done = subprocess.run(
        ["bash", "-c", pipeline], input=urls.encode(), capture_output=True, timeout=60
    )
    assert len(done.stdout.splitlines()) == 3
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr
    assert b"status=141" in done.stderr


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_run_with_whole_lines_and_a_summary(
    slow_site: HTTPServer, url_file: Callable[..., Path], signum: int, code: int
) -> None:
    path = url_file(*[slow_site.url_for("/fast")] * 3, *[slow_site.url_for("/slow")] * 3)
    process = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "--format", "jsonl", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]  # the fast ones are out
    process.send_signal(signum)
    rest, stderr = process.communicate(timeout=20)
    assert process.returncode == code
    records = [json.loads(line) for line in [*lines, *rest.splitlines()]]
    assert len(records) == 3 and all(r["status"] == 200 for r in records)
    assert b"total" in stderr and b"Traceback" not in stderr


def test_the_pre_commit_hook_fails_on_a_broken_link(site: HTTPServer, tmp_path: Path) -> None:
    hooks = (Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text()
    entry = next(line.split(":", 1)[1].split() for line in hooks.splitlines() if "entry:" in line)
    assert entry[0] == "fetchcli"
    good = tmp_path / "good.md"
    # 127.0.0.1, not localhost: a reserved name that --extract skips by default.
    ok, missing = (f"http://127.0.0.1:{site.port}{path}" for path in ("/ok", "/missing"))
    good.write_text(f"# Title\n\nSee [the page]({ok}) and [the title](#title).\n")
    bad = tmp_path / "bad.md"
    bad.write_text(f"A [dead link]({missing}), and <{ok}>.\n")
    assert run_process([*entry[1:], str(good)]).returncode == 0
    done = run_process([*entry[1:], str(good), str(bad)])
    assert done.returncode == 1 and b"Traceback" not in done.stderr


def test_fetchcli_environment_variables_reach_a_real_process(site: HTTPServer) -> None:
    env = {**os.environ, "FETCHCLI_ACCEPT": "404", "FETCHCLI_FORMAT": "jsonl"}
    done = run_process(["-q"], input=site.url_for("/missing").encode() + b"\n", env=env)
    assert done.returncode == 0 and jsonl(done.stdout.decode())[0]["ok"] is True


def test_a_low_open_file_limit_lowers_concurrency_with_a_warning(site: HTTPServer) -> None:
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    urls = "".join(f"{site.url_for('/ok')}?n={n}\n" for n in range(20)).encode()
    done = run_process(["-c", "5000", "-q", "--format", "jsonl"], input=urls, preexec_fn=low_limit)
    assert done.returncode == 0 and len(jsonl(done.stdout.decode())) == 20
    warning = [line for line in done.stderr.decode().splitlines() if "open-file limit" in line]
    assert len(warning) == 1 and "-c 5000" in warning[0]
    # Two connections per slot (busy or idle) and some spare files fit under 256.
    assert "using -c 96" in warning[0]
    assert b"Traceback" not in done.stderr


class _CountingServer:
    """A keep-alive HTTP/1.1 server on 127.0.0.1, in a thread, that counts open connections."""

    def __init__(self) -> None:
        self.open = self.most_open = self.connections = 0
        self.port = 0
        self._started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="counting-server", daemon=True)

    def __enter__(self) -> _CountingServer:
        self._thread.start()
        assert self._started.wait(10), "the counting server did not start"
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        server.close()
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.connections += 1
        self.most_open = max(self.most_open, self.open)
        try:
            for _ in range(10_000):  # bounded: a connection serves at most this many requests
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed it
        finally:
            self.open -= 1
            writer.close()


def test_a_thousand_origins_fit_under_an_open_file_limit_of_256() -> None:
    # A link check over many sites: each origin gets its own connection. Busy or idle,
    # connections stay under 2 x -c whatever the number of origins, so 1 000 of them
    # fit under a soft limit of 256 open files. Distinct host names under `localhost`
    # are distinct origins, all on 127.0.0.1 (libcurl resolves *.localhost itself).
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    with _CountingServer() as server:
        urls = "".join(f"http://o{n}.localhost:{server.port}/\n" for n in range(1000))
        done = run_process(
            ["-c", "50", "-q", "--format", "jsonl"],
            input=urls.encode(),
            preexec_fn=low_limit,
            timeout=120,
        )
    records = jsonl(done.stdout.decode())
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(records) == 1000 and all(record["ok"] for record in records)
    assert server.connections >= 1000  # one origin each: nothing was shared
    # The server sees a close a moment after the client made it: a little slack for that.
    assert server.most_open <= 2 * 50 + 10, server.most_open


def test_a_second_ctrl_c_exits_at_once(
    slow_site: HTTPServer, url_file: Callable[..., Path]
) -> None:
    path = url_file(*[slow_site.url_for("/slow")] * 2)
    process = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", str(path), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # let it start its requests (the server holds them for 30 s)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=10)
    assert process.returncode == 130


def test_a_quiet_run_imports_no_rich(site: HTTPServer, url_file: Callable[..., Path]) -> None:
    path = url_file(site.url_for("/ok"), site.url_for("/missing"))
    code = (
        "import sys\n"
        f"sys.argv = ['fetchcli', {str(path)!r}, '-q', '--format', 'none']\n"
        "from fetchcli.__main__ import run\n"
        "print('exit', run())\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'rich'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.stdout.decode().splitlines() == ["exit 1", "[]"], done.stderr.decode()
    assert len(site.log) == 2


def test_a_closed_stdout_is_one_line_and_exit_2(tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/\n" * 3)
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", str(urls), "-q", "-r", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert done.returncode == 2
    assert b"standard output is closed" in done.stderr and b"Traceback" not in done.stderr


def test_a_stopped_run_with_a_jsonl_file_says_how_to_finish_it(
    slow_site: HTTPServer, url_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = url_file(*[slow_site.url_for("/fast")] * 2, *[slow_site.url_for("/slow")] * 3)
    out = tmp_path / "out.jsonl"
    argv = [str(path), "--format", "jsonl", "-o", str(out), "-q"]
    process = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline
        and len(out.read_bytes().splitlines() if out.exists() else []) < 2
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert b"stopped after 2 of 5 results; 3 not done" in stderr
    assert b"finish the run with: fetchcli " in stderr and b"--resume" in stderr


def test_a_stopped_run_from_stdin_says_the_rest_was_not_done(slow_site: HTTPServer) -> None:
    urls = [slow_site.url_for("/fast")] * 2 + [slow_site.url_for("/slow")] * 3
    process = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "-", "-q", "-c", "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("".join(f"{url}\n" for url in urls).encode())
    process.stdin.flush()  # stdin stays open: how much more will come is unknown
    first = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert first.startswith(b"200 ") and process.returncode == 130
    assert b"fetchcli: stopped after " in stderr and b"results; the rest were not done" in stderr


def test_a_stopped_run_from_a_fifo_ends_at_once(slow_site: HTTPServer, tmp_path: Path) -> None:
    # A named pipe cannot be read twice: counting it after the stop would wait forever.
    fifo = tmp_path / "urls"
    os.mkfifo(fifo)
    urls = [slow_site.url_for("/fast")] * 2 + [slow_site.url_for("/slow")] * 3
    process = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", str(fifo), "-q", "-c", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with fifo.open("w") as writer:  # opens once the reader has; closed: the writer is gone
        writer.write("".join(f"{url}\n" for url in urls))
    assert process.stdout is not None
    first = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert first.startswith(b"200 ") and process.returncode == 130
    assert b"results; the rest were not done" in stderr


def test_an_empty_input_warns_and_exits_0() -> None:
    done = run_process(["-q"], input=b"# nothing but a comment\n\n")
    assert done.returncode == 0 and b"warning: no URL in the input" in done.stderr


def test_the_demo_says_what_it_is_before_it_starts() -> None:
    done = run_process(["--demo", "--format", "none"])
    first = done.stderr.decode().splitlines()[0]
    assert done.returncode == 0 and first.startswith("demo: fetching 300 URLs from a small site")


@pytest.mark.parametrize(
    ("args", "names"), [(["--format", "xml"], b"--format"), (["--concurency", "5"], b"--concur")]
)
def test_click_usage_errors_have_the_same_two_line_style(args: list[str], names: bytes) -> None:
    done = run_process([*args, "urls.txt"])
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 2
    assert lines[0].startswith(b"fetchcli: error: ") and names in lines[0]
    assert lines[1] == b"Try 'fetchcli --help' for help."


@pytest.mark.parametrize(
    ("code", "status", "stdout", "stderr"),
    [
        ("3", 3, "pending", ""),
        ("None", 0, "pending", ""),
        ("'a message'", 1, "pending", "a message\n"),
    ],
)
def test_the_entry_point_ends_with_what_it_buffered_and_its_status(
    code: str, status: int, stdout: str, stderr: str
) -> None:
    """`exit_now` skips interpreter teardown: buffered text must still come out."""
    script = (
        "import sys\n"
        "from fetchcli.__main__ import exit_now\n"
        "sys.stdout.write('pending')\n"  # no newline: still in Python's buffer
        f"exit_now({code})\n"
        "print('not reached')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (status, stdout, stderr)


def test_the_entry_point_ends_quietly_with_its_stdout_closed() -> None:
    script = "from fetchcli.__main__ import exit_now\nexit_now(0)\n"
    done = subprocess.run(
        [sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=60, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, b"")


def test_a_run_with_stderr_closed_still_writes_its_results(
    site: HTTPServer, url_file: Callable[..., Path]
) -> None:
    path = url_file(site.url_for("/ok"), site.url_for("/missing"))
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", str(path), "--format", "jsonl", "-r", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60,
        preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert done.returncode == 1  # one URL failed: the usual exit code, no crash
    assert [record["status"] for record in jsonl(done.stdout.decode())] in ([200, 404], [404, 200])


def test_version_with_stdout_closed_says_so() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--version"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == b"fetchcli: error: standard output is closed\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_for_the_results_is_one_error_about_writing(
    site: HTTPServer, url_file: Callable[..., Path]
) -> None:
    path = url_file(*(f"{site.url_for('/ok')}?n={n}" for n in range(300)))  # fails mid-run
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "fetchcli", str(path), "-q"],
            stdout=full, stderr=subprocess.PIPE, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "fetchcli: error: cannot write results: [Errno 28] No space left on device"
    ]
