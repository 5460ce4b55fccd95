"""Markdown links (exact line and column) and anchors."""

from __future__ import annotations

from unittest import mock

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from markdown_it.token import Token

from fetchcli.sources.documents import (
    DocumentKind,
    Link,
    anchors,
    extract_links,
    markdown,
    markdown_blocks,
    markdown_parser,
)

MD = DocumentKind.MARKDOWN


def links(text: str, *, include_verbatim: bool = False) -> list[Link]:
    return extract_links(text, MD, include_verbatim=include_verbatim)


def test_inline_link_at_its_destination() -> None:
    assert links("See [the guide](docs/install.md).") == [
        Link(url="docs/install.md", line=1, column=17)
    ]


def test_image_at_its_source() -> None:
    assert links("![logo](img/logo.png)") == [Link(url="img/logo.png", line=1, column=9)]


def test_relative_forms_are_links() -> None:
    text = "[a](../README.md) [b](/js/app.js) [c](#usage)"
    assert [link.url for link in links(text)] == ["../README.md", "/js/app.js", "#usage"]


def test_other_schemes_are_left_to_the_caller() -> None:
    text = "[m](mailto:me@host.org) [j](javascript:void(0)) [d](data:text/plain,hi)"
    urls = [link.url for link in links(text)]
    assert urls == ["mailto:me@host.org", "javascript:void(0)", "data:text/plain,hi"]


def test_autolink_at_the_character_after_its_bracket() -> None:
    assert links("Go <https://a.org/x>.") == [Link(url="https://a.org/x", line=1, column=5)]


def test_email_autolink_is_a_mailto_link() -> None:
    assert links("<me@host.org>") == [Link(url="mailto:me@host.org", line=1, column=2)]


def test_line_and_column_on_a_later_line() -> None:
    assert links("# T\n\ntext\n  and [x](y.md)") == [Link(url="y.md", line=4, column=11)]


def test_repeated_identical_links_each_have_their_own_column() -> None:
    assert links("[a](x) [a](x)\n[a](x)") == [
        Link(url="x", line=1, column=5),
        Link(url="x", line=1, column=12),
        Link(url="x", line=2, column=5),
    ]


def test_image_inside_link_comes_first_in_document_order() -> None:
    assert links("[![i](a.png)](b.html)") == [
        Link(url="a.png", line=1, column=7),
        Link(url="b.html", line=1, column=15),
    ]


def test_destination_on_the_next_line() -> None:
    assert links("[a](\n  https://a.org)") == [Link(url="https://a.org", line=2, column=3)]


def test_link_in_blockquote_inside_list_item() -> None:
    assert links("- item\n  > see [q](q.html)") == [Link(url="q.html", line=2, column=13)]


def test_tab_indented_continuation_line() -> None:
    assert links("- item\n\t[t](t.md)") == [Link(url="t.md", line=2, column=6)]


def test_crlf_line_endings_count_one_line_each() -> None:
    assert links("a\r\nb [x](y.html)\r\n") == [Link(url="y.html", line=2, column=7)]


def test_columns_count_characters_not_bytes() -> None:
    assert links("héllo wörld [x](y.md)") == [Link(url="y.md", line=1, column=17)]


def test_link_followed_by_table_pipe() -> None:
    text = "| a | b |\n|---|---|\n| [t](https://a.org/x)| y |"
    assert links(text) == [Link(url="https://a.org/x", line=3, column=7)]


def test_identical_links_in_table_cells_each_have_their_own_column() -> None:
    text = "| [a](x) | [a](x) |\n|---|---|\n| z | [a](x) |"
    assert links(text) == [
        Link(url="x", line=1, column=7),
        Link(url="x", line=1, column=16),
        Link(url="x", line=3, column=11),
    ]


def test_link_after_escaped_pipe_in_table_cell() -> None:
    text = "| a |\n|---|\n| \\| [t](t.md) |"
    assert links(text) == [Link(url="t.md", line=3, column=10)]


def test_link_followed_by_em_dash() -> None:
    assert links("[a](https://a.org/x)—so") == [Link(url="https://a.org/x", line=1, column=5)]


def test_link_followed_by_hyphen_and_dot() -> None:
    assert links("[a](https://a.org/x)-y.") == [Link(url="https://a.org/x", line=1, column=5)]


def test_backslash_escaped_parens_in_destination_are_unescaped() -> None:
    assert links(r"[a](https://a.org/f\(x\))") == [Link(url="https://a.org/f(x)", line=1, column=5)]


