"""The one place that touches httpx's private API; tests/test_httpx_adapter.py pins each use.

httpx has no public way to build the request a redirect leads to without
sending it, nor to give a client a cookie store that does nothing (it copies
what it is given into a plain `Cookies`). Building a `Request` or `Headers`
publicly re-parses and re-normalizes what is already known: about 80 µs of
CPU a request, more than libcurl spends on it; `RequestBuilder`,
`response_headers` and `stream_response` build the same objects directly
(tests/test_client.py checks they equal what the public constructors give).
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Any

import httpx
from httpx._urlparse import MAX_URL_LENGTH, ParseResult, urlparse

# An http(s) URL whose path and query httpx would keep as they are: ASCII letters,
# digits, unreserved, sub-delims, ':', '@', '/', '%' (checked below), no fragment,
# no userinfo, a lower-case scheme, a host of letters, digits, '.' and '-'.
_PLAIN_URL = re.compile(
    r"(https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?)"
    r"(/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*)"
    r"(?:\?([A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*))?"
)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ORIGINS_KEPT = 1024  # parsed origins remembered (a link check sees many)
_EMPTY = httpx.ByteStream(b"")
_BODY_METHODS = ("POST", "PUT", "PATCH")  # httpx adds Content-Length: 0 to these


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


def response_headers(items: list[tuple[bytes, bytes, bytes]]) -> httpx.Headers:
    """`httpx.Headers(pairs)` for a response's (name, lower-case name, value) items,
    without normalizing each one again."""
    # "ascii" is what httpx would find by decoding each; None lets it look.
    encoding = "ascii" if b"".join(chain.from_iterable(items)).isascii() else None
    return _headers(items, encoding)


def _headers(items: list[tuple[bytes, bytes, bytes]], encoding: str | None) -> httpx.Headers:
    """A `Headers` holding `items` (name, lower-case name, value) as they are.

    `Headers()` itself costs two isinstance checks, one against an ABC, for nothing.
    """
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = items
    headers._encoding = encoding
    return headers


def header_value(headers: httpx.Headers, name: bytes) -> str | None:
    """`headers.get(name)` for a lower-case byte name: the values joined by ", ", or None.

    httpx's `get` encodes the name and decodes every field's value first.
    """
    values = [value for _, lower, value in headers._list if lower == name]
    if not values:
        return None
    encoding = headers.encoding
    return ", ".join(value.decode(encoding) for value in values)


def stream_response(
    status_code: int,
    headers: httpx.Headers,
    stream: httpx.AsyncByteStream,
    request: httpx.Request,
    extensions: dict[str, Any],
) -> httpx.Response:
    """`httpx.Response(status_code, stream=stream, request=request, extensions=extensions)`
    with `headers` set, without the constructor's copies and checks (one a response)."""
    response = httpx.Response.__new__(httpx.Response)
    response.status_code = status_code
    response.headers = headers
    response._request = request
    response.next_request = None
    response.extensions = extensions
    response.history = []
    response.is_closed = False
    response.is_stream_consumed = False
    response.default_encoding = "utf-8"
    response.stream = stream
    response._num_bytes_downloaded = 0
    return response


class RequestBuilder:
    """Builds `httpx.Request(method, url, headers=headers, extensions=...)`, parsing less.

    A plain http(s) URL (the normal form most inputs are in) is split with one
    regular expression; its origin is parsed by httpx once and remembered. Any
    other URL, or a method with a body, goes through httpx's own constructor.

    Usage: `RequestBuilder(client.headers).build("GET", "http://a.example/x", {})`.
    """

    def __init__(self, headers: httpx.Headers) -> None:
        self._headers = headers
        self._given_host = "host" in headers
        self._origins: dict[str, tuple[str, str, int | None, bytes]] = {}

    def build(self, method: str, url: str, extensions: dict[str, Any]) -> httpx.Request:
        """The request, equal to what `httpx.Request` builds from the same arguments."""
        parsed = self._parse(url) if method not in _BODY_METHODS else None
        if parsed is None:
            return httpx.Request(method, url, headers=self._headers, extensions=extensions)
        target, netloc = parsed
        request = httpx.Request.__new__(httpx.Request)
        request.method = method.upper()
        request.url = target
        given = self._headers
        if self._given_host:
            items = list(given._list)
        else:  # as Request._prepare: Host first
            items = [(b"Host", b"host", netloc), *given._list]
        request.headers = _headers(items, given._encoding)
        request.extensions = extensions
        request.stream = _EMPTY
        request._content = b""
        return request

    def _parse(self, url: str) -> tuple[httpx.URL, bytes] | None:
        """The URL as httpx would parse it, and its netloc; None unless it is plain."""
        match = _PLAIN_URL.fullmatch(url)
        if match is None or len(url) > MAX_URL_LENGTH:
            return None
        origin, path, query = match.groups()
        if "/." in path or ("%" in url and _BAD_PERCENT.search(url)):
            return None  # dot segments to remove, or a '%' httpx would escape
        known = self._origins.get(origin)
        if known is None:
            head = urlparse(origin + "/")  # raises httpx.InvalidURL as httpx.URL would
            known = (head.scheme, head.host, head.port, head.netloc.encode("ascii"))
            if len(self._origins) >= _ORIGINS_KEPT:
                self._origins.clear()
            self._origins[origin] = known
        scheme, host, port, netloc = known
        target = httpx.URL.__new__(httpx.URL)
        target._uri_reference = ParseResult(scheme, "", host, port, path, query, None)
        return target, netloc
