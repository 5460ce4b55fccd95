"""The one URL normal form: the record's `url`, what is requested, what `--unique` compares.

SPEC "Fine points": scheme and host lower-cased, host IDNA-encoded (UTS 46),
default port dropped, dot segments removed (RFC 3986 5.2.4), unreserved
percent-escapes decoded (the others' hex upper-cased), an empty path made `/`;
the fragment is kept in `url` but never sent nor compared.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from fetchcli.options import DocumentRules, InputRules
from fetchcli.sources.links import Origin, Target, resolve
from fetchcli.sources.normal_form import _normalize, normalize_url, unique_key
from fetchcli.sources.rules import InputFilter

RunCli = Callable[..., Result]
DOC = Origin(path=Path("/site/docs/a.md"))


def normal(text: str) -> str:
    url, error = normalize_url(text)
    assert error is None, error
    return url


# --- each rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # scheme and host lower-cased; path, query and fragment keep their case
        ("HTTP://a.example/P", "http://a.example/P"),
        ("https://WWW.Example.ORG/Path?Q=V#Top", "https://www.example.org/Path?Q=V#Top"),
        ("a.EXAMPLE/x", "https://a.example/x"),
        # host IDNA-encoded, by UTS 46 (its mapping, non-transitional)
        ("https://Bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://faß.de/", "https://xn--fa-hia.de/"),
        ("https://ＥＸＡＭＰＬＥ.com/", "https://example.com/"),
        ("https://XN--BCHER-KVA.example/", "https://xn--bcher-kva.example/"),
        # default port dropped; any other port kept, written as a number
        ("http://a.example:80/x", "http://a.example/x"),
        ("https://a.example:443/x", "https://a.example/x"),
        ("HTTPS://a.example:0443", "https://a.example/"),
        ("http://a.example:443/", "http://a.example:443/"),
        ("https://a.example:80/", "https://a.example:80/"),
        ("https://a.example:08443/", "https://a.example:8443/"),
        ("localhost:8080", "https://localhost:8080/"),
        # dot segments removed (RFC 3986 5.2.4), escaped dots too
        ("https://a.example/a/./b/../c", "https://a.example/a/c"),
        ("https://a.example/a/b/..", "https://a.example/a/"),
        ("https://a.example/a/b/.", "https://a.example/a/b/"),
        ("https://a.example/../../x", "https://a.example/x"),
        ("https://a.example/a//b/../c", "https://a.example/a//c"),
        ("https://a.example/a/%2E%2e/b", "https://a.example/b"),
        ("https://a.example/.well-known/a..b/.x", "https://a.example/.well-known/a..b/.x"),
        ("https://a.example/a/..?b=../c", "https://a.example/?b=../c"),
        # unreserved escapes decoded, the others' hex upper-cased, in path and query
        ("https://a.example/%7euser/%41%62%2D%5f", "https://a.example/~user/Ab-_"),
        ("https://a.example/a%2fb%3f%23%25%c3%a9", "https://a.example/a%2Fb%3F%23%25%C3%A9"),
        ("https://a.example/p?q=%41%2f%3d&r=/./x", "https://a.example/p?q=A%2F%3D&r=/./x"),
        ("https://a.example/%zz%4", "https://a.example/%zz%4"),
        ("https://ex%41mple.com/", "https://example.com/"),
        # an empty path is `/`; an empty query or fragment is kept as given
        ("https://a.example", "https://a.example/"),
        ("https://a.example?q=1", "https://a.example/?q=1"),
        ("https://a.example#top", "https://a.example/#top"),
        ("https://a.example/?", "https://a.example/?"),
        ("https://a.example/#", "https://a.example/#"),
        # the fragment is kept as it was written
        ("https://a.example/a/../b#X/../%41", "https://a.example/b#X/../%41"),
        # userinfo as it is
        ("https://User:P%61ss@A.example/", "https://User:P%61ss@a.example/"),
        # IP literals: IPv6 bracketed and lower-cased
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("https://[::1]:8443", "https://[::1]:8443/"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
        # a trailing dot names another host: kept
        ("https://A.example./", "https://a.example./"),
        # already normal: unchanged (the fast path)
        ("https://a.example/x/y?z=1#f", "https://a.example/x/y?z=1#f"),
    ],
)
def test_normal_form(text: str, expected: str) -> None:
    assert normalize_url(text) == (expected, None)


@pytest.mark.parametrize(
    "host",
    [
        "a..b.example",
        "xn--.example",
        "ü" * 64 + ".example",
        "a" * 64 + ".example",
        "☃..example",
        "a.example..",  # one trailing dot names the root; two end with an empty label
        "a%2e.example",  # escapes are decoded first
    ],
)
def test_a_host_that_cannot_be_encoded_is_an_invalid_url(host: str) -> None:
    _, error = normalize_url(f"https://{host}/")
    assert error is not None and "host" in error


def test_one_trailing_dot_is_a_valid_host() -> None:
    assert normalize_url("https://a.example./x") == ("https://a.example./x", None)


def test_a_stray_percent_never_makes_a_new_escape() -> None:
    # `%%34%31` decoded naively is `%41`, which the next pass would decode again.
    assert normal("https://a.example/%%34%31%7e") == "https://a.example/%%34%31~"


# --- what --unique compares ----------------------------------------------------


def test_unique_key_is_the_normal_form_without_the_fragment() -> None:
    assert unique_key("https://a.example/p?q#f") == "https://a.example/p?q"


def test_unique_key_of_a_local_link_keeps_its_fragment() -> None:
    assert unique_key("file:///site/a.md#setup") == "file:///site/a.md#setup"


def test_unique_keeps_one_record_per_normal_form() -> None:
    applied = InputFilter(InputRules(unique=True))
    lines = [
        "https://a.example/a/c",
        "HTTPS://A.Example:443/a/./b/../%63",
        "a.example/a/c#part",
        "https://a.example/a/%63?",  # an empty query is another request target
        "https://user@a.example/a/c",  # other credentials: another request
        "https://a.example/a%2Fc",  # an escaped slash is not a slash
        "http://a.example/a/c",
    ]
    records = [r for n, line in enumerate(lines, 1) for r in applied.records("s", n, line)]
    assert [(r.line, r.url) for r in records] == [
        (1, "https://a.example/a/c"),
        (4, "https://a.example/a/c?"),
        (5, "https://user@a.example/a/c"),
        (6, "https://a.example/a%2Fc"),
        (7, "http://a.example/a/c"),
    ]


def test_unique_links_differ_by_a_local_fragment_only() -> None:
    applied = InputFilter(InputRules(unique=True))
    links = [
        "https://a.example/p#x",
        "https://a.example/p#y",
        "file:///site/a.md#x",
        "file:///site/a.md#y",
    ]
    records = [applied.link("d.md", n, 1, url, None) for n, url in enumerate(links, 1)]
    assert [r.line for r in records if r is not None] == [1, 3, 4]


# --- links in documents take the same form --------------------------------------


@pytest.mark.parametrize(
    ("link", "origin", "expected"),
    [
        (
            "HTTPS://Docs.Site:443/a/../b/%7ex#Frag",
            DOC,
            "https://docs.site/b/~x#Frag",
        ),
        ("../%7ex/./y", Origin(page="http://Docs.Site:80/a/b/"), "http://docs.site/a/~x/y"),
        ("//Bücher.site", Origin(page="https://docs.site/"), "https://xn--bcher-kva.site/"),
    ],
)
def test_a_remote_link_takes_the_normal_form(link: str, origin: Origin, expected: str) -> None:
    assert resolve(link, origin, DocumentRules()) == Target(url=expected)


def test_base_url_matches_links_in_their_normal_form() -> None:
    rules = DocumentRules(base_url="https://Docs.Site:443/%7Ev1", root_dir="/srv/www")
    target = resolve("https://docs.site/~v1/a/../b.md", DOC, rules)
    assert target == Target(url="file:///srv/www/b.md")


# --- properties ---------------------------------------------------------------

# Characters a path, query or fragment holds that no layer re-escapes.
_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_PCHARS = _UNRESERVED + "!$&'()*+,;=:@"
_LABELS = st.text(string.ascii_letters + string.digits, min_size=1, max_size=8) | st.sampled_from(
    ["bücher", "Straße", "日本", "ＥＸＡ", "xn--bcher-kva", "café"]
)
_ESCAPES = st.integers(0, 255).map(lambda b: f"%{b:02x}") | st.integers(0, 255).map(
    lambda b: f"%{b:02X}"
)
_PIECE = st.text(_PCHARS, max_size=4) | _ESCAPES | st.sampled_from([".", "..", "%2e", "%2E%2e"])
_SEGMENT = st.lists(_PIECE, max_size=3).map("".join)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = ".".join(draw(st.lists(_LABELS, min_size=1, max_size=3))) + ".Example"
    port = draw(st.sampled_from(["", ":80", ":443", ":8080", ":0443"]))
    path = "".join("/" + segment for segment in draw(st.lists(_SEGMENT, max_size=5)))
    query = draw(st.none() | st.lists(_PIECE | st.just("/"), max_size=4).map("".join))
    fragment = draw(st.none() | st.text(_PCHARS + "/?", max_size=6))
    return (
        f"{scheme}://{host}{port}{path}"
        + ("" if query is None else f"?{query}")
        + ("" if fragment is None else f"#{fragment}")
    )


@settings(max_examples=300, deadline=None)
@given(urls())
def test_normalizing_twice_gives_the_same(url: str) -> None:
    once = normal(url)
    assert normal(once) == once


@settings(max_examples=300, deadline=None)
@given(urls())
def test_urllib_and_httpx_read_the_normal_form_alike(url: str) -> None:
    """httpx (and so libcurl, which is given httpx's form) sends exactly the normal form."""
    once = normal(url)
    parts, parsed = urlsplit(once), httpx.URL(once)
    assert parsed.raw_host.decode() == parts.hostname
    assert parsed.port == parts.port
    target = parts.path + (f"?{parts.query}" if "?" in once.partition("#")[0] else "")
    assert parsed.raw_path.decode() == target
    assert parsed.fragment == parts.fragment


@settings(max_examples=200, deadline=None)
@given(urls(), st.data())
def test_spellings_of_one_url_share_its_normal_form(url: str, data: st.DataObject) -> None:
    """Upper-case scheme and host, the default port, escaped unreserved characters, `x/..`."""
    key = unique_key(normal(url))
    head, question, query = key.partition("?")
    parts = urlsplit(head)
    port = {"http": ":80", "https": ":443"}[parts.scheme] if parts.port is None else ""
    path = "".join(
        piece
        if piece.startswith("%")
        else "".join(
            f"%{ord(c):02x}" if c in _UNRESERVED and data.draw(st.booleans()) else c for c in piece
        )
        for piece in re.split(r"(%[0-9A-F]{2})", parts.path)
    )
    netloc = parts.netloc.upper() + port
    spelled = f"{parts.scheme.upper()}://{netloc}/x/..{path}{question}{query}#frag"
    assert unique_key(normal(spelled)) == key


# --- end to end ----------------------------------------------------------------


def test_the_normal_form_is_requested_and_unique_across_spellings(
    httpserver: HTTPServer, run_cli: RunCli
) -> None:
    httpserver.expect_request("/ok").respond_with_data("ok")
    base = httpserver.url_for("/").rstrip("/")
    spellings = [f"{base}/a/../%6Fk", f"{base.upper()}/%6f%6B#top", f"{base}/./ok"]
    result = run_cli("-", "-q", "--unique", "--format", "jsonl", input="\n".join(spellings))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["line"], r["url"], r["status"]) for r in records] == [(1, f"{base}/ok", 200)]
    assert [request.environ["RAW_URI"] for request, _ in httpserver.log] == ["/ok"]


