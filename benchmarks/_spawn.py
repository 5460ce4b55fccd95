"""Run one command, reap it with os.wait4, and write what it cost to a JSON file.

run.py starts every client through this small helper (as `python -I -S`)
rather than forking the client itself, because Linux's ru_maxrss of a child
counts the memory image it was forked from: a client forked from the runner
could never show less than the runner's own RSS. Forked from this helper, the
floor is the helper's size (~10 MiB), which run.py measures and reports.

Usage:

    python -I -S benchmarks/_spawn.py RESULT.json COMMAND [ARG]...
"""

import json
import os
import sys
import time


def main() -> None:
    """Spawn argv[2:], wait for it, write wall/cpu/maxrss/exit_code to argv[1]."""
    result, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    figures = {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "maxrss_kib": usage.ru_maxrss,
        "exit_code": os.waitstatus_to_exitcode(status),
    }
    with open(result, "w", encoding="utf-8") as out:
        json.dump(figures, out)


if __name__ == "__main__":
    main()
