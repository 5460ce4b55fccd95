"""`python -m fetchcli` and the `fetchcli` console script.

`--version` is answered here, before Typer (or anything else) is imported,
so that asking for it costs little more than starting Python.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Entry point: `fetchcli [OPTIONS] [SOURCE]...`."""
    if sys.argv[1:] == ["--version"]:
        from fetchcli._version import version_line

        try:
            sys.stdout.write(version_line() + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    skip_httpx_cli()
    from fetchcli.cli.app import main as run_cli

    run_cli()


def skip_httpx_cli() -> None:
    """Keep httpx from importing its own command-line tool in a fetchcli process.

    With click installed, `import httpx` loads its CLI (click, Rich's syntax
    highlighting, Pygments): about 40 ms of every start, never used here.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
