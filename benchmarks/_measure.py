"""Run one command as a child process and measure it with os.wait4.

wall = seconds from spawn to reap (perf_counter); cpu = user + sys seconds of
the child and of every descendant it reaped; maxrss = ru_maxrss in KiB (Linux),
the peak resident set of the largest single process among them, not a sum.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy")


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What one child process cost."""

    wall: float
    cpu: float
    maxrss_kib: int
    exit_code: int
    timed_out: bool
    stderr_tail: str


def local_env() -> dict[str, str]:
    """This environment without proxies or FETCHCLI_* settings: traffic stays on 127.0.0.1."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in PROXY_VARIABLES and not k.startswith("FETCHCLI_")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _kill_group(process: subprocess.Popen[bytes], fired: list[bool]) -> None:
    fired.append(True)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    stdout: Path,
    cwd: Path | None = None,
) -> Usage:
    """Run argv to its end (killed after timeout seconds) and return what it cost."""
    stderr_path = stdout.with_suffix(".stderr")
    fired: list[bool] = []
    with stdout.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        # Own process group: a timeout kills the client and any workers it forked.
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    timer = threading.Timer(timeout, _kill_group, (process, fired))
    timer.start()
    try:
        _, status, rusage = os.wait4(process.pid, 0)
    except BaseException:  # Ctrl-C or SIGTERM: take the client down with us
        _kill_group(process, [])
        process.wait()
        raise
    finally:
        timer.cancel()
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    tail = stderr_path.read_bytes()[-2000:].decode("utf-8", "replace").strip().splitlines()
    return Usage(
        wall=wall,
        cpu=rusage.ru_utime + rusage.ru_stime,
        maxrss_kib=rusage.ru_maxrss,
        exit_code=process.returncode,
        timed_out=bool(fired),
        stderr_tail=tail[-1] if tail else "",
    )


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None
