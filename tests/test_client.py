"""fetch_one and make_client against real hostile servers on 127.0.0.1; Wires' proxy rule."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from pytest_httpserver import HTTPServer

from fetchcli.demo.httpserver import Request
from fetchcli.http.client import Wires, make_client
from fetchcli.http.curl import decodable_encodings
from fetchcli.http.fetch import fetch_one
from fetchcli.http.httpx_adapter import (
    RequestBuilder,
    header_value,
    response_headers,
    stream_response,
)
from fetchcli.model import ErrorKind, FetchResult, UrlRecord
from fetchcli.options import FetchOptions, RequestSpec
from servers import MARKUP, ProxyState, ThreadedServer, forward_proxy


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as running:
        yield running
    assert running.errors == []


def fetch(url: str, **settings: Any) -> FetchResult:
    """fetch_one on one URL with a fresh client; retries are off unless asked for."""
    options = FetchOptions(**{"retries": 0, **settings})
    return asyncio.run(asyncio.wait_for(_fetch_all([url], options), 30))[0]


async def _fetch_all(urls: list[str], options: FetchOptions) -> list[FetchResult]:
    async with make_client(options.request, options.schedule.concurrency) as client:
        records = [UrlRecord(source="t", line=n, url=url) for n, url in enumerate(urls, 1)]
        return await asyncio.gather(*(fetch_one(client, r, options.request) for r in records))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_total_deadline_fires_on_a_trickling_body(server: ThreadedServer) -> None:
    began = time.perf_counter()
    result = fetch(server.url("/trickle?bytes=100&delay=0.2"), timeout=1)
    assert (result.error, result.ok) == (ErrorKind.TIMEOUT, False)
    assert time.perf_counter() - began < 4


def test_slow_headers_time_out(server: ThreadedServer) -> None:
    result = fetch(server.url("/slow-headers?delay=5"), timeout=0.5)
    assert (result.status, result.error) == (None, ErrorKind.TIMEOUT)


def test_max_body_truncates_and_stays_ok(server: ThreadedServer) -> None:
    result = fetch(server.url("/sized?bytes=100000"), max_body=1000)
    assert (result.size, result.truncated, result.ok, result.status) == (1000, True, True, 200)


def test_body_of_exactly_max_body_is_not_truncated(server: ThreadedServer) -> None:
    result = fetch(server.url("/sized?bytes=1000"), max_body=1000)
    assert (result.size, result.truncated) == (1000, False)


def test_size_counts_every_body_byte(server: ThreadedServer) -> None:
    result = fetch(server.url("/sized?bytes=123457"))
    assert (result.size, result.ok, result.truncated) == (123457, True, False)


def test_reset_before_headers_gives_a_classified_error(server: ThreadedServer) -> None:
    result = fetch(server.url("/reset-before-headers"))
    assert result.status is None
    assert result.error in (ErrorKind.CONNECT, ErrorKind.PROTOCOL)
    assert (result.ok, result.attempts) == (False, 1)


def test_reset_after_headers_gives_a_classified_error(server: ThreadedServer) -> None:
    result = fetch(server.url("/reset-after-headers"))
    assert result.error in (ErrorKind.CONNECT, ErrorKind.PROTOCOL)
    assert result.ok is False


def test_invalid_status_line_is_a_protocol_error(server: ThreadedServer) -> None:
    result = fetch(server.url("/bad-status"))
    assert (result.status, result.error) == (None, ErrorKind.PROTOCOL)


def test_endless_chunked_body_is_truncated_at_max_body(server: ThreadedServer) -> None:
    result = fetch(server.url("/endless"), max_body=100_000, timeout=5)
    assert (result.size, result.truncated, result.ok) == (100_000, True, True)


def test_endless_unframed_body_is_truncated_at_max_body(server: ThreadedServer) -> None:
    result = fetch(server.url("/endless?framing=close"), max_body=100_000, timeout=5)
    assert (result.size, result.truncated, result.ok) == (100_000, True, True)


def test_gzip_bomb_is_cut_at_max_body_of_decoded_bytes(server: ThreadedServer) -> None:
    result = fetch(server.url("/gzip-bomb?mib=10"), max_body=1_000_000)
    assert (result.size, result.truncated, result.ok) == (1_000_000, True, True)


def test_a_body_stopped_at_max_body_leaves_the_client_working(server: ThreadedServer) -> None:
    # One connection: the wire stops the endless body past --max-body and drops its
    # connection; the next URL goes out on a new one.
    urls = [server.url("/endless"), server.url("/sized?bytes=5000"), server.url("/endless")]
    options = FetchOptions(retries=0, max_body=1000, concurrency=1, timeout=5)
    results = asyncio.run(asyncio.wait_for(_fetch_all(urls, options), 30))
    assert [(r.status, r.ok, r.size, r.truncated) for r in results] == [
        (200, True, 1000, True),
        (200, True, 1000, True),
        (200, True, 1000, True),
    ]


def test_gzip_bomb_is_decoded_in_bounded_memory(httpserver: HTTPServer) -> None:
    import tracemalloc

    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)  # ~64 KiB on the wire
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        result = fetch(httpserver.url_for("/bomb"), max_body=200_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.size, result.truncated, result.ok) == (64 * 1024 * 1024, False, True)
    assert peak < 8 * 1024 * 1024  # decoded a bounded step at a time, never whole


def test_head_gives_size_zero(server: ThreadedServer) -> None:
    result = fetch(server.url("/sized?bytes=5000"), method="HEAD")
    assert (result.status, result.size, result.ok) == (200, 0, True)
    assert server.requests["/sized"] == 1


def test_redirects_are_counted_and_final_url_set(server: ThreadedServer) -> None:
    url = server.url("/redirect?n=3")
    result = fetch(url)
    assert (result.status, result.redirects, result.ok) == (200, 3, True)
    assert result.final_url == server.url("/sized?bytes=10")
    assert result.url == url


def test_too_many_redirects_is_its_own_error(server: ThreadedServer) -> None:
    result = fetch(server.url("/redirect?n=5"), max_redirects=2)
    assert (result.error, result.ok) == (ErrorKind.TOO_MANY_REDIRECTS, False)


def test_no_follow_gives_the_redirect_itself(server: ThreadedServer) -> None:
    url = server.url("/redirect?n=3")
    result = fetch(url, follow=False)
    assert (result.status, result.redirects, result.error) == (302, 0, ErrorKind.HTTP_STATUS)
    assert result.final_url == url
    assert server.requests["/redirect"] == 1


def test_no_follow_final_url_equals_a_url_without_a_path(server: ThreadedServer) -> None:
    result = fetch(server.base_url, follow=False)
    assert result.status == 200
    assert result.final_url == result.url == server.base_url


def test_redirect_to_an_unsupported_scheme_is_an_unfetchable_redirect(
    server: ThreadedServer,
) -> None:
    result = fetch(server.url("/location?to=ftp%3A%2F%2F127.0.0.1%2Ff"))
    assert (result.status, result.error, result.redirects) == (None, ErrorKind.INVALID_URL, 1)
    assert result.message is not None
    assert result.message.startswith("redirect to an unfetchable URL")


def test_no_follow_gives_a_redirect_with_a_malformed_location_as_is(
    server: ThreadedServer,
) -> None:
    url = server.url("/location?to=http%3A%2F%2F%5B%3A%3A1")  # Location: http://[::1
    result = fetch(url, follow=False)
    assert (result.status, result.error, result.final_url) == (302, ErrorKind.HTTP_STATUS, url)


def test_redirect_to_an_unparsable_location_keeps_final_url(server: ThreadedServer) -> None:
    url = server.url("/location?to=javascript%3Aalert(1)")
    result = fetch(url)
    assert (result.final_url, result.error) == (url, ErrorKind.INVALID_URL)
    assert (result.message or "").startswith("redirect to an unfetchable URL")


def test_redirect_to_an_out_of_range_port_names_the_cause(server: ThreadedServer) -> None:
    result = fetch(server.url("/location?to=http%3A%2F%2F127.0.0.1%3A99999%2F"))
    assert result.error is not None
    assert "65535" in (result.message or "")


def test_no_follow_final_url_equals_url_that_httpx_normalizes(server: ThreadedServer) -> None:
    url = server.url("/x/../sized?bytes=5")
    result = fetch(url, follow=False)
    assert result.status == 200
    assert result.final_url == result.url == url


def test_retries_repeat_a_503_until_attempts_run_out(server: ThreadedServer) -> None:
    result = fetch(server.url("/status?code=503"), retries=2, backoff=0.01)
    assert server.requests["/status"] == 3
    assert (result.attempts, result.status, result.error) == (3, 503, ErrorKind.HTTP_STATUS)


def test_retry_after_zero_is_honoured_without_backoff(server: ThreadedServer) -> None:
    began = time.perf_counter()
    result = fetch(server.url("/status?code=503&retry_after=0"), retries=2, backoff=20)
    assert (result.attempts, server.requests["/status"]) == (3, 3)
    assert time.perf_counter() - began < 5


def test_retry_after_beyond_the_cap_fails_at_once(server: ThreadedServer) -> None:
    url = server.url("/status?code=503&retry_after=100")
    result = fetch(url, retries=2, max_retry_after=5)
    assert (result.attempts, result.status, server.requests["/status"]) == (1, 503, 1)
    assert "retry after 100s" in (result.message or "")


def test_a_500_is_not_retried(server: ThreadedServer) -> None:
    result = fetch(server.url("/status?code=500"), retries=2, backoff=0.01)
    assert (result.attempts, server.requests["/status"]) == (1, 1)


def test_head_get_repeats_as_get_when_head_is_refused(server: ThreadedServer) -> None:
    result = fetch(server.url("/no-head"), method="HEAD,GET")
    assert (result.status, result.size, result.ok, result.attempts) == (200, 10, True, 2)
    assert server.requests["/no-head"] == 2


def test_cancelling_fetch_one_propagates_the_cancellation(server: ThreadedServer) -> None:
    options = FetchOptions(retries=0)
    record = UrlRecord(source="t", line=1, url=server.url("/hold?delay=10"))

    async def main() -> bool:
        async with make_client(options.request, options.schedule.concurrency) as client:
            task = asyncio.create_task(fetch_one(client, record, options.request))
            for _ in range(250):  # until the request is at the server, at most 5 s
                if server.in_flight:
                    break
                await asyncio.sleep(0.02)
            task.cancel()
            await asyncio.wait({task}, timeout=5)
            return task.cancelled()

    assert asyncio.run(asyncio.wait_for(main(), 30)) is True


def test_refused_connection_is_a_connect_error() -> None:
    result = fetch(f"http://127.0.0.1:{free_port()}/")
    assert (result.status, result.error, result.final_url) == (None, ErrorKind.CONNECT, None)


def test_markup_in_a_reason_phrase_reaches_the_message_verbatim(server: ThreadedServer) -> None:
    result = fetch(server.url("/markup"))
    assert (result.status, result.error) == (404, ErrorKind.HTTP_STATUS)
    assert result.message == f"404 Bad {MARKUP}"  # escaping is the sinks' job


def test_client_opens_at_most_concurrency_connections(server: ThreadedServer) -> None:
    options = FetchOptions(concurrency=3, retries=0)
    urls = [server.url("/hold?delay=0.2")] * 12
    results = asyncio.run(asyncio.wait_for(_fetch_all(urls, options), 30))
    assert all(result.ok for result in results)
    assert server.max_in_flight == 3
    assert server.connections <= 3


def test_waiting_for_a_pooled_connection_does_not_count_against_timeout(
    server: ThreadedServer,
) -> None:
    options = FetchOptions(concurrency=1, retries=0, timeout=1.2)
    urls = [server.url("/hold?delay=0.8")] * 2  # the second waits ~0.8s for the connection
    results = asyncio.run(asyncio.wait_for(_fetch_all(urls, options), 30))
    assert [result.error for result in results] == [None, None]
    assert server.max_in_flight == 1


def test_failed_attempts_give_their_pool_slot_back(server: ThreadedServer) -> None:
    # Resets, refusals and bad responses each release the transport's connection slot:
    # with two slots, the good URLs after ten failures still run.
    refused = f"http://127.0.0.1:{free_port()}/"
    bad = [server.url("/reset-before-headers"), server.url("/reset-after-headers"), refused]
    urls = [*bad * 3, server.url("/bad-status"), *[server.url("/sized?bytes=10")] * 4]
    options = FetchOptions(concurrency=2, retries=0)
    results = asyncio.run(asyncio.wait_for(_fetch_all(urls, options), 20))
    assert [result.ok for result in results] == [False] * 10 + [True] * 4


def test_a_redirect_keeps_its_connection_slot_while_others_wait(server: ThreadedServer) -> None:
    # 30 attempts on 3 slots: each redirect hop goes on at once instead of queueing
    # behind new requests with its deadline running (pool waits do not count).
    url = server.url("/location?to=/hold%3Fdelay%3D0.3")
    options = FetchOptions(concurrency=3, retries=0, timeout=1.5)
    results = asyncio.run(asyncio.wait_for(_fetch_all([url] * 30, options), 30))
    assert [(result.status, result.redirects) for result in results] == [(200, 1)] * 30
    assert server.max_in_flight <= 3


def test_authorization_is_dropped_on_a_redirect_to_another_origin(httpserver: HTTPServer) -> None:
    # httpx's redirect rules hold on the curl wire too: credentials stay with their origin.
    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    try:
        other.expect_request("/landing").respond_with_data("there")
        httpserver.expect_request("/away").respond_with_data(
            "", status=302, headers={"Location": other.url_for("/landing")}
        )
        httpserver.expect_request("/near").respond_with_data(
            "", status=302, headers={"Location": "/home"}
        )
        httpserver.expect_request("/home").respond_with_data("here")
        headers = (("Authorization", "Bearer secret"),)
        away = fetch(httpserver.url_for("/away"), headers=headers)
        near = fetch(httpserver.url_for("/near"), headers=headers)
        assert (away.ok, away.redirects, near.ok, near.redirects) == (True, 1, True, 1)
        landed = [request for request, _ in other.log]
        assert [r.headers.get("Authorization") for r in landed] == [None]
        home = [request for request, _ in httpserver.log if request.path == "/home"]
        assert [r.headers.get("Authorization") for r in home] == ["Bearer secret"]
    finally:
        other.clear()
        if other.is_running():
            other.stop()


def test_url_credentials_become_basic_auth_as_in_httpx(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/private").respond_with_data("ok")
    url = httpserver.url_for("/private").replace("://", "://ann:p%40ss@")
    result = fetch(url, headers=(("Authorization", "Bearer other"),))
    assert result.ok, result.message
    (request, _), *_ = httpserver.log
    token = base64.b64encode(b"ann:p@ss").decode()
    assert request.headers.get("Authorization") == f"Basic {token}"


def test_a_refused_https_connection_names_no_memory_address() -> None:
    result = fetch(f"https://127.0.0.1:{free_port()}/")
    assert result.error is ErrorKind.CONNECT
    assert "0x" not in (result.message or ""), result.message


def test_a_refused_connection_says_why_once() -> None:
    # Was `count("Connect call failed") == 1`, asyncio's wording under aiohttp; the meaning
    # is that the reason appears once, in whatever words the wire uses.
    result = fetch(f"http://127.0.0.1:{free_port()}/")
    message = result.message or ""
    assert result.error is ErrorKind.CONNECT
    assert message.lower().count("refused") == 1, message


def _ipv6_loopback_refuses(port: int) -> bool:
    """Whether [::1]:port refuses a connection (IPv6 works, nothing listens there)."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False  # no IPv6: libcurl resolves localhost to 127.0.0.1 alone
    with sock:
        sock.settimeout(2)
        try:
            sock.connect(("::1", port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return False


def test_a_failure_after_an_address_fallback_names_no_earlier_address_error(
    server: ThreadedServer,
) -> None:
    port = urlsplit(server.base_url).port
    assert port is not None
    if not _ipv6_loopback_refuses(port):
        pytest.skip("needs IPv6 with nothing on [::1]:port, so that localhost falls back")
    result = fetch(f"http://localhost:{port}/bad-status")
    assert result.error is ErrorKind.PROTOCOL
    assert "refused" not in (result.message or "").lower(), result.message


@pytest.mark.parametrize("encoding", ["utf-8", "binary", "zstd"])
def test_a_body_with_an_unknown_content_encoding_is_read_as_sent(
    httpserver: HTTPServer, encoding: str
) -> None:
    # zstd is one libcurl may lack: then it is not advertised, and such a body is as sent.
    if encoding in decodable_encodings().split(", "):
        pytest.skip(f"this libcurl decodes {encoding}")
    httpserver.expect_request("/odd").respond_with_data(
        b"plain text", headers={"Content-Encoding": encoding}
    )
    result = fetch(httpserver.url_for("/odd"), retries=0)
    assert (result.ok, result.status, result.size, result.error) == (True, 200, 10, None)
    assert result.attempts == 2  # the first read failed to decode; the second took it as sent
    advertised = httpserver.log[0][0].headers["Accept-Encoding"].split(", ")
    assert encoding not in advertised


def test_known_content_encodings_are_decoded_and_identity_is_read_as_sent(
    httpserver: HTTPServer,
) -> None:
    packed = gzip.compress(b"hello " * 100)
    httpserver.expect_request("/gz").respond_with_data(packed, headers={"Content-Encoding": "gzip"})
    httpserver.expect_request("/id").respond_with_data(
        b"plain text", headers={"Content-Encoding": "identity"}
    )
    gz, same = fetch(httpserver.url_for("/gz")), fetch(httpserver.url_for("/id"))
    assert (gz.ok, gz.size, same.ok, same.size) == (True, 600, True, 10)


def test_a_303_turns_get_into_get_and_keeps_head_a_head(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/see").respond_with_data(
        "", status=303, headers={"Location": "/other"}
    )
    httpserver.expect_request("/other").respond_with_data("other")
    assert fetch(httpserver.url_for("/see"), method="HEAD").redirects == 1
    assert fetch(httpserver.url_for("/see")).size == len("other")
    methods = [request.method for request, _ in httpserver.log if request.path == "/other"]
    assert methods == ["HEAD", "GET"]


def test_invalid_record_is_not_fetched() -> None:
    options = FetchOptions()
    record = UrlRecord(source="t", line=1, url="ftp://x/", error="unsupported scheme 'ftp'")

    async def main() -> FetchResult:
        async with make_client(options.request, options.schedule.concurrency) as client:
            return await fetch_one(client, record, options.request)

    result = asyncio.run(main())
    assert (result.error, result.attempts, result.status) == (ErrorKind.INVALID_URL, 0, None)


async def _raw_headers(request: Request) -> None:
    """Answers with headers no well-behaved server sends: huge, or not UTF-8."""
    if request.path == "/huge-headers":
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n"
        )
    else:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
            b"Content-Type: text/plain; charset=\xff\xfe\r\nX-Latin: caf\xe9\r\n\r\n"
        )
    request.writer.write(head + b"ok")
    await request.writer.drain()


