"""Units in option values: durations, sizes and rates, parsed and formatted.

| kind     | accepts (case-insensitive, spaces around)      | gives              |
|----------|------------------------------------------------|--------------------|
| duration | `5`, `0.25`, `500ms`, `5s`, `2m`, `1.5h`, `1d` | seconds (float)    |
| size     | `1048576`, `512K`, `1M`, `1MB`, `50MiB`, `2G`  | bytes (int)        |
| rate     | `10`, `0.5`, `10/s`, `600/m`, `3600/h`, `24/d` | per second (float) |

Sizes follow curl (`--max-filesize`) and most CLIs: every prefix is a power of
1024, however it is written (`K`, `k`, `KB`, `KiB` all mean 1024 bytes), and a
`B` after a prefix is optional. A bare number is seconds, bytes or per second.
Negative, `nan`, `inf`, empty values, unknown units and sizes over MAX_SIZE are
refused with one sentence that names the flag. This module imports nothing of ours.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fractions import Fraction

# Digits with an optional fraction (and, but for sizes, exponent); no sign, so
# negatives, nan and inf fail. A size has no exponent: `1e999999999` bytes would
# be an exact integer too large to build.
_DECIMAL = r"(?:\d+(?:\.\d*)?|\.\d+)"
_NUMBER = rf"(?P<number>{_DECIMAL}(?:e[+-]?\d+)?)"
# ASCII only: else `\d` takes other scripts' digits and IGNORECASE reads the Kelvin sign as k.
_FLAGS = re.IGNORECASE | re.ASCII
_DURATION = re.compile(rf"\s*{_NUMBER}\s*(?P<unit>[a-z]*)\s*", _FLAGS)
_SIZE = re.compile(rf"\s*(?P<number>{_DECIMAL})\s*(?:(?P<prefix>[kmgt])(?:i?b)?|b)?\s*", _FLAGS)
_RATE = re.compile(rf"\s*{_NUMBER}\s*(?:/\s*(?P<unit>[a-z]+))?\s*", _FLAGS)

# Seconds per duration unit; a bare number is seconds.
DURATION_UNITS: dict[str, float] = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Bytes per size prefix: powers of 1024, as curl and most CLIs count.
SIZE_PREFIXES: dict[str, int] = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
# Seconds per rate period (`600/m` is 10 per second).
RATE_PERIODS: dict[str, float] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# The largest size: libcurl counts bytes in a signed 64-bit curl_off_t.
MAX_SIZE = 2**63 - 1
# More digits than any size up to MAX_SIZE needs (and under int()'s 4300-digit limit).
_MAX_SIZE_DIGITS = 40

# What each kind expects, for the one-sentence error: `--timeout expects seconds or ...`.
_EXPECTS = {
    "duration": "seconds or a duration such as 5s, 500ms, 2m",
    "size": "bytes or a size such as 1048576, 512K, 50MiB",
    "rate": "a number per second or a rate such as 10/s, 600/m, 3600/h",
}

# How format_duration and format_size write each unit, largest first.
_DURATION_NAMES = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_SIZE_NAMES = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def parse_duration(text: str, flag: str) -> float:
    """Seconds from `5`, `0.25`, `500ms`, `5s`, `2m`, `1.5h` or `1d`; ValueError naming `flag`.

    Usage: `parse_duration("500ms", "--timeout")` gives `0.5`.
    """
    match = _DURATION.fullmatch(text)
    unit = (match["unit"] or "s").lower() if match else ""
    if match is None or unit not in DURATION_UNITS:
        raise _invalid("duration", text, flag)
    seconds = float(match["number"]) * DURATION_UNITS[unit]
    if not math.isfinite(seconds):
        raise _invalid("duration", text, flag)
    return seconds


def parse_size(text: str, flag: str) -> int:
    """Bytes from `1048576`, `512K`, `1M`, `1MB` or `50MiB`; every prefix is a power of 1024.

    `K`, `k`, `KB` and `KiB` all mean 1024 bytes (likewise M, G, T), as with curl;
    a fraction needs a prefix and rounds down (`1.5K` is 1536 bytes); at most MAX_SIZE.
    Usage: `parse_size("50MiB", "--max-body")` gives `52428800`.
    """
    match = _SIZE.fullmatch(text)
    if match is None or len(match["number"]) > _MAX_SIZE_DIGITS:
        raise _invalid("size", text, flag)
    number = _exact(match["number"])
    prefix = match["prefix"]
    if prefix is None and number.denominator != 1:
        raise _invalid("size", text, flag)  # a fraction of a byte
    size = math.floor(number * SIZE_PREFIXES.get((prefix or "").lower(), 1))
    if size > MAX_SIZE:
        raise _invalid("size", text, flag)
    return size


def parse_rate(text: str, flag: str) -> float:
    """Per second from `10`, `0.5`, `10/s`, `600/m`, `3600/h` or `24/d` (0: off).

    Usage: `parse_rate("600/m", "--rate")` gives `10.0`.
    """
    match = _RATE.fullmatch(text)
    unit = (match["unit"] or "s").lower() if match else ""
    if match is None or unit not in RATE_PERIODS:
        raise _invalid("rate", text, flag)
    rate = float(match["number"]) / RATE_PERIODS[unit]
    if not math.isfinite(rate):
        raise _invalid("rate", text, flag)
    return rate


def format_duration(seconds: float) -> str:
    """The shortest exact form: `1d`, `2h`, `90m`, `10s`, `1.5s`, `500ms`, `0s`.

    Usage: `format_duration(86400)` gives `1d`; parse_duration reads it back.
    """
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"a duration is a finite number of seconds, not {seconds!r}")
    if seconds >= 1:
        for name, unit in _DURATION_NAMES:
            if seconds % unit == 0:
                return f"{int(seconds // unit)}{name}"
        return f"{seconds!r}s"
    milliseconds = round(seconds * 1000)
    # 0.057 * 1000 is 57.00000000000001: a whole number of ms up to float error.
    if 0 < milliseconds < 1000 and math.isclose(seconds * 1000, milliseconds, rel_tol=1e-9):
        return f"{milliseconds}ms"
    return "0s" if seconds == 0 else f"{seconds!r}s"


def format_size(size: int) -> str:
    """The largest binary unit that is exact: `50MiB`, `1KiB`, `1536B`... `0B`.

    Usage: `format_size(52428800)` gives `50MiB`; parse_size reads it back.
    """
    if not 0 <= size <= MAX_SIZE:
        raise ValueError(f"a size is a whole number of bytes up to {MAX_SIZE}, not {size!r}")
    for name, unit in _SIZE_NAMES:
        if size and size % unit == 0:
            return f"{size // unit}{name}"
    return f"{size}B"


def _exact(digits: str) -> int | Fraction:
    """A size's number, exactly: an int, or a Fraction when it has a decimal point.

    `fractions` (and `decimal`, which it imports) is loaded only for a fraction such as
    `1.5K`: the default --max-body, parsed by every run, is a whole number.
    """
    if "." not in digits:
        return int(digits)
    from fractions import Fraction

    return Fraction(digits)


def _invalid(kind: str, text: str, flag: str) -> ValueError:
    """The one-sentence error: `--timeout expects seconds or a duration such as ... (got 'x')`."""
    return ValueError(f"{flag} expects {_EXPECTS[kind]} (got {text!r})")
