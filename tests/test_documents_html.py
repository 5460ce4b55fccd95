"""HTML links (at their attribute values), anchors and `<base href>`."""

from __future__ import annotations

from fetchcli.sources.documents import DocumentKind, Link, anchors, base_href, extract_links

HTML = DocumentKind.HTML


def links(text: str, *, include_verbatim: bool = False) -> list[Link]:
    return extract_links(text, HTML, include_verbatim=include_verbatim)


def urls(text: str) -> list[str]:
    return [link.url for link in links(text)]


def test_anchor_href_at_its_value() -> None:
    assert links('<p><a href="docs/x.html">x</a></p>') == [
        Link(url="docs/x.html", line=1, column=13)
    ]


def test_unquoted_and_single_quoted_values() -> None:
    assert links("<a href=a.html>a</a> <a href='b.html'>b</a>") == [
        Link(url="a.html", line=1, column=9),
        Link(url="b.html", line=1, column=31),
    ]


def test_attribute_on_a_later_line_of_the_tag() -> None:
    assert links('<p>\n<a class="x"\n   href="/y">y</a>') == [Link(url="/y", line=3, column=10)]


def test_entities_in_attribute_are_decoded() -> None:
    assert links('<a href="a?x=1&amp;y=2&#38;z">a</a>') == [
        Link(url="a?x=1&y=2&z", line=1, column=10)
    ]


def test_spaces_around_the_url_are_not_part_of_it() -> None:
    assert links('<a href="  /x ">x</a>') == [Link(url="/x", line=1, column=12)]


def test_first_of_duplicated_attributes_wins() -> None:
    assert urls('<a href="first.html" href="second.html">x</a>') == ["first.html"]


def test_empty_href_is_not_a_link() -> None:
    assert links('<a href="">x</a>') == []


def test_area_script_iframe_embed_track_audio_sources() -> None:
    text = (
        '<area href="area.html"><script src="s.js"></script><iframe src="f.html"></iframe>'
        '<embed src="e.swf"><audio src="a.mp3"><track src="t.vtt"></audio>'
    )
    assert urls(text) == ["area.html", "s.js", "f.html", "e.swf", "a.mp3", "t.vtt"]


def test_video_src_and_poster() -> None:
    assert urls('<video poster="p.jpg" src="v.mp4"></video>') == ["p.jpg", "v.mp4"]


def test_every_srcset_candidate_is_a_link() -> None:
    assert links('<img src="a.png" srcset="a.png 1x, b-2x.png 2x,c.png">') == [
        Link(url="a.png", line=1, column=11),
        Link(url="a.png", line=1, column=26),
        Link(url="b-2x.png", line=1, column=36),
        Link(url="c.png", line=1, column=48),
    ]


def test_source_srcset_with_width_descriptors() -> None:
    text = '<picture><source srcset="s.webp 480w, l.webp 800w"></picture>'
    assert urls(text) == ["s.webp", "l.webp"]


def test_link_href_is_a_link() -> None:
    assert urls('<link rel="stylesheet" href="/css/site.css">') == ["/css/site.css"]


def test_preconnect_and_dns_prefetch_are_not_links() -> None:
    text = '<link rel="preconnect" href="https://a.org"><link rel="dns-prefetch" href="//b.org">'
    assert links(text) == []


def test_base_href_is_not_a_link() -> None:
    assert links('<base href="https://a.org/docs/">') == []


def test_base_href_is_the_first_base_with_href() -> None:
    text = '<base target="_blank"><base href="/docs/"><base href="/other/">'
    assert base_href(text) == "/docs/"


def test_base_href_is_none_without_base() -> None:
    assert base_href("<p>no base</p>") is None


def test_bare_url_in_text_is_not_a_link() -> None:
    assert links("<p>see https://a.org</p>") == []


def test_pre_code_script_style_and_comments_are_skipped() -> None:
    text = (
        "<pre>https://a.org</pre><code>https://b.org</code>"
        "<script>x='https://c.org'</script><style>a{background:url(https://d.org)}</style>"
        "<!-- https://e.org -->"
    )
    assert links(text) == []


def test_anchor_inside_code_is_a_link() -> None:
    assert links('<pre><code><a href="x.html">x</a></code></pre>') == [
        Link(url="x.html", line=1, column=21)
    ]


def test_include_verbatim_finds_bare_urls_in_pre() -> None:
    text = "<pre>\nget https://a.org/x.\n</pre>"
    assert links(text, include_verbatim=True) == [Link(url="https://a.org/x", line=2, column=5)]


def test_include_verbatim_finds_bare_urls_in_comment() -> None:
    assert links("<!-- see https://a.org -->", include_verbatim=True) == [
        Link(url="https://a.org", line=1, column=10)
    ]


def test_include_verbatim_does_not_scan_ordinary_text() -> None:
    assert links("<p>https://a.org</p>", include_verbatim=True) == []


def test_include_verbatim_scans_around_a_tag_inside_pre() -> None:
    text = '<pre>https://a.org <a href="b.html">b</a> https://c.org&amp;d</pre>'
    assert links(text, include_verbatim=True) == [
        Link(url="https://a.org", line=1, column=6),
        Link(url="b.html", line=1, column=29),
        Link(url="https://c.org&d", line=1, column=43),
    ]


def test_malformed_marked_section_does_not_raise() -> None:
    assert links('<![ x <a href="y.html">') == []


def test_anchors_are_ids_and_anchor_names() -> None:
    text = '<h2 id="usage">U</h2><a name="old"></a><div name="not-an-anchor"></div>'
    assert anchors(text, HTML) == {"usage", "old"}