def test_oversized_headers_are_a_protocol_error() -> None:
    with ThreadedServer(_raw_headers) as raw:
        result = fetch(raw.url("/huge-headers"))
    assert result.error is ErrorKind.PROTOCOL and result.status is None


def test_non_utf8_header_values_are_read_not_fatal() -> None:
    with ThreadedServer(_raw_headers) as raw:
        result = fetch(raw.url("/latin1"))
    assert result.ok and result.size == 2
    assert result.content_type is not None and "\xff" in result.content_type


def test_a_url_of_ten_thousand_characters_is_an_invalid_line(tmp_path: Path) -> None:
    from fetchcli.sources.readers import iter_records

    path = tmp_path / "long.txt"
    path.write_text("http://127.0.0.1/" + "a" * 10_000 + "\n")
    (record,) = iter_records([str(path)], FetchOptions().rules)
    assert record.error is not None and "8192" in record.error


# --- a -H Cookie and redirects ------------------------------------------------------------


def test_a_given_cookie_survives_a_same_origin_redirect_only(httpserver: HTTPServer) -> None:
    # Origins differ by host name alone: localhost and 127.0.0.1 are two, on one port.
    here = httpserver.host
    there = "127.0.0.1" if here == "localhost" else "localhost"
    elsewhere = httpserver.url_for("/landing").replace(f"//{here}:", f"//{there}:", 1)
    assert elsewhere != httpserver.url_for("/landing")
    httpserver.expect_request("/near").respond_with_data(
        "", status=302, headers={"Location": "/home"}
    )
    httpserver.expect_request("/away").respond_with_data(
        "", status=302, headers={"Location": elsewhere}
    )
    httpserver.expect_request("/home").respond_with_data("here")
    httpserver.expect_request("/landing").respond_with_data("there")
    headers = (("Cookie", "a=1"),)
    near = fetch(httpserver.url_for("/near"), headers=headers)
    away = fetch(httpserver.url_for("/away"), headers=headers)
    assert (near.ok, near.redirects, away.ok, away.redirects) == (True, 1, True, 1)
    assert away.final_url == elsewhere
    seen = {request.path: request.headers.get_all("Cookie") for request, _ in httpserver.log}
    assert seen == {"/near": ["a=1"], "/home": ["a=1"], "/away": ["a=1"], "/landing": []}


