"""Process exit codes (SPEC "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What the process tells its caller."""

    OK = 0
    FAILED = 1  # at least one result failed for good
    USAGE = 2
    TRANSIENT = 3  # failures, but only ones that may pass on a later run
    SIGINT = 130
    SIGTERM = 143
    BROKEN_PIPE = 141  # the reader of stdout went away (`| head`), as a shell reports SIGPIPE
