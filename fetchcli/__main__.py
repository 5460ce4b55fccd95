"""`python -m fetchcli` and the `fetchcli` console script.

`--version` is answered here, before Typer (or anything else) is imported,
so that asking for it costs little more than starting Python. A run ends with
`os._exit` once its output is flushed: the interpreter's teardown (freeing
every object of httpx, Typer, Rich and the run) would add ~45 ms to each run
and change nothing a user sees.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: `--version` imports as little as it can
if TYPE_CHECKING:
    from typing import TextIO


def main() -> None:
    """Entry point: `fetchcli [OPTIONS] [SOURCE]...`."""
    exit_now(run())


def run() -> object:
    """Run the command given in sys.argv; what it exits with (a `SystemExit` code).

    Usage: `status = run()` (tests look at the process after it, before `exit_now`).
    """
    if sys.stderr is None:  # started with stderr closed (`2>&-`): messages go nowhere
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the run
    if sys.argv[1:] == ["--version"]:
        from fetchcli._version import version_line

        if sys.stdout is None:  # `>&-`: as for results, say so (exit 2)
            sys.stderr.write("fetchcli: error: standard output is closed\n")
            return 2
        try:
            sys.stdout.write(version_line() + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    skip_httpx_cli()
    from fetchcli.cli.app import main as run_cli

    try:
        run_cli()
    except SystemExit as stop:
        return stop.code
    return 0


def exit_now(code: object) -> None:
    """End the process with `code` (as `SystemExit(code)` would), skipping interpreter teardown.

    Called once the run is over: every file the run wrote is closed, the event loop
    and its threads are shut down, and only Python's own stdout/stderr buffers may
    still hold text, so they are flushed first. A crash (any other exception) still
    ends the usual way, with its traceback. Under a profiler, tracer or coverage
    tool, which write their data at exit, the process exits the usual way too.
    """
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        _write(sys.stderr, f"{code}\n")
        status = 1
    if _observed():
        sys.exit(status)
    for stream in (sys.stdout, sys.stderr):
        _write(stream, "")
    os._exit(status)


def _write(stream: TextIO | None, text: str) -> None:
    """Write and flush, as interpreter exit does: a closed or missing stream is passed over."""
    if stream is None:  # started with that descriptor closed
        return
    try:  # not contextlib.suppress: one import less on the `--version` path
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # a reader gone (`| head`), or a closed stream
        return


def _observed() -> bool:
    """Whether a profiler, tracer or coverage tool watches this process (it saves at exit)."""
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+: sys.monitoring tools
    return monitoring is not None and any(monitoring.get_tool(tool) for tool in range(6))


def skip_httpx_cli() -> None:
    """Keep httpx from importing its own command-line tool in a fetchcli process.

    With click installed, `import httpx` loads its CLI (click, Rich's syntax
    highlighting, Pygments): about 40 ms of every start, never used here.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