@pytest.mark.parametrize(
    "given",
    [
        (),
        (("Accept-Encoding", "identity"),),
        (("accept-encoding", "gzip"), ("User-Agent", "given/1")),
    ],
    ids=["none", "identity", "lower-case"],
)
def test_a_given_user_agent_or_accept_encoding_replaces_the_default(
    httpserver: HTTPServer, given: tuple[tuple[str, str], ...]
) -> None:
    httpserver.expect_request("/h").respond_with_data("ok")
    assert fetch(httpserver.url_for("/h"), headers=given).ok
    sent = httpserver.log[0][0].headers
    names = {name.lower(): value for name, value in given}
    default = RequestSpec()
    expected_ua = names.get("user-agent", default.user_agent)
    expected_ae = names.get("accept-encoding", decodable_encodings())
    assert (sent.get_all("User-Agent"), sent.get_all("Accept-Encoding")) == (
        [expected_ua],
        [expected_ae],
    )


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("a..b.example", "empty label"),
        ("a" * 64 + ".example", "over 63 characters"),
        ("xn--.example", "cannot be read"),  # httpx itself cannot read it
        ("a.xn--.example", "cannot be encoded"),
        ("a%2e.example", "empty label"),  # a%2e is `a.`, as libcurl reads it
        ("a.example..", "empty label"),
    ],
    ids=["empty-label", "long-label", "bad-punycode", "bad-inner-punycode", "escaped", "dots"],
)
def test_a_redirect_to_an_unencodable_host_is_an_invalid_url(
    server: ThreadedServer, host: str, problem: str
) -> None:
    # The input's host rule (normal form) holds for a Location too: no lookup is made.
    result = fetch(server.url("/location?to=" + quote(f"http://{host}/x", safe="")))
    assert (result.error, result.attempts, result.redirects) == (ErrorKind.INVALID_URL, 1, 0)
    assert result.message is not None and result.message.startswith(
        "redirect to an unfetchable URL: "
    )
    assert problem in result.message


