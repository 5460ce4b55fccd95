"""The one place that touches httpx's private API; tests/test_httpx_adapter.py pins each use.

httpx has no public way to build the request a redirect leads to without
sending it, nor to give a client a cookie store that does nothing (it copies
what it is given into a plain `Cookies`).
"""

from __future__ import annotations

import httpx


def redirect_request(
    client: httpx.AsyncClient, request: httpx.Request, response: httpx.Response
) -> httpx.Request:
    """The request a redirect response leads to, by httpx's own rules.

    Method changes (303 → GET), `Authorization` dropped across origins,
    relative and scheme-less Locations resolved. Raises httpx.InvalidURL or
    another httpx error when the Location cannot be used.
    """
    return client._build_redirect_request(request, response)


def skip_cookies(client: httpx.AsyncClient, cookies: httpx.Cookies) -> None:
    """Give the client a cookie store that is never read from responses nor sent.

    httpx wraps every response and request in urllib compatibility objects for
    its jar, even a jar that keeps nothing: about a tenth of a small request's CPU.
    """
    if isinstance(getattr(client, "_cookies", None), httpx.Cookies):
        client._cookies = cookies
