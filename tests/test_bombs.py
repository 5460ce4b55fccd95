"""Compression bombs: a tiny body that decodes to 1 GiB stops at --max-body in little memory.

Each runs `python -m fetchcli` as a real child process and reads that child's
own peak RSS from `os.wait4` (in a small launcher process, so that nothing of
the test process is counted).
"""

from __future__ import annotations

import base64
import functools
import gzip
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pycurl  # type: ignore[import-untyped]
import pytest

from conftest import jsonl
from fetchcli.demo.httpserver import Request
from servers import ThreadedServer

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform != "linux", reason="fork, and ru_maxrss in KiB: Linux"),
]

GIB = 1024 * 1024 * 1024
MAX_BODY = 1000
PEAK_RSS_LIMIT = 100 * 1024 * 1024
# What decoding may add to a run's peak: brotli's 16 MiB window and a little more.
DECODER_ALLOWANCE = 32 * 1024 * 1024
CHILD_SECONDS = 30.0

# 1 GiB of zeros as brotli (quality 5, 16 MiB window: 809 bytes), zlib-compressed and
# base64-encoded. Made once with libbrotlienc's streaming encoder; libbrotlidec gives back
# exactly 2**30 zero bytes.
BROTLI_GIB_OF_ZEROS = zlib.decompress(
    base64.b64decode(
        "eNo7//9/PYMKw6ONDkXv///8/5+/gcVBRqzh3V/7////M05g6DjMdGHv/+f//9szCDEURjDs+v7/z///7A5MCnzc"
        "Dt//zQeqYvBgOJLI+OLe/8///8szcDZY6DDc/V3/7/9/ZgVGgXbWBdX/z0Mt2cBQMmrJqCVD0RJ7APFnrt4="
    )
)


