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
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any

import httpx

from fetchcli.http.httpx_adapter import redirect_request, skip_cookies
from fetchcli.http.wire import ATTEMPT, Attempt
from fetchcli.options import RequestSpec

if TYPE_CHECKING:
    from fetchcli.http.transport import AiohttpTransport


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
        return redirect_request(self, request, response)


def make_client(spec: RequestSpec, connections: int) -> Client:
    """A Client for requests as `spec` says, `connections` pooled; use it with `async with`."""
    timeout = httpx.Timeout(spec.timeout, connect=spec.attempt_connect_timeout, pool=None)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    names = {name.lower() for name, _ in spec.headers}
    headers = [] if "user-agent" in names else [("User-Agent", spec.user_agent)]
    cookies = _NoCookieJar()  # a jar (not Cookies) is kept as it is by httpx
    fast = None
    if uses_fast_transport(spec):
        from fetchcli.http.transport import AiohttpTransport

        fast = AiohttpTransport(limit=connections, verify=not spec.insecure)
    client = Client(
        fast=fast,
        http2=spec.http2,
        verify=not spec.insecure,
        proxy=spec.proxy,
        limits=limits,
        timeout=timeout,
        headers=[*headers, *spec.headers],
        cookies=cookies,
        follow_redirects=False,
        trust_env=True,
        event_hooks={"response": [_show_response]},
    )
    skip_cookies(client, _NoCookies(cookies))
    return client


async def _show_response(response: httpx.Response) -> None:
    # httpx's own send may fail on a Location after this hook: the attempt keeps the response.
    attempt = response.request.extensions.get(ATTEMPT)
    if isinstance(attempt, Attempt):
        attempt.saw(response)


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

    def extract_cookies(self, response: object, request: object) -> None:
        return None

    def add_cookie_header(self, request: object) -> None:
        return None


def uses_fast_transport(spec: RequestSpec) -> bool:
    """aiohttp's pool for plain HTTP/1.1; httpx's own for HTTP/2 and for proxies."""
    # getproxies() also reports NO_PROXY (as "no"): only a real proxy counts.
    env_proxies = [scheme for scheme in urllib.request.getproxies() if scheme != "no"]
    if spec.http2 or spec.proxy or env_proxies:
        return False
    return importlib.util.find_spec("aiohttp") is not None
