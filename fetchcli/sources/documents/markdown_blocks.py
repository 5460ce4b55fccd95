"""The block structure of simple Markdown documents, read line by line without a block parser.

Most documentation pages are headings, paragraphs, flat lists and fenced code at the left
margin. For such a document `simple_blocks` gives the blocks markdown-it's block parser
would find (each heading's and paragraph's inline content, each fence's code, and the line
where each starts) at a small fraction of the cost. Anything it is not sure to read as
markdown-it does (indentation, block quotes, tables, HTML blocks, reference definitions,
setext headings, thematic breaks, nested or unusual lists) makes it return None, and the
caller parses the document with markdown-it. `tests/test_documents_markdown.py` holds the
two readings equal on generated documents.

Inline content is read here too when it holds only text, code spans and plain inline
links (`plain_spans`); such a document needs no markdown-it at all, whose import
(`markdown_parser`) is left for what the simple reading hands over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from markdown_it.token import Token

BlockKind = Literal["heading", "paragraph", "fence"]
SPANS = "fetchcli_spans"  # in an inline token's meta, and in env while it is parsed
# What CommonMark trims from a heading's or paragraph's content (markdown-it's mdTrim).
_TRIM = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

# `#` to `######` then a space, a tab or the end of the line (an ATX heading).
_HEADING = re.compile(r"(#{1,6})(?:[ \t]|$)")
# A bullet or ordered list item whose content follows one space: `- `, `* `, `+ `, `1. `, `1) `.
_ITEM = re.compile(r"(?:([-*+])|([0-9]{1,9})([.)])) (?=[^ \t])")
# An opening code fence at the left margin: its marker run (a backtick fence's info string
# holds no backtick).
_FENCE = re.compile(r"(`{3,})[^`]*$|(~{3,})")
# First characters after which a line may be something other than paragraph text (or a
# list item's content): indentation, a block marker, a list marker, a setext underline or
# a thematic break. `*`, `_` and backticks are judged with what follows them.
_UNSAFE_START = frozenset(" \t#>-+=~<|")
# An ordered list marker, which a paragraph line must not start with.
_ORDERED = re.compile(r"[0-9]{1,9}[.)](?:[ \t]|$)")


@dataclass(frozen=True, slots=True)
class Block:
    """One block: a heading's or paragraph's inline content, or a fence's code."""

    kind: BlockKind
    content: str
    line: int  # 0-based line where the block starts
    level: int = 0  # a heading's level


class TokenLike(Protocol):
    """What the link and anchor readers use of a token: markdown-it's, or a BlockToken."""

    type: str
    map: list[int] | None
    content: str
    meta: dict[Any, Any]
    children: list[Token] | None


@dataclass(slots=True)
class BlockToken:
    """A block token of a simple document: the fields of markdown-it's Token that are read."""

    type: str
    map: list[int] | None
    content: str = ""
    meta: dict[Any, Any] = field(default_factory=dict)
    children: list[Token] | None = None


def block_tokens(blocks: list[Block]) -> list[BlockToken]:
    """The block tokens of a simple document that the link and anchor readers read."""
    tokens: list[BlockToken] = []
    for block in blocks:
        where = [block.line, block.line + 1]
        if block.kind == "fence":
            tokens.append(BlockToken("fence", where, block.content))
            continue
        if block.kind == "heading":
            tokens.append(BlockToken("heading_open", where))
        tokens.append(BlockToken("inline", where, block.content, children=[]))
    return tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """What one inline construct consumed of its inline token's content."""

    rule: str
    start: int
    end: int
    url: str | None = None  # a link's or image's destination as written (None: not a link)
    label: str | None = None  # the reference a link used, if it is one
    html: str = ""  # an inline HTML tag's text
    destination: int | None = None  # offset of an inline link's destination; None: a reference


# What `plain_spans` cannot read: escapes, raw HTML and autolinks, and (outside an
# inline link's match) a bracket, which may be a reference link or an unusual one.
_NOT_PLAIN = re.compile(r"[\\<\[\]]")
_MAYBE_SPAN = re.compile(r"[\\<\[\]`]")
_BACKTICKS = re.compile(r"`+")
# `[text](destination)` or `![alt](destination)` in its plainest form: no bracket, code,
# HTML or escape in the text; no space, parenthesis, entity, escape or control character
# in the destination.
_PLAIN_LINK = re.compile(r"(!?)\[[^\[\]`<\\]*\]\(([^\s()<>`&\\\x00-\x1f\x7f]*)\)")


def plain_spans(content: str) -> list[Span] | None:
    """The spans of content made of text, code spans and plain inline links; None otherwise.

    Gives exactly what markdown-it's inline parse records for such content (a property
    test holds it to that), at a fraction of the cost; anything else (an escape, HTML, an
    autolink, a reference or unusual link) returns None for the full parse.
    """
    if not _MAYBE_SPAN.search(content):
        return []
    spans: list[Span] = []
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
        spans.append(Span(rule="backticks", start=opener.start(), end=end))
        position, index = end, closer + 1
    if not _plain_segment(content, position, len(content), spans):
        return None
    return spans


