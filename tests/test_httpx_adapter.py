"""Pins what `fetchcli.http.httpx_adapter` gets from httpx's private API.

An httpx upgrade that changes any of it fails here first. `redirect_request`
needs no network: responses are built by hand. `skip_cookies` is checked
through a real client against pytest-httpserver.
"""

from __future__ import annotations

import asyncio
import functools
import ssl

import httpx
import pytest
from pytest_httpserver import HTTPServer

from fetchcli.http.httpx_adapter import redirect_request, skip_cookies
from fetchcli.http.wire import ATTEMPT, Attempt

pytestmark = pytest.mark.timeout(10)

ORIGIN = "http://a.example"
TOKEN = {"Authorization": "Bearer secret"}


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing is sent here, yet {request.url} was")


@pytest.fixture(scope="module")
def client() -> httpx.AsyncClient:
    """A client for redirect_request, which only builds requests (none is sent)."""
    return httpx.AsyncClient(transport=httpx.MockTransport(_never))


@functools.cache
def _verified() -> ssl.SSLContext:
    """httpx's context for verify=True, made once (loading the CA bundle takes ~0.1 s)."""
    return httpx.create_ssl_context(verify=True)


def real_client() -> httpx.AsyncClient:
    """An httpx client on its own transport, to send to the local server."""
    return httpx.AsyncClient(verify=_verified())


def redirected(
    client: httpx.AsyncClient,
    location: str,
    *,
    status: int = 302,
    method: str = "GET",
    url: str = ORIGIN + "/dir/page?x=1",
    headers: dict[str, str] | None = None,
) -> httpx.Request:
    """The request that `status` with `Location: location` leads to, by redirect_request."""
    request = httpx.Request(method, url, headers=headers)
    response = httpx.Response(status, headers={"Location": location}, request=request)
    return redirect_request(client, request, response)


# --- redirect_request: method ----------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_keeps_get(client: httpx.AsyncClient, status: int) -> None:
    assert redirected(client, "/next", status=status).method == "GET"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_keeps_head(client: httpx.AsyncClient, status: int) -> None:
    assert redirected(client, "/next", status=status, method="HEAD").method == "HEAD"


def test_a_303_turns_post_into_get(client: httpx.AsyncClient) -> None:
    assert redirected(client, "/next", status=303, method="POST").method == "GET"


# --- redirect_request: URL -------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("next", ORIGIN + "/dir/next"),
        ("../up?q=2", ORIGIN + "/up?q=2"),
        ("/root", ORIGIN + "/root"),
        ("?y=2", ORIGIN + "/dir/page?y=2"),
    ],
)
def test_a_relative_location_resolves_against_the_request_url(
    client: httpx.AsyncClient, location: str, expected: str
) -> None:
    assert str(redirected(client, location).url) == expected


def test_a_scheme_less_location_takes_the_request_scheme(client: httpx.AsyncClient) -> None:
    new = redirected(client, "//b.example/path", url="https://a.example/")
    assert str(new.url) == "https://b.example/path"


def test_a_redirect_to_another_host_sends_that_host(client: httpx.AsyncClient) -> None:
    # The wires send headers as they are: the Host header must already be the new one.
    assert redirected(client, "http://b.example:8080/").headers["Host"] == "b.example:8080"


def test_an_unparseable_location_raises_remote_protocol_error(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="Invalid URL in location header"):
        redirected(client, "http://[::1")


def test_a_hostless_absolute_location_raises_invalid_url(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.InvalidURL):
        redirected(client, "javascript:alert(1)")


def test_a_location_to_ftp_is_returned_not_refused(client: httpx.AsyncClient) -> None:
    # The wire refuses it when it is sent (httpx.UnsupportedProtocol).
    assert str(redirected(client, "ftp://files.example/f").url) == "ftp://files.example/f"


def test_a_location_with_an_out_of_range_port_is_returned_not_refused(
    client: httpx.AsyncClient,
) -> None:
    # Refused when it is sent: errors.KINDS maps the OverflowError to invalid_url.
    assert redirected(client, "http://a.example:99999/").url.port == 99999


