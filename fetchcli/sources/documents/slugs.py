"""Heading slugs: GitHub's for Markdown headings, docutils' for reST section titles."""

from __future__ import annotations

import re
import unicodedata

# Besides letters, digits, `-`, `_` and the space, GitHub keeps the rest of \p{Word}:
# combining marks and connector punctuation.
_WORD_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Pc"})
_NON_ID = re.compile(r"[^a-z0-9]+")
_NON_ID_AT_ENDS = re.compile(r"^[-0-9]+|-+$")


def github_slug(title: str) -> str:
    """The slug GitHub gives a heading's text, before de-duplication.

    >>> github_slug("Install & Run: v2.0")
    'install--run-v20'
    """
    kept = (
        ch
        for ch in title.lower()
        if ch.isalnum() or ch in "-_ " or unicodedata.category(ch) in _WORD_CATEGORIES
    )
    return "".join(kept).replace(" ", "-")


class GithubSlugger:
    """Slugs a document's headings in order; repeats get -1, -2 as in github-slugger."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def slug(self, title: str) -> str:
        """The unique slug of the next heading titled `title`."""
        original = slug = github_slug(title)
        while slug in self._seen:
            self._seen[original] += 1
            slug = f"{original}-{self._seen[original]}"
        self._seen[slug] = 0
        return slug


def docutils_id(name: str) -> str:
    """The id docutils makes of a section title or target name (`nodes.make_id`).

    >>> docutils_id("2. Getting Started!")
    'getting-started'
    """
    ascii_only = unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()
    return _NON_ID_AT_ENDS.sub("", _NON_ID.sub("-", " ".join(ascii_only.split())))
