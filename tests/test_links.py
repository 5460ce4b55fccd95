"""fetchcli.sources.links.resolve: what each link of a document points at (SPEC "Documents")."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetchcli.options import DocumentRules
from fetchcli.sources.links import _RESERVED, Origin, Target, is_reserved, remap, resolve

ROOT = Path("/site")
DOC = Origin(path=ROOT / "docs" / "guide.md")  # a local document
PAGE = Origin(page="http://127.0.0.1:8000/docs/page.html")  # a fetched page
STDIN = Origin()  # free text from standard input
DEFAULT = DocumentRules()


def checked(url: str) -> Target:
    """The target of a link that is checked as `url`."""
    return Target(url=url)


# --- links that name nothing to check -----------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "mailto:someone@docs.site",
        "MAILTO:someone@docs.site",
        "tel:+1-555-0100",
        "data:text/plain;base64,SGk=",
        "javascript:void(0)",
    ],
)
def test_skipped_scheme_is_excluded(link: str) -> None:
    assert resolve(link, DOC, DEFAULT) == Target(url=link, excluded=True)


def test_skipped_scheme_is_excluded_in_a_page_too() -> None:
    assert resolve("mailto:a@docs.site", PAGE, DEFAULT).excluded


def test_skipped_scheme_is_excluded_even_without_default_excludes() -> None:
    rules = DocumentRules(default_excludes=False)
    assert resolve("tel:+1-555-0100", DOC, rules).excluded


# --- reserved names (RFC 2606 / 6761) -----------------------------------------

RESERVED = [
    "https://example.com/x",
    "https://www.example.org/x",
    "http://api.example.net/",
    "https://shop.example/",
    "https://app.test/login",
    "https://nowhere.invalid/",
    "http://localhost:8080/",
    "http://docs.localhost/",
    "https://EXAMPLE.COM/x",
    "https://example.com./x",
]


@pytest.mark.parametrize("link", RESERVED)
def test_reserved_name_is_excluded_by_default(link: str) -> None:
    target = resolve(link, DOC, DEFAULT)
    assert target.excluded
    assert target.error is None


@pytest.mark.parametrize("link", RESERVED)
def test_reserved_name_is_checked_without_default_excludes(link: str) -> None:
    target = resolve(link, DOC, DocumentRules(default_excludes=False))
    assert not target.excluded
    assert target.error is None


@pytest.mark.parametrize(
    "link", ["https://notexample.com/", "https://example.community/", "https://testing.dev/"]
)
def test_name_that_only_looks_reserved_is_checked(link: str) -> None:
    assert resolve(link, DOC, DEFAULT) == checked(link)


def test_reserved_name_in_a_page_is_excluded() -> None:
    assert resolve("https://example.com/", PAGE, DEFAULT).excluded


# --- remote links -------------------------------------------------------------


def test_remote_link_is_checked_as_written() -> None:
    link = "https://docs.site/guide/install.html#linux"
    assert resolve(link, DOC, DEFAULT) == checked(link)


def test_remote_link_scheme_is_lower_cased() -> None:
    assert resolve("HTTPS://docs.site/a", DOC, DEFAULT) == checked("https://docs.site/a")


def test_remote_link_surrounding_whitespace_is_stripped() -> None:
    assert resolve("  https://docs.site/a \n", DOC, DEFAULT) == checked("https://docs.site/a")


def test_remote_link_without_host_is_invalid() -> None:
    target = resolve("https://", DOC, DEFAULT)
    assert target.error == "URL has no host"
    assert not target.excluded


def test_remote_link_with_bad_port_is_invalid() -> None:
    target = resolve("http://docs.site:99999/", DOC, DEFAULT)
    assert target.error is not None
    assert "malformed URL" in target.error


def test_unsupported_scheme_is_invalid_not_excluded() -> None:
    target = resolve("ftp://files.site/a.tgz", DOC, DEFAULT)
    assert target == Target(url="ftp://files.site/a.tgz", error="unsupported scheme 'ftp'")


def test_file_url_is_kept_for_the_local_checker() -> None:
    assert resolve("file:///srv/a.md#x", DOC, DEFAULT) == checked("file:///srv/a.md#x")


# --- links in a fetched page --------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("other.html", "http://127.0.0.1:8000/docs/other.html"),
        ("../index.html", "http://127.0.0.1:8000/index.html"),
        ("/about", "http://127.0.0.1:8000/about"),
        ("#intro", "http://127.0.0.1:8000/docs/page.html#intro"),
        ("?page=2", "http://127.0.0.1:8000/docs/page.html?page=2"),
        ("//cdn.site/app.js", "http://cdn.site/app.js"),
        ("https://docs.site/x", "https://docs.site/x"),
    ],
)
def test_page_relative_link_resolves_against_the_page(link: str, expected: str) -> None:
    assert resolve(link, PAGE, DEFAULT) == checked(expected)


def test_page_relative_link_to_reserved_name_is_excluded() -> None:
    page = Origin(page="http://localhost:8000/docs/")
    assert resolve("a.html", page, DEFAULT).excluded


def test_page_links_are_never_mapped_onto_disk() -> None:
    rules = DocumentRules(base_url="http://127.0.0.1:8000/", root_dir=str(ROOT))
    assert resolve("other.html", PAGE, rules) == checked("http://127.0.0.1:8000/docs/other.html")


# --- local links --------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("install.md", "file:///site/docs/install.md"),
        ("./install.md", "file:///site/docs/install.md"),
        ("img/logo.png", "file:///site/docs/img/logo.png"),
        ("../README.md", "file:///site/README.md"),
        ("../../../etc/x.md", "file:///etc/x.md"),
        ("install.md#linux", "file:///site/docs/install.md#linux"),
        ("install.md?plain=1", "file:///site/docs/install.md"),
        ("my%20notes.md", "file:///site/docs/my%20notes.md"),
        ("my notes.md", "file:///site/docs/my%20notes.md"),
    ],
)
def test_relative_link_resolves_against_the_document_folder(link: str, expected: str) -> None:
    assert resolve(link, DOC, DEFAULT) == checked(expected)


@pytest.mark.parametrize(
    ("link", "expected"),
    [("sub/", "file:///site/docs/sub/"), ("../", "file:///site/"), ("./", "file:///site/docs/")],
)
def test_folder_link_keeps_its_trailing_slash(link: str, expected: str) -> None:
    assert resolve(link, DOC, DEFAULT) == checked(expected)


def test_fragment_only_link_points_at_the_document_itself() -> None:
    assert resolve("#setup", DOC, DEFAULT) == checked("file:///site/docs/guide.md#setup")


def test_empty_fragment_link_points_at_the_document_itself() -> None:
    assert resolve("#", DOC, DEFAULT) == checked("file:///site/docs/guide.md#")


def test_root_relative_link_without_root_dir_is_invalid_naming_the_flag() -> None:
    target = resolve("/docs/install.md", DOC, DEFAULT)
    assert target.url == "/docs/install.md"
    assert target.error is not None
    assert "--root-dir" in target.error
    assert not target.excluded


def test_root_relative_link_resolves_under_root_dir() -> None:
    rules = DocumentRules(root_dir="/srv/www")
    target = resolve("/docs/install.md#linux", DOC, rules)
    assert target == checked("file:///srv/www/docs/install.md#linux")


def test_root_relative_link_stays_inside_root_dir() -> None:
    target = resolve("/../outside.md", DOC, DocumentRules(root_dir="/srv/www"))
    assert target == checked("file:///srv/www/outside.md")


def test_relative_link_in_standard_input_is_invalid() -> None:
    target = resolve("install.md", STDIN, DEFAULT)
    assert target.error is not None
    assert "standard input" in target.error


def test_protocol_relative_link_in_local_document_keeps_its_host() -> None:
    target = resolve("//cdn.site/app.js", DOC, DocumentRules(root_dir="/srv/www"))
    assert "cdn.site" in target.url
    assert not target.url.startswith("file:")


# --- --base-url ---------------------------------------------------------------


def test_base_url_maps_a_site_link_onto_the_root_dir() -> None:
    rules = DocumentRules(base_url="https://docs.site/", root_dir="/srv/www")
    target = resolve("https://docs.site/guide/install.md#linux", DOC, rules)
    assert target == checked("file:///srv/www/guide/install.md#linux")


def test_base_url_without_trailing_slash_maps_too() -> None:
    rules = DocumentRules(base_url="https://docs.site/v1", root_dir="/srv/www")
    assert resolve("https://docs.site/v1/a.md", DOC, rules) == checked("file:///srv/www/a.md")


def test_base_url_itself_maps_to_the_root_folder() -> None:
    rules = DocumentRules(base_url="https://docs.site/", root_dir="/srv/www")
    assert resolve("https://docs.site", DOC, rules) == checked("file:///srv/www/")


def test_base_url_match_is_by_whole_path_segment() -> None:
    rules = DocumentRules(base_url="https://docs.site/v1", root_dir="/srv/www")
    link = "https://docs.site/v10/a.md"
    assert resolve(link, DOC, rules) == checked(link)


def test_base_url_match_ignores_scheme_and_host_case() -> None:
    rules = DocumentRules(base_url="https://docs.site/", root_dir="/srv/www")
    assert resolve("HTTPS://DOCS.site/a.md", DOC, rules) == checked("file:///srv/www/a.md")


def test_base_url_link_other_site_stays_remote() -> None:
    rules = DocumentRules(base_url="https://docs.site/", root_dir="/srv/www")
    assert resolve("https://blog.site/a", DOC, rules) == checked("https://blog.site/a")


def test_base_url_without_root_dir_names_the_root_dir_flag() -> None:
    target = resolve("https://docs.site/a.md", DOC, DocumentRules(base_url="https://docs.site/"))
    assert target.error is not None
    assert "--root-dir" in target.error


def test_base_url_on_a_reserved_name_is_still_checked_on_disk() -> None:
    rules = DocumentRules(base_url="https://example.com/", root_dir="/srv/www")
    assert resolve("https://example.com/a.md", DOC, rules) == checked("file:///srv/www/a.md")


def test_base_url_maps_links_even_offline() -> None:
    rules = DocumentRules(base_url="https://docs.site/", root_dir="/srv/www", offline=True)
    assert resolve("https://docs.site/a.md", DOC, rules) == checked("file:///srv/www/a.md")


# --- --remap ------------------------------------------------------------------


def test_remap_rewrites_before_resolving() -> None:
    rules = DocumentRules(remap=((r"^https://prod\.site/", "http://127.0.0.1:8000/"),))
    target = resolve("https://prod.site/a?q=1", DOC, rules)
    assert target == checked("http://127.0.0.1:8000/a?q=1")


def test_remap_first_matching_rule_wins() -> None:
    rules = DocumentRules(
        remap=(
            (r"^https://prod\.site/api/", "https://api.site/"),
            (r"^https://prod\.site/", "https://www.site/"),
        )
    )
    assert resolve("https://prod.site/api/v1", DOC, rules) == checked("https://api.site/v1")
    assert resolve("https://prod.site/blog", DOC, rules) == checked("https://www.site/blog")


def test_remap_replacement_may_use_groups() -> None:
    rules = DocumentRules(remap=((r"^https://prod\.site/(\w+)/(.*)$", r"https://\1.site/\2"),))
    assert resolve("https://prod.site/blog/a/b", DOC, rules) == checked("https://blog.site/a/b")


def test_remap_to_a_relative_path_checks_it_on_disk() -> None:
    rules = DocumentRules(remap=((r"^https://prod\.site/docs/", "../"),))
    assert resolve("https://prod.site/docs/x.md", DOC, rules) == checked("file:///site/x.md")


def test_remap_to_a_skipped_scheme_excludes_the_link() -> None:
    rules = DocumentRules(remap=((r"^https://old\.site/.*", "mailto:webmaster@docs.site"),))
    assert resolve("https://old.site/contact", DOC, rules).excluded


def test_remap_function_leaves_unmatched_link_alone() -> None:
    assert remap("https://a.site/", ((r"b\.site", "c.site"),)) == "https://a.site/"


# --- --offline ----------------------------------------------------------------

OFFLINE = DocumentRules(offline=True)


def test_offline_excludes_remote_links() -> None:
    assert resolve("https://docs.site/a", DOC, OFFLINE) == Target(
        url="https://docs.site/a", excluded=True
    )


def test_offline_still_resolves_local_links() -> None:
    assert resolve("install.md#x", DOC, OFFLINE) == checked("file:///site/docs/install.md#x")


def test_offline_still_reports_invalid_remote_links() -> None:
    assert resolve("https://", DOC, OFFLINE).error == "URL has no host"


def test_offline_excludes_links_of_a_page() -> None:
    assert resolve("other.html", PAGE, OFFLINE).excluded


# --- the reserved-name check, decided per netloc --------------------------------

_URL_PART = st.text(alphabet="aAeEx.-:@[]/?#%:1 \t", max_size=12)


@settings(max_examples=3000, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp+x", "h"]),
    host=st.sampled_from(
        ["example.com", "EXAMPLE.org.", "a.test", "b.localhost", "x.invalid", "notexample.com",
         "[::1]", "[::1", "::1]", "user:pw@example.net", "example.com:8080", "", "exa mple.com"]
    ),
    rest=_URL_PART,
    prefix=st.sampled_from(["", " ", "\t"]),
)  # fmt: skip
def test_the_reserved_check_is_the_hostname_rule(
    scheme: str, host: str, rest: str, prefix: str
) -> None:
    url = f"{prefix}{scheme}://{host}{rest}"
    try:
        expected: bool | type[Exception] = bool(_RESERVED.search(urlsplit(url).hostname or ""))
    except ValueError:
        expected = ValueError
    try:
        found: bool | type[Exception] = is_reserved(url)
    except ValueError:
        found = ValueError
    assert found == expected