_PLAIN_TEXT = st.text("abcxyz019.-/?#=&%:@AZ", max_size=30)
_PORTS = st.sampled_from(["", ":80", ":443", ":8080", ":0", ":065", ":65535", ":65536", ":99999"])


@settings(max_examples=400, deadline=None)
@given(
    urls(),
    _PLAIN_TEXT,
    st.sampled_from(["http://", "https://", "HTTP://", "http:/", ""]),
    _PORTS,
)
def test_the_shortcut_for_plain_urls_gives_what_the_whole_rule_gives(
    url: str, text: str, scheme: str, port: str
) -> None:
    """normalize_url answers URLs already in normal form without urlsplit: the same answer."""
    host = f"{scheme}a.example{port}"
    candidates = (url, normal(url), url.lower(), scheme + text, f"{scheme}a..b{text}", host + text)
    for candidate in candidates:
        assert normalize_url(candidate) == _normalize(candidate, "https"), candidate


@pytest.mark.parametrize(
    "text",
    [
        "http://a.example",
        "http://a.example?q",
        "http://a.example#f",
        "https://a..b/",
        "http://x/",
        "http://127.0.0.1:8080/x",
        "http://a.example:80/x",
        "https://a.example:443",
        "https://a.example:80/x",
        "http://a.example:65536/x",
        "http://a.example:0/x",
    ],
)
def test_the_shortcut_matches_the_whole_rule_at_its_edges(text: str) -> None:
    assert normalize_url(text) == _normalize(text, "https")
