"""The local-file and anchor checker: a `Fetcher` that decides `file://` records on disk.

Each distinct target path is resolved once per run (stat, fallback extensions, index files)
and each Markdown/HTML file is parsed for anchors once per run, in a thread; concurrent
checks of the same path share one future.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from fetchcli.local.shared import Shared, shared
from fetchcli.model import ErrorKind, FetchResult, UrlRecord, invalid_result, result_for
from fetchcli.sources.documents import DocumentKind, anchors, kind_for

# GitHub's line links (#L10, #L10-L20, #L10C2-L12C5) name no anchor; they are always ok.
_LINE_FRAGMENT = re.compile(r"L\d+(?:C\d+)?(?:-L\d+(?:C\d+)?)?")
# A text directive (#:~:text=…) is not part of the fragment a browser looks up.
_DIRECTIVE = ":~:"
_CHECKED_KINDS = frozenset({DocumentKind.MARKDOWN, DocumentKind.HTML})
# A missing target: ENOTDIR too, as for `guide.md/` or `guide.md/intro.md`.
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR})
_LOCAL_HOSTS = frozenset({"", "localhost"})
_SEPARATORS = frozenset(sep for sep in ("/", os.sep, os.altsep) if sep)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalRules:
    """How a local link's target is found and what of it is checked.

    | field                 | default | meaning                                            |
    |-----------------------|---------|----------------------------------------------------|
    | `fallback_extensions` | `()`    | `md` or `.md`: try `target.md` if `target` is missing |
    | `index_files`         | `()`    | a folder must hold one; with none, any folder is ok |
    | `check_fragments`     | `True`  | a `#fragment` must be an anchor of a Markdown/HTML file |

    >>> LocalRules(fallback_extensions=("md",), index_files=("index.html",)).check_fragments
    True
    """

    fallback_extensions: tuple[str, ...] = ()
    index_files: tuple[str, ...] = ()
    check_fragments: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.fallback_extensions, str) or isinstance(self.index_files, str):
            raise ValueError("--fallback-extensions and --index-files take a tuple of names.")
        for extension in self.fallback_extensions:
            if not extension.lstrip(".") or _SEPARATORS.intersection(extension):
                raise ValueError(f"--fallback-extensions: {extension!r} is not an extension.")
        for name in self.index_files:
            if name in ("", ".", "..") or _SEPARATORS.intersection(name):
                raise ValueError(f"--index-files: {name!r} is not a file name.")


class _Target(NamedTuple):
    """What a file URL names: an absolute local path and its percent-decoded fragment."""

    path: str
    fragment: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Found:
    """What answers a link: the file, the folder, or the folder's index file."""

    path: str
    uri: str
    kind: DocumentKind
    size: int | None  # None for a folder
    content_type: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Failure:
    """Why a link fails: its error kind and message."""

    kind: ErrorKind
    message: str


