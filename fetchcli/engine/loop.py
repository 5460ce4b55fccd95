"""The event loop a run gets: asyncio's default, but a selector loop on Windows.

The libcurl wire watches its sockets with `loop.add_reader`/`add_writer`, which
Windows' default Proactor loop does not have; its selector loop does (with
select(), so at most 512 sockets at once there).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on a loop the wire can use, on every platform.

    Usage: `code = run(amain())`.
    """
    factory = asyncio.SelectorEventLoop if sys.platform == "win32" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
