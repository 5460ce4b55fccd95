"""HTML: links from URL attributes, `id`s and `<base href>`, read by the stdlib HTMLParser."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser

from fetchcli.sources.documents.text import Hit, LineIndex, find_bare_urls

# Which attributes of which elements hold a URL (SPEC "Documents").
_URL_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "a": ("href",),
    "area": ("href",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "script": ("src",),
    "iframe": ("src",),
    "audio": ("src",),
    "track": ("src",),
    "embed": ("src",),
    "video": ("src", "poster"),
}
# Hints to open a connection, not documents: requesting them checks nothing.
_SKIPPED_RELS = frozenset({"preconnect", "dns-prefetch"})
_VERBATIM = frozenset({"pre", "code", "script", "style"})
_SPACE = " \t\n\r\f"
# html.parser's own tagfind_tolerant and attrfind_tolerant (Python 3.11), so that the
# offsets found here belong to the very attributes HTMLParser reports.
_TAG_NAME = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ATTRIBUTE = re.compile(
    r"((?<=['\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*"
    r"('[^']*'|\"[^\"]*\"|(?!['\"])[^>\s]*))?(?:\s|/(?!>))*"
)


def html_hits(text: str, *, include_verbatim: bool = False) -> list[Hit]:
    """Links of an HTML document or fragment, at offsets into `text`.

    >>> html_hits('<a href="/x">x</a>')
    [Hit(offset=9, url='/x')]
    """
    return _collect(text, include_verbatim=include_verbatim).hits


def html_anchors(text: str) -> set[str]:
    """Every `id` attribute and `a[name]` of an HTML document or fragment."""
    return _collect(text, include_verbatim=False).ids


def html_base_href(text: str) -> str | None:
    """The href of the first `<base href>`, entity-decoded, else None."""
    return _collect(text, include_verbatim=False).base


def _collect(text: str, *, include_verbatim: bool) -> _Collector:
    """Parse a whole document or fragment."""
    collector = _Collector(text, include_verbatim=include_verbatim)
    collector.feed(text)
    collector.close()
    return collector


class _Collector(HTMLParser):
    """Collects URL attributes, ids, the base href and, if asked, bare URLs in verbatim text."""

    def __init__(self, text: str, *, include_verbatim: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.hits: list[Hit] = []
        self.ids: set[str] = set()
        self.base: str | None = None
        self._text = text
        self._lines = LineIndex(text)
        self._include_verbatim = include_verbatim
        self._verbatim_depth = 0
        self._run_start: int | None = None  # where verbatim text not yet scanned starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note a tag's URL attributes and ids; pre/code/script/style start verbatim text."""
        self._flush()
        start = self._here()
        attributes = _attributes(self.get_starttag_text() or "")
        self._note_links(tag, attributes, start)
        if "id" in attributes:
            self._note_anchor(attributes["id"][1])
        if tag == "a" and "name" in attributes:
            self._note_anchor(attributes["name"][1])
        if tag == "base" and self.base is None and "href" in attributes:
            self.base = html.unescape(attributes["href"][1]).strip(_SPACE)
        if tag in _VERBATIM:
            self._verbatim_depth += 1

    def handle_endtag(self, tag: str) -> None:
        """Leave verbatim text at its closing tag."""
        self._flush()
        if tag in _VERBATIM and self._verbatim_depth:
            self._verbatim_depth -= 1

    def handle_data(self, data: str) -> None:
        """Start a run of verbatim text, scanned when the next markup ends it."""
        if self._verbatim_depth and self._include_verbatim and self._run_start is None:
            self._run_start = self._here()

    def handle_comment(self, data: str) -> None:
        """Scan a comment for bare URLs when verbatim text is included."""
        self._flush()
        if self._include_verbatim:
            start = self._here()
            start += 4 if self._text.startswith("<!--", start) else 2
            self.hits.extend(find_bare_urls(self._text, start, start + len(data)))

    def handle_decl(self, decl: str) -> None:
        """A declaration ends a run of verbatim text."""
        self._flush()

    def handle_pi(self, data: str) -> None:
        """A processing instruction ends a run of verbatim text."""
        self._flush()

    def unknown_decl(self, data: str) -> None:
        """A CDATA section or the like ends a run of verbatim text."""
        self._flush()

    def parse_html_declaration(self, i: int) -> int:
        """Parse `<!...>`; a malformed `<![` is a bogus comment, as browsers read it."""
        try:
            return super().parse_html_declaration(i)
        except AssertionError:  # what Python before 3.13 raises for `<![ ` and the like
            return self.parse_bogus_comment(i)

    def close(self) -> None:
        """Finish parsing and scan verbatim text left open at the end."""
        super().close()
        self._flush(len(self._text))

    def _here(self) -> int:
        """The offset HTMLParser has reached: the start of the event being handled."""
        return self._lines.offset(*self.getpos())

    def _flush(self, end: int | None = None) -> None:
        """Scan the verbatim text run that ends here (or at `end`) for bare URLs."""
        if self._run_start is not None:
            stop = self._here() if end is None else end
            self.hits.extend(find_bare_urls(self._text, self._run_start, stop))
            self._run_start = None

    def _note_anchor(self, raw: str) -> None:
        if value := html.unescape(raw):
            self.ids.add(value)

    def _note_links(self, tag: str, attributes: dict[str, tuple[int, str]], start: int) -> None:
        if tag == "link" and "rel" in attributes:
            rels = set(html.unescape(attributes["rel"][1]).lower().split())
            if rels & _SKIPPED_RELS:
                return
        for name in _URL_ATTRIBUTES.get(tag, ()):
            if name not in attributes:
                continue
            offset, raw = attributes[name]
            values = _srcset(raw) if name == "srcset" else _single(raw)
            self.hits.extend(Hit(offset=start + offset + at, url=url) for at, url in values)


def _attributes(tag_text: str) -> dict[str, tuple[int, str]]:
    """Each attribute's first (value offset in the tag text, raw value), read as HTMLParser does."""
    found: dict[str, tuple[int, str]] = {}
    name_match = _TAG_NAME.match(tag_text, 1)
    position = name_match.end() if name_match else len(tag_text)
    while (match := _ATTRIBUTE.match(tag_text, position)) and match.end() > position:
        position = match.end()
        name, value = match.group(1).lower(), match.group(3)
        if value is None or name in found:
            continue
        offset = match.start(3)
        if len(value) >= 2 and value[0] in "'\"" and value[0] == value[-1]:
            offset, value = offset + 1, value[1:-1]
        found[name] = (offset, value)
    return found


def _single(raw: str) -> Iterator[tuple[int, str]]:
    """The one URL of an attribute value, without the spaces HTML allows around it."""
    url = html.unescape(raw.strip(_SPACE))
    if url:
        yield len(raw) - len(raw.lstrip(_SPACE)), url


def _srcset(raw: str) -> Iterator[tuple[int, str]]:
    """(offset, URL) of each image candidate, split as the HTML standard's srcset parser does."""
    position, end = 0, len(raw)
    while position < end:
        while position < end and (raw[position] in _SPACE or raw[position] == ","):
            position += 1
        start = position
        while position < end and raw[position] not in _SPACE:
            position += 1
        url = raw[start:position]
        if url.endswith(","):
            url = url.rstrip(",")  # a comma right after the URL ends the candidate
        else:
            depth = 0  # descriptors run to a comma outside parentheses
            while position < end and (raw[position] != "," or depth):
                depth += {"(": 1, ")": -1 if depth else 0}.get(raw[position], 0)
                position += 1
        if url:
            yield start, html.unescape(url)