def test_balanced_parens_stay_in_destination() -> None:
    assert links("[F](https://en.wikipedia.org/wiki/Foo_(bar))") == [
        Link(url="https://en.wikipedia.org/wiki/Foo_(bar)", line=1, column=5)
    ]


def test_numeric_entity_in_destination_is_decoded() -> None:
    assert links("[a](https://a.org/?x=1&#38;y=2)") == [
        Link(url="https://a.org/?x=1&y=2", line=1, column=5)
    ]


def test_named_entities_in_destination_are_decoded() -> None:
    assert links("[a](https://a.org/?q=&quot;x&quot;&amp;y)") == [
        Link(url='https://a.org/?q="x"&y', line=1, column=5)
    ]


def test_angle_bracket_destination_keeps_its_space() -> None:
    assert links("[a](<docs/my file.md>)") == [Link(url="docs/my file.md", line=1, column=6)]


def test_square_brackets_in_query_stay_in_destination() -> None:
    assert links("[a](https://a.org/?x=[1])") == [
        Link(url="https://a.org/?x=[1]", line=1, column=5)
    ]


def test_url_in_link_title_is_not_a_link() -> None:
    assert links('[a](x.md "see https://b.org")') == [Link(url="x.md", line=1, column=5)]


def test_empty_destination_is_not_a_link() -> None:
    assert links("[a]() [b](<>)") == []


def test_used_reference_is_a_link_at_its_definition() -> None:
    text = "See [the docs][ref].\n\n[ref]: https://a.org/docs"
    assert links(text) == [Link(url="https://a.org/docs", line=3, column=8)]


def test_collapsed_and_shortcut_references_are_used() -> None:
    text = "[one][] [two]\n\n[one]: one.md\n[two]: two.md"
    assert links(text) == [
        Link(url="one.md", line=3, column=8),
        Link(url="two.md", line=4, column=8),
    ]


def test_reference_used_twice_is_one_link() -> None:
    text = "[a][r] [b][r]\n\n[r]: https://a.org"
    assert links(text) == [Link(url="https://a.org", line=3, column=6)]


def test_unused_reference_definition_is_not_a_link() -> None:
    assert links("text\n\n[unused]: https://a.org") == []


def test_reference_definition_with_angle_destination_on_next_line() -> None:
    text = "[r]\n\n[r]:\n  <a b.md>"
    assert links(text) == [Link(url="a b.md", line=4, column=4)]


def test_reference_image_is_used() -> None:
    assert links("![logo][l]\n\n[l]: img/logo.png") == [Link(url="img/logo.png", line=3, column=6)]


def test_bare_url_in_text() -> None:
    assert links("see https://a.org/x here") == [Link(url="https://a.org/x", line=1, column=5)]


def test_bare_url_drops_trailing_dot() -> None:
    assert links("see https://a.org/x.") == [Link(url="https://a.org/x", line=1, column=5)]


def test_bare_url_keeps_apostrophe_inside() -> None:
    url = "https://en.wikipedia.org/wiki/Two's_complement"
    assert links(f"See {url}.") == [Link(url=url, line=1, column=5)]


def test_bare_url_in_parentheses_keeps_its_balanced_parens() -> None:
    url = "https://en.wikipedia.org/wiki/Foo_(bar)"
    assert links(f"({url})") == [Link(url=url, line=1, column=2)]


def test_bare_url_in_bold_drops_the_markers() -> None:
    assert links("**https://a.org**") == [Link(url="https://a.org", line=1, column=3)]


def test_bare_www_url_is_linked_as_http() -> None:
    assert links("at www.python.org.") == [Link(url="http://www.python.org", line=1, column=4)]


def test_bare_url_in_table_cell_stops_at_the_pipe() -> None:
    text = "| a |\n|---|\n|https://a.org|"
    assert links(text) == [Link(url="https://a.org", line=3, column=2)]


def test_link_text_that_looks_like_a_url_is_not_a_second_link() -> None:
    assert links("[https://a.org](https://b.org)") == [Link(url="https://b.org", line=1, column=17)]


def test_heading_attribute_is_not_a_link() -> None:
    assert links("# Install {#custom-id}\n") == []


def test_raw_html_block_links_at_their_attribute() -> None:
    text = "Intro\n\n<div>\n  <a href='/raw.html'>x</a>\n</div>"
    assert links(text) == [Link(url="/raw.html", line=4, column=12)]


def test_inline_html_links_at_their_attribute() -> None:
    assert links('Logo: <img src="i.png"> ok') == [Link(url="i.png", line=1, column=17)]


