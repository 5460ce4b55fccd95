"""The HTTP client: httpx's AsyncClient, configured from options, on the libcurl wire.

Every request, whatever the options (HTTP/1.1 or HTTP/2, TLS, any proxy),
leaves through one wire, `CurlTransport`, so a result never depends on which
options reached the server. `Client.send_once` sends straight to the wire,
skipping AsyncClient.send's auth flow, hooks and stream wrapping, which cost
more CPU than the wire on a small response; redirects are built by httpx's
own rules (`httpx_adapter`). The proxy for a URL is chosen here by one rule:
`--proxy`, else the `*_PROXY` / `NO_PROXY` variables as httpx reads them;
libcurl never applies its own environment rules on top.
"""

from __future__ import annotations

import urllib.request
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from fetchcli.hosts import encode_host
from fetchcli.http.curl import CurlTransport, decodable_encodings
from fetchcli.http.httpx_adapter import RequestBuilder, redirect_request, skip_cookies
from fetchcli.options import RequestSpec


class Wires(httpx.AsyncBaseTransport):
    """One libcurl wire per proxy in use (most runs: one, direct); picks a request's by its URL."""

    def __init__(self, spec: RequestSpec, connections: int) -> None:
        self._spec = spec
        self._connections = connections
        self._wires: dict[str | None, CurlTransport] = {}
        # --proxy wins; else the environment, read once (getproxies: lower case first).
        self._environment = {} if spec.proxy else _environment_proxies()

    def proxy_for(self, url: httpx.URL) -> str | None:
        """The proxy a URL goes through: --proxy, else HTTP(S)_PROXY/ALL_PROXY unless NO_PROXY."""
        if self._spec.proxy is not None:
            return self._spec.proxy
        proxy = self._environment.get(url.scheme) or self._environment.get("all")
        if proxy is None:
            return None
        host = url.host if url.port is None else f"{url.host}:{url.port}"
        return None if _bypass(host, self._environment) else proxy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.wire_for(request).handle_async_request(request)

    def wire_for(self, request: httpx.Request) -> CurlTransport:
        """The wire a request leaves through: the one of its proxy (or none), made once."""
        proxy = self.proxy_for(request.url)
        wire = self._wires.get(proxy)
        if wire is None:
            wire = self._wires[proxy] = CurlTransport(
                max_connections=self._connections,
                verify=not self._spec.insecure,
                http2=self._spec.http2,
                proxy=proxy,
                decode=True,  # in C, a step at a time: a bomb stops at --max-body
            )
        return wire

    async def aclose(self) -> None:
        for wire in self._wires.values():
            await wire.aclose()
        self._wires.clear()


def _bypass(host: str, proxies: dict[str, str]) -> bool:
    """Whether NO_PROXY names the host (urllib's rule: suffixes, `*`, ports)."""
    # Not in typeshed, but public and documented in urllib.request's module.
    check = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009
    return bool(check(host, proxies))


def _environment_proxies() -> dict[str, str]:
    """`scheme → proxy URL` from the environment, and `no` → NO_PROXY for the bypass check."""
    proxies = urllib.request.getproxies()
    return {key: value for key, value in proxies.items() if value}


class Client(httpx.AsyncClient):
    """An AsyncClient that sends one request straight to its wire."""

    def __init__(self, *, wire: Wires, **kwargs: Any) -> None:
        super().__init__(transport=wire, **kwargs)
        self._wire = wire
        # No read timeout on the wire: it equals the attempt deadline (-t), which starts
        # first and so always fires first; a timer per transfer would only be cancelled.
        self._timeouts = {**self.timeout.as_dict(), "read": None}
        self._requests = RequestBuilder(self.headers)

    def new_request(self, method: str, url: str, extensions: dict[str, Any]) -> httpx.Request:
        """A request with the client's headers and timeouts (no cookies: none are kept).

        `extensions` becomes the request's own (with "timeout" added): pass a new dict.
        """
        extensions["timeout"] = self._timeouts
        return self._requests.build(method, url, extensions)

    async def send_once(self, request: httpx.Request) -> httpx.Response:
        """Send without following redirects; the body is left to be streamed."""
        return await self._wire.wire_for(request).handle_async_request(request)

    def redirect(self, request: httpx.Request, response: httpx.Response) -> httpx.Request | None:
        """The request a redirect response leads to, by httpx's rules; None if it is not one.

        Raises httpx.InvalidURL or an httpx error when the Location cannot be used,
        its host too (the input's rule: an empty label, one over 63 characters, a bad
        `xn--` label).
        A `Cookie` given with -H is kept within one origin and dropped across
        origins, as curl does (httpx drops it always); `Authorization` likewise.
        """
        if not response.has_redirect_location:
            return None
        try:
            following = redirect_request(self, request, response)
        except UnicodeError as exc:  # idna's: httpx reads an xn-- host (`xn--.example`)
            raise httpx.InvalidURL(f"host {_host_of(response)!r} cannot be read: {exc}") from None
        host = following.url.raw_host.decode("ascii")  # IDNA-encoded by httpx, escapes kept
        if ":" not in host:  # a name or IPv4 address, not an IPv6 literal
            try:
                # The normal form's host rule, which httpx does not apply (`a..b.example`),
                # on the host as libcurl reads it: %-escapes decoded (`a%2e.example`).
                encode_host(unquote(host))
            except ValueError as exc:
                raise httpx.InvalidURL(str(exc)) from None
        cookie = request.headers.get("cookie")
        if cookie is not None and _origin(following.url) == _origin(request.url):
            following.headers["Cookie"] = cookie
        return following


def _host_of(response: httpx.Response) -> str:
    """The host a redirect names, as sent (never its userinfo, which may hold a password)."""
    try:
        return urlsplit(response.headers.get("location", "")).hostname or ""
    except ValueError:
        return ""


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def make_client(spec: RequestSpec, connections: int) -> Client:
    """A Client for requests as `spec` says, `connections` pooled; use it with `async with`."""
    timeout = httpx.Timeout(spec.timeout, connect=spec.attempt_connect_timeout, pool=None)
    names = {name.lower() for name, _ in spec.headers}
    headers = [] if "user-agent" in names else [("User-Agent", spec.user_agent)]
    if "accept-encoding" not in names:  # a given one replaces it, as User-Agent
        # Advertise only what the wire decodes (httpx would add what Python's modules decode).
        headers.append(("Accept-Encoding", decodable_encodings()))
    cookies = _NoCookieJar()  # a jar (not Cookies) is kept as it is by httpx
    client = Client(
        wire=Wires(spec, connections),
        timeout=timeout,
        headers=[*headers, *spec.headers],
        cookies=cookies,
        follow_redirects=False,
        trust_env=False,  # the proxy rule is Wires.proxy_for's, and certificates the wire's
    )
    skip_cookies(client, _NoCookies(cookies))
    return client


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
