"""Markdown (CommonMark + GFM tables, by markdown-it-py): links at exact offsets, and anchors.

markdown-it tokens carry block line ranges only, so the inline rules that make links, code
spans and inline HTML are wrapped to record what each consumed of its inline token's source;
`_Source.place` then maps offsets in a token's content back into the document.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll
from markdown_it.helpers import parseLinkLabel
from markdown_it.rules_core import text_join
from markdown_it.rules_core.state_core import StateCore
from markdown_it.rules_inline import StateInline, autolink, backtick, html_inline, image, link
from markdown_it.token import Token

from fetchcli.sources.documents.html import html_anchors, html_hits
from fetchcli.sources.documents.markdown_blocks import Block, simple_blocks
from fetchcli.sources.documents.slugs import GithubSlugger
from fetchcli.sources.documents.text import Hit, LineIndex, find_bare_urls

_Rule = Callable[[StateInline, bool], bool]
_SPANS = "fetchcli_spans"  # in an inline token's meta, and in env while it is parsed
# The token each wrapped rule pushes for the construct it recognised.
_RULES: dict[str, tuple[_Rule, str]] = {
    "link": (link, "link_open"),
    "image": (image, "image"),
    "autolink": (autolink, "link_open"),
    "backticks": (backtick, "code_inline"),
    "html_inline": (html_inline, "html_inline"),
}
_LINKS = frozenset({"link", "image", "autolink"})
# `{#custom-id}` (optionally with more attributes) closing a heading, as kramdown and
# Python-Markdown's attr_list write it.
_CUSTOM_ID = re.compile(r"\s*\{\s*#([^\s{}]+)[^{}]*\}\s*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Span:
    """What one inline construct consumed of its inline token's content."""

    rule: str
    start: int
    end: int
    url: str | None = None  # a link's or image's destination as written (None: not a link)
    label: str | None = None  # the reference a link used, if it is one
    html: str = ""  # an inline HTML tag's text
    destination: int | None = None  # offset of an inline link's destination; None: a reference


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
def _parser() -> MarkdownIt:
    """The one parser: CommonMark and GFM tables, recording the spans of inline links."""
    md = _Parser("commonmark", {"store_labels": True}).enable("table")
    md.core.ruler.at("inline", _parse_inlines)
    for name, (rule, token_type) in _RULES.items():
        md.inline.ruler.at(name, _recording(name, rule, token_type))
    return md


def _parse_inlines(state: StateCore) -> None:
    """markdown-it's core `inline` rule, keeping each inline token's spans in its meta."""
    for token in state.tokens:
        if token.type == "inline":
            _parse_inline(state.md, state.env, token)


def _parse_inline(md: MarkdownIt, env: MutableMapping[str, Any], token: Token) -> None:
    """Parse one inline token, keeping the spans of its links in its meta.

    Content that only holds plain links and code spans (the common case) is read by
    `_plain_spans` instead: the same spans, without building inline tokens.
    """
    token.children = [] if token.children is None else token.children
    spans = _plain_spans(token.content)
    if spans is None:
        spans = env[_SPANS] = []
        md.inline.parse(token.content, md, env, token.children)
    token.meta[_SPANS] = spans


def _tokens(text: str, env: dict[str, Any]) -> list[Token]:
    """The tokens markdown-it gives for what markdown_hits reads: headings, inlines, code.

    A simple document (`simple_blocks`) is read without markdown-it's block parser.
    """
    md = _parser()
    blocks = simple_blocks(text)
    if blocks is None:
        return md.parse(text, env)
    tokens = _block_tokens(blocks)
    for token in tokens:
        if token.type == "inline":
            _parse_inline(md, env, token)
    state = StateCore(text, md, env)
    state.tokens = tokens
    text_join(state)
    return tokens


def _block_tokens(blocks: list[Block]) -> list[Token]:
    """The block tokens of a simple document that markdown_hits and anchors read."""
    tokens: list[Token] = []
    for block in blocks:
        where = [block.line, block.line + 1]
        if block.kind == "fence":
            tokens.append(Token("fence", "code", 0, map=where, content=block.content))
            continue
        if block.kind == "heading":
            tokens.append(Token("heading_open", f"h{block.level}", 1, map=where))
        tokens.append(Token("inline", "", 0, map=where, content=block.content))
    return tokens


# What `_plain_spans` cannot read: escapes, raw HTML and autolinks, and (outside an
# inline link's match) a bracket, which may be a reference link or an unusual one.
_NOT_PLAIN = re.compile(r"[\\<\[\]]")
_MAYBE_SPAN = re.compile(r"[\\<\[\]`]")
_BACKTICKS = re.compile(r"`+")
# `[text](destination)` or `![alt](destination)` in its plainest form: no bracket, code,
# HTML or escape in the text; no space, parenthesis, entity, escape or control character
# in the destination.
_PLAIN_LINK = re.compile(r"(!?)\[[^\[\]`<\\]*\]\(([^\s()<>`&\\\x00-\x1f\x7f]*)\)")


