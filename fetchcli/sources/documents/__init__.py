"""documents: the links and anchors of Markdown, HTML, reST and plain-text documents.

Owns parsing documents for --extract: each link as written (not resolved, not normalized)
with its 1-based line and column, the fragment ids a document defines, and `<base href>`.
Pure functions, no I/O. May import: the standard library and markdown-it-py, nothing of
fetchcli outside this package.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from fetchcli.sources.documents.text import Hit, LineIndex, find_bare_urls, normalize_newlines

__all__ = ["DocumentKind", "Link", "anchors", "base_href", "extract_links", "kind_for"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A link as written in a document, at the 1-based line and column of its destination.

    >>> Link(url="docs/install.md", line=3, column=14)
    Link(url='docs/install.md', line=3, column=14)
    """

    url: str
    line: int
    column: int


class DocumentKind(StrEnum):
    """How a document is parsed."""

    MARKDOWN = "markdown"
    HTML = "html"
    RST = "rst"
    TEXT = "text"


_EXTENSIONS = {
    ".md": DocumentKind.MARKDOWN,
    ".markdown": DocumentKind.MARKDOWN,
    ".mdx": DocumentKind.MARKDOWN,
    ".html": DocumentKind.HTML,
    ".htm": DocumentKind.HTML,
    ".rst": DocumentKind.RST,
}


class _Extractor(Protocol):
    def __call__(self, text: str, *, include_verbatim: bool = False) -> list[Hit]: ...


def _text_hits(text: str, *, include_verbatim: bool = False) -> list[Hit]:
    return find_bare_urls(text)  # plain text has no verbatim parts


def _parser(kind: DocumentKind) -> tuple[_Extractor, Callable[[str], set[str]]]:
    """A kind's link extractor and anchor reader, imported when a document of it first comes.

    (markdown-it alone takes ~35 ms to import, which an HTML-only tree need not pay.)
    """
    if kind is DocumentKind.MARKDOWN:
        from fetchcli.sources.documents.markdown import markdown_anchors, markdown_hits

        return markdown_hits, markdown_anchors
    if kind is DocumentKind.HTML:
        from fetchcli.sources.documents.html import html_anchors, html_hits

        return html_hits, html_anchors
    if kind is DocumentKind.RST:
        from fetchcli.sources.documents.rst import rst_anchors, rst_hits

        return rst_hits, rst_anchors
    return _text_hits, lambda text: set()


def kind_for(path: str) -> DocumentKind:
    """The kind of document a path names, by its extension (case-insensitive).

    >>> kind_for("docs/README.md")
    <DocumentKind.MARKDOWN: 'markdown'>
    """
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower(), DocumentKind.TEXT)


def extract_links(text: str, kind: DocumentKind, *, include_verbatim: bool = False) -> list[Link]:
    """Every link of a document, in document order; code and comments only if include_verbatim.

    >>> extract_links("Read [the guide](docs/install.md).", DocumentKind.MARKDOWN)
    [Link(url='docs/install.md', line=1, column=18)]
    """
    text = normalize_newlines(text)
    hits = _parser(kind)[0](text, include_verbatim=include_verbatim)
    index = LineIndex(text)
    links = []
    for hit in sorted(hits, key=lambda hit: hit.offset):
        line, column = index.position(hit.offset)
        links.append(Link(url=hit.url, line=line, column=column))
    return links


def anchors(text: str, kind: DocumentKind) -> frozenset[str]:
    """The fragment ids a `#fragment` may name in a document.

    >>> sorted(anchors("# Usage\\n## Usage\\n", DocumentKind.MARKDOWN))
    ['usage', 'usage-1']
    """
    return frozenset(_parser(kind)[1](normalize_newlines(text)))


def base_href(text: str) -> str | None:
    """The `<base href>` of an HTML document, else None.

    >>> base_href('<head><base href="https://example.org/docs/"></head>')
    'https://example.org/docs/'
    """
    from fetchcli.sources.documents.html import html_base_href

    return html_base_href(normalize_newlines(text))
