"""Pages given as --extract sources: fetched once, as text, for their links."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx

from fetchcli.http.client import make_client
from fetchcli.http.wire import BODY_LIMIT
from fetchcli.model import Page
from fetchcli.options import RequestSpec

ReadPage = Callable[[str], Awaitable[str | None]]


async def fetch_pages(urls: list[str], spec: RequestSpec) -> dict[str, Page]:
    """Each page that could be read, by the URL asked for (its final URL is in the page).

    A page that fails is left out; its URL is then checked like a link, so
    the run reports why.
    """
    if not urls:
        return {}
    async with make_client(spec, min(len(urls), 10)) as client:
        found = await asyncio.gather(*(_fetch(client, url, spec) for url in urls))
    return {url: page for url, page in zip(urls, found, strict=True) if page is not None}


async def _fetch(client: httpx.AsyncClient, url: str, spec: RequestSpec) -> Page | None:
    started = time.monotonic()
    try:
        async with asyncio.timeout(spec.timeout):
            request = client.build_request("GET", url, extensions={BODY_LIMIT: spec.max_body})
            response = await client.send(request, stream=True, follow_redirects=True)
            try:
                if response.status_code not in spec.accept:
                    return None
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= spec.max_body:
                        break
                data = bytes(body[: spec.max_body])
                return Page(
                    url=url,
                    final_url=str(response.url),
                    status=response.status_code,
                    text=data.decode(response.encoding or "utf-8", "replace"),
                    content_type=response.headers.get("content-type"),
                    size=len(data),
                    elapsed=time.monotonic() - started,
                    redirects=len(response.history),
                )
            finally:
                await response.aclose()
    except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, OSError, LookupError):
        return None


@asynccontextmanager
async def open_page_reader(spec: RequestSpec, connections: int) -> AsyncIterator[ReadPage]:
    """`read(url)`: a page's text, or None; one client for every page of a run."""
    async with make_client(spec, connections) as client:

        async def read(url: str) -> str | None:
            page = await _fetch(client, url, spec)
            return None if page is None else page.text

        yield read
