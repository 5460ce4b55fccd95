"""What a run gets from its surroundings: streams, terminals, the open-file limit."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from fetchcli.options import CONNECTIONS_PER_SLOT, FetchOptions

# File descriptors kept free beside one per connection: stdio, output, cache, saves.
_SPARE_FILES = 64


def _isatty(stream: TextIO | BinaryIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass(slots=True)
class Environment:
    """The streams a run uses and whether each is a terminal (replaceable in tests)."""

    stdin: BinaryIO = field(default_factory=lambda: sys.stdin.buffer)  # sources read from it
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)


def fit_open_files(options: FetchOptions, warn: Callable[[str], object]) -> FetchOptions:
    """Raise the soft open-file limit for -c's connections; if the hard limit is too low, lower -c.

    Every connection is a file descriptor (the wire keeps up to CONNECTIONS_PER_SLOT per
    -c slot); running out mid-run would fail URLs instead of fetching them.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return options
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Per -c slot: the wire's connections (a second wire reads pages for --check-fragments)
    # and, with --save, the file a body is written to.
    per_slot = CONNECTIONS_PER_SLOT * (2 if options.documents.check_fragments else 1)
    per_slot += 1 if options.request.save_dir else 0
    needed = options.schedule.concurrency * per_slot + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitted = max(1, (soft - _SPARE_FILES) // per_slot)
        warn(
            f"fetchcli: warning: open-file limit {soft} is too low for"
            f" -c {options.schedule.concurrency}; using -c {fitted}"
        )
        return options.replace(concurrency=fitted)
    return options
