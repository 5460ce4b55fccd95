"""Text for people: untrusted strings made safe for a terminal or a line, sizes made short."""

from __future__ import annotations

import re

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


# `scheme://authority`: the authority ends at the first `/`, `?` or `#`.
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?P<authority>[^/?#]*)")
# The same inside free text (a message), where whitespace also ends a URL.
_URL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://(?P<authority>[^/?#\s]*)")


def redact_url(url: str) -> str:
    """The URL with its password shown as `***`; any other URL comes back unchanged.

    Usage: `redact_url("https://user:secret@host/")` gives `https://user:***@host/`.
    """
    if "@" not in url:
        return url
    match = _URL_START.match(url)
    if match is None:
        return url
    start, end = match.span("authority")
    return url[:start] + _redact_authority(match["authority"]) + url[end:]


def redact_text(text: str) -> str:
    """Free text (a message) with the password of every `scheme://user:pass@` in it hidden."""
    if "@" not in text:
        return text
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    start = match.start("authority") - match.start()
    return match[0][:start] + _redact_authority(match["authority"])


def _redact_authority(authority: str) -> str:
    # The userinfo ends at the last `@`: a raw (invalid) line may hold more than one.
    userinfo, at, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not at or not colon or not password:
        return authority
    return f"{user}:***@{host}"
