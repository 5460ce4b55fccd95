"""The documents API, the free-text extractor, and properties of every link syntax."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fetchcli.sources.documents import (
    DocumentKind,
    Link,
    anchors,
    base_href,
    extract_links,
    kind_for,
)

TEXT = DocumentKind.TEXT
MD = DocumentKind.MARKDOWN
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Characters a URL path may hold; `&` and `\` are left out so that the URL read back is
# the URL written (no entity or escape to decode).
PATH = st.text(alphabet="abcxyz019-._~/?#=+()[]!$*,;:'@%|<", max_size=16)
TRAILING = ".,;:!?'\"*_~|"


def text_links(text: str) -> list[Link]:
    return extract_links(text, TEXT)


def closes_only_what_it_opens(url: str) -> bool:
    depth = 0
    for ch in url:
        depth += 1 if ch == "(" else -1 if ch == ")" else 0
        if depth < 0:
            return False
    return True


def balanced(url: str) -> bool:
    return closes_only_what_it_opens(url) and url.count("(") == url.count(")")


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("README.md", MD),
        ("docs/guide.MARKDOWN", MD),
        ("page.mdx", MD),
        ("site/index.html", DocumentKind.HTML),
        ("old.HTM", DocumentKind.HTML),
        ("conf/index.rst", DocumentKind.RST),
        ("notes.txt", TEXT),
        ("Makefile", TEXT),
        (".md", TEXT),
    ],
)
def test_kind_for_goes_by_extension(path: str, kind: DocumentKind) -> None:
    assert kind_for(path) is kind


def test_link_is_frozen() -> None:
    link = Link(url="x", line=1, column=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        link.url = "y"  # type: ignore[misc]


def test_text_finds_http_https_and_www() -> None:
    assert text_links("a http://a.org b\nc https://b.org/x d www.c.org") == [
        Link(url="http://a.org", line=1, column=3),
        Link(url="https://b.org/x", line=2, column=3),
        Link(url="http://www.c.org", line=2, column=21),
    ]


def test_text_ignores_other_schemes_and_words() -> None:
    assert text_links("ftp://a.org mailto:x@y.org xhttps://b.org awww.c.org https://") == []


def test_text_url_ends_at_quote_angle_and_backtick() -> None:
    text = 'a "https://a.org/x" <https://b.org/y> `https://c.org/z`'
    assert [link.url for link in text_links(text)] == [
        "https://a.org/x",
        "https://b.org/y",
        "https://c.org/z",
    ]


def test_text_trims_trailing_punctuation() -> None:
    assert text_links("(see https://a.org/x?!), *https://b.org/y*.") == [
        Link(url="https://a.org/x", line=1, column=6),
        Link(url="https://b.org/y", line=1, column=27),
    ]


def test_text_keeps_balanced_parens_and_brackets() -> None:
    text = "(https://en.wikipedia.org/wiki/Foo_(bar)) [https://a.org/?x=[1]]"
    assert [link.url for link in text_links(text)] == [
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "https://a.org/?x=[1]",
    ]


def test_text_keeps_apostrophe_inside_url() -> None:
    url = "https://en.wikipedia.org/wiki/Two's_complement"
    assert text_links(f"'{url}'") == [Link(url=url, line=1, column=2)]


def test_text_decodes_amp_entity() -> None:
    assert text_links("https://a.org/?x=1&amp;y=2") == [
        Link(url="https://a.org/?x=1&y=2", line=1, column=1)
    ]


def test_text_has_no_anchors() -> None:
    assert anchors("# Heading\n<a id='x'>", TEXT) == frozenset()


def test_extract_links_is_in_document_order() -> None:
    text = "[r]\n[a](https://a.org) https://b.org\n\n[r]: https://r.org"
    assert [link.line for link in extract_links(text, MD)] == [2, 2, 4]


def test_include_verbatim_changes_nothing_for_text() -> None:
    text = "`https://a.org`"
    assert extract_links(text, TEXT, include_verbatim=True) == text_links(text)


def test_base_href_is_read_from_html() -> None:
    assert base_href('<head>\r\n<base href="https://a.org/docs/">') == "https://a.org/docs/"


@FAST
@given(PATH)
def test_markdown_inline_link_never_runs_past_its_parenthesis(path: str) -> None:
    url = "https://a.org/" + path
    found = extract_links(f"[t]({url}) after", MD)
    assert found
    # Not a link when unbalanced: then the bare URL may take the `)` that balances it.
    assert (url + ")").startswith(found[0].url)
    assert closes_only_what_it_opens(found[0].url)
    if balanced(url):
        assert found == [Link(url=url, line=1, column=5)]


@FAST
@given(PATH.filter(lambda path: "<" not in path), st.sampled_from(")]|>.,"))
def test_markdown_autolink_never_holds_its_angle_bracket(path: str, after: str) -> None:
    url = "https://a.org/" + path
    assert extract_links(f"(<{url}>{after}", MD) == [Link(url=url, line=1, column=3)]


@FAST
@given(PATH, st.sampled_from(list(")]>|\"'.,;:!?*_ `")))
def test_bare_url_never_ends_with_its_delimiter(path: str, delimiter: str) -> None:
    written = "https://a.org/" + path
    found = text_links(f"({written}{delimiter} x")
    assert len(found) == 1
    link = found[0]
    assert (link.line, link.column) == (1, 2)
    assert (written + delimiter).startswith(link.url)
    assert link.url[-1] not in TRAILING
    assert link.url[-1] != ")" or link.url.count("(") >= link.url.count(")")
    assert link.url[-1] != "]" or link.url.count("[") >= link.url.count("]")


@FAST
@given(PATH.filter(lambda path: "|" not in path))
def test_bare_url_in_table_cell_never_holds_the_pipe(path: str) -> None:
    written = "https://a.org/" + path
    found = extract_links(f"| h | h |\n|---|---|\n|{written}| x |", MD)
    assert found
    assert found[0].line == 3
    assert found[0].column == 2
    assert "|" not in found[0].url


SEGMENTS = st.sampled_from(["[t]({})", "![a]({})", "<{}>", "{}", "[t]({} 'title')", "**{}**"])
PREFIXES = st.sampled_from(["", "> ", "- ", "1. ", "# ", "> - ", "  ", "| "])
JOINERS = st.sampled_from([" ", " and ", ")\n", "| ", ". ", "\n", "\n\n", ", "])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(PREFIXES, SEGMENTS, JOINERS), min_size=1, max_size=6))
def test_markdown_columns_point_at_the_url_as_written(
    parts: list[tuple[str, str, str]],
) -> None:
    written = [f"https://h{number}.org/p" for number in range(len(parts))]
    text = "".join(
        prefix + segment.format(url) + joiner
        for (prefix, segment, joiner), url in zip(parts, written, strict=True)
    )
    lines = text.split("\n")
    for link in extract_links(text, MD):
        assert link.url in written
        assert lines[link.line - 1][link.column - 1 :].startswith(link.url)


# Pieces of every syntax, to be shuffled into documents that no parser should choke on.
FRAGMENTS = [
    *"ab :/.\n\t()[]<>!\"'`*_|\\&;#=-{}~\r",
    *["https://", "www.", "<a href=", "<!--", "-->", "<![", "```", "    ", "> ", "- "],
    *["[r]: ", ".. ", "::", "``", "`_", "<pre>", "</pre>", "&amp;", "===", ".. _x:"],
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(FRAGMENTS),
        max_size=30,
    ).map("".join),
    st.sampled_from(list(DocumentKind)),
    st.booleans(),
)
def test_any_text_gives_links_inside_the_document(
    text: str, kind: DocumentKind, include_verbatim: bool
) -> None:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for link in extract_links(text, kind, include_verbatim=include_verbatim):
        assert 1 <= link.line <= len(lines)
        assert 1 <= link.column <= len(lines[link.line - 1])
    assert isinstance(anchors(text, kind), frozenset)
