"""Links found in documents become targets: remapped, resolved, classified (SPEC "Documents").

A link in a local document that is not an http(s) URL is a path on disk: it
becomes a `file://` URI (fragment kept) that the local checker decides
without the network. A link in a fetched page resolves against the page's
final URL and `<base href>`. An http(s) link takes the normal form of
`rules.normalize_url`, as a line of a URL list does. Links to `mailto:`,
`tel:`, `data:` and `javascript:` targets, and by default to the reserved
example names of RFC 2606/6761, are not checked and are counted as excluded.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from fetchcli.options import DocumentRules
from fetchcli.sources.normal_form import normalize_url

# Links that name no resource to check.
SKIPPED_SCHEMES = frozenset({"mailto", "tel", "data", "javascript", "about", "sms", "callto"})
# RFC 2606 / 6761: names that can never be real sites, used in examples.
_RESERVED = re.compile(
    r"(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost)\.?$", re.IGNORECASE
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# A URL's netloc, where urlsplit finds it (the tabs and newlines it drops, it drops from
# the netloc too; a URL with leading space or control characters does not match).
_NETLOC = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")
# A Windows drive letter is a path, not a scheme.
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What a link points at: a URL to check, or why it is not checked."""

    url: str
    error: str | None = None  # an invalid_url record's message
    excluded: bool = False  # not checked at all, counted as excluded


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Where a document's links resolve: a local file, or a fetched page."""

    path: Path | None = None  # a local document (absolute)
    page: str | None = None  # a page's final URL, or its <base href> resolved against it


def resolve(link: str, origin: Origin, rules: DocumentRules) -> Target:
    """The target of one link as written in a document of `origin`."""
    link = remap(link.strip(), rules.remap)
    scheme = _scheme(link)
    if scheme in SKIPPED_SCHEMES:
        return Target(url=link, excluded=True)
    if scheme is None and origin.page is not None:
        return _remote(urljoin(origin.page, link), origin, rules)
    if scheme is None and link.startswith("//"):  # protocol-relative: a host, not a path
        return _remote(f"https:{link}", origin, rules)
    if scheme in ("http", "https"):
        return _remote(link, origin, rules)
    if scheme == "file":
        return Target(url=link)
    if scheme is not None:
        return Target(url=link, error=f"unsupported scheme {scheme!r}")
    return _local(link, origin, rules)


def remap(link: str, rules: tuple[tuple[str, str], ...]) -> str:
    """The link after the first --remap rule whose pattern matches it."""
    for pattern, replacement in rules:
        rewritten, count = re.subn(pattern, replacement, link, count=1)
        if count:
            return rewritten
    return link


def _scheme(link: str) -> str | None:
    if _DRIVE.match(link):
        return None
    match = _SCHEME.match(link)
    return None if match is None else match.group(1).lower()


def _remote(link: str, origin: Origin, rules: DocumentRules) -> Target:
    url, error = normalize_url(link)
    if error is not None:
        return Target(url=url, error=error)
    local = _on_disk(url, rules) if origin.path is not None else None
    if local is not None:
        return _local(local, origin, rules)
    if rules.default_excludes and is_reserved(url):
        return Target(url=url, excluded=True)
    if rules.offline:
        return Target(url=url, excluded=True)
    return Target(url=url)


def is_reserved(url: str) -> bool:
    """Whether a URL's host is a reserved example name (RFC 2606 / 6761).

    Decided once per netloc: a documentation tree links to a few hosts many times.
    """
    match = _NETLOC.match(url)
    if match is None:
        return bool(_RESERVED.search(urlsplit(url).hostname or ""))
    return _reserved_netloc(match.group(1))


@functools.lru_cache(maxsize=1024)
def _reserved_netloc(netloc: str) -> bool:
    return bool(_RESERVED.search(urlsplit(f"//{netloc}").hostname or ""))


def _on_disk(url: str, rules: DocumentRules) -> str | None:
    """A link into the site that --base-url says the local tree is: its root-relative path."""
    if rules.base_url is None:
        return None
    base = _base(rules.base_url)
    if url.lower().startswith(base.lower()):
        return "/" + url[len(base) :]
    if url.lower() + "/" == base.lower():
        return "/"
    return None


@functools.lru_cache(maxsize=8)
def _base(base_url: str) -> str:
    """--base-url in the normal form of the links it is compared with, ending in `/`."""
    base = normalize_url(base_url)[0].partition("#")[0]
    return base if base.endswith("/") else base + "/"


def _local(link: str, origin: Origin, rules: DocumentRules) -> Target:
    parts = urlsplit(link)
    fragment = f"#{parts.fragment}" if parts.fragment or link.endswith("#") else ""
    path = unquote(parts.path)
    if origin.path is None:  # stdin: no folder to resolve against
        return Target(url=link, error="a relative link in standard input has no folder")
    target: str | Path
    if not path:
        target = origin.path
    elif path.startswith("/"):
        if rules.root_dir is None:
            return Target(
                url=link, error=f"root-relative link {link!r} needs --root-dir DIR to be checked"
            )
        # As on a web server, `/..` stays at the root.
        target = Path(rules.root_dir) / posixpath.normpath(path).lstrip("/")
    else:
        target = os.path.join(os.path.dirname(origin.path), path)
    uri = _file_uri(os.path.abspath(target))
    if path.endswith("/") and not uri.endswith("/"):
        uri += "/"
    return Target(url=uri + fragment)


@functools.lru_cache(maxsize=4096)
def _file_uri(absolute: str) -> str:
    """The file: URI of an absolute path (documents link to the same few files again and again)."""
    return Path(absolute).as_uri()
