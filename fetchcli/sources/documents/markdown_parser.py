"""markdown-it-py, set up to record links at exact offsets; loaded only when it is needed.

A simple document (`markdown_blocks`) with plain inline content is read without it:
markdown-it takes ~35 ms to import, a good part of a small link check. It parses a
document the simple reading hands over, inline content with escapes, HTML, autolinks or
references, and headings with markup.

markdown-it tokens carry block line ranges only, so the inline rules that make links,
code spans and inline HTML are wrapped to record what each consumed of its inline
token's source (a `Span` each, in the token's meta); `markdown` then maps offsets in a
token's content back into the document.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, cast

from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll
from markdown_it.helpers import parseLinkLabel
from markdown_it.rules_core import text_join
from markdown_it.rules_core.state_core import StateCore
from markdown_it.rules_inline import StateInline, autolink, backtick, html_inline, image, link
from markdown_it.token import Token

from fetchcli.sources.documents.markdown_blocks import SPANS, Span, TokenLike, read_plain_inline

_Rule = Callable[[StateInline, bool], bool]
# The token each wrapped rule pushes for the construct it recognised.
_RULES: dict[str, tuple[_Rule, str]] = {
    "link": (link, "link_open"),
    "image": (image, "image"),
    "autolink": (autolink, "link_open"),
    "backticks": (backtick, "code_inline"),
    "html_inline": (html_inline, "html_inline"),
}


def unescape(text: str) -> str:
    """Backslash escapes and entities decoded, as markdown-it decodes text."""
    return unescapeAll(text)


class _Parser(MarkdownIt):
    """markdown-it that keeps destinations as written: the caller decides what to skip."""

    def validateLink(self, url: str) -> bool:
        """Accept every scheme (javascript:, data:, file: included)."""
        return True

    def normalizeLink(self, url: str) -> str:
        """No percent-encoding or punycode: the URL as the author wrote it."""
        return url

    def normalizeLinkText(self, link: str) -> str:
        """Leave autolink text alone."""
        return link


@functools.cache
def parser() -> MarkdownIt:
    """The one parser: CommonMark and GFM tables, recording the spans of inline links."""
    md = _Parser("commonmark", {"store_labels": True}).enable("table")
    md.core.ruler.at("inline", _parse_inlines)
    for name, (rule, token_type) in _RULES.items():
        md.inline.ruler.at(name, _recording(name, rule, token_type))
    return _compiled(md)


def _parse_inlines(state: StateCore) -> None:
    """markdown-it's core `inline` rule, keeping each inline token's spans in its meta."""
    for token in state.tokens:
        if token.type == "inline" and not read_plain_inline(token):
            parse_inline(state.env, token)


def parse_inline(env: MutableMapping[str, Any], token: TokenLike) -> None:
    """Parse one inline token with markdown-it, keeping the spans of its links in its meta.

    For content that is not plain (`markdown_blocks.read_plain_inline` reads the rest).
    """
    token.children = [] if token.children is None else token.children
    md = parser()
    spans = env[SPANS] = []
    md.inline.parse(token.content, md, env, token.children)
    token.meta[SPANS] = spans


def join_text(tokens: Sequence[TokenLike]) -> None:
    """markdown-it's `text_join` over inline tokens parsed one by one (as a full parse does)."""
    state = StateCore("", parser(), {})
    state.tokens = cast("list[Token]", list(tokens))  # text_join reads type and children
    text_join(state)  # escapes and entities become text


def _recording(name: str, rule: _Rule, token_type: str) -> _Rule:
    """Wrap an inline rule to record the span of each construct it turns into a token."""

    def recorded(state: StateInline, silent: bool) -> bool:
        start, count = state.pos, len(state.tokens)
        if not rule(state, silent):
            return False
        # Silent runs only look ahead; an unmatched backtick run pushes no code_inline.
        pushed = [token for token in state.tokens[count:] if token.type == token_type]
        if not silent and pushed:
            token, end = pushed[0], state.pos
            url = token.attrs.get("src" if name == "image" else "href")
            state.env[SPANS].append(
                Span(
                    rule=name,
                    start=start,
                    end=end,
                    url=None if url is None else str(url),
                    label=token.meta.get("label"),
                    html=token.content if name == "html_inline" else "",
                    destination=_destination(name, state, start, token),
                )
            )
        return True

    return recorded


def _destination(name: str, state: StateInline, start: int, token: Token) -> int | None:
    """Where the destination of an inline link, image or autolink starts."""
    if name == "autolink":
        return start + 1
    if name not in ("link", "image") or "label" in token.meta:
        return None  # a reference: its destination is in the definition
    label_start = start if name == "link" else start + 1
    position = parseLinkLabel(state, label_start, name == "link") + 2  # past "]("
    while state.src[position : position + 1] in (" ", "\t", "\n"):
        position += 1
    return position + 1 if state.src[position : position + 1] == "<" else position


@functools.cache
def block_parser() -> MarkdownIt:
    """A parser for anchors: blocks only; the few inlines that matter are parsed on demand."""
    md = MarkdownIt("commonmark").enable("table")
    md.core.ruler.disable("inline")
    return _compiled(md)


def _compiled(md: MarkdownIt) -> MarkdownIt:
    """`md` with its rule chains compiled now, before another thread can see it.

    markdown-it compiles them on first use, publishing an empty table before filling it:
    the reader thread and an anchor lookup using one parser at once could parse with none.
    """
    for ruler in (md.core.ruler, md.block.ruler, md.inline.ruler, md.inline.ruler2):
        ruler.getRules("")
    return md


def inline(token: TokenLike) -> TokenLike:
    """An inline token with its children parsed (the block parser leaves them out)."""
    if not token.children and token.content:
        md = block_parser()
        children: list[Token] = []
        md.inline.parse(token.content, md, {}, children)
        token.children = children
        state = StateCore("", md, {})
        state.tokens = cast("list[Token]", [token])
        text_join(state)  # escapes and entities become text, as a full parse leaves them
    return token
