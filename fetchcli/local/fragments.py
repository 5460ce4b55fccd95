"""--check-fragments for remote pages: an http(s) link's #fragment against the page's ids."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from urllib.parse import unquote, urlsplit

from fetchcli.model import ErrorKind, Fetcher, FetchResult, Page, UrlRecord
from fetchcli.sources.documents import DocumentKind, anchors
from fetchcli.sources.normal_form import normalize_url, unique_key

# Reads a page's text (None when it cannot be read): injected, so no wire is imported here.
ReadPage = Callable[[str], Awaitable[str | None]]


class RemoteFragments:
    """A fetcher that also checks the #fragment of an ok HTML page, reading each page once.

    Usage: `fetch = RemoteFragments(http_fetcher, read_page)`; `await fetch(record)`.
    """

    def __init__(self, fetcher: Fetcher, read_page: ReadPage, pages: Iterable[Page] = ()) -> None:
        self._fetcher = fetcher
        self._read_page = read_page
        self._anchors: dict[str, asyncio.Future[frozenset[str] | None]] = {}
        # Pages the run has read already (by their normal form): parsed when first asked for.
        self._texts = {
            unique_key(normalize_url(url)[0]): page.text
            for page in pages
            for url in (page.url, page.final_url)
        }

    async def __call__(self, record: UrlRecord) -> FetchResult:
        result = await self._fetcher(record)
        if "#" not in record.url:  # most links: no fragment to split out and look for
            return result
        parts = urlsplit(record.url)
        fragment = unquote(parts.fragment)
        if not fragment or not result.ok or "html" not in (result.content_type or ""):
            return result
        page = unique_key(record.url)  # the page without its fragment, as it was requested
        ids = await self._ids(page)
        if ids is None or fragment in ids or fragment.lower() == "top":
            return result
        return replace(
            result, ok=False, error=ErrorKind.FRAGMENT, message=f"no anchor #{fragment} in {page}"
        )

    async def _ids(self, page: str) -> frozenset[str] | None:
        """The ids of a page, read once however many links point into it."""
        future = self._anchors.get(page)
        if future is None:
            future = self._anchors[page] = asyncio.ensure_future(self._read(page))
        return await asyncio.shield(future)

    async def _read(self, page: str) -> frozenset[str] | None:
        text = self._texts.get(page)
        if text is None:
            text = await self._read_page(page)
        return None if text is None else anchors(text, DocumentKind.HTML)
