"""A small asyncio HTTP/1.1 file server on 127.0.0.1: the benchmark's stand-in for nginx.

Used when nginx is not installed (or with `run.py --server fallback`). It
serves the files of one directory by name (`/1k?n=7` → `DIR/1k`, query
ignored), with keep-alive, `Content-Length` and HEAD. It prints its port on
the first line of stdout, then serves until SIGTERM/SIGINT, until its parent
process goes away, or until `--max-seconds` have passed, whichever is first.
It is a single-threaded Python process, so it is far slower than nginx: the
numbers it gives compare clients with each other, not with the real world.

Usage:

    python benchmarks/fallback_server.py DIR [--max-seconds 7200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from pathlib import Path

HEAD_LIMIT = 64 * 1024  # longest request head accepted
IDLE_SECONDS = 60.0  # an idle keep-alive connection is closed after this


def _response_head(status: str, length: int, close: bool) -> bytes:
    connection = "close" if close else "keep-alive"
    return (
        f"HTTP/1.1 {status}\r\nServer: fetchcli-bench\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n"
        f"Connection: {connection}\r\n\r\n"
    ).encode("ascii")


class FileServer:
    """Serves the regular files of one directory, held in memory."""

    def __init__(self, root: Path) -> None:
        self.files = {f"/{p.name}": p.read_bytes() for p in root.iterdir() if p.is_file()}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer requests on one connection until the client closes it or idles out."""
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_SECONDS)
                except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    writer.write(_response_head("400 Bad Request", 0, True))
                    return
                method, target, version = parts
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (x.partition(":") for x in lines[1:])
                }
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                body = self.files.get(target.split("?", 1)[0])
                if body is None:
                    writer.write(_response_head("404 Not Found", 0, close))
                elif method == "HEAD":
                    writer.write(_response_head("200 OK", len(body), close))
                else:
                    writer.write(_response_head("200 OK", len(body), close) + body)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    # Stop by ourselves if the benchmark runner died without stopping us.
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def serve(root: Path, max_seconds: float) -> None:
    """Serve until a signal, the parent's exit, or max_seconds."""
    files = FileServer(root)
    server = await asyncio.start_server(
        files.handle, "127.0.0.1", 0, backlog=4096, limit=HEAD_LIMIT
    )
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(_watch_parent(os.getppid(), stop))
    async with server:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), max_seconds)
    watcher.cancel()


def main() -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root", type=Path, help="directory whose files are served")
    parser.add_argument(
        "--max-seconds", type=float, default=7200.0, help="stop after this long (default 7200)"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.root, args.max_seconds))


if __name__ == "__main__":
    main()
