"""reStructuredText: embedded URIs, targets, images, bare URLs, section and target anchors.

No docutils: a line scanner finds the verbatim blocks (literal blocks, code directives,
comments) and the few constructs that hold a URL; everything else is free text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from fetchcli.sources.documents.slugs import docutils_id
from fetchcli.sources.documents.text import Hit, LineIndex, find_bare_urls

_EXPLICIT = re.compile(r"([ \t]*)\.\.(?:[ \t]+|$)")
# `.. name:: argument`, also as a substitution definition `.. |name| image:: argument`.
_DIRECTIVE = re.compile(r"[ \t]*\.\.[ \t]+(?:\|[^|]+\|[ \t]+)?(\w[\w:+.-]*)::(?:[ \t]+(.*))?$")
_TARGET = re.compile(r"[ \t]*\.\.[ \t]+_(`[^`]+`|(?:[^:\\`]|\\.)*):(?:[ \t]+(.*))?$")
_FOOTNOTE = re.compile(r"[ \t]*\.\.[ \t]+\[")
_CODE_DIRECTIVES = frozenset({"code-block", "code", "sourcecode"})
_IMAGE_DIRECTIVES = frozenset({"image", "figure"})
# `text <url>`_ and `text <url>`__; a URL ending in `_` names another target instead.
_EMBEDDED = re.compile(r"`((?:[^`\\]|\\.)*?)<((?:[^<>`\\]|\\.)+)>`__?")
_INLINE_LITERAL = re.compile(r"``(?=\S)(?:(?!\n[ \t]*\n).)+?``", re.DOTALL)
_ADORNMENT = re.compile(r"([!-/:-@\[-`{-~])\1+[ \t]*")
_LIST_MARKER = re.compile(r"[ \t]*(?:[-*+•]|\d+[.)]|\(\d+\)|#\.)[ \t]+")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Layout:
    """A reST document cut into lines, with its verbatim blocks as [start, end) line ranges."""

    text: str
    lines: list[str]
    index: LineIndex
    verbatim: list[tuple[int, int]]
    verbatim_lines: frozenset[int]
    literals: list[tuple[int, int]]  # inline literals, as offsets, in order

    def span(self, first: int, end: int) -> tuple[int, int]:
        """Offsets of the lines [first, end)."""
        stop = len(self.text) if end >= len(self.lines) else self.index.line_start(end)
        return self.index.line_start(first), stop

    def is_verbatim(self, line: int) -> bool:
        """True when a 0-based line lies in a literal block, code directive or comment."""
        return line in self.verbatim_lines

    def in_literal(self, offset: int) -> bool:
        """True when an offset lies in a verbatim block or an inline literal."""
        if self.is_verbatim(self.index.position(offset)[0] - 1):
            return True
        before = bisect.bisect_right(self.literals, (offset, len(self.text))) - 1
        return before >= 0 and offset < self.literals[before][1]


def rst_hits(text: str, *, include_verbatim: bool = False) -> list[Hit]:
    """Links of a reST document, at offsets into `text`.

    >>> rst_hits("See `the guide <docs/guide.html>`_.")
    [Hit(offset=16, url='docs/guide.html')]
    """
    layout = _layout(text)
    hits, consumed = _constructs(layout)
    skipped = list(consumed)
    if not include_verbatim:
        skipped += [layout.span(first, end) for first, end in layout.verbatim]
        skipped += layout.literals
    position = 0
    for start, end in sorted(skipped):
        if start > position:
            hits += find_bare_urls(text, position, start)
        position = max(position, end)
    return hits + find_bare_urls(text, position)


def rst_anchors(text: str) -> set[str]:
    """Section-title ids and `.. _name:` target ids of a reST document."""
    layout = _layout(text)
    found: set[str] = set()
    lines = layout.lines
    for number, line in enumerate(lines):
        if layout.is_verbatim(number):
            continue
        if target := _TARGET.match(line):
            name = _unescape(target.group(1).strip("`"))
            if name != "_":  # `.. __:` is anonymous
                found |= {"-".join(name.lower().split()), docutils_id(name)}
        elif _is_title(lines, number):
            found.add(docutils_id(_EMBEDDED.sub(r"\1", line.strip())))
    found.discard("")
    return found


def _is_title(lines: list[str], number: int) -> bool:
    """True when line `number` is a section title: text over an adornment as long as it."""
    title = lines[number].rstrip()
    if number + 1 >= len(lines) or not title.strip() or _ADORNMENT.fullmatch(title):
        return False
    underline = lines[number + 1].rstrip()
    if not _ADORNMENT.fullmatch(underline) or len(underline) < min(len(title), 4):
        return False
    above = lines[number - 1].rstrip() if number else ""
    overlined = bool(above) and above[0] == underline[0] and bool(_ADORNMENT.fullmatch(above))
    return overlined or (not above and not title[0].isspace())


def _layout(text: str) -> _Layout:
    """Cut a document into lines and find its verbatim blocks and inline literals."""
    lines = text.split("\n")
    verbatim: list[tuple[int, int]] = []
    number = 0
    while number < len(lines):
        line = lines[number]
        block = _verbatim_block(lines, number)
        if block is not None:
            verbatim.append(block)
            number = max(block[1], number + 1)
        elif _EXPLICIT.match(line) is None and _ends_paragraph_with_literal(line):
            body = _indented_end(lines, number + 1, _text_indent(line))
            if body > number + 1:
                verbatim.append((number + 1, body))
            number = max(body, number + 1)
        else:
            number += 1
    return _Layout(
        text=text,
        lines=lines,
        index=LineIndex(text),
        verbatim=verbatim,
        verbatim_lines=frozenset(line for first, end in verbatim for line in range(first, end)),
        literals=[match.span() for match in _INLINE_LITERAL.finditer(text)],
    )


def _verbatim_block(lines: list[str], number: int) -> tuple[int, int] | None:
    """The lines of a code directive's body or of a comment starting at `number`, else None."""
    explicit = _EXPLICIT.match(lines[number])
    if explicit is None:
        return None
    indent = len(explicit.group(1))
    directive = _DIRECTIVE.match(lines[number])
    if directive is not None:
        if directive.group(1) in _CODE_DIRECTIVES:
            return number + 1, _indented_end(lines, number + 1, indent)
        return None
    if _TARGET.match(lines[number]) or _FOOTNOTE.match(lines[number]):
        return None
    following = lines[number + 1] if number + 1 < len(lines) else ""
    if lines[number].strip() == ".." and not following.strip():
        return number, number + 1  # an empty comment: what follows is a block quote
    return number, _indented_end(lines, number + 1, indent)


