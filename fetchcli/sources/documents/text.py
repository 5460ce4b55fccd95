"""The free-text URL extractor and offset bookkeeping shared by every document kind."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

# A URL starts at a scheme or `www.` not glued to a word, and runs to whitespace,
# `<`, `>`, `"` or a backtick: what no author writes inside a bare URL.
_BARE_URL = re.compile(
    r"(?:(?<![A-Za-z0-9])https?://|(?<![\w.@/:-])www\.)[^\s<>\"`]+", re.IGNORECASE
)
_TRAILING = ".,;:!?'\"*_~|"
_CLOSERS = {")": "(", "]": "["}


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """A link found at a character offset of the (newline-normalized) document."""

    offset: int
    url: str


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF, as markdown-it does, so every parser counts lines alike."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_amp(raw: str) -> str:
    """Undo the one entity that URLs copied out of HTML carry."""
    return raw.replace("&amp;", "&")


def find_bare_urls(
    text: str, start: int = 0, end: int | None = None, *, decode: Callable[[str], str] = decode_amp
) -> list[Hit]:
    """Bare http(s):// and `www.` URLs in text[start:end], trailing punctuation trimmed.

    >>> find_bare_urls("see https://a.org/x.")
    [Hit(offset=4, url='https://a.org/x')]
    """
    hits = []
    for match in _BARE_URL.finditer(text, start, len(text) if end is None else end):
        www = match.group()[:4].lower() == "www."
        url = _trim(decode(match.group()))
        if _has_host(url[4:] if www else url.partition("//")[2]):
            # `www.` is linked as http://, as linkify does: a host, not a relative path
            hits.append(Hit(offset=match.start(), url="http://" + url if www else url))
    return hits


def _trim(url: str) -> str:
    """Drop trailing punctuation and closing brackets that the URL did not open."""
    while url and (
        url[-1] in _TRAILING
        or (url[-1] in _CLOSERS and url.count(_CLOSERS[url[-1]]) < url.count(url[-1]))
    ):
        url = url[:-1]
    return url


def _has_host(rest: str) -> bool:
    """True when the text after the scheme starts with a host, not punctuation or a path."""
    return any(ch.isalnum() for ch in rest.split("/", 1)[0])


class LineIndex:
    """Turns character offsets into 1-based (line, column) pairs."""

    __slots__ = ("_starts",)

    def __init__(self, text: str) -> None:
        self._starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def line_start(self, line: int) -> int:
        """Offset of the first character of 0-based line `line` (clamped to the last line)."""
        return self._starts[min(max(line, 0), len(self._starts) - 1)]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of `offset`."""
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        """Offset of a 1-based line and a 0-based column (what `HTMLParser.getpos` gives)."""
        return self.line_start(line - 1) + column
