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
        from fetchcli._version import __version__

        try:
            sys.stdout.write(f"fetchcli {__version__}\n")
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    from fetchcli.cli import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