def test_inline_html_inside_link_text() -> None:
    assert links("[<img src='in.png'> x](out.html)") == [
        Link(url="in.png", line=1, column=12),
        Link(url="out.html", line=1, column=24),
    ]


def test_code_span_is_skipped() -> None:
    assert links("`[a](x.md) https://a.org`") == []


def test_fenced_code_is_skipped() -> None:
    assert links("```\n[a](x.md) https://a.org\n```") == []


def test_indented_code_is_skipped() -> None:
    assert links("text\n\n    https://a.org") == []


def test_html_comment_is_skipped() -> None:
    assert links("<!-- https://a.org [a](b.md) -->") == []


def test_include_verbatim_finds_bare_url_in_code_span() -> None:
    assert links("x `https://a.org`", include_verbatim=True) == [
        Link(url="https://a.org", line=1, column=4)
    ]


def test_include_verbatim_finds_bare_url_in_fenced_code() -> None:
    text = "> ```\n> get https://a.org/x\n> ```"
    assert links(text, include_verbatim=True) == [Link(url="https://a.org/x", line=2, column=7)]


def test_include_verbatim_finds_bare_url_in_indented_code() -> None:
    assert links("text\n\n    https://a.org", include_verbatim=True) == [
        Link(url="https://a.org", line=3, column=5)
    ]


def test_include_verbatim_finds_bare_url_in_html_comment() -> None:
    assert links("a <!-- https://a.org -->", include_verbatim=True) == [
        Link(url="https://a.org", line=1, column=8)
    ]


def test_anchors_are_github_heading_slugs() -> None:
    assert anchors("# Install & Run: v2.0\n", MD) == {"install--run-v20"}


def test_anchors_number_repeated_headings() -> None:
    assert anchors("# Usage\n## Usage\n### Usage\n", MD) == {"usage", "usage-1", "usage-2"}


def test_anchors_include_setext_headings() -> None:
    assert anchors("Getting Started\n===\n\nNext Steps\n---\n", MD) == {
        "getting-started",
        "next-steps",
    }


def test_anchors_keep_unicode_letters_underscores_and_hyphens() -> None:
    assert anchors("# Über_uns – ja-nein\n", MD) == {"über_uns--ja-nein"}


def test_anchors_slug_inline_markup_by_its_text() -> None:
    assert anchors("# **Bold** `code()` and [link](x.md)\n", MD) == {"bold-code-and-link"}


def test_custom_id_defines_an_anchor_and_is_left_out_of_the_slug() -> None:
    assert anchors("# Install {#setup}\n", MD) == {"setup", "install"}


def test_anchors_include_ids_and_names_in_raw_html() -> None:
    text = '<div id="top"></div>\n\nText <a name="old"></a>\n'
    assert anchors(text, MD) == {"top", "old"}


def test_headings_in_code_are_not_anchors() -> None:
    assert anchors("```\n# Not a heading\n```\n", MD) == frozenset()


# Pieces that make and break the plain form: every construct `_plain_spans` must either
# read exactly as markdown-it does or hand over (escapes, HTML, autolinks, references).
_PIECES = st.sampled_from(
    [
        "[a](b.md)",
        "![i](p.png)",
        "[t](u#x)",
        "[](e)",
        "[a]()",
        "[x][r]",
        "[r]",
        "\n[r]: d.md\n",
        "[",
        "]",
        "(",
        ")",
        "`",
        "``",
        "\\",
        "<",
        ">",
        "<b>",
        "<http://h.org>",
        "&amp;",
        "&#96;",
        "*",
        "_",
        "!",
        " ",
        "\n",
        "\n\n",
        "# ",
        "| a | b |\n|---|---|\n",
        "    ",
        "https://h.org/p",
        "www.h.org",
        "a",
        "x y",
        "\t",
        '"t"',
        "| ",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=14).map("".join))
def test_the_plain_reading_gives_what_markdown_it_gives(text: str) -> None:
    # Content the fast reading accepts must come out exactly as the full inline parse.
    fast = links(text, include_verbatim=True), links(text)
    with mock.patch.object(markdown_blocks, "plain_spans", lambda content: None):
        full = links(text, include_verbatim=True), links(text)
    assert fast == full


def test_the_plain_reading_hands_over_what_it_cannot_read() -> None:
    for content in ("\\[a](b)", "[a <b>](c)", "[a](b c)", "[a][b]", "[a `b`](c)", "<http://h>"):
        assert markdown_blocks.plain_spans(content) is None, content
    assert markdown_blocks.plain_spans("see `[a](b)` and [c](d.md)") is not None


