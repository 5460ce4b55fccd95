"""The demo's self-check: every demo URL must give the result the site is built to produce."""

from __future__ import annotations

from fetchcli.demo.site import expected_outcome
from fetchcli.model import FetchResult
from fetchcli.options import FetchOptions


class DemoCheck:
    """Compares each result with `expected_outcome`; `mismatches` lists what differed.

    Usage: `check = DemoCheck(options)`; `check.add(result)` per result; `check.passed`.
    """

    def __init__(self, options: FetchOptions) -> None:
        self._options = options
        self.mismatches: list[str] = []

    def add(self, result: FetchResult) -> None:
        want = expected_outcome(result.url, self._options)
        got = (result.status, result.error)
        if got != want:
            shown = (want[0], None if want[1] is None else str(want[1]))
            seen = (got[0], None if got[1] is None else str(got[1]))
            self.mismatches.append(f"{result.url}: expected {shown}, got {seen}")

    @property
    def passed(self) -> bool:
        return not self.mismatches