class LocalChecker:
    """A `Fetcher` for `file://` records: the target must exist and its #fragment be an anchor.

    Use one per run (per event loop): it caches every target's stat and anchors.

        checker = LocalChecker(LocalRules(index_files=("README.md",)))
        result = await checker(UrlRecord(source="README.md", line=3, url="file:///r/docs#setup"))
    """

    def __init__(self, rules: LocalRules) -> None:
        self._rules = rules
        self._cwd = _cwd()  # messages show paths relative to it
        self._suffixes = tuple("." + ext.lstrip(".") for ext in rules.fallback_extensions)
        # stat results (or errno) by path: candidates are shared between targets.
        self._stats: dict[str, os.stat_result | int] = {}
        self._targets: dict[str, Shared[_Found | _Failure]] = {}
        self._anchors: dict[str, Shared[frozenset[str] | _Failure]] = {}

    async def __call__(self, record: UrlRecord) -> FetchResult:
        """Check one record's target on disk; never raises."""
        if record.error is not None:
            return invalid_result(record)
        started = time.perf_counter()
        target = _split(record.url)
        if isinstance(target, str):
            return _result(record, error=ErrorKind.INVALID_URL, message=target)
        path = target.path
        found = await shared(self._targets, path, lambda: self._resolve(path))
        if isinstance(found, _Failure):
            elapsed = time.perf_counter() - started
            return _result(
                record, error=found.kind, message=found.message, attempts=1, elapsed=elapsed
            )
        failure = await self._check_fragment(found, target.fragment)
        return _result(
            record,
            final_url=found.uri,
            ok=failure is None,
            size=found.size,
            elapsed=time.perf_counter() - started,
            attempts=1,
            content_type=found.content_type,
            error=None if failure is None else failure.kind,
            message=None if failure is None else failure.message,
        )

    async def _check_fragment(self, found: _Found, fragment: str) -> _Failure | None:
        """Why `fragment` names no anchor of the found file, or None when it is fine."""
        fragment = fragment.split(_DIRECTIVE, 1)[0]
        if not self._rules.check_fragments or _needs_no_anchor(fragment):
            return None
        if found.kind not in _CHECKED_KINDS:
            return None
        names = await shared(self._anchors, found.path, lambda: self._read_anchors(found))
        if isinstance(names, _Failure):
            return names
        # GitHub's blob view also tries the fragment lower-cased (its `user-content-` ids are
        # slugs), so `#Setup` reaches `## Setup` there; browsers match HTML ids exactly.
        if fragment in names or (found.kind is DocumentKind.MARKDOWN and fragment.lower() in names):
            return None
        message = f"no anchor #{fragment} in {self._shown(found.path)}"
        return _Failure(kind=ErrorKind.FRAGMENT, message=message)

    def _resolve(self, path: str) -> _Found | _Failure:
        """The file or folder that answers a link to `path` (runs in a thread)."""
        status = self._stat(path)
        if isinstance(status, int):
            if status not in _MISSING:
                return self._file_failure(os.strerror(status), path)
            # No fallback for `folder/`: `folder/.md` is not what the link meant.
            suffixes = () if path[-1:] in _SEPARATORS else self._suffixes
            for suffix in suffixes:
                if found := self._regular_file(path + suffix):
                    return found
            return self._file_failure("no such file", path)
        if not stat.S_ISDIR(status.st_mode) or not self._rules.index_files:
            return _found(path, status)
        for name in self._rules.index_files:
            if found := self._regular_file(os.path.join(path, name)):
                return found
        names = ", ".join(self._rules.index_files)
        message = f"no index file ({names}) in {self._shown(path)}"
        return _Failure(kind=ErrorKind.FILE, message=message)

    def _regular_file(self, path: str) -> _Found | None:
        """The found file when `path` is a regular file (or a link to one), else None."""
        status = self._stat(path)
        if isinstance(status, int) or not stat.S_ISREG(status.st_mode):
            return None
        return _found(path, status)

    def _stat(self, path: str) -> os.stat_result | int:
        """`os.stat(path)` (following links) or its errno, once per path."""
        status = self._stats.get(path)
        if status is None:
            try:
                status = os.stat(path)
            except OSError as exc:
                status = exc.errno or errno.EIO
            except ValueError:  # a name the OS cannot take (too long for Windows, say)
                status = errno.EINVAL
            self._stats[path] = status
        return status

    def _read_anchors(self, found: _Found) -> frozenset[str] | _Failure:
        """The anchors of a Markdown or HTML file (runs in a thread)."""
        try:
            # O_NONBLOCK: a FIFO named like a document must not hang the run.
            descriptor = os.open(found.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with open(descriptor, encoding="utf-8", errors="replace") as file:
                text = file.read()
        except OSError as exc:
            return self._file_failure(exc.strerror or str(exc), found.path)
        try:
            return anchors(text, found.kind)
        except Exception as exc:  # a parser bug must fail this link, not end the run
            return self._file_failure(f"cannot parse anchors ({type(exc).__name__})", found.path)

    def _file_failure(self, reason: str, path: str) -> _Failure:
        """A `file` failure: `no such file: docs/install.md`, `Permission denied: …`."""
        return _Failure(kind=ErrorKind.FILE, message=f"{reason}: {self._shown(path)}")

    def _shown(self, path: str) -> str:
        """A path as messages show it: relative to the cwd when under it, else absolute."""
        if self._cwd is None:
            return path
        try:
            relative = os.path.relpath(path, self._cwd)
        except ValueError:  # another drive on Windows
            return path
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            return path
        return relative + os.sep if path[-1:] in _SEPARATORS and relative != "." else relative


def _split(url: str) -> _Target | str:
    """The local path and decoded fragment of a file URL, or why it is not one."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme != "file":
        return "not a file: URL; the local checker only checks files on disk"
    if parts.netloc.lower() not in _LOCAL_HOSTS:
        return f"file: URL names a host ({parts.netloc}); only local paths are checked"
    # url2pathname percent-decodes (once): `my%20file.md` is `my file.md`.
    path = _url2pathname(parts.path)
    if "\0" in path:
        return "file: URL path holds a NUL character"
    if not os.path.isabs(path):
        return "file: URL path is not absolute"
    return _Target(path=path, fragment=unquote(parts.fragment))


def _needs_no_anchor(fragment: str) -> bool:
    """Whether a fragment is fine on any file: empty, `#top` or a line link."""
    # The HTML standard scrolls `#` and `#top` (any case) to the top of the document.
    return not fragment or fragment.lower() == "top" or bool(_LINE_FRAGMENT.fullmatch(fragment))


def _found(path: str, status: os.stat_result) -> _Found:
    """What was found at `path`: a folder has no size and no content type."""
    uri, kind = Path(path).as_uri(), kind_for(path)
    if stat.S_ISDIR(status.st_mode):
        return _Found(path=path, uri=uri, kind=kind, size=None, content_type=None)
    content_type = mimetypes.guess_type(uri)[0]
    return _Found(path=path, uri=uri, kind=kind, size=status.st_size, content_type=content_type)


def _cwd() -> str | None:
    """The current directory, or None when it is gone."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _result(record: UrlRecord, **fields: Any) -> FetchResult:
    """A result for `record`, its elapsed seconds rounded as the HTTP fetcher's are."""
    if "elapsed" in fields:
        fields["elapsed"] = round(fields["elapsed"], 6)
    return result_for(record, **fields)


def _url2pathname(path: str) -> str:
    """urllib.request.url2pathname, without importing http.client, ssl and email for it."""
    if os.name == "nt":  # pragma: no cover - drive letters and backslashes
        from nturl2path import url2pathname

        return url2pathname(path)
    return unquote(path)