@functools.cache
def gzip_of_zeros(size: int) -> bytes:
    """A valid gzip member of `size` zero bytes, made in milliseconds.

    After a full flush deflate starts afresh, so every further MiB of zeros
    compresses to the same bytes: one block is made once and repeated, and the
    trailer (CRC-32, length) is written for the whole.
    """
    mib = 1024 * 1024
    assert size % mib == 0 and size < 2**32
    zeros = bytes(mib)
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: with a gzip header and trailer
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush()[:-8]  # the final block, without the trailer of what it saw
    crc = 0
    for _ in range(size // mib):
        crc = zlib.crc32(zeros, crc)
    return first + again * (size // mib - 1) + end + struct.pack("<II", crc, size)


def test_gzip_of_zeros_is_valid_gzip() -> None:
    assert gzip.decompress(gzip_of_zeros(4 * 1024 * 1024)) == bytes(4 * 1024 * 1024)


def serve(body: bytes, encoding: str) -> ThreadedServer:
    """A server answering every request with `body`, labelled `Content-Encoding: encoding`."""

    async def bomb(request: Request) -> None:
        headers = [("Content-Encoding", encoding), ("Content-Type", "application/octet-stream")]
        await request.respond(200, body, headers)

    return ThreadedServer(bomb)


# Starts `python -m fetchcli ARGS` from a small forked process and writes its peak RSS
# (KiB on Linux) to PEAK_FILE. Measured from the test process instead, the child's
# ru_maxrss would start at the test's own RSS: exec records the old image's peak.
LAUNCHER = """
import os, sys
peak_file, *args = sys.argv[1:]
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "fetchcli", *args])
_, status, usage = os.wait4(pid, 0)
with open(peak_file, "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[bytes], int]:
    """Run `python -m fetchcli ARGS`; its outcome and its peak RSS in bytes."""
    peak_file = tmp_path / "peak"
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(peak_file), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a timeout ends the launcher and fetchcli together
    )
    try:
        stdout, stderr = process.communicate(timeout=CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"fetchcli did not end within {CHILD_SECONDS:g}s")
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return done, int(peak_file.read_text()) * 1024  # Linux counts KiB


def fetch_measured(body: bytes, encoding: str, tmp_path: Path) -> tuple[dict[str, object], int]:
    """The record and the peak RSS of `fetchcli --max-body 1000` on a body so labelled."""
    with serve(body, encoding) as server:
        args = ["--format", "jsonl", "-q", "--max-body", str(MAX_BODY), server.url("/bomb")]
        done, peak = run_measured(args, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    (record,) = jsonl(done.stdout.decode())
    return record, peak


NO_BROTLI = not pycurl.version_info()[4] & getattr(pycurl, "VERSION_BROTLI", 0)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("gzip, gzip", id="double-gzip"),
        pytest.param(
            "br",
            id="brotli",
            marks=pytest.mark.skipif(
                NO_BROTLI, reason="this libcurl has no brotli: br is neither asked for nor decoded"
            ),
        ),
    ],
)
def bomb(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, object], int]:
    """A 1 GiB bomb fetched with --max-body 1000: its record and the run's peak RSS."""
    encoding = request.param
    if encoding == "br":
        body = BROTLI_GIB_OF_ZEROS
    else:
        body = gzip.compress(gzip_of_zeros(GIB), compresslevel=9)  # about 2.5 KB on the wire
    return fetch_measured(body, encoding, tmp_path_factory.mktemp("bomb"))


@pytest.fixture(scope="module")
def plain_peak(tmp_path_factory: pytest.TempPathFactory) -> int:
    """The peak RSS of the same run on a plain 4 KiB body: what fetchcli needs anyway."""
    record, peak = fetch_measured(b"x" * 4096, "identity", tmp_path_factory.mktemp("plain"))
    assert (record["size"], record["truncated"]) == (MAX_BODY, True)
    return peak


def test_a_bomb_is_cut_at_max_body(bomb: tuple[dict[str, object], int]) -> None:
    record, _ = bomb
    assert (record["status"], record["ok"], record["error"]) == (200, True, None)
    assert (record["size"], record["truncated"]) == (MAX_BODY, True)


def test_a_bomb_is_decoded_in_bounded_memory(
    bomb: tuple[dict[str, object], int], plain_peak: int
) -> None:
    # The wire's write callback stops the transfer past --max-body (wire.BODY_LIMIT), so
    # libcurl decodes no further. Pausing it instead let libcurl decode what it had read
    # into its own memory: 104 MiB (double gzip) and 120 MiB (brotli) peak RSS.
    _, peak = bomb
    mib = 1024 * 1024
    figures = f"peak RSS {peak / mib:.0f} MiB, {plain_peak / mib:.0f} MiB without a bomb"
    assert peak < PEAK_RSS_LIMIT, figures
    assert peak - plain_peak < DECODER_ALLOWANCE, figures


def test_a_bomb_is_cut_at_a_max_body_above_the_pause_mark(tmp_path: Path) -> None:
    body = gzip.compress(gzip_of_zeros(GIB), compresslevel=9)
    with serve(body, "gzip, gzip") as server:
        args = ["--format", "jsonl", "-q", "--max-body", "1MiB", server.url("/bomb")]
        done, _ = run_measured(args, tmp_path)
    (record,) = jsonl(done.stdout.decode())
    assert (record["status"], record["ok"], record["error"]) == (200, True, None)
    assert (record["size"], record["truncated"]) == (1024 * 1024, True)


def test_a_bomb_at_the_default_max_body_is_cut_there_in_memory_bounded_by_it(
    tmp_path: Path, plain_peak: int
) -> None:
    # 50 MiB by default: held here, not in libcurl's pause buffer (which a bomb overflows).
    body = gzip.compress(gzip_of_zeros(GIB), compresslevel=9)
    with serve(body, "gzip, gzip") as server:
        done, peak = run_measured(["--format", "jsonl", "-q", server.url("/bomb")], tmp_path)
    (record,) = jsonl(done.stdout.decode())
    assert (record["status"], record["ok"], record["error"]) == (200, True, None)
    assert (record["size"], record["truncated"]) == (50 * 1024 * 1024, True)
    assert peak - plain_peak < 50 * 1024 * 1024 + DECODER_ALLOWANCE


def test_a_large_body_saved_with_save_streams_to_disk_in_bounded_memory(
    tmp_path: Path, plain_peak: int
) -> None:
    # --save writes each chunk as it comes (the transfer pauses while the disk catches
    # up): a 256 MiB body, decoded from gzip, never sits whole in memory.
    size = 256 * 1024 * 1024
    saved = tmp_path / "saved"
    with serve(gzip_of_zeros(size), "gzip") as server:
        args = ["--format", "jsonl", "-q", "--max-body", "1GiB", "--save", str(saved)]
        done, peak = run_measured([*args, server.url("/big.bin")], tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    (record,) = jsonl(done.stdout.decode())
    assert (record["ok"], record["size"], record["truncated"]) == (True, size, False)
    assert Path(str(record["saved"])).stat().st_size == size
    mib = 1024 * 1024
    figures = f"peak RSS {peak / mib:.0f} MiB, {plain_peak / mib:.0f} MiB without a body"
    # A paused transfer keeps what libcurl decoded from its last read (zeros: ~1 000x a
    # 16 KiB read) and the disk thread holds a chunk or two: tens of MiB on a busy disk.
    assert peak - plain_peak < size // 4, figures