# Lines that make and break a simple document: what `simple_blocks` reads must come out
# exactly as markdown-it's block parser gives it, and the rest must be handed over. A line
# is a block marker (or none) and some text; the texts open and close links and code
# spans across lines, so that blocks split or joined wrongly move or lose a link.
_MARKERS = st.sampled_from(
    ["", "", "# ", "#", "####### ", "- ", "* ", "-  ", "- - ", "1. ", "2. ", "3) ", "```",
     "~~~ ", "   ```", "    ```", "> ", "    ", "  ", "\t", "<div>", "**", "`", "\u00a0",
     "---", "===", "* * *", "| ", "[r]: "]
)  # fmt: skip
_TEXTS = st.sampled_from(["", "[o", "c](c.md) `k", "k` t [a](b.md#s) www.h.org x #"])
_LINES = st.one_of(st.just(""), st.tuples(_MARKERS, _TEXTS).map("".join))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(st.lists(_LINES, max_size=12), st.booleans())
@example(["see [o", "2. c](c.md) `k"], True)  # `2.` cannot interrupt a paragraph: one link
@example(["1. [o", "2. c](c.md)"], False)  # a new item: no link
@example(["- [o", "c](c.md)", "", "k` [a](b.md)"], True)  # a lazy continuation line
@example(["```", "[o", "  ```", "c](c.md)"], False)  # a fence closed by an indented run
@example(["# [o", "c](c.md)", "````", "x"], True)  # a heading is one line; unclosed fence
@example(["~~~", "a", "\t"], False)  # a blank last line without a newline is no line
def test_the_simple_block_reading_gives_what_markdown_it_gives(
    lines: list[str], newline: bool
) -> None:
    text = "\n".join(lines) + ("\n" if newline and lines else "")
    if markdown.simple_blocks(text) is None:
        assume(False)
    markdown._ANCHORS_SEEN.clear()
    fast = links(text, include_verbatim=True), links(text), anchors(text, MD)
    markdown._ANCHORS_SEEN.clear()
    read_alone = anchors(text, MD)  # not from the extraction's cache
    with mock.patch.object(markdown, "simple_blocks", lambda text: None):
        full = links(text, include_verbatim=True), links(text)
        markdown._ANCHORS_SEEN.clear()
        full_anchors = anchors(text, MD)
    assert fast == (*full, full_anchors)
    assert read_alone == full_anchors


def test_the_simple_block_reading_takes_common_pages_and_hands_over_the_rest() -> None:
    page = (
        "# Guide\n\nRead [the install notes](install.md#linux) first.\nThen `run` it.\n\n"
        "## Steps\n\n1. Clone [it](https://h.org/r).\n2. Build:\n\n```sh\nmake [x](y)\n```\n\n"
        "- [API](api.md)\n- **Note:** see [FAQ](faq.md)\n"
    )
    blocks = markdown.simple_blocks(page)
    assert blocks is not None
    assert [block.kind for block in blocks] == [
        "heading", "paragraph", "heading", "paragraph", "paragraph", "fence", "paragraph",
        "paragraph",
    ]  # fmt: skip
    for other in ("> quote\n", "a\n---\n", "| a |\n|---|\n", "[r]: u\n", "  - nested\n"):
        assert markdown.simple_blocks(page + other) is None, other


# Heading text with and without what an inline rule reads (escapes, entities, code, HTML...).
_TITLE_PIECES = st.sampled_from(
    ["a", "b", " ", "\t", "#", "&amp;", "&#35;", "&x", "\\", "\\#", "`", "*", "_", "~", "[",
     "]", "(", ")", "!", "<", "<b>", ">", "{#i}", "=", ":", "@", "\u00e9", "%20"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_TITLE_PIECES, max_size=10).map("".join))
def test_a_heading_without_markup_is_read_as_markdown_it_reads_it(title: str) -> None:
    token = Token("inline", "", 0, content=title)
    assert markdown._heading_text(token) == markdown._plain_text(markdown_parser.inline(token))


def test_markdown_its_trim_is_the_simple_readings() -> None:
    from markdown_it.common.utils import MD_TRIM_CHARS

    assert markdown_blocks._TRIM == MD_TRIM_CHARS


def test_the_parsers_are_compiled_before_any_thread_uses_them() -> None:
    # markdown-it compiles a rule chain on first use, publishing an empty table before it
    # fills it: the reader thread and an anchor lookup sharing a parser must not see that.
    for md in (markdown_parser.parser(), markdown_parser.block_parser()):
        rulers = (md.core.ruler, md.block.ruler, md.inline.ruler, md.inline.ruler2)
        assert all(ruler.__cache__ is not None for ruler in rulers)
