"""LineSink: whole lines, each flushed, written from a thread of its own.

A pipeline sees results as they complete and a killed run leaves only whole
lines behind.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import IO

# Lines the writer thread may hold before `put` waits (bounded memory for a slow reader).
_PENDING_LINES = 4096
_FULL_WAIT = 0.01


class LineSink:
    """Writes whole lines, each flushed, from a thread of its own.

    A slow or stalled reader of stdout then never blocks the event loop (and
    so never stretches timings or delays signals); `put` waits, off the loop,
    only while many lines are pending. The stream is opened on first use, so
    a run that fails before any result leaves `-o FILE` as it was.
    Usage: `sink = LineSink(lambda: sys.stdout); await sink.put(line); sink.close()`.
    """

    def __init__(self, open_stream: Callable[[], IO[str]], *, owns_stream: bool) -> None:
        self._open = open_stream
        self._owns = owns_stream
        self._stream: IO[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue(maxsize=_PENDING_LINES)
        self.broken = False  # the reader went away (`| head`)
        self.error: OSError | None = None
        self._create = True  # open the stream at close even if no line came (-o FILE replaced)
        self._thread = threading.Thread(target=self._run, name="fetchcli-writer", daemon=True)
        self._thread.start()

    async def put(self, line: str) -> None:
        """Queue one line (without its newline); BrokenPipeError once the reader is gone."""
        while True:
            if self.broken:
                raise BrokenPipeError("stdout was closed")
            if self.error is not None:
                raise self.error
            try:
                self._lines.put_nowait(line)
                return
            except queue.Full:
                # A stalled reader: wait on the loop (not in a thread), so signals still work.
                await asyncio.sleep(_FULL_WAIT)

    def close(self, *, create: bool = True) -> None:
        """Write what is pending, then close. With `create=False` an unopened file stays as it was.

        Waits in short steps, so that a signal handler can still end the process
        while a stalled reader holds the last lines.
        """
        self._create = create
        while True:
            try:
                self._lines.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        while self._thread.is_alive():
            self._thread.join(0.1)

    def _run(self) -> None:
        while (line := self._lines.get()) is not None:
            if self.broken or self.error is not None:
                continue  # keep draining so that put() never waits forever
            try:
                self._write(line)
            except BrokenPipeError:
                self.broken = True
            except OSError as exc:
                self.error = exc
            except (ValueError, AttributeError) as exc:  # a closed or missing stream
                self.error = OSError(f"the stream is closed ({exc})")
        try:
            if self._stream is None and self.error is None and self._create:
                self._stream = self._open()
            if self._stream is not None and self._owns:
                self._stream.close()
        except OSError as exc:
            self.error = self.error or exc

    def _write(self, line: str) -> None:
        if self._stream is None:
            self._stream = self._open()
        self._stream.write(line + "\n")
        self._stream.flush()
