"""The `--demo` site: fast and slow pages, 404s, 500s, redirects, a large body, flaky pages.

Usage:

    async with DemoSite() as site:
        for url in demo_urls(site.base_url):
            ...  # fetch it; expected_outcome(url) says what it should give

The site runs on `fetchcli.demo.httpserver.HttpServer`, bound to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import random
from urllib.parse import urlsplit

from fetchcli.demo.httpserver import HttpServer, Request, response_head
from fetchcli.model import ErrorKind
from fetchcli.options import FetchOptions
from fetchcli.sources.normal_form import normalize_url

DEMO_COUNT = 300
DEMO_SEED = 20240601
CHAIN_HOPS = 3  # redirects from /chain/N to /page/N
LARGE_SIZE = 2 * 1024 * 1024
INVALID_LINES = ("ftp://demo.invalid/file", "javascript:alert(1)")
# One cycle of the generated URLs: mostly pages, some of every other kind.
_CYCLE = ("page",) * 9 + ("slow",) * 5 + ("missing", "error") + ("redirect", "chain") * 2
_CHUNK = bytes(range(256)) * 256  # 64 KiB
_HTML = "text/html; charset=utf-8"
_NOT_FOUND = (404, b"not found\n")
_FAILURES = {"missing": _NOT_FOUND, "unknown": _NOT_FOUND, "error": (500, b"internal error\n")}


def fast_delay(n: int) -> float:
    """Seconds /page/N takes: 0 to 0.25, so that progress is visible."""
    return (n * 37 % 26) / 100


def slow_delay(n: int) -> float:
    """Seconds /slow/N takes: 0.2 to 1.4 in steps of 0.2, fixed for each N."""
    return (2 + 2 * (n * 3 % 7)) / 10


def _delay(kind: str, n: int) -> float:
    """Seconds the site waits before it answers a URL of this kind (after redirects)."""
    if kind == "slow":
        return slow_delay(n)
    return fast_delay(n) if kind in ("page", "redirect", "chain") else 0.0


def _page(n: int) -> bytes:
    filler = "<p>Lorem ipsum dolor sit amet.</p>\n" * (n * 13 % 40 + 1)
    return (
        f"<!doctype html>\n<html><head><title>Page {n}</title></head><body>\n"
        f'<h1>Page {n}</h1>\n<a href="/page/{n + 1}">next</a>\n{filler}</body></html>\n'
    ).encode()


def _route(path: str) -> tuple[str, int, int]:
    """(kind, N, hops left) for a demo path; kind "unknown" if it is none of them."""
    parts = path.strip("/").split("/")
    if parts == ["large"]:
        return "large", 0, 0
    numbers = parts[1:]
    if not 1 <= len(numbers) <= 2 or not all(p.isdigit() and len(p) < 9 for p in numbers):
        return "unknown", 0, 0
    kind, n = parts[0], int(numbers[0])
    if kind == "chain":
        hops = int(numbers[1]) if len(numbers) == 2 else CHAIN_HOPS
        return ("chain", n, hops) if 1 <= hops <= CHAIN_HOPS else ("unknown", 0, 0)
    if len(numbers) == 1 and kind in (*_CYCLE, "flaky"):
        return kind, n, 0
    return "unknown", 0, 0


class DemoSite(HttpServer):
    """The demo site: pages, slow pages, 404, 500, redirects, a large body, flaky pages.

    Usage: `async with DemoSite() as site: urls = demo_urls(site.base_url)`.
    """

    def __init__(self) -> None:
        super().__init__(self._answer)
        self._flaky_seen: set[int] = set()

    async def _answer(self, request: Request) -> None:
        kind, n, hops = _route(request.path)
        if kind in ("page", "slow"):
            await asyncio.sleep(_delay(kind, n))
            await request.respond(200, _page(n), [("Content-Type", _HTML)])
        elif kind == "redirect":
            await request.respond(302, headers=[("Location", f"/page/{n}")])
        elif kind == "chain":
            where = f"/chain/{n}/{hops - 1}" if hops > 1 else f"/page/{n}"
            await request.respond(302, headers=[("Location", where)])
        elif kind == "large":
            await _send_large(request)
        elif kind == "flaky" and n not in self._flaky_seen:
            self._flaky_seen.add(n)
            await request.respond(503, b"try again\n", [("Retry-After", "0")])
        elif kind == "flaky":
            await request.respond(200, _page(n), [("Content-Type", _HTML)])
        else:
            await request.respond(*_FAILURES.get(kind, _NOT_FOUND))


async def _send_large(request: Request) -> None:
    """2 MiB written in 64 KiB chunks, so the body is streamed, never built whole."""
    writer = request.writer
    headers = [("Content-Type", "application/octet-stream")]
    writer.write(response_head(200, headers, length=LARGE_SIZE, close=not request.keep_alive))
    if request.method != "HEAD":
        for _ in range(LARGE_SIZE // len(_CHUNK)):
            writer.write(_CHUNK)
            await writer.drain()
    await writer.drain()


def demo_urls(base_url: str, count: int = DEMO_COUNT) -> list[str]:
    """A fixed, shuffled mix of the demo site's URLs, with a few invalid lines among them."""
    base = base_url.rstrip("/")
    urls = [*INVALID_LINES, f"{base}/large", f"{base}/flaky/1", f"{base}/flaky/2"][:count]
    for i in range(count - len(urls)):
        urls.append(f"{base}/{_CYCLE[i % len(_CYCLE)]}/{i + 1}")
    random.Random(DEMO_SEED).shuffle(urls)
    return urls


def expected_outcome(
    url: str, options: FetchOptions | None = None
) -> tuple[int | None, ErrorKind | None]:
    """The (status, error kind) the demo site is built to give for a URL under these options.

    It models --follow, --max-redirects, --retries (flaky pages), --timeout and --accept;
    a --timeout within a few milliseconds of a page's delay is a race it cannot call.
    """
    options = options or FetchOptions()
    url, error = normalize_url(url.strip(), options.rules.default_scheme)
    if error is not None:
        return None, ErrorKind.INVALID_URL
    kind, n, hops = _route(urlsplit(url).path)
    redirects = {"redirect": 1, "chain": hops}.get(kind, 0)
    if redirects and not options.request.follow:
        status = 302
    elif redirects > options.request.max_redirects:
        return None, ErrorKind.TOO_MANY_REDIRECTS
    elif _delay(kind, n) >= options.request.timeout:
        return None, ErrorKind.TIMEOUT
    elif kind == "flaky" and (options.request.retries < 1 or 503 in options.request.accept):
        status = 503  # not retried: no retries left, or a 503 already counts as ok
    else:
        status = _FAILURES[kind][0] if kind in _FAILURES else 200
    return status, None if status in options.request.accept else ErrorKind.HTTP_STATUS
