"""The documents of an --extract run: SOURCE arguments (files, folders, globs, `-`, pages) expanded.

Folders are walked as lychee and ripgrep do: sorted, hidden and .gitignore'd paths skipped
unless asked, symlinked folders not followed. Pure and synchronous; the caller runs it in a
thread. A bad SOURCE becomes a problem message, never an exception.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec


__all__ = ["DEFAULT_EXTENSIONS", "Document", "expand_sources", "read_files_from"]

STDIN = "-"
DEFAULT_EXTENSIONS = (".md", ".markdown", ".mdx", ".html", ".htm", ".rst", ".txt")

_MAGIC = re.compile(r"[*?[]")
_SEPARATORS = tuple({os.sep, os.altsep or os.sep})
_BOM = b"\xef\xbb\xbf"
# An ignore file's rules and the length of its folder's path with a trailing separator,
# so that a path below it is made relative by slicing.
_Layer = tuple[int, "GitIgnoreSpec"]
# What makes two sources the same document: the resolved path, "-", or the page URL.
_Found = tuple[str, "Document"]


@functools.cache
def _page() -> re.Pattern[str]:
    """A page SOURCE (compiled on first use: only a SOURCE that is no file needs it)."""
    return re.compile(r"https?://", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """One document to read: a file, stdin (`path` None) or a page (`url` set).

    >>> Document(name="docs/guide.md", path=Path("docs/guide.md"))
    Document(name='docs/guide.md', path=PosixPath('docs/guide.md'), url=None)
    """

    name: str
    path: Path | None
    url: str | None = None


def expand_sources(
    sources: Sequence[str],
    *,
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    hidden: bool = False,
    ignore: bool = True,
    files_from: Sequence[str] = (),
) -> tuple[list[Document], list[str]]:
    """The documents of `sources` then `files_from` entries, in order, each once; and problems.

    >>> documents, problems = expand_sources(["docs", "README.md", "docs/**/*.mdx"])
    """
    walker = _Walker(
        extensions=tuple(dict.fromkeys(_dotted(ext) for ext in extensions)),
        hidden=hidden,
        ignore=ignore,
    )
    documents: list[Document] = []
    problems: list[str] = []
    seen: set[str] = set()
    for source in (*sources, *files_from):
        found, problem = walker.expand(source)
        if problem is not None:
            problems.append(problem)
        for key, document in found:
            if key not in seen:
                seen.add(key)
                documents.append(document)
    return documents, problems


def read_files_from(path: str, *, stdin: BinaryIO | None = None) -> list[str]:
    """The SOURCE entries of a --files-from FILE (`-`: stdin); raises OSError if unreadable.

    >>> read_files_from("docs/to-check.txt")  # one per line; blank and `#` lines skipped
    ['README.md', 'docs/']
    """
    data = (stdin or sys.stdin.buffer).read() if path == STDIN else Path(path).read_bytes()
    # surrogateescape: a file name that is not UTF-8 still reaches the file system intact.
    text = data.removeprefix(_BOM).decode("utf-8", "surrogateescape")
    entries = (line.strip() for line in text.split("\n"))
    return [entry for entry in entries if entry and not entry.startswith("#")]


def _dotted(extension: str) -> str:
    return "." + extension.strip().lstrip(".").lower()


@functools.lru_cache(maxsize=256)
def _matcher(segment: str) -> Callable[[str], re.Match[str] | None]:
    """A glob segment (`*.md`, `guide`, `[ab]?`) compiled: case-sensitive, as git and rg do."""
    return re.compile(fnmatch.translate(segment)).match


@dataclass(slots=True, kw_only=True)
class _Walker:
    extensions: tuple[str, ...]
    hidden: bool
    ignore: bool
    _suffixes: frozenset[str] = field(init=False)
    _specs: dict[str, GitIgnoreSpec | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._suffixes = frozenset(self.extensions)

    def expand(self, source: str) -> tuple[list[_Found], str | None]:
        """The documents one SOURCE names, with their dedup keys; or a problem."""
        if source == STDIN:
            return [(STDIN, Document(name=STDIN, path=None))], None
        try:
            mode = os.stat(source).st_mode
        except (OSError, ValueError) as exc:
            error = getattr(exc, "strerror", None) or str(exc)
        else:
            if stat.S_ISDIR(mode):
                return self._folder(source)
            return [(os.path.realpath(source), Document(name=source, path=Path(source)))], None
        # Before the glob test: a URL's `?` is not a wildcard.
        if _page().match(source):
            return [(source, Document(name=source, path=None, url=source))], None
        if _MAGIC.search(source):
            return self._glob(source)
        return [], f"cannot read source {source!r}: {error}"

    def _folder(self, source: str) -> tuple[list[_Found], str | None]:
        real = os.path.realpath(source)
        prefix = source if source.endswith(_SEPARATORS) else source + os.sep
        found = list(self._walk(real, prefix, self._inherited(real)))
        if found:
            return found, None
        return [], (
            f"no documents in {source!r} (extensions {' '.join(self.extensions)}; "
            "--hidden / --no-ignore to include hidden or ignored files)"
        )

    def _walk(self, real: str, prefix: str, layers: tuple[_Layer, ...]) -> Iterator[_Found]:
        """A folder's files (sorted), then each sub-folder's, depth-first; no symlinked folders."""
        # An explicit stack, not recursion: a tree deeper than the recursion limit must not raise.
        stack = [(real, prefix, layers)]
        while stack:
            folder, prefix, layers = stack.pop()
            entries, layers = self._scan(folder, layers)
            below = []
            for entry in entries:
                name = entry.name
                if name == ".git" or (name.startswith(".") and not self.hidden):
                    continue
                try:
                    is_folder = entry.is_dir(follow_symlinks=False)
                    is_file = not is_folder and entry.is_file()
                except OSError:
                    continue
                if is_folder and not self._ignored(entry.path, True, layers):
                    below.append((entry.path, prefix + name + os.sep, layers))
                elif (
                    is_file and self._wanted(name) and not self._ignored(entry.path, False, layers)
                ):
                    key = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
                    yield key, _found(prefix + name)
            stack.extend(reversed(below))

    def _glob(self, pattern: str) -> tuple[list[_Found], str | None]:
        # The folder part before the first wildcard is the base, kept as written in names.
        first = next(_MAGIC.finditer(pattern)).start()
        cut = max(pattern.rfind(sep, 0, first) for sep in _SEPARATORS)
        base, rest = pattern[: cut + 1], pattern[cut + 1 :]
        parts: list[str] = []
        for part in re.split("|".join(map(re.escape, _SEPARATORS)), rest):
            if part and not (part == "**" and parts[-1:] == ["**"]):
                parts.append(part)
        real = os.path.realpath(base or os.curdir)
        found = list(self._match(real, base, tuple(parts))) if os.path.isdir(real) else []
        return found, None if found else f"no file matches {pattern!r}"

    def _match(self, real: str, base: str, parts: tuple[str, ...]) -> Iterator[_Found]:
        """Files matching `parts` below `real`, in walk order; `**` is zero or more folders."""
        # (folder, name prefix, parts left, ignore layers, no symlink on the way)
        stack = [(real, base, parts, self._inherited(real), True)]
        while stack:
            folder, prefix, parts, layers, resolved = stack.pop()
            entries, layers = self._scan(folder, layers)
            recursive = parts[0] == "**"
            here = parts[1:] if recursive else parts
            segment, rest = (here or ("*",))[0], here[1:]  # `docs/**` is every file below docs
            matches = _matcher(segment)
            below = []
            for entry in entries:
                name = entry.name
                dot = name.startswith(".") and not self.hidden
                # A hidden name is found only where the pattern names it (`.github/*.md`).
                named = bool(matches(name)) and (name != ".git" or segment == ".git")
                named = named and (not dot or segment.startswith("."))
                descend = recursive and not dot and name != ".git"
                try:
                    is_folder = (named or descend) and entry.is_dir()
                    is_file = named and not rest and not is_folder and entry.is_file()
                    link = entry.is_symlink()
                except OSError:
                    continue
                if is_folder and not self._ignored(entry.path, True, layers):
                    child = (entry.path, prefix + name + os.sep)
                    if named and rest:
                        below.append((*child, rest, layers, resolved and not link))
                    if descend and not link:  # `**` never follows a symlink: no loops
                        below.append((*child, parts, layers, resolved))
                elif is_file and not self._ignored(entry.path, False, layers):
                    key = entry.path if resolved and not link else os.path.realpath(entry.path)
                    yield key, _found(prefix + name)
            stack.extend(reversed(below))

    def _wanted(self, name: str) -> bool:
        return os.path.splitext(name)[1].lower() in self._suffixes

    def _scan(
        self, folder: str, layers: tuple[_Layer, ...]
    ) -> tuple[list[os.DirEntry[str]], tuple[_Layer, ...]]:
        """A folder's entries sorted by name, and the ignore layers that apply inside it."""
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda entry: entry.name)
        except OSError:  # unreadable folders are skipped, as rg and lychee do
            return [], layers
        if self.ignore:
            names = {entry.name for entry in entries}
            if ".git" in names:  # a repository's rules start afresh at its root
                layers = self._layers(folder, os.path.join(".git", "info", "exclude"))
            if ".gitignore" in names:
                layers += self._layers(folder, ".gitignore")
        return entries, layers

    def _inherited(self, real: str) -> tuple[_Layer, ...]:
        """Ignore files above a walked folder that apply to it: those up to its repository root."""
        if not self.ignore:
            return ()
        above: list[str] = []
        folder = real
        while not os.path.lexists(os.path.join(folder, ".git")):
            parent = os.path.dirname(folder)
            if parent == folder:
                return ()  # not in a git repository: only the walked tree's .gitignore files
            above.append(folder := parent)
        if not above:
            return ()  # the walk starts at the repository root, where _scan reads them
        layers = self._layers(folder, os.path.join(".git", "info", "exclude"))
        for ancestor in reversed(above):
            layers += self._layers(ancestor, ".gitignore")
        # A folder named on the command line is walked even if ignored (as `rg PATTERN build/`).
        return () if self._ignored(real, True, layers) else layers

    def _layers(self, folder: str, name: str) -> tuple[_Layer, ...]:
        """The ignore file `name` of `folder` as a layer, compiled once per run; () if none."""
        path = os.path.join(folder, name)
        if path not in self._specs:
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as file:
                    from pathspec import GitIgnoreSpec  # only a tree with a .gitignore needs it

                    self._specs[path] = GitIgnoreSpec.from_lines(file.read().splitlines())
            except OSError:
                self._specs[path] = None
        spec = self._specs[path]
        cut = len(folder) if folder.endswith(_SEPARATORS) else len(folder) + 1
        return () if spec is None else ((cut, spec),)

    @staticmethod
    def _ignored(path: str, is_folder: bool, layers: tuple[_Layer, ...]) -> bool:
        """As git does: the deepest ignore file with a matching rule decides, its last rule wins."""
        for cut, spec in reversed(layers):
            relative = path[cut:] + "/" if is_folder else path[cut:]
            include = spec.check_file(relative).include
            if include is not None:
                return include
        return False


def _found(name: str) -> Document:
    """A document found in a walk; `./x.md` is shown as `x.md`, as git and editors show it."""
    shown = name.removeprefix("." + os.sep) if name.startswith("." + os.sep) else name
    return Document(name=shown, path=Path(name))
