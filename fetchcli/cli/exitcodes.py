"""Process exit codes (SPEC "Exit codes") and the policy that picks one for a run."""

from __future__ import annotations

import signal
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What decides a run's exit code, gathered as the run ends."""

    input_error: bool = False  # a source, --save, --cache or --resume failed part-way
    fatal: bool = False  # a --workers process died
    signal: int | None = None  # the first SIGINT/SIGTERM received
    broken_pipe: bool = False
    demo_passed: bool | None = None  # --demo: whether every URL gave what the site is built to
    permanent: int = 0  # failed results by kind (SPEC "Exit codes")
    transient: int = 0


def exit_code(outcome: Outcome) -> ExitCode:
    """The exit code for a run, by SPEC "Exit codes": the first rule that applies wins."""
    if outcome.input_error:
        return ExitCode.USAGE
    if outcome.fatal:
        return ExitCode.FAILED
    if outcome.signal is not None:
        return ExitCode.SIGINT if outcome.signal == signal.SIGINT else ExitCode.SIGTERM
    if outcome.broken_pipe:
        return ExitCode.BROKEN_PIPE
    if outcome.demo_passed is not None:
        return ExitCode.OK if outcome.demo_passed else ExitCode.FAILED
    if outcome.permanent:
        return ExitCode.FAILED
    return ExitCode.TRANSIENT if outcome.transient else ExitCode.OK
