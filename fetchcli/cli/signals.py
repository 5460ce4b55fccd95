"""Signals: the first SIGINT/SIGTERM stops the run gently, a second ends the process at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# After a first signal, how long the run may take to write what completed.
GRACE_SECONDS = 5.0


class GentleStop:
    """On a first signal: set `stop` (the engine cancels what is in flight), cancel `work` later.

    Usage: `with GentleStop(stop).installed(work): await work`; then `received`.
    """

    def __init__(
        self,
        stop: asyncio.Event,
        grace: float = GRACE_SECONDS,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.stop = stop
        self.grace = grace
        self.received: int | None = None
        self._on_exit = on_exit  # puts the terminal right before a second signal ends us

    @contextlib.contextmanager
    def installed(self, work: asyncio.Task[None]) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        handled = []
        for signum in SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._on_signal, signum, work)
                handled.append(signum)
        try:
            yield
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int, work: asyncio.Task[None]) -> None:
        if self.received is not None:  # a second signal: stop at once
            if self._on_exit is not None:
                self._on_exit()
            os._exit(128 + signum)
        self.received = signum
        # Whatever else the run is waiting on ends too, after a grace period.
        self.stop.set()
        asyncio.get_running_loop().call_later(self.grace, work.cancel)


@contextlib.contextmanager
def exit_at_once_on_signal() -> Iterator[None]:
    """While the last lines drain (no event loop), a signal ends the process at once."""
    previous = {
        signum: signal.signal(signum, lambda n, _f: os._exit(128 + n)) for signum in SIGNALS
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit_now(signum: int, _frame: object) -> None:
    os._exit(128 + signum)
