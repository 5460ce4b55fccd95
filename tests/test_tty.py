"""The live status line in a real terminal (a pty), read back as a person would see the screen.

Each test runs `python -m fetchcli` as a real process with stderr on a pty,
reads the pty until every writer has closed it, feeds the bytes to a small
VT100 model and checks the screen (and what scrolled off it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import ThreadedServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

ROWS, COLS = 24, 100
DEADLINE_SECONDS = 30.0
# A reader that prints each record as soon as it gets it, as `jq -r` does on a terminal.
READER = """
import json, sys
for line in sys.stdin:
    record = json.loads(line)
    sys.stdout.write(f"R {record['status']} {record['url']}\\n")
    sys.stdout.flush()
"""
# What only the live status line shows (the summary has none of these).
STATUS_MARKS = ("━", "ETA", "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏")
_CSI = re.compile(r"\x1b\[([?>]?)([0-9;]*)([@-~])")


class Screen:
    """Just enough of a VT100 to read back the screen: text, cursor moves, erase, scroll region."""

    def __init__(self, rows: int = ROWS, cols: int = COLS) -> None:
        self.rows, self.cols = rows, cols
        self.grid = [[" "] * cols for _ in range(rows)]
        self.history: list[str] = []  # lines scrolled off the top
        self.x = self.y = 0
        self.top, self.bottom = 0, rows - 1
        self.saved = (0, 0)
        self._wrap = False

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            char = text[i]
            if char == "\x1b":
                i = self._escape(text, i)
                continue
            if char == "\r":
                self.x, self._wrap = 0, False
            elif char == "\n":
                self._linefeed()
            elif char == "\b":
                self.x = max(0, self.x - 1)
            elif char >= " ":
                self._put(char)
            i += 1

    def lines(self) -> list[str]:
        """Everything a person could scroll back to, then the screen, trailing blanks cut."""
        lines = self.history + ["".join(row).rstrip() for row in self.grid]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def _put(self, char: str) -> None:
        if self._wrap:
            self.x, self._wrap = 0, False
            self._linefeed()
        self.grid[self.y][self.x] = char
        if self.x == self.cols - 1:
            self._wrap = True
        else:
            self.x += 1

    def _linefeed(self) -> None:
        self._wrap = False
        if self.y == self.bottom:
            gone = self.grid.pop(self.top)
            if self.top == 0:
                self.history.append("".join(gone).rstrip())
            self.grid.insert(self.bottom, [" "] * self.cols)
        elif self.y < self.rows - 1:
            self.y += 1

    def _escape(self, text: str, i: int) -> int:
        if text.startswith("\x1b7", i):
            self.saved = (self.x, self.y)
            return i + 2
        if text.startswith("\x1b8", i):
            (self.x, self.y), self._wrap = self.saved, False
            return i + 2
        match = _CSI.match(text, i)
        if match is None:
            return i + 2  # an escape this model does not need (charset, keypad…)
        private, params, final = match.groups()
        numbers = [int(p) if p else 0 for p in params.split(";")] if params else []
        if not private:
            self._csi(final, numbers)
        return match.end()

    def _csi(self, final: str, numbers: list[int]) -> None:
        first = numbers[0] if numbers else 0
        self._wrap = False
        if final == "A":
            self.y = max(0, self.y - max(1, first))
        elif final == "B":
            self.y = min(self.rows - 1, self.y + max(1, first))
        elif final == "C":
            self.x = min(self.cols - 1, self.x + max(1, first))
        elif final == "D":
            self.x = max(0, self.x - max(1, first))
        elif final in "Hf":
            row, col = [*numbers, 1, 1][:2]
            self.y, self.x = min(max(row, 1), self.rows) - 1, min(max(col, 1), self.cols) - 1
        elif final == "K":
            cells = self.grid[self.y]
            span = {0: range(self.x, self.cols), 1: range(self.x + 1), 2: range(self.cols)}[first]
            for cell in span:
                cells[cell] = " "
        elif final == "r":
            top, bottom = [*numbers, 0, 0][:2]
            self.top, self.bottom = (top or 1) - 1, (bottom or self.rows) - 1
            self.x = self.y = 0


def run_on_a_terminal(args: list[str], *, piped: bool) -> tuple[Screen, bytes, list[int]]:
    """Run fetchcli with stderr on a pty; its stdout on the pty too, or piped to READER on it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update(TERM="xterm-256color", PYTHONIOENCODING="utf-8")
    command = [sys.executable, "-m", "fetchcli", *args]
    out = subprocess.PIPE if piped else slave
    fetch = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=out, stderr=slave, env=env
    )  # fmt: skip
    processes = [fetch]
    if piped:
        assert fetch.stdout is not None
        reader = subprocess.Popen(
            [sys.executable, "-c", READER], stdin=fetch.stdout, stdout=slave, stderr=slave, env=env
        )
        fetch.stdout.close()
        processes.append(reader)
    os.close(slave)
    try:
        data = _read_until_closed(master)
        codes = [process.wait(timeout=DEADLINE_SECONDS) for process in processes]
    finally:
        for process in processes:
            with contextlib.suppress(OSError):
                process.kill()
        os.close(master)
    screen = Screen()
    screen.feed(data.decode("utf-8", "replace"))
    return screen, data, codes


