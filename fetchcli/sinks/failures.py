"""The list of failures printed after the summary, and the ordering the reports share.

Usage:

    failures = FailureList()
    failures.add(result)            # per result, on the event loop: O(1)
    lines = failures.lines()        # at the end: at most 50 lines, then `… and N more (…)`

A line is `WHERE  STATUS  URL  [MESSAGE]  [(transient)]`, e.g.
`docs/a.md:12:5  404  https://a.example/x`: permanent failures first, then the
transient ones (marked), each group by source in the order sources were first
seen, then by line and column. Columns are padded to line up; text from the
input or the network is made safe (`safe_text`) and passwords in URLs hidden
(`redact_url`).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from operator import itemgetter

from fetchcli.model import FetchResult, is_transient
from fetchcli.sinks.formats import status_label
from fetchcli.text import redact_text, redact_url, safe_text

# At most this many lines are printed; the rest are counted in one last line.
MAX_LINES = 50
# At most this many failures are held (compact tuples); the rest are only counted.
MAX_KEPT = 10_000
# Ends every transient line, so `grep -v '(transient)$'` leaves the broken links.
TRANSIENT_MARK = "(transient)"
# Starts the last line when more failures than lines were found.
MORE_PREFIX = "… and "
_MORE_HINT = "see --report or --format jsonl"

# In a printed line: the end of WHERE (`:line` or `:line:column`), padding, STATUS.
_STATUS_AFTER_WHERE = re.compile(r":\d+(?::\d+)? {2,}(\d{3}|ERR:[a-z_]+)(?= )")


def status_span(line: str) -> tuple[int, int] | None:
    """Where STATUS is in a line from `FailureList.lines()` (for colour), or None."""
    match = _STATUS_AFTER_WHERE.search(line)
    return None if match is None else match.span(1)


class SourceOrder:
    """Numbers sources in the order they are first seen, so failures group in that order.

    Usage: `order.see(result.source)` for every result, `order.index(source)` for a failure.
    """

    def __init__(self, seen_limit: int = MAX_KEPT) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}
        self._seen_limit = seen_limit

    def see(self, source: str) -> None:
        """Note a source from any result (ok or not), up to a limit that bounds memory."""
        if len(self.names) < self._seen_limit and source not in self._index:
            self.index(source)

    def index(self, source: str) -> int:
        """The source's place in first-seen order, numbering it if it is new."""
        found = self._index.get(source)
        if found is None:
            found = self._index[source] = len(self.names)
            self.names.append(source)
        return found


# One kept failure: source index, line, column (0: none), status label, url, message.
_Kept = tuple[int, int, int, str, str, str | None]
_place = itemgetter(0, 1, 2)


class FailureList:
    """The failures of a run, for the list printed after the summary (see the module doc)."""

    def __init__(self, keep: int = MAX_KEPT) -> None:
        self.count = 0
        self._keep = keep
        self._sources = SourceOrder(seen_limit=keep)
        self._permanent: list[_Kept] = []
        self._transient: list[_Kept] = []

    def add(self, result: FetchResult) -> None:
        """Observe one result; a failure is kept (or only counted, past the keep limit)."""
        self._sources.see(result.source)
        if result.ok:
            return
        self.count += 1
        transient = is_transient(result)
        if len(self._permanent) + len(self._transient) >= self._keep:
            # Full: a permanent failure, shown first, takes a transient one's place.
            if transient or not self._transient:
                return
            self._transient.pop()
        kept = (
            self._sources.index(result.source),
            result.line,
            result.column or 0,
            status_label(result),
            result.url,
            result.message,
        )
        (self._transient if transient else self._permanent).append(kept)

    def lines(self, limit: int = MAX_LINES) -> list[str]:
        """At most `limit` failure lines in order, then `… and N more (…)` if there are more."""
        # nsmallest is a stable sort cut to its first n: ties stay in completion order.
        shown = [(kept, False) for kept in heapq.nsmallest(limit, self._permanent, key=_place)]
        left = limit - len(shown)
        shown += [(kept, True) for kept in heapq.nsmallest(left, self._transient, key=_place)]
        rows = [self._columns(kept, transient) for kept, transient in shown]
        where_width = max((len(row[0]) for row in rows), default=0)
        status_width = max((len(row[1]) for row in rows), default=0)
        lines = [
            f"{where:<{where_width}}  {status:<{status_width}}  {rest}"
            for where, status, rest in rows
        ]
        more = self.count - len(lines)
        if more > 0:
            lines.append(f"{MORE_PREFIX}{more} more ({_MORE_HINT})")
        return lines

    def _columns(self, kept: _Kept, transient: bool) -> tuple[str, str, str]:
        """WHERE, STATUS, and the rest of the line (URL, message, mark), made safe."""
        source, line, column, status, url, message = kept
        where = f"{safe_text(self._sources.names[source])}:{line}"
        if column:
            where += f":{column}"
        rest = safe_text(redact_url(url))
        if message and _says_more(message, status):
            rest += "  " + safe_text(redact_text(message))
        if transient:
            rest += "  " + TRANSIENT_MARK
        return where, status, rest