def test_a_redirect_refused_for_its_host_names_the_host_and_never_a_password(
    server: ThreadedServer,
) -> None:
    location = quote("http://user:secret@xn--.example/x", safe="")
    result = fetch(server.url(f"/location?to={location}"))
    assert result.error is ErrorKind.INVALID_URL
    assert result.message is not None and "'xn--.example'" in result.message
    assert "secret" not in result.message and "user" not in result.message


# --- the proxy rule: Wires.proxy_for --------------------------------------------------------

PROXY, OTHER = "http://127.0.0.1:3128", "http://127.0.0.2:8080"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No *_proxy variable set, in either case; set some with the returned monkeypatch."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    return monkeypatch


def proxy_for(url: str, proxy: str | None = None) -> str | None:
    """The proxy Wires picks for `url` (the environment is read when Wires is made)."""
    return Wires(RequestSpec(proxy=proxy), 1).proxy_for(httpx.URL(url))


def test_no_proxy_is_used_when_none_is_set(environment: pytest.MonkeyPatch) -> None:
    assert [proxy_for("http://example.com/"), proxy_for("https://example.com/")] == [None, None]


def test_the_given_proxy_carries_every_url_whatever_the_environment(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("HTTP_PROXY", OTHER)
    environment.setenv("HTTPS_PROXY", OTHER)
    environment.setenv("NO_PROXY", "*")
    urls = ["http://example.com/", "https://example.com/", "http://127.0.0.1:8080/"]
    assert [proxy_for(url, PROXY) for url in urls] == [PROXY] * 3


def test_each_scheme_takes_its_own_variable(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("HTTP_PROXY", PROXY)
    environment.setenv("HTTPS_PROXY", OTHER)
    assert proxy_for("http://example.com/") == PROXY
    assert proxy_for("https://example.com/") == OTHER


def test_https_proxy_alone_leaves_http_direct(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("HTTPS_PROXY", PROXY)
    assert [proxy_for("http://example.com/"), proxy_for("https://example.com/")] == [None, PROXY]


def test_all_proxy_covers_both_schemes_unless_one_has_its_own(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("ALL_PROXY", PROXY)
    assert [proxy_for("http://example.com/"), proxy_for("https://example.com/")] == [PROXY] * 2
    environment.setenv("HTTPS_PROXY", OTHER)
    assert [proxy_for("http://example.com/"), proxy_for("https://example.com/")] == [PROXY, OTHER]


@pytest.mark.parametrize("name", ["http_proxy", "https_proxy", "all_proxy"])
def test_lower_case_names_are_read(environment: pytest.MonkeyPatch, name: str) -> None:
    environment.setenv(name, PROXY)
    scheme = "https" if name == "https_proxy" else "http"
    assert proxy_for(f"{scheme}://example.com/") == PROXY


def test_a_lower_case_name_wins_over_its_upper_case(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("HTTPS_PROXY", OTHER)
    environment.setenv("https_proxy", PROXY)
    assert proxy_for("https://example.com/") == PROXY


@pytest.mark.parametrize("name", ["NO_PROXY", "no_proxy"])
def test_no_proxy_bypasses_the_hosts_it_names(environment: pytest.MonkeyPatch, name: str) -> None:
    environment.setenv("ALL_PROXY", PROXY)
    environment.setenv(name, "127.0.0.1, localhost,.internal.example")
    direct = ["http://127.0.0.1:8080/", "https://localhost/", "http://a.internal.example/"]
    direct.append("https://internal.example/")  # the domain itself, as well as below it
    proxied = ["http://example.com/", "http://notinternal.example/", "http://127.0.0.2/"]
    assert [proxy_for(url) for url in direct] == [None] * len(direct)
    assert [proxy_for(url) for url in proxied] == [PROXY] * len(proxied)


def test_no_proxy_star_bypasses_every_host(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("HTTP_PROXY", PROXY)
    environment.setenv("NO_PROXY", "*")
    assert proxy_for("http://example.com/") is None


def test_a_no_proxy_entry_with_a_port_bypasses_that_port_only(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("HTTP_PROXY", PROXY)
    environment.setenv("NO_PROXY", "127.0.0.1:8080")
    assert proxy_for("http://127.0.0.1:9999/") == PROXY
    assert proxy_for("http://127.0.0.1:8080/") is None


# --- a fetch through a local HTTP forward proxy ----------------------------------------------


def _comparable(result: FetchResult) -> dict[str, Any]:
    """A result's fields, but for those that differ from one fetch to the next."""
    fields = dataclasses.asdict(result)
    return {name: value for name, value in fields.items() if name not in ("elapsed", "fetched_at")}


def test_a_fetch_through_a_proxy_gives_the_record_a_direct_fetch_gives(
    server: ThreadedServer, environment: pytest.MonkeyPatch
) -> None:
    paths = [
        "/",
        "/sized?bytes=70000",
        "/redirect?n=2",
        "/status?code=404",
        "/markup",
        "/gzip-bomb?mib=1",  # decoded on this side of the proxy, as when direct
    ]
    urls = [server.url(path) for path in paths]

    async def main() -> tuple[list[FetchResult], list[FetchResult], ProxyState]:
        direct = await _fetch_all(urls, FetchOptions(retries=0))
        async with forward_proxy() as proxy:
            proxied = await _fetch_all(urls, FetchOptions(retries=0, proxy=proxy.url))
        return direct, proxied, proxy

    direct, proxied, proxy = asyncio.run(asyncio.wait_for(main(), 30))
    assert [_comparable(result) for result in proxied] == [_comparable(r) for r in direct]
    assert [result.status for result in direct] == [200, 200, 200, 404, 404, 200]
    hops = ["/redirect?n=1", "/sized?bytes=10"]  # the redirect's two hops went through it too
    expected = [f"GET {server.url(path)} HTTP/1.1".encode() for path in [*paths, *hops]]
    assert sorted(proxy.request_lines) == sorted(expected)


# --- requests and headers built without httpx's constructors --------------------------

BUILT_URLS = [
    "http://127.0.0.1:8080/1k?n=123",
    "https://EXAMPLE.org:443/a/b;c=d?x=%41&y=1&z=a/b?c",
    "http://a.example:80/",
    "http://a.example/p?",
    "http://a.example/%zz",  # a bare '%': httpx escapes it
    "http://a.example/./x/../y",  # dot segments: httpx removes them
    "http://[::1]:8/x",
    "http://user:pw@a.example/x",
    "http://a.example/x#frag",
    "http://a.example",
    "http://bücher.example/ü?q=ü",
    "HTTP://A.EXAMPLE/x",
]


@pytest.mark.parametrize("url", BUILT_URLS)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
@pytest.mark.parametrize("given", [[], [("Host", "other.example")]], ids=["", "host-given"])
def test_built_requests_equal_httpx_requests(
    url: str, method: str, given: list[tuple[str, str]]
) -> None:
    headers = httpx.Headers([("User-Agent", "fetchcli/test"), ("Accept-Encoding", "gzip"), *given])
    builder = RequestBuilder(headers)
    for _ in range(2):  # the second time from the remembered origin
        built = builder.build(method, url, {"x": 1})
        expected = httpx.Request(method, url, headers=headers, extensions={"x": 1})
        assert str(built.url) == str(expected.url) and built.url == expected.url
        assert built.url.raw_path == expected.url.raw_path
        assert built.url.netloc == expected.url.netloc
        assert built.headers.raw == expected.headers.raw
        assert built.headers.encoding == expected.headers.encoding
        assert (built.method, built.extensions, built.content) == (method, {"x": 1}, b"")
        assert vars(built).keys() == vars(expected).keys()


def test_a_bad_origin_fails_as_httpx_fails() -> None:
    builder = RequestBuilder(httpx.Headers())
    with pytest.raises(httpx.InvalidURL) as built:
        builder.build("GET", "http://999.1.1.1/x", {})
    with pytest.raises(httpx.InvalidURL) as expected:
        httpx.Request("GET", "http://999.1.1.1/x")
    assert str(built.value) == str(expected.value)


@pytest.mark.parametrize(
    "pairs",
    [
        [(b"Content-Type", b"text/html"), (b"X-A", b"1"), (b"x-a", b"2")],
        [(b"X-Name", "naïve".encode()), (b"Server", b"s")],
        [(b"X-Latin", "caf\xe9".encode("latin-1"))],
        [],
    ],
)
def test_response_headers_equal_httpx_headers(pairs: list[tuple[bytes, bytes]]) -> None:
    built = response_headers([(name, name.lower(), value) for name, value in pairs])
    expected = httpx.Headers(pairs)
    assert built.raw == expected.raw and built.encoding == expected.encoding
    assert built.multi_items() == expected.multi_items() and dict(built) == dict(expected)
    for name in {lower.lower() for lower, _ in pairs} | {b"absent"}:
        assert header_value(built, name) == expected.get(name.decode()), name


def test_stream_responses_equal_httpx_responses() -> None:
    request = httpx.Request("GET", "http://a.example/x")
    stream = httpx.ByteStream(b"body")
    headers = response_headers([(b"Content-Type", b"content-type", b"text/plain")])
    extensions = {"http_version": b"HTTP/1.1", "reason_phrase": b"OK"}
    built = stream_response(200, headers, stream, request, extensions)
    expected = httpx.Response(200, stream=stream, request=request, extensions=extensions)
    expected.headers = headers
    assert vars(built) == vars(expected)
    assert built.reason_phrase == "OK" and built.http_version == "HTTP/1.1"
    assert built.request is request and built.read() == b"body"