def _read_until_closed(master: int) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer has closed the pty
            break
        if not chunk:
            break
        chunks.append(chunk)
    else:
        pytest.fail(f"the pty was still open after {DEADLINE_SECONDS:g}s")
    return b"".join(chunks)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as running:
        yield running


def url_list(server: ThreadedServer, tmp_path: Path, count: int, delay: float) -> Path:
    path = tmp_path / "urls.txt"
    lines = (server.url(f"/hold?delay={delay}&n={n}") for n in range(count))
    path.write_text("\n".join(lines) + "\n")
    return path


def status_fragments(lines: list[str]) -> list[str]:
    return [line for line in lines if any(mark in line for mark in STATUS_MARKS)]


# About a second of results arriving while the status line is redrawn five times a second.
SLOW = {"count": 40, "delay": 0.05}


def test_piped_results_never_share_a_line_with_the_status_line(
    server: ThreadedServer, tmp_path: Path
) -> None:
    urls = url_list(server, tmp_path, **SLOW)  # type: ignore[arg-type]
    screen, data, codes = run_on_a_terminal(["-c", "2", "--format", "jsonl", str(urls)], piped=True)
    assert codes == [0, 0]
    assert "━".encode() in data  # the status line was drawn while the reader printed
    read = [line for line in screen.lines() if "/hold?" in line]
    assert len(read) == SLOW["count"]
    for line in read:  # whole lines: nothing glued before or after a record
        assert re.fullmatch(r"R 200 http://127\.0\.0\.1:\d+/hold\?delay=0\.05&n=\d+", line)


def test_piped_results_leave_no_status_fragment_on_the_screen(
    server: ThreadedServer, tmp_path: Path
) -> None:
    urls = url_list(server, tmp_path, **SLOW)  # type: ignore[arg-type]
    screen, _, _ = run_on_a_terminal(["-c", "2", "--format", "jsonl", str(urls)], piped=True)
    assert status_fragments(screen.lines()) == []


def test_piped_results_end_with_a_newline_and_the_whole_screen_scrolling(
    server: ThreadedServer, tmp_path: Path
) -> None:
    urls = url_list(server, tmp_path, **SLOW)  # type: ignore[arg-type]
    screen, data, _ = run_on_a_terminal(["-c", "2", "--format", "jsonl", str(urls)], piped=True)
    assert screen.x == 0  # the cursor is at the start of a line
    assert (screen.top, screen.bottom) == (0, ROWS - 1)  # the scroll region was given back
    assert data.rstrip(b"\r\n") != data


def test_results_on_the_terminal_are_whole_lines_above_the_status_line(
    server: ThreadedServer, tmp_path: Path
) -> None:
    urls = url_list(server, tmp_path, **SLOW)  # type: ignore[arg-type]
    screen, data, codes = run_on_a_terminal(["-c", "2", str(urls)], piped=False)
    assert codes == [0] and "━".encode() in data
    results = [line for line in screen.lines() if "/hold?" in line]
    assert len(results) == SLOW["count"]
    assert all(re.fullmatch(r"200 5B \d+\.\d{3}s http://\S+", line) for line in results)
    assert status_fragments(screen.lines()) == [] and screen.x == 0


def test_a_stalled_run_says_so_on_the_status_line(server: ThreadedServer, tmp_path: Path) -> None:
    urls = url_list(server, tmp_path, count=1, delay=3.0)
    _, data, codes = run_on_a_terminal([str(urls)], piped=False)
    assert codes == [0]
    text = data.decode("utf-8", "replace")
    assert re.search(r"(waiting on 1 · oldest|no result for) 2s", text)


def test_the_demo_says_what_it_is_on_a_line_of_its_own() -> None:
    _, data, codes = run_on_a_terminal(["--demo", "--format", "none"], piped=False)
    assert codes == [0]
    text = data.decode("utf-8", "replace")
    before = Screen()
    before.feed(text[: text.index("demo: fetching 300 URLs")])
    assert before.x == 0  # not glued to a status line drawn before it


def test_a_fifo_source_is_read_whole_with_the_status_line_on(
    server: ThreadedServer, tmp_path: Path
) -> None:
    # The live line counts its total by reading the sources again: never a pipe, which it
    # would take lines from (the run then waited for a writer that had gone).
    fifo = tmp_path / "urls"
    os.mkfifo(fifo)
    lines = "".join(f"{server.url(f'/hold?delay=0.01&n={n}')}\n" for n in range(20))

    def write() -> None:
        with fifo.open("w") as writer:  # waits for the run to open it
            writer.write(lines)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    screen, _, codes = run_on_a_terminal([str(fifo), "--format", "jsonl"], piped=True)
    writer.join(timeout=DEADLINE_SECONDS)
    assert codes == [0, 0]
    assert len([line for line in screen.lines() if "/hold?" in line]) == 20
