"""Markdown (CommonMark + GFM tables): links at exact offsets, and anchors.

A simple document is read by `markdown_blocks` (blocks line by line, plain inline
content by pattern); anything else by markdown-it-py (`markdown_parser`, imported on
first need). Both give tokens with each block's lines and each inline construct's span
in its content; `_Source.place` then maps offsets in a token's content back into the
document.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fetchcli.sources.documents.html import html_anchors, html_hits
from fetchcli.sources.documents.markdown_blocks import (
    SPANS,
    Span,
    TokenLike,
    block_tokens,
    read_plain_inline,
    simple_blocks,
)
from fetchcli.sources.documents.slugs import GithubSlugger
from fetchcli.sources.documents.text import Hit, LineIndex, find_bare_urls

_LINKS = frozenset({"link", "image", "autolink"})
# `{#custom-id}` (optionally with more attributes) closing a heading, as kramdown and
# Python-Markdown's attr_list write it.
_CUSTOM_ID = re.compile(r"\s*\{\s*#([^\s{}]+)[^{}]*\}\s*$")


def _tokens(text: str, env: dict[str, Any]) -> Sequence[TokenLike]:
    """The tokens markdown-it gives for what markdown_hits reads: headings, inlines, code.

    A simple document (`simple_blocks`) is read without markdown-it's block parser, and
    its plain inline content without markdown-it at all.
    """
    blocks = simple_blocks(text)
    if blocks is None:
        from fetchcli.sources.documents.markdown_parser import parser

        return parser().parse(text, env)
    tokens = block_tokens(blocks)
    parsed = False
    for token in tokens:
        if token.type == "inline" and not read_plain_inline(token):
            from fetchcli.sources.documents.markdown_parser import parse_inline

            parse_inline(env, token)
            parsed = True
    if parsed:
        from fetchcli.sources.documents.markdown_parser import join_text

        join_text(tokens)
    return tokens


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


def _inline_hits(token: TokenLike, *, include_verbatim: bool, used: set[str]) -> list[Hit]:
    """Links of one inline token, at offsets into its content."""
    content, spans = token.content, token.meta.get(SPANS, [])
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
        hits.extend(find_bare_urls(content, start, end, decode=_unescape))
    return hits


def _unescape(text: str) -> str:
    """Backslash escapes and entities decoded as markdown-it does (loaded only for them)."""
    if "\\" not in text and "&" not in text:
        return text
    from fetchcli.sources.documents.markdown_parser import unescape

    return unescape(text)


def _gaps(spans: list[Span], length: int) -> list[tuple[int, int]]:
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


def _remember_anchors(text: str, tokens: Sequence[TokenLike]) -> None:
    if len(_ANCHORS_SEEN) >= _ANCHORS_KEPT:
        _ANCHORS_SEEN.pop(next(iter(_ANCHORS_SEEN)), None)  # the oldest
    _ANCHORS_SEEN[(len(text), hash(text))] = frozenset(_anchors_of(tokens))


def markdown_anchors(text: str) -> set[str]:
    """GitHub heading slugs, `{#custom-id}`s and raw-HTML ids of a Markdown document."""
    seen = _ANCHORS_SEEN.get((len(text), hash(text)))
    if seen is not None:
        return set(seen)
    blocks = simple_blocks(text)
    if blocks is not None:
        return _anchors_of(block_tokens(blocks))
    from fetchcli.sources.documents.markdown_parser import block_parser

    return _anchors_of(block_parser().parse(text, {}))


def _anchors_of(tokens: Sequence[TokenLike]) -> set[str]:
    """The anchors a parsed document defines (inline children parsed where needed)."""
    slugger = GithubSlugger()
    found: set[str] = set()
    for number, token in enumerate(tokens):
        if token.type == "heading_open":
            title = _heading_text(tokens[number + 1])
            if custom := _CUSTOM_ID.search(title):
                found.add(custom.group(1))
                title = title[: custom.start()]
            found.add(slugger.slug(title))
        elif token.type == "html_block":
            found |= html_anchors(token.content)
        elif token.type == "inline" and _MAYBE_ID.search(token.content):
            for child in _parsed(token).children or []:
                if child.type == "html_inline":
                    found |= html_anchors(child.content)
    found.discard("")
    return found


# Only text that may hold `id=` or `name=` in inline HTML is parsed inline for anchors.
_MAYBE_ID = re.compile(r"<[^>]*\b(?:id|name)\s*=", re.IGNORECASE)


# What no inline rule of markdown-it's CommonMark preset starts at: such text is its own text.
_NO_MARKUP = re.compile(r"[^\\`*_~\[\]!<&\n]*")


def _heading_text(inline: TokenLike) -> str:
    """A heading's text content (without parsing one that holds no markup)."""
    if _NO_MARKUP.fullmatch(inline.content):
        return inline.content
    return _plain_text(_parsed(inline))


def _parsed(inline: TokenLike) -> TokenLike:
    """An inline token with its children parsed by markdown-it (imported now)."""
    from fetchcli.sources.documents.markdown_parser import inline as parse

    return parse(inline)


def _plain_text(inline: TokenLike) -> str:
    """A heading's text content: its text and code, without markup, images or HTML."""
    kept = ("text", "code_inline")
    return "".join(child.content for child in inline.children or [] if child.type in kept)
