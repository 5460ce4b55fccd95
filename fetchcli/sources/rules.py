"""The input rules: one raw line in, its `UrlRecord`s out.

Every rule of SPEC "Input" is applied here, in this order: strip and skip
blank/comment lines (or pull URLs out of free text with `--extract`), `--shard`,
scheme and validity, the normal form (`normalize_url`: the record's `url` and
what is requested), `--include`/`--exclude`, `--unique` (the normal form
without its fragment). A bad line becomes a record with `error` set, never an
exception. The normal form is `normal_form`'s, which `links` also gives to the
http(s) links of documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from fetchcli.model import UrlRecord
from fetchcli.options import MAX_LINE_BYTES, InputRules
from fetchcli.sources.normal_form import normalize_url, unique_key

# Imported or compiled on first use, not at start-up: hashlib (--unique) and
# --extract's URL-in-text pattern.

_TRAILING = ".,;:!?'\")]}>*_"


@cache
def _url_in_text() -> re.Pattern[str]:
    """--extract: an http(s) URL runs until whitespace, a quote, an angle or square bracket.

    Only an IPv6 host has brackets; trailing punctuation is trimmed afterwards (balanced
    parentheses are kept), and HTML's `&amp;` becomes `&`.
    """
    return re.compile(r"https?://(?:\[[0-9A-Fa-f:.]+\])?[^\s<>\"'`\[\]]+", re.IGNORECASE)


@dataclass(slots=True)
class SourceStats:
    """What the reader skipped, for the summary."""

    excluded: int = 0


def extract_urls(text: str) -> list[str]:
    """All http(s) URLs in a line of free text, without trailing punctuation."""
    urls = []
    for match in _url_in_text().finditer(text):
        url = match.group(0).replace("&amp;", "&")
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if "://" in url and url.split("://", 1)[1]:
            urls.append(url)
    return urls


class InputFilter:
    """Applies the input rules to lines one at a time, keeping the state they need.

    Usage: `for record in InputFilter(rules).records("urls.txt", 7, b"example.com/a"): ...`
    """

    def __init__(self, rules: InputRules, stats: SourceStats | None = None) -> None:
        self.stats = stats if stats is not None else SourceStats()
        self._rules = rules
        self._include = [re.compile(p) for p in rules.include]
        self._exclude = [re.compile(p) for p in rules.exclude]
        self._shard_k, self._shard_n = rules.shard or (1, 1)
        self._seen: set[bytes] = set()
        self._position = -1
        self._digest = _unique_digest() if rules.unique else None

    def records(
        self, source: str, number: int, raw: bytes | str, *, too_long: bool = False
    ) -> Iterator[UrlRecord]:
        """The records one input line gives: none, one, or (with --extract) several."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        for text, error in candidates(raw, self._rules.extract, too_long):
            self._position += 1
            if self._position % self._shard_n != self._shard_k - 1:
                continue
            if error is None:
                text, error = normalize_url(text, self._rules.default_scheme)
                if error is None and self._skips(text):
                    continue
            yield UrlRecord(source=source, line=number, url=text, error=error)

    def link(
        self, source: str, line: int, column: int, url: str, error: str | None
    ) -> UrlRecord | None:
        """The record for one link already resolved (--extract documents), or None if skipped.

        `url` is in normal form already: `links.resolve` gives an http(s) link that of
        normalize_url; a file: link has its own.
        """
        self._position += 1
        if self._position % self._shard_n != self._shard_k - 1:
            return None
        if error is None and self._skips(url):
            return None
        return UrlRecord(source=source, line=line, url=url, error=error, column=column)

    def _skips(self, url: str) -> bool:
        if (self._exclude and any(p.search(url) for p in self._exclude)) or (
            self._include and not any(p.search(url) for p in self._include)
        ):
            self.stats.excluded += 1
            return True
        if self._rules.unique:
            assert self._digest is not None
            key = self._digest(unique_key(url).encode())
            if key in self._seen:
                return True
            self._seen.add(key)
        return False


def _unique_digest() -> Callable[[bytes], bytes]:
    """--unique's key: a 16-byte digest keeps the seen-set small for huge inputs."""
    from hashlib import blake2b  # only runs with --unique pay for it

    return lambda data: blake2b(data, digest_size=16).digest()


def candidates(raw: bytes, extract: bool, too_long: bool) -> Iterator[tuple[str, str | None]]:
    """The (text, error) pairs one raw line contributes; none for blank/comment lines."""
    stripped = raw.strip()
    if not stripped or (stripped.startswith(b"#") and not extract):
        return
    if too_long or len(stripped) > MAX_LINE_BYTES:
        prefix = stripped[:200].decode("utf-8", "backslashreplace")
        yield f"{prefix}…", f"line longer than {MAX_LINE_BYTES} bytes"
        return
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        if not extract:
            yield stripped.decode("utf-8", "backslashreplace"), "line is not valid UTF-8"
            return
        text = stripped.decode("utf-8", "replace")
    if extract:
        for url in extract_urls(text):
            yield url, None
    else:
        yield text, None
