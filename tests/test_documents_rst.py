"""reStructuredText links and anchors."""

from __future__ import annotations

from fetchcli.sources.documents import DocumentKind, Link, anchors, extract_links

RST = DocumentKind.RST


def links(text: str, *, include_verbatim: bool = False) -> list[Link]:
    return extract_links(text, RST, include_verbatim=include_verbatim)


def test_embedded_uri_reference() -> None:
    assert links("See `the guide <docs/guide.html>`_.") == [
        Link(url="docs/guide.html", line=1, column=17)
    ]


def test_anonymous_embedded_uri_reference() -> None:
    assert links("`here <https://a.org/x>`__") == [Link(url="https://a.org/x", line=1, column=8)]


def test_embedded_uri_on_the_phrase_s_second_line() -> None:
    assert links("A `long\nphrase <https://a.org>`_ ends.") == [
        Link(url="https://a.org", line=2, column=9)
    ]


def test_embedded_alias_to_a_target_is_not_a_link() -> None:
    assert links("`text <other_>`_") == []


def test_role_with_angle_target_is_not_a_link() -> None:
    assert links(":doc:`Install <install>`") == []


def test_external_target() -> None:
    assert links(".. _Python: https://www.python.org/") == [
        Link(url="https://www.python.org/", line=1, column=13)
    ]


def test_external_target_continued_on_indented_lines() -> None:
    text = ".. _split:\n   https://a.org/\n   more"
    assert links(text) == [Link(url="https://a.org/more", line=2, column=4)]


def test_internal_and_indirect_targets_are_not_links() -> None:
    assert links(".. _install:\n\n.. _alias: install_\n") == []


def test_image_and_figure_directives() -> None:
    text = ".. image:: img/logo.png\n.. figure:: /img/fig.svg\n   :alt: Figure"
    assert links(text) == [
        Link(url="img/logo.png", line=1, column=12),
        Link(url="/img/fig.svg", line=2, column=13),
    ]


def test_substitution_image_is_a_link() -> None:
    assert links(".. |logo| image:: logo.png") == [Link(url="logo.png", line=1, column=19)]


def test_bare_url_in_text_drops_trailing_punctuation() -> None:
    assert links("Visit https://a.org/x, then") == [Link(url="https://a.org/x", line=1, column=7)]


def test_bare_url_in_directive_body_is_a_link() -> None:
    assert links(".. note::\n\n   See https://a.org") == [
        Link(url="https://a.org", line=3, column=8)
    ]


def test_inline_literal_is_skipped() -> None:
    assert links("Run ``curl https://a.org`` now.") == []


def test_literal_block_after_double_colon_is_skipped() -> None:
    text = "Example::\n\n    curl https://a.org\n\nAfter https://b.org"
    assert links(text) == [Link(url="https://b.org", line=5, column=7)]


def test_expanded_literal_block_marker_is_skipped() -> None:
    assert links("Text.\n\n::\n\n   https://a.org\n") == []


def test_literal_block_in_list_item_is_skipped() -> None:
    assert links("- Example::\n\n     https://a.org\n\n- next") == []


def test_code_block_directive_bodies_are_skipped() -> None:
    text = (
        ".. code-block:: python\n\n   x = 'https://a.org'\n\n"
        ".. code:: sh\n\n   curl https://b.org\n\n"
        ".. sourcecode:: text\n\n   https://c.org\n\n"
        "Done https://d.org"
    )
    assert links(text) == [Link(url="https://d.org", line=13, column=6)]


def test_comment_is_skipped() -> None:
    assert links(".. a comment https://a.org\n   still https://b.org\n\nText") == []


def test_embedded_uri_in_literal_block_is_skipped() -> None:
    assert links("Example::\n\n   `x <https://a.org>`_\n") == []


def test_include_verbatim_finds_bare_urls_in_literals() -> None:
    text = "Run ``curl https://a.org`` now::\n\n    https://b.org\n"
    assert links(text, include_verbatim=True) == [
        Link(url="https://a.org", line=1, column=12),
        Link(url="https://b.org", line=3, column=5),
    ]


def test_include_verbatim_finds_bare_urls_in_code_block() -> None:
    text = ".. code-block:: sh\n\n   curl https://a.org\n"
    assert links(text, include_verbatim=True) == [Link(url="https://a.org", line=3, column=9)]


def test_anchors_are_docutils_ids_of_section_titles() -> None:
    text = "Getting Started!\n================\n\nStep 2: Install\n---------------\n"
    assert anchors(text, RST) == {"getting-started", "step-2-install"}


def test_overlined_title_is_an_anchor() -> None:
    assert anchors("=====\nIntro\n=====\n\nText.\n", RST) == {"intro"}


def test_targets_are_anchors() -> None:
    assert anchors(".. _Install Guide:\n\nText.\n", RST) == {"install-guide"}


def test_transition_is_not_a_title() -> None:
    assert anchors("Para.\n\n----------\n\nMore.\n", RST) == frozenset()


def test_title_in_literal_block_is_not_an_anchor() -> None:
    assert anchors("Example::\n\n    Title\n    -----\n", RST) == frozenset()


def test_target_url_stops_at_a_blank_line() -> None:
    text = ".. _a: https://a.org/\n\n   quoted https://b.org"
    assert links(text) == [
        Link(url="https://a.org/", line=1, column=8),
        Link(url="https://b.org", line=3, column=11),
    ]
