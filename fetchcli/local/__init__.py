"""local: checks links to files on disk and their #fragments, without any network.

Owns the `Fetcher` for `file://` records of --extract runs: resolving a target path
(--fallback-extensions, --index-files), the `file` and `fragment` error kinds, and the
per-run caches of stats and anchors. May import: fetchcli.model, fetchcli.sources.documents,
fetchcli.text.

Usage:

    checker = LocalChecker(LocalRules(fallback_extensions=("md",), index_files=("README.md",)))
    result = await checker(record)   # record.url == "file:///repo/docs/install.md#setup"
"""

from __future__ import annotations

from fetchcli.local.checker import LocalChecker, LocalRules

__all__ = ["LocalChecker", "LocalRules"]
