"""The block structure of simple Markdown documents, read line by line without a block parser.

Most documentation pages are headings, paragraphs, flat lists and fenced code at the left
margin. For such a document `simple_blocks` gives the blocks markdown-it's block parser
would find (each heading's and paragraph's inline content, each fence's code, and the line
where each starts) at a small fraction of the cost. Anything it is not sure to read as
markdown-it does (indentation, block quotes, tables, HTML blocks, reference definitions,
setext headings, thematic breaks, nested or unusual lists) makes it return None, and the
caller parses the document with markdown-it. `tests/test_documents_markdown.py` holds the
two readings equal on generated documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from markdown_it.common.utils import mdTrim

BlockKind = Literal["heading", "paragraph", "fence"]

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
            blocks.append(Block("paragraph", mdTrim("\n".join(paragraph)), start))
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
    return Block("heading", mdTrim(line[level:]), number, level)


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
