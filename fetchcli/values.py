"""Option values parsed and checked: each error is one sentence that names the flag."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cache
from typing import TypeVar
from urllib.parse import urlsplit

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def parse_accept(text: str) -> frozenset[int]:
    """Parse an accept list such as `200-299,403` into a set of status codes."""
    codes: set[int] = set()
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if sep else low)
        except ValueError:
            raise ValueError(
                f"--accept expects codes or ranges like 200-299,403 (got {text!r})"
            ) from None
        if not 100 <= first <= last <= 599:
            raise ValueError(f"--accept codes must be ordered and within 100-599 (got {part!r})")
        codes.update(range(first, last + 1))
    return frozenset(codes)


_AGE_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_age(text: str) -> float:
    """Seconds in a `--max-cache-age` value: `90s`, `15m`, `2h`, `1d` or bare seconds."""
    match = _age().fullmatch(text.strip())
    if match is None:
        raise ValueError(
            "--max-cache-age expects seconds or a number with an s, m, h or d suffix"
            f" such as 90s, 15m, 2h, 1d (got {text!r})"
        )
    return float(match.group(1)) * _AGE_UNITS[match.group(2).lower()]


@cache
def _age() -> re.Pattern[str]:
    """A --max-cache-age value (compiled on first use: a case-blind pattern takes ~0.6 ms)."""
    return re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", re.IGNORECASE)


def parse_header(text: str) -> tuple[str, str]:
    """Parse one `-H "Name: value"` into a (name, value) pair."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _TOKEN.match(name):
        raise ValueError(f"--header expects 'Name: value' (got {text!r})")
    if _CONTROL.search(value):
        raise ValueError(f"--header value must not contain control characters (in {name!r})")
    if not value.isascii():
        raise ValueError(f"--header value must be ASCII (in {name!r}); percent-encode the rest")
    return name, value


def parse_shard(text: str) -> tuple[int, int]:
    """Parse `--shard K/N` into (K, N) with 1 <= K <= N."""
    k, sep, n = text.partition("/")
    try:
        shard = int(k), int(n)
    except ValueError:
        raise ValueError(f"--shard expects K/N such as 1/4 (got {text!r})") from None
    if not sep or not 1 <= shard[0] <= shard[1]:
        raise ValueError(f"--shard expects K/N with 1 <= K <= N (got {text!r})")
    return shard


# What `RequestSpec(headers=...)` takes: a mapping, `Name: value` strings or (name, value) pairs.
HeadersIn = Mapping[str, str] | Iterable[str | tuple[str, str]]


def as_headers(value: HeadersIn) -> tuple[tuple[str, str], ...]:
    items: Iterable[str | tuple[str, str]] = value.items() if isinstance(value, Mapping) else value
    return tuple(
        parse_header(item) if isinstance(item, str) else _check_header(*item) for item in items
    )


def _check_header(name: str, value: str) -> tuple[str, str]:
    checked = parse_header(f"{name}: {value}")
    if checked[0] != name.strip():
        raise ValueError(f"--header name must be a token (got {name!r})")
    return checked


_E = TypeVar("_E", bound=StrEnum)


def as_enum(kind: type[_E], value: object, flag: str) -> _E:
    if isinstance(value, str):  # a StrEnum has only str values (members are str too)
        try:
            return kind(value)
        except ValueError:
            pass
    choices = ", ".join(member.value for member in kind)
    raise ValueError(f"{flag} must be one of {choices} (got {value!r})")


def check_within(flag: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{flag} must be a whole number from {low} to {high} (got {value!r})")


def check_positive(flag: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{flag} must be a finite number of seconds above 0 (got {value!r})")


def check_non_negative(flag: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{flag} must be a finite number, 0 or more (got {value!r})")


def check_proxy(proxy: str) -> None:
    parts = urlsplit(proxy)
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        schemes = ", ".join(f"{s}://" for s in PROXY_SCHEMES)
        raise ValueError(f"--proxy must be a URL starting with {schemes} (got {proxy!r})")


def check_header_text(flag: str, value: str) -> None:
    """A value sent in a header (User-Agent): ASCII, no control characters."""
    if _CONTROL.search(value) or not value.isascii():
        raise ValueError(f"{flag} must be ASCII without control characters")


def check_regex(flag: str, pattern: str) -> None:
    """A Python regular expression, or one sentence saying why not."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{flag} {pattern!r} is not a valid regex: {exc}") from None