def _plain_segment(content: str, start: int, end: int, spans: list[Span]) -> bool:
    """Add the plain links of content[start:end] (no code span in it); False if not plain."""
    position = start
    for match in _PLAIN_LINK.finditer(content, start, end):
        if _NOT_PLAIN.search(content, position, match.start()):
            return False
        image = bool(match.group(1))
        spans.append(
            Span(
                rule="image" if image else "link",
                start=match.start(),
                end=match.end(),
                url=match.group(2),
                destination=match.start(2),
            )
        )
        position = match.end()
    return not _NOT_PLAIN.search(content, position, end)


def read_plain_inline(token: TokenLike) -> bool:
    """Keep the spans of an inline token whose content is plain; False if it is not.

    Plain content (`plain_spans`: text, code spans, plain inline links) needs no
    markdown-it; the caller has markdown-it parse the rest (`markdown_parser.parse_inline`).
    """
    spans = plain_spans(token.content)
    if spans is None:
        return False
    if token.children is None:
        token.children = []
    token.meta[SPANS] = spans
    return True


def simple_blocks(text: str) -> list[Block] | None:
    """The blocks of a simple document, as markdown-it finds them; None if it is not simple.

    >>> [block.kind for block in simple_blocks("# Title\\n\\nSee [a](b.md).\\n") or []]
    ['heading', 'paragraph']
    """
    if "\r" in text or "\0" in text:
        return None
    lines = text.split("\n")
    # markdown-it counts no line after the last newline, nor a blank one without its own.
    if ends_with_newline := not lines[-1].strip(" \t"):
        lines.pop()
    blocks: list[Block] = []
    paragraph: list[str] = []  # the lines of the open paragraph, where it starts, and
    start, item = 0, False  # whether it is a list item's

    def close() -> None:
        if paragraph:
            blocks.append(Block("paragraph", _trim("\n".join(paragraph)), start))
            paragraph.clear()

    number = 0
    while number < len(lines):
        line = lines[number]
        if not line.strip(" \t"):
            close()
        elif "|" in line or "]:" in line:
            return None  # a table row, or a reference definition
        elif line[0] == "#":
            heading = _heading(line, number)
            if heading is None:
                return None
            close()
            blocks.append(heading)
        elif fence := _FENCE.match(line):
            close()
            code, after = _fenced(
                lines, number, fence.group(1) or fence.group(2), ends_with_newline
            )
            blocks.append(Block("fence", code, number))
            number = after
            continue
        elif marker := _ITEM.match(line):
            ordinal = marker.group(2)
            if paragraph and not item and ordinal is not None and int(ordinal) != 1:
                return None  # only `1.` starts a list inside a paragraph: the rest continue it
            content = line[marker.end() :]
            if not _paragraph_start(content):
                return None  # the item holds another block (a nested list, a heading...)
            close()
            start, item = number, True
            paragraph.append(content)
        elif _paragraph_start(line):
            if not paragraph:
                start, item = number, False
            paragraph.append(line)  # a lazy continuation line, if the paragraph is an item's
        else:
            return None
        number += 1
    close()
    return blocks


def _heading(line: str, number: int) -> Block | None:
    """An ATX heading; None for a line that is not one or ends with a closing sequence."""
    heading = _HEADING.match(line)
    if heading is None or line.rstrip(" \t").endswith("#"):
        return None
    level = len(heading.group(1))
    return Block("heading", _trim(line[level:]), number, level)


def _fenced(lines: list[str], number: int, marker: str, ends_with_newline: bool) -> tuple[str, int]:
    """The code of the fence opened on line `number` and the number of the line after it.

    A run of at least the opening marker's length closes it (indented up to three
    spaces); an unclosed fence runs to the end of the document.
    """
    closing = re.compile(re.escape(marker[0]) + f"{{{len(marker)},}}[ \t]*\\Z")
    end = number + 1
    while end < len(lines) and not closing.match(_unindented(lines[end])):
        end += 1
    code = lines[number + 1 : end]
    last_newline = "\n" if code and (end < len(lines) or ends_with_newline) else ""
    return "\n".join(code) + last_newline, end + 1


def _unindented(line: str) -> str:
    """A line without up to three leading spaces (a closing fence may be so indented)."""
    stripped = line.lstrip(" ")
    return stripped if len(line) - len(stripped) <= 3 else line


def _paragraph_start(line: str) -> bool:
    """Whether a non-blank line at the left margin can only be paragraph text."""
    first = line[0]
    if first in _UNSAFE_START:
        return False
    if first in "*_`":
        # Emphasis or a code span, not a list item, thematic break or fence.
        second = line[1:2]
        third = line[2:3]
        if first == "`":
            return second != "`" or (third != "`" and third != "")
        if second in ("", " ", "\t"):
            return False
        return second != first or third not in ("", " ", "\t", first)
    return not (first.isdigit() and _ORDERED.match(line))


def _trim(text: str) -> str:
    """Strip CommonMark's whitespace from both ends (markdown-it's mdTrim)."""
    return text.strip(_TRIM)
