"""The input rules: one raw line in, its `UrlRecord`s out.

Every rule of SPEC "Input" is applied here, in this order: strip and skip
blank/comment lines (or pull URLs out of free text with `--extract`), `--shard`,
scheme and validity, `--include`/`--exclude`, `--unique`. A bad line becomes a
record with `error` set, never an exception.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import idna

from fetchcli.model import UrlRecord
from fetchcli.options import MAX_LINE_BYTES, SCHEMES, InputRules

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?!\d+(?:[/?#]|$))")
_IP_V4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_BAD_CHAR = re.compile(r"[\x00-\x20\x7f-\x9f]")
# --extract: an http(s) URL runs until whitespace, a quote, an angle or square
# bracket (only an IPv6 host has those); trailing punctuation is trimmed
# afterwards (balanced parentheses are kept), and HTML's `&amp;` becomes `&`.
_URL_IN_TEXT = re.compile(r"https?://(?:\[[0-9A-Fa-f:.]+\])?[^\s<>\"'`\[\]]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}>*_"


@dataclass(slots=True)
class SourceStats:
    """What the reader skipped, for the summary."""

    excluded: int = 0


def normalize_url(text: str, default_scheme: str = "https") -> tuple[str, str | None]:
    """Return the URL to fetch and None, or the text and why it cannot be fetched."""
    if _BAD_CHAR.search(text):
        return text, "URL contains whitespace or control characters"
    match = _SCHEME.match(text)
    if match is None:
        url = f"{default_scheme}://{text}"
    elif match.group(1).lower() in SCHEMES:
        url = match.group(1).lower() + text[match.end(1) :]
    else:
        return text, f"unsupported scheme {match.group(1).lower()!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return url, f"malformed URL: {exc}"
    if not parts.hostname or parts.netloc.endswith(":"):
        return url, "URL has no host" if not parts.hostname else "URL has an empty port"
    problem = host_problem(parts.hostname)
    if problem is not None:
        return url, problem
    return url, None


def host_problem(host: str) -> str | None:
    """Why a host name cannot be sent (an empty or too long label, a bad IDNA form), or None."""
    if host.startswith("[") or _IP_V4.match(host):
        return None
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii") if not host.isascii() else host
    except idna.IDNAError as exc:
        return f"host {host!r} cannot be encoded: {exc}"
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or any(not 0 < len(label) <= 63 for label in labels):
        return f"host {host!r} is not a valid name (empty label, or one over 63 characters)"
    for label in labels:
        if label.lower().startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                return f"host {host!r} cannot be encoded: {exc}"
    return None


def _fetched_form(url: str) -> str:
    """What is actually checked: host case and a web page's #fragment do not matter.

    A local link's fragment is a check of its own (an anchor of that file).
    """
    parts = urlsplit(url)
    fragment = parts.fragment if parts.scheme == "file" else ""
    return urlunsplit(
        (parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, fragment)
    )


def extract_urls(text: str) -> list[str]:
    """All http(s) URLs in a line of free text, without trailing punctuation."""
    urls = []
    for match in _URL_IN_TEXT.finditer(text):
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
        """The record for one link already resolved (--extract documents), or None if skipped."""
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
            # A 16-byte digest keeps the seen-set small for huge inputs.
            key = hashlib.blake2b(_fetched_form(url).encode(), digest_size=16).digest()
            if key in self._seen:
                return True
            self._seen.add(key)
        return False


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
