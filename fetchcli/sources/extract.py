"""--extract: documents read whole, their links turned into records, every occurrence its own.

Each document is parsed by its type (`sources.documents`), each link resolved
(`sources.links`) and then passed through the input rules (`--include`,
`--exclude`, `--shard`, `--unique`) like any line. Excluded links (mailto:,
reserved example names, remote links under --offline) are only counted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from fetchcli.model import Page, UrlRecord
from fetchcli.options import DocumentRules, InputRules
from fetchcli.sources.documents import DocumentKind, base_href, extract_links, kind_for
from fetchcli.sources.links import Origin, resolve
from fetchcli.sources.normal_form import normalize_url
from fetchcli.sources.rules import InputFilter, SourceStats
from fetchcli.sources.walk import Document

# Documents larger than this are read up to it (a link checker reads docs, not dumps).
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


def document_records(
    documents: Iterable[Document],
    rules: InputRules,
    docs: DocumentRules,
    stats: SourceStats | None = None,
    stdin: BinaryIO | None = None,
    pages: Mapping[str, Page] | None = None,
) -> Iterator[UrlRecord]:
    """The records of every link in each document, in document order.

    `pages` holds the fetched pages of page-URL documents, by the URL given.
    """
    applied = InputFilter(rules, stats)
    for document in documents:
        if document.url is not None and docs.offline:  # a page is fetched: not offline
            applied.stats.excluded += 1
            continue
        found = _read(document, stdin, pages or {})
        if found is None:  # a page that could not be read: check the page itself
            assert document.url is not None
            url, error = normalize_url(document.url)
            record = applied.link(document.name, 1, 1, url, error)
            if record is not None:
                yield record
            continue
        text, kind, origin = found
        for link in extract_links(text, kind, include_verbatim=docs.include_verbatim):
            target = resolve(link.url, origin, docs)
            if target.excluded:
                applied.stats.excluded += 1
                continue
            record = applied.link(document.name, link.line, link.column, target.url, target.error)
            if record is not None:
                yield record


def _read(
    document: Document, stdin: BinaryIO | None, pages: Mapping[str, Page]
) -> tuple[str, DocumentKind, Origin] | None:
    """A document's text, how to parse it, and where its links resolve (None: nothing to read)."""
    if document.url is not None:
        page = pages.get(document.url)
        if page is None:
            return None
        final_url, text = page.final_url, page.text
        base = base_href(text)
        origin = Origin(page=final_url if base is None else _join(final_url, base))
        return text, DocumentKind.HTML, origin
    if document.path is None:  # stdin: free text, links resolve nowhere
        stream = sys.stdin.buffer if stdin is None else stdin
        return _decode(stream.read(MAX_DOCUMENT_BYTES)), DocumentKind.TEXT, Origin()
    with open(document.path, "rb") as stream:
        data = stream.read(MAX_DOCUMENT_BYTES)
    path = Path(os.path.abspath(document.path))
    return _decode(data), kind_for(str(document.path)), Origin(path=path)


def _decode(data: bytes) -> str:
    # A BOM is not text; undecodable bytes must not hide the links around them.
    return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")


def _join(page: str, base: str) -> str:
    from urllib.parse import urljoin

    return urljoin(page, base)
