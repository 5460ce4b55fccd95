"""Run one command as a child process and measure it with os.wait4 (in _spawn.py).

wall = seconds from spawn to reap (perf_counter); cpu = user + sys seconds of
the child and of every descendant it reaped; maxrss = ru_maxrss in KiB (Linux),
the peak resident set of the largest single process among them, not a sum,
and never below the helper's own size (see _spawn.py and rss_floor_kib).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SPAWN = Path(__file__).with_name("_spawn.py")
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
    """This environment without proxy or FETCHCLI_* variables: traffic stays on 127.0.0.1.

    No NO_PROXY is added either: a client may pick a different code path when
    proxy variables are present (fetchcli once did), and the benchmark should
    measure the path a user without proxies gets.
    """
    return {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in PROXY_VARIABLES
        and not k.startswith("FETCHCLI_")
        # .pyc files are kept, as after a pip install (which compiles them): the
        # warm-up writes them, so no client recompiles its modules on every run.
        and k != "PYTHONDONTWRITEBYTECODE"
    }


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
    """Run argv through _spawn.py to its end (killed after timeout seconds); return its cost."""
    stderr_path = stdout.with_suffix(".stderr")
    result_path = stdout.with_suffix(".usage.json")
    result_path.unlink(missing_ok=True)
    fired: list[bool] = []
    helper = [sys.executable, "-I", "-S", str(SPAWN), str(result_path), *argv]
    with stdout.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        # Own process group: a timeout kills the helper, the client and any workers it forked.
        process = subprocess.Popen(
            helper,
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
    try:
        figures = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # killed, or the command could not be started
        figures = {
            "wall": wall,
            "cpu": rusage.ru_utime + rusage.ru_stime,
            "maxrss_kib": rusage.ru_maxrss,
            "exit_code": process.returncode or 127,
        }
    return Usage(
        wall=float(figures["wall"]),
        cpu=float(figures["cpu"]),
        maxrss_kib=int(figures["maxrss_kib"]),
        exit_code=int(figures["exit_code"]),
        timed_out=bool(fired),
        stderr_tail=tail[-1] if tail else "",
    )


def rss_floor_kib(env: Mapping[str, str], scratch: Path) -> int:
    """The smallest peak RSS a measured run can show: that of `true` run through the helper."""
    return run_measured(["true"], env=env, timeout=30, stdout=scratch / "floor.out").maxrss_kib


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None