# --- redirect_request: headers and extensions ------------------------------------------


def test_authorization_is_kept_on_a_same_origin_redirect(client: httpx.AsyncClient) -> None:
    assert "Authorization" in redirected(client, "/next", headers=TOKEN).headers


def test_authorization_is_dropped_on_a_redirect_to_another_host(client: httpx.AsyncClient) -> None:
    assert "Authorization" not in redirected(client, "http://b.example/", headers=TOKEN).headers


def test_authorization_is_kept_on_an_upgrade_to_https_on_the_default_ports(
    client: httpx.AsyncClient,
) -> None:
    new = redirected(client, "https://a.example/next", headers=TOKEN)
    assert new.headers["Authorization"] == TOKEN["Authorization"]


def test_authorization_is_dropped_on_an_upgrade_to_https_on_other_ports(
    client: httpx.AsyncClient,
) -> None:
    new = redirected(client, "https://a.example:8443/", url="http://a.example:8080/", headers=TOKEN)
    assert "Authorization" not in new.headers


def test_authorization_is_dropped_on_a_downgrade_to_http(client: httpx.AsyncClient) -> None:
    new = redirected(client, "http://a.example/", url="https://a.example/", headers=TOKEN)
    assert "Authorization" not in new.headers


def test_a_given_cookie_header_does_not_survive_a_redirect(client: httpx.AsyncClient) -> None:
    assert "Cookie" not in redirected(client, "/next", headers={"Cookie": "k=v"}).headers


def test_the_attempt_and_trace_extensions_are_carried_over(client: httpx.AsyncClient) -> None:
    # httpx copies the dict (shallow): the Attempt itself travels with the redirect.
    attempt = Attempt(lambda: None)
    request = httpx.Request("GET", ORIGIN + "/", extensions=attempt.extensions())
    response = httpx.Response(302, headers={"Location": "/next"}, request=request)
    carried = redirect_request(client, request, response).extensions
    assert carried == request.extensions
    assert carried[ATTEMPT] is attempt


# --- skip_cookies ------------------------------------------------------------------------


class Inert(httpx.Cookies):
    """A cookie store that reads no response and fills no request (as client.py's)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


@pytest.fixture
def cookie_site(httpserver: HTTPServer) -> HTTPServer:
    """/set answers with a Set-Cookie; /next answers plainly."""
    httpserver.expect_request("/set").respond_with_data("", headers={"Set-Cookie": "k=v; Path=/"})
    httpserver.expect_request("/next").respond_with_data("")
    return httpserver


async def visit(client: httpx.AsyncClient, server: HTTPServer) -> None:
    """GET /set, then /next, through the client's own send."""
    async with client:
        for path in ("/set", "/next"):
            (await client.get(server.url_for(path))).raise_for_status()


def test_skip_cookies_gives_the_client_the_store() -> None:
    plain = real_client()
    store = Inert()
    skip_cookies(plain, store)
    assert plain.cookies is store


def test_without_skip_cookies_httpx_keeps_and_sends_a_cookie(cookie_site: HTTPServer) -> None:
    # The control: the site's cookie is one that httpx stores and sends back.
    plain = real_client()
    asyncio.run(visit(plain, cookie_site))
    assert (plain.cookies.get("k"), cookie_site.log[1][0].headers.get("Cookie")) == ("v", "k=v")


def test_after_skip_cookies_a_set_cookie_is_not_stored(cookie_site: HTTPServer) -> None:
    plain = real_client()
    skip_cookies(plain, Inert())
    asyncio.run(visit(plain, cookie_site))
    assert list(plain.cookies.jar) == []


def test_after_skip_cookies_no_cookie_is_sent_on_the_next_request(
    cookie_site: HTTPServer,
) -> None:
    plain = real_client()
    skip_cookies(plain, Inert())
    asyncio.run(visit(plain, cookie_site))
    assert "Cookie" not in cookie_site.log[1][0].headers
