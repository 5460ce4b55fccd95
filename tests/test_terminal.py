"""The terminal side of a run: batching beside the live status line, broken pipes, warnings."""

from __future__ import annotations

import asyncio
import io

from fetchcli.cli.environment import Environment
from fetchcli.cli.terminal import _TERMINAL_BATCH, Terminal
from fetchcli.sinks.summary import Summary


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError


def terminal(
    *, stdout: io.StringIO | None = None, tty: bool = True, quiet: bool = False
) -> Terminal:
    env = Environment(
        stdin=io.StringIO(),
        stdout=stdout or io.StringIO(),
        stderr=io.StringIO(),
        stdout_isatty=tty,
        stderr_isatty=tty,
    )
    return Terminal(env, quiet=quiet, results_on_stdout=True)


def test_result_lines_wait_for_the_refresh_while_the_status_is_live() -> None:
    term = terminal()
    assert term.hold("first")
    assert term.env.stdout.getvalue() == ""  # type: ignore[attr-defined]

    async def main() -> None:
        term.start(Summary())
        await term.finish()

    asyncio.run(main())
    assert term.env.stdout.getvalue() == "first\n"  # type: ignore[attr-defined]


def test_a_full_batch_is_written_before_the_refresh() -> None:
    term = terminal()
    for n in range(_TERMINAL_BATCH):
        term.hold(str(n))
    assert term.env.stdout.getvalue().count("\n") == _TERMINAL_BATCH  # type: ignore[attr-defined]


def test_result_lines_do_not_wait_without_a_status_line() -> None:
    assert not terminal(tty=False).hold("line")
    assert not terminal(quiet=True).hold("line")


def test_a_broken_pipe_while_writing_a_batch_marks_the_reader_gone() -> None:
    term = terminal(stdout=_ClosedPipe())
    term.hold("line")
    term.flush()
    assert term.broken_pipe and not term.hold("later")


def test_a_quiet_terminal_makes_no_console_until_it_warns() -> None:
    term = terminal(quiet=True)
    assert not term.live and term._console is None
    term.warn("fetchcli: error: \x1b[31mred")
    assert term.env.stderr.getvalue() == "fetchcli: error: \\x1b[31mred\n"  # type: ignore[attr-defined]
