"""--save DIR: safe, unique file names and bodies streamed to disk off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

# Names Windows reserves whatever the extension ("CON.txt" is still CON).
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 120
TRUNCATED_SUFFIX = ".truncated"


def safe_name(url: str) -> str:
    """A flat file name for a URL: host, path and a hash, extension last; never a path or `..`.

    Usage: `safe_name("https://a.example/x/y.html")` → `a.example_x_y-3f2a9c1b7d4e.html`.
    The hash of the whole URL keeps two URLs from sharing a name.
    """
    parts = urlsplit(url)
    # Decode %2e%2e and friends first, so that they are cleaned like the real thing.
    raw = f"{parts.hostname or 'host'}_{unquote(parts.path)}"
    stem = _UNSAFE.sub("_", raw).strip("._-")[:_MAX_STEM].strip("._-") or "body"
    if stem.split(".", 1)[0].lower() in _RESERVED:
        stem = f"_{stem}"
    last = unquote(parts.path).rsplit("/", 1)[-1]
    extension = _split_extension(_UNSAFE.sub("_", last))[1]  # only the path names a type
    if extension and stem.endswith(extension):
        stem = stem[: -len(extension)]
    else:
        extension = ""
    digest = hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{stem}-{digest}{extension}"


def marked_truncated(name: str) -> str:
    """The name of a body cut at --max-body: `x-3f2a9c1b7d4e.truncated.html`."""
    stem, extension = _split_extension(name)
    return f"{stem}{TRUNCATED_SUFFIX}{extension}"


def _split_extension(name: str) -> tuple[str, str]:
    """(stem, `.ext`): an extension is a short alphanumeric suffix after the last dot."""
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= 8 and extension.isalnum() and "_" not in extension:
        return stem, f".{extension}"
    return name, ""


class SaveError(Exception):
    """Writing a body under --save failed (disk full, directory gone, no permission)."""


class BodyFile:
    """A body being written into DIR under a temporary name, renamed when complete.

    Every disk call runs in a thread, so a slow disk never stalls the event loop.
    """

    def __init__(self, directory: str, url: str) -> None:
        self._path = os.path.join(directory, safe_name(url))
        self._temp = f"{self._path}.part{os.getpid()}-{id(self):x}"
        self._file: BinaryIO | None = None

    async def write(self, chunk: bytes) -> None:
        try:
            if self._file is None:
                self._file = await asyncio.to_thread(open, self._temp, "wb")
            await asyncio.to_thread(self._file.write, chunk)
        except OSError as exc:
            raise SaveError(f"--save: cannot write {self._path!r}: {exc.strerror}") from exc

    async def finish(self, truncated: bool) -> str:
        """Close and move into place (marked when truncated); returns the final path."""
        final = marked_truncated(self._path) if truncated else self._path
        try:
            if self._file is None:
                self._file = await asyncio.to_thread(open, self._temp, "wb")
            await asyncio.to_thread(self._file.close)
            await asyncio.to_thread(os.replace, self._temp, final)
        except OSError as exc:
            raise SaveError(f"--save: cannot write {final!r}: {exc.strerror}") from exc
        return final

    async def discard(self) -> None:
        """Drop a body that failed part-way; nothing half-written is left under its name."""
        if self._file is not None:
            await asyncio.to_thread(self._discard)

    def _discard(self) -> None:
        assert self._file is not None
        with contextlib.suppress(OSError):
            self._file.close()
            os.unlink(self._temp)