def _says_more(message: str, status: str) -> bool:
    """Whether a message adds to the status: not just `404`, `404 Not Found` or `timeout`."""
    if message in (status, status.removeprefix("ERR:")):
        return False
    # A status line (code and reason phrase); a note after `;` (Retry-After) says more.
    return not (status.isdigit() and message.startswith(status + " ") and ";" not in message)


# Reports spool every failure and sort them at the end. A spooled line is an
# `OrderKey` (transient 0/1, source index, line, column, arrival) and one row.
OrderKey = tuple[int, ...]


class FailureOrder:
    """Spooled failures in report order: permanent first, then by source, line, column.

    Usage: `order.see(result)` per result; `spool.write(order.spool_line(failed, row))`
    per failure; at the end `first_in_order(spool, budget)` and `order.sources.names`.
    Memory grows with the number of sources that have failures (documents), not of URLs.
    """

    def __init__(self) -> None:
        self.sources = SourceOrder()
        self.transient = 0
        self._arrivals = 0

    def see(self, result: FetchResult) -> None:
        """Note any result's source, so sources keep the order they were first seen in."""
        self.sources.see(result.source)

    def spool_line(self, result: FetchResult, row: str) -> str:
        """A failure's line for the spool: its key, then its row (no tab or newline in it)."""
        transient = is_transient(result)
        self.transient += transient
        self._arrivals += 1  # ties keep the order results came in
        place = (self.sources.index(result.source), result.line, result.column or 0)
        return order_line((int(transient), *place, self._arrivals), row)


def order_line(key: OrderKey, row: str) -> str:
    """One spooled line: the sort key, a tab, the row (which holds no tab or newline)."""
    return " ".join(map(str, key)) + "\t" + row + "\n"


def first_in_order(lines: Iterable[str], budget: int) -> list[tuple[OrderKey, str]]:
    """The rows of `order_line()` lines first in order whose sizes fit `budget`, sorted.

    One pass with a max-heap of the rows kept so far: past the budget the last
    in order is dropped, and nothing ordered after a dropped row is kept again.
    """
    heap: list[tuple[OrderKey, str, int]] = []  # keys negated: heapq is a min-heap
    cutoff: OrderKey | None = None
    used = 0
    for line in lines:
        head, _, row = line.rstrip("\n").partition("\t")
        key = tuple(int(field) for field in head.split())
        if cutoff is not None and key >= cutoff:
            continue
        size = _utf8_size(row) + 1
        heapq.heappush(heap, (tuple(-field for field in key), row, size))
        used += size
        while used > budget:
            negated, _, dropped = heapq.heappop(heap)
            used -= dropped
            cutoff = tuple(-field for field in negated)
    return sorted((tuple(-field for field in negated), row) for negated, row, _ in heap)


def _utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8 (lone surrogates as the files write them, backslash-escaped)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "backslashreplace"))
