"""The normal form of a URL: what is fetched, and what `--unique` compares.

`normalize_url` (SPEC "Fine points") is applied by the input rules to every
line, and by `links` to the http(s) links of documents. Most URLs are in
normal form already: one regular expression spots them, and only the others
are split, decoded and re-assembled.
"""

from __future__ import annotations

import re
import string
from functools import cache, lru_cache
from urllib.parse import urlsplit

from fetchcli.hosts import encode_host, name_problem
from fetchcli.options import SCHEMES

# Imported or compiled on first use, not at start-up: idna (a non-ASCII or xn-- host)
# and the %-escape tables.

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?!\d+(?:[/?#]|$))")
_BAD_CHAR = re.compile(r"[\x00-\x20\x7f-\x9f]")
# The normal form (normalize_url): a netloc of the fast path has no upper-case
# or non-ASCII letter (ASCII but A-Z: the negated class `[^A-Z\x80-\U0010ffff]`
# takes ~5 ms to compile, this one 0.1 ms).
_LOWER_ASCII = re.compile(r"[\x00-\x40\x5b-\x7f]*\Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A URL in normal form but perhaps for its empty path, spotted without urlsplit: an
# http(s) scheme, a host of lower-case letters, digits, '.' and '-' (no userinfo), a
# port without leading zeros or none, then the end or a path, query or fragment with
# no '%' and no dot segment.
_PLAIN = re.compile(r"(https?)://([a-z0-9.-]+)(?::([1-9][0-9]{0,4}))?(?=[/?#]|\Z)")


@cache
def _escape_rules() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, str], dict[str, str]]:
    """The `%XX` and stray-`%` patterns, and what each `XX` becomes (plain, beside a stray)."""
    escapes = {
        f"{high}{low}": chr(int(high + low, 16))
        if chr(int(high + low, 16)) in string.ascii_letters + string.digits + "-._~"
        else f"%{high}{low}".upper()
        for high in string.hexdigits
        for low in string.hexdigits
    }
    beside_stray = {
        hex_pair: f"%{hex_pair}".upper() if len(char) == 1 and char in string.hexdigits else char
        for hex_pair, char in escapes.items()
    }
    escape = re.compile(r"%([0-9A-Fa-f]{2})")
    stray = re.compile(r"%(?![0-9A-Fa-f]{2})")
    return escape, stray, escapes, beside_stray


def normalize_url(text: str, default_scheme: str = "https") -> tuple[str, str | None]:
    """Return the URL in its normal form and None, or the text and why it cannot be fetched.

    The normal form (SPEC "Fine points") is what is fetched and what `--unique`
    compares: scheme and host lower-cased, the host IDNA-encoded (UTS 46),
    the default port dropped, dot segments removed (RFC 3986 5.2.4),
    percent-escapes of unreserved characters decoded and the others' hex
    upper-cased, an empty path made `/`. Userinfo is kept as it is, and so is
    the `#fragment`, which is never sent (see `unique_key`).
    """
    if _BAD_CHAR.search(text):
        return text, "URL contains whitespace or control characters"
    plain = _PLAIN.match(text)
    if plain is not None and "%" not in text and "/." not in text and _plain_port(plain):
        problem = _plain_host_problem(plain.group(2))
        if problem is not None:
            return text, problem
        end = plain.end()
        return (text if text[end : end + 1] == "/" else f"{text[:end]}/{text[end:]}"), None
    return _normalize(text, default_scheme)


def _normalize(text: str, default_scheme: str) -> tuple[str, str | None]:
    """normalize_url for any URL without control characters (the plain ones are its shortcut)."""
    match = _SCHEME.match(text)
    if match is None:
        url = f"{default_scheme}://{text}"
    elif match.group(1).lower() in SCHEMES:
        url = match.group(1).lower() + text[match.end(1) :]
    else:
        return text, f"unsupported scheme {match.group(1).lower()!r}"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        return url, f"malformed URL: {exc}"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    # An IPv6 literal keeps its brackets.
    bracketed = hostport[:1] == "["
    host = hostport[: hostport.find("]") + 1] if bracketed else hostport.partition(":")[0]
    if host in ("", "[]") or netloc.endswith(":"):
        return url, "URL has an empty port" if host else "URL has no host"
    # `scheme://` + netloc, then the rest exactly as given (urlsplit would drop an empty `?`).
    authority_end = len(parts.scheme) + 3 + len(netloc)
    if port is None and "%" not in url and "/." not in url and _LOWER_ASCII.match(netloc):
        # Already in normal form but for the path, though not plain enough for the
        # shortcut in normalize_url (userinfo, an upper-case scheme, an IPv6 literal).
        problem = None if bracketed else name_problem(host, host)
        if problem is not None:
            return url, problem
        return (url if parts.path else f"{url[:authority_end]}/{url[authority_end:]}"), None
    try:
        host = _ascii_host(host)
    except ValueError as exc:
        return url, str(exc)
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    head, hash_sign, fragment = url[authority_end:].partition("#")
    path, question, query = head.partition("?")
    path = _remove_dot_segments(_unescape(path)) or "/"
    query = _unescape(query)
    url = f"{parts.scheme}://{userinfo}{at}{host}{path}{question}{query}{hash_sign}{fragment}"
    return url, None


def _ascii_host(host: str) -> str:
    """The host as it is sent: lower-cased, IDNA-encoded; ValueError says why it cannot be."""
    if host.startswith("["):
        return host.lower()
    if "%" in host:
        host = _unescape(host)
    return encode_host(host)


def _plain_port(plain: re.Match[str]) -> bool:
    """Whether a plain URL's port is in normal form: none, or a valid one not the default."""
    port = plain.group(3)
    return port is None or (int(port) <= 65535 and int(port) != _DEFAULT_PORTS[plain.group(1)])


@lru_cache(maxsize=1024)
def _plain_host_problem(host: str) -> str | None:
    """`name_problem` of a lower-case ASCII host, remembered (a run sees few hosts)."""
    return name_problem(host, host)


def _unescape(text: str) -> str:
    """Percent-escapes of unreserved characters decoded, the others' hex upper-cased.

    Beside a stray `%` (one not starting an escape) a hex digit stays escaped:
    `%%34%31` would become the new escape `%41`, and normalizing would not be
    idempotent.
    """
    if "%" not in text:
        return text
    escape, stray, escapes, beside_stray = _escape_rules()
    table = beside_stray if stray.search(text) else escapes
    return escape.sub(lambda match: table[match.group(1)], text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 for an absolute path: `.` and `..` segments resolved."""
    if "/." not in path:
        return path
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")  # `/a/b/..` is the folder `/a/`
    return "/" + "/".join(kept)


def unique_key(url: str) -> str:
    """What `--unique` compares: the normal form without its fragment, which is never sent.

    A local (file:) link keeps its fragment: an anchor of that file is a check of its own.
    """
    return url if url.startswith("file:") else url.partition("#")[0]
