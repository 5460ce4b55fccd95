"""The HTTP client: httpx's AsyncClient, configured from options, with a lean send.

For plain HTTP/1.1 the client sits on our aiohttp transport (see transport.py);
HTTP/2 and proxies use httpx's own transport, so they behave exactly as httpx
documents. `Client.send_once` is the one way a request leaves: on the fast
transport it goes straight to the transport, skipping AsyncClient.send's auth
flow, hooks, logging and stream wrapping, which cost more CPU than aiohttp
itself on a small response (benchmarks/); redirects are still built by httpx.
"""

from __future__ import annotations

import importlib.util
import urllib.request
from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any

import httpx

from fetchcli.options import FetchOptions

if TYPE_CHECKING:
    from fetchcli.http.transport import AiohttpTransport

# Request extension: a callable given each response httpx's own transport receives
# for the request, also one whose Location httpx then fails to follow in `send`.
SEEN = "fetchcli.seen"
# Request extension: a PoolSlot, so that one attempt keeps its connection slot
# across its redirects instead of queueing again behind new requests.
SLOT = "fetchcli.slot"


class PoolSlot:
    """A connection slot of the fast transport, held by one attempt until release()."""

    __slots__ = ("_release",)

    def __init__(self) -> None:
        self._release: Callable[[], None] | None = None

    @property
    def held(self) -> bool:
        return self._release is not None

    def hold(self, release: Callable[[], None]) -> None:
        self._release = release

    def release(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release()


class Client(httpx.AsyncClient):
    """An AsyncClient that can send one request without AsyncClient.send's layers."""

    def __init__(self, *, fast: AiohttpTransport | None, **kwargs: Any) -> None:
        super().__init__(transport=fast, **kwargs)
        self._fast = fast
        self._timeouts = self.timeout.as_dict()

    def new_request(self, method: str, url: str, extensions: dict[str, Any]) -> httpx.Request:
        """A request with the client's headers and timeouts (no cookies: none are kept)."""
        return httpx.Request(
            method, url, headers=self.headers, extensions={"timeout": self._timeouts, **extensions}
        )

    async def send_once(self, request: httpx.Request) -> httpx.Response:
        """Send without following redirects; the body is left to be streamed."""
        if self._fast is None:
            return await self.send(request, stream=True, follow_redirects=False)
        return await self._fast.handle_async_request(request)

    def redirect(self, request: httpx.Request, response: httpx.Response) -> httpx.Request | None:
        """The request a redirect response leads to, by httpx's rules; None if it is not one.

        Raises httpx.InvalidURL or an httpx error when the Location cannot be used.
        """
        if self._fast is None:
            return response.next_request  # httpx built it in send (or raised there)
        if not response.has_redirect_location:
            return None
        # AsyncClient's own redirect builder: method changes, Authorization dropped
        # across origins, relative and scheme-less Locations (tests/test_client.py).
        return self._build_redirect_request(request, response)


def make_client(options: FetchOptions) -> Client:
    """A Client configured from options; use it with `async with`."""
    timeout = httpx.Timeout(options.timeout, connect=options.attempt_connect_timeout, pool=None)
    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    names = {name.lower() for name, _ in options.headers}
    headers = [] if "user-agent" in names else [("User-Agent", options.user_agent)]
    cookies = _NoCookieJar()  # a jar (not Cookies) is kept as it is by httpx
    fast = None
    if uses_fast_transport(options):
        from fetchcli.http.transport import AiohttpTransport

        fast = AiohttpTransport(limit=options.concurrency, verify=not options.insecure)
    client = Client(
        fast=fast,
        http2=options.http2,
        verify=not options.insecure,
        proxy=options.proxy,
        limits=limits,
        timeout=timeout,
        headers=[*headers, *options.headers],
        cookies=cookies,
        follow_redirects=False,
        trust_env=True,
        event_hooks={"response": [_show_response]},
    )
    # httpx wraps every response and request in urllib compatibility objects for
    # its jar, even a jar that keeps nothing: ~10% of a small request's CPU.
    # `cookies=` cannot pass a Cookies subclass (httpx copies it), hence the attribute.
    if isinstance(getattr(client, "_cookies", None), httpx.Cookies):
        client._cookies = _NoCookies(cookies)
    return client


async def _show_response(response: httpx.Response) -> None:
    seen = response.request.extensions.get(SEEN)
    if seen is not None:
        seen(response)


class _NoCookies(httpx.Cookies):
    """Cookies that are never read from responses nor sent with requests."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class _NoCookieJar(CookieJar):
    """A bulk fetcher carries no cookies from one URL to the next, and grows no jar.

    Doing nothing here also skips parsing every response's headers for
    Set-Cookie, about a tenth of the CPU of a small request.
    """

    def extract_cookies(self, response: object, request: object) -> None:  # type: ignore[override]
        return None

    def add_cookie_header(self, request: object) -> None:  # type: ignore[override]
        return None


def uses_fast_transport(options: FetchOptions) -> bool:
    """aiohttp's pool for plain HTTP/1.1; httpx's own for HTTP/2 and for proxies."""
    # getproxies() also reports NO_PROXY (as "no"): only a real proxy counts.
    env_proxies = [scheme for scheme in urllib.request.getproxies() if scheme != "no"]
    if options.http2 or options.proxy or env_proxies:
        return False
    return importlib.util.find_spec("aiohttp") is not None