def _ends_paragraph_with_literal(line: str) -> bool:
    """True for a line ending in `::` (not a section adornment made of colons)."""
    stripped = line.strip()
    return stripped.endswith("::") and not (len(stripped) > 2 and set(stripped) == {":"})


def _text_indent(line: str) -> int:
    """Where a line's text starts, past any list marker."""
    marker = _LIST_MARKER.match(line)
    return marker.end() if marker else len(line) - len(line.lstrip())


def _indented_end(lines: list[str], start: int, indent: int, *, until_blank: bool = False) -> int:
    """End (exclusive) of the block of lines from `start` indented more than `indent`."""
    end = number = start
    while number < len(lines):
        line = lines[number]
        if line.strip():
            if len(line) - len(line.lstrip()) <= indent:
                break
            end = number + 1
        elif until_blank:
            break
        number += 1
    return end


def _constructs(layout: _Layout) -> tuple[list[Hit], list[tuple[int, int]]]:
    """Links of the URL-holding constructs outside verbatim blocks, and the spans they cover."""
    hits: list[Hit] = []
    spans: list[tuple[int, int]] = []
    for match in _EMBEDDED.finditer(layout.text):
        start = match.start(2)
        if layout.in_literal(start):
            continue
        spans.append(match.span())
        raw = match.group(2)
        url = _unescape("".join(raw.split()))
        if url and not _names_target(raw):
            hits.append(Hit(offset=start + len(raw) - len(raw.lstrip()), url=url))
    for number, line in enumerate(layout.lines):
        if layout.is_verbatim(number):
            continue
        target = _TARGET.match(line)
        directive = _DIRECTIVE.match(line)
        if target is not None:
            indent = len(line) - len(line.lstrip())
            # As docutils reads a target: its URL continues up to the first blank line.
            end = _indented_end(layout.lines, number + 1, indent, until_blank=True)
            spans.append(layout.span(number, max(end, number + 1)))
            hits += _target_link(layout, number, end, target)
        elif directive is not None and directive.group(1) in _IMAGE_DIRECTIVES:
            spans.append(layout.span(number, number + 1))
            if directive.group(2) and directive.group(2).strip():
                start = layout.index.line_start(number) + directive.start(2)
                hits.append(Hit(offset=start, url=directive.group(2).strip()))
    return hits, spans


def _target_link(layout: _Layout, number: int, end: int, target: re.Match[str]) -> list[Hit]:
    """The link of an external target `.. _name: url`, whose URL may continue below."""
    pieces = [target.group(2) or ""] + [line.strip() for line in layout.lines[number + 1 : end]]
    raw = "".join("".join(pieces).split())
    if not raw or _names_target(raw):
        return []  # an internal target, or an indirect one naming another target
    if target.group(2) and target.group(2).strip():
        start = layout.index.line_start(number) + target.start(2)
    else:
        following = layout.lines[number + 1]
        start = layout.index.line_start(number + 1) + len(following) - len(following.lstrip())
    return [Hit(offset=start, url=_unescape(raw))]


def _names_target(raw: str) -> bool:
    """True when a reference ends in an unescaped `_`: it names a target, it is no URL."""
    stripped = raw.rstrip()
    return stripped.endswith("_") and not stripped.endswith("\\_")


def _unescape(raw: str) -> str:
    """Drop reST's backslash escapes."""
    return _ESCAPE.sub(r"\1", raw)