def _plain_spans(content: str) -> list[_Span] | None:
    """The spans of content made of text, code spans and plain inline links; None otherwise.

    Gives exactly what markdown-it's inline parse records for such content (a property
    test holds it to that), at a fraction of the cost; anything else (an escape, HTML, an
    autolink, a reference or unusual link) returns None for the full parse.
    """
    if not _MAYBE_SPAN.search(content):
        return []
    spans: list[_Span] = []
    position = 0
    runs = list(_BACKTICKS.finditer(content))
    index = 0
    while index < len(runs):
        opener = runs[index]
        index += 1
        if opener.start() < position:
            continue
        closer = next(
            (i for i in range(index, len(runs)) if len(runs[i].group()) == len(opener.group())),
            None,
        )
        if closer is None:
            continue  # a lone backtick run is text
        if not _plain_segment(content, position, opener.start(), spans):
            return None
        end = runs[closer].end()
        spans.append(_Span(rule="backticks", start=opener.start(), end=end))
        position, index = end, closer + 1
    if not _plain_segment(content, position, len(content), spans):
        return None
    return spans


def _plain_segment(content: str, start: int, end: int, spans: list[_Span]) -> bool:
    """Add the plain links of content[start:end] (no code span in it); False if not plain."""
    position = start
    for match in _PLAIN_LINK.finditer(content, start, end):
        if _NOT_PLAIN.search(content, position, match.start()):
            return False
        image = bool(match.group(1))
        spans.append(
            _Span(
                rule="image" if image else "link",
                start=match.start(),
                end=match.end(),
                url=match.group(2),
                destination=match.start(2),
            )
        )
        position = match.end()
    return not _NOT_PLAIN.search(content, position, end)


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
            state.env[_SPANS].append(
                _Span(
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


class _Source:
    """The document, and where in it the content of each token lies."""

    __slots__ = ("cursor", "index", "lines", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = LineIndex(text)
        self.lines = text.split("\n")
        self.cursor: dict[int, int] = {}  # per line: where the next search starts

    def place(self, content: str, first_line: int) -> Callable[[int], int]:
        """A map from offsets in a block token's content to offsets in the document."""
        starts: list[int] = []
        bases: list[tuple[int, bool]] = []
        offset = 0
        for number, piece in enumerate(content.split("\n")):
            starts.append(offset)
            bases.append(self._locate(first_line + number, piece))
            offset += len(piece) + 1

        def where(at: int) -> int:
            line = bisect.bisect_right(starts, at) - 1
            base, escaped_pipes = bases[line]
            shift = content.count("|", starts[line], at) if escaped_pipes else 0
            return base + at - starts[line] + shift

        return where

    def _locate(self, line: int, piece: str) -> tuple[int, bool]:
        """Find a content line in its source line, past container markers and earlier cells."""
        text = self.lines[line] if line < len(self.lines) else ""
        cursor = self.cursor.get(line, 0)
        # A table cell's content has `\|` unescaped to `|`.
        for escaped, needle in ((False, piece), (True, piece.replace("|", "\\|"))):
            if (found := text.find(needle, cursor)) >= 0:
                self.cursor[line] = found + len(needle)
                return self.index.line_start(line) + found, escaped
        # A tab in the indentation became spaces: match what follows them.
        rest = piece.lstrip(" ")
        if rest and (found := text.find(rest, cursor)) >= 0:
            self.cursor[line] = found + len(rest)
            return self.index.line_start(line) + found - (len(piece) - len(rest)), False
        return self.index.line_start(line) + max(0, len(text) - len(piece)), False


def markdown_hits(text: str, *, include_verbatim: bool = False) -> list[Hit]:
    """Links of a Markdown document, at offsets into `text` (newlines normalized).

    >>> markdown_hits("See [docs](docs/install.md).")
    [Hit(offset=11, url='docs/install.md')]
    """
    env: dict[str, Any] = {}
    source = _Source(text)
    used: set[str] = set()
    hits: list[Hit] = []
    tokens = _tokens(text, env)
    _remember_anchors(text, tokens)
    for token in tokens:
        if token.map is None:
            continue
        first = token.map[0]
        if token.type == "inline":
            where = source.place(token.content, first)
            found = _inline_hits(token, include_verbatim=include_verbatim, used=used)
        elif token.type == "html_block":
            where = source.place(token.content, first)
            found = html_hits(token.content, include_verbatim=include_verbatim)
        elif token.type in ("fence", "code_block") and include_verbatim:
            where = source.place(token.content, first + (token.type == "fence"))
            found = find_bare_urls(token.content)
        else:
            continue
        hits.extend(Hit(offset=where(hit.offset), url=hit.url) for hit in found)
    return hits + _definitions(source, env.get("references", {}), used)


def _inline_hits(token: Token, *, include_verbatim: bool, used: set[str]) -> list[Hit]:
    """Links of one inline token, at offsets into its content."""
    content, spans = token.content, token.meta.get(_SPANS, [])
    hits: list[Hit] = []
    for span in spans:
        if span.rule in _LINKS:
            if span.label is not None:
                used.add(span.label)
            if span.url and span.destination is not None:
                hits.append(Hit(offset=span.destination, url=span.url))
        elif span.rule == "html_inline":
            found = html_hits(span.html, include_verbatim=include_verbatim)
            hits.extend(Hit(offset=span.start + hit.offset, url=hit.url) for hit in found)
        elif include_verbatim:
            hits.extend(find_bare_urls(content, span.start, span.end))
    for start, end in _gaps(spans, len(content)):
        hits.extend(find_bare_urls(content, start, end, decode=unescapeAll))
    return hits


def _gaps(spans: list[_Span], length: int) -> list[tuple[int, int]]:
    """The stretches of an inline token's content that no recorded construct covers."""
    gaps, position = [], 0
    for span in sorted(spans, key=lambda span: span.start):
        if span.start > position:
            gaps.append((position, span.start))
        position = max(position, span.end)
    return [*gaps, (position, length)] if position < length else gaps


def _definitions(
    source: _Source, references: Mapping[str, Mapping[str, Any]], used: set[str]
) -> list[Hit]:
    """One link per used reference definition, at its destination."""
    hits = []
    for label in used:
        reference = references[label]
        if reference["href"]:
            offset = _definition_destination(source, reference["map"][0])
            hits.append(Hit(offset=offset, url=str(reference["href"])))
    return hits


def _definition_destination(source: _Source, line: int) -> int:
    """Where the destination of the reference definition starting on `line` starts."""
    text = source.text
    position = text.find("[", source.index.line_start(line)) + 1
    while position < len(text) and text[position] != "]":
        position += 2 if text[position] == "\\" else 1
    position += 2  # past "]:"
    while text[position : position + 1] in (" ", "\t"):
        position += 1
    if text[position : position + 1] == "\n":
        position += 1
        while text[position : position + 1] in (" ", "\t"):
            position += 1
    return position + 1 if text[position : position + 1] == "<" else position


# Anchors of documents whose links were just extracted: a link checker asks for
# the anchors of the very files it read, and a parse costs far more than a lookup.
_ANCHORS_SEEN: dict[tuple[int, int], frozenset[str]] = {}
_ANCHORS_KEPT = 4096


def _remember_anchors(text: str, tokens: list[Token]) -> None:
    if len(_ANCHORS_SEEN) >= _ANCHORS_KEPT:
        _ANCHORS_SEEN.pop(next(iter(_ANCHORS_SEEN)), None)  # the oldest
    _ANCHORS_SEEN[(len(text), hash(text))] = frozenset(_anchors_of(_block_parser(), tokens))


def markdown_anchors(text: str) -> set[str]:
    """GitHub heading slugs, `{#custom-id}`s and raw-HTML ids of a Markdown document."""
    seen = _ANCHORS_SEEN.get((len(text), hash(text)))
    if seen is not None:
        return set(seen)
    md = _block_parser()
    blocks = simple_blocks(text)
    tokens = md.parse(text, {}) if blocks is None else _block_tokens(blocks)
    return _anchors_of(md, tokens)


def _anchors_of(md: MarkdownIt, tokens: list[Token]) -> set[str]:
    """The anchors a parsed document defines (inline children parsed where needed)."""
    slugger = GithubSlugger()
    found: set[str] = set()
    for number, token in enumerate(tokens):
        if token.type == "heading_open":
            title = _heading_text(md, tokens[number + 1])
            if custom := _CUSTOM_ID.search(title):
                found.add(custom.group(1))
                title = title[: custom.start()]
            found.add(slugger.slug(title))
        elif token.type == "html_block":
            found |= html_anchors(token.content)
        elif token.type == "inline" and _MAYBE_ID.search(token.content):
            for child in _inline(md, token).children or []:
                if child.type == "html_inline":
                    found |= html_anchors(child.content)
    found.discard("")
    return found


# Only text that may hold `id=` or `name=` in inline HTML is parsed inline for anchors.
_MAYBE_ID = re.compile(r"<[^>]*\b(?:id|name)\s*=", re.IGNORECASE)


@functools.cache
def _block_parser() -> MarkdownIt:
    """A parser for anchors: blocks only; the few inlines that matter are parsed on demand."""
    md = MarkdownIt("commonmark").enable("table")
    md.core.ruler.disable("inline")
    return md


def _inline(md: MarkdownIt, token: Token) -> Token:
    """An inline token with its children parsed (the block parser leaves them out)."""
    if not token.children and token.content:
        children: list[Token] = []
        md.inline.parse(token.content, md, {}, children)
        token.children = children
        state = StateCore("", md, {})
        state.tokens = [token]
        text_join(state)  # escapes and entities become text, as a full parse leaves them
    return token


# What no inline rule of markdown-it's CommonMark preset starts at: such text is its own text.
_NO_MARKUP = re.compile(r"[^\\`*_~\[\]!<&\n]*")


def _heading_text(md: MarkdownIt, inline: Token) -> str:
    """A heading's text content (without parsing one that holds no markup)."""
    if _NO_MARKUP.fullmatch(inline.content):
        return inline.content
    return _plain_text(_inline(md, inline))


def _plain_text(inline: Token) -> str:
    """A heading's text content: its text and code, without markup, images or HTML."""
    kept = ("text", "code_inline")
    return "".join(child.content for child in inline.children or [] if child.type in kept)
