"""Text for people: untrusted strings made safe for a terminal or a line, sizes made short."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# C0 controls, DEL, C1 controls and bidirectional overrides: never written raw,
# so that nothing from the network can move a terminal's cursor, change its
# colours, split a line or make text read differently from what it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def safe_text(text: str) -> str:
    """Escape control characters as `\\xNN` so text can go to a terminal or a line."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def human_size(size: int | None) -> str:
    """`512B`, `1.2KiB`, `3.0MiB`; `-` for no size."""
    if size is None:
        return "-"
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size}B" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def redact_url(url: str) -> str:
    """The URL with its password shown as `***` (`https://user:***@host/`); others unchanged."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    userinfo, at, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not at or not colon or not password:
        return url
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
