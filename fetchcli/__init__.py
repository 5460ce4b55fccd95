"""fetchcli: fetch or check long lists of URLs concurrently.

Usage:

    from fetchcli import FetchOptions, fetch_stream

    async for result in fetch_stream(["https://example.org/"], FetchOptions(concurrency=100)):
        print(result.status, result.url)

Names are imported on first use, so that `fetchcli --version` stays fast.
May import: fetchcli.api, fetchcli.model, fetchcli.options (on first use), fetchcli._version.
"""

from __future__ import annotations

from importlib import import_module

from fetchcli._version import __version__

# Not `typing.TYPE_CHECKING`: importing typing takes longer than all of `--version`
# (mypy treats any name TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from fetchcli.api import fetch_stream
    from fetchcli.model import ErrorKind, Fetcher, FetchResult, UrlRecord
    from fetchcli.options import (
        FetchOptions,
        InputRules,
        Method,
        Mode,
        Order,
        RequestSpec,
        Schedule,
    )

_EXPORTS = {
    "fetch_stream": "fetchcli.api",
    "ErrorKind": "fetchcli.model",
    "FetchOptions": "fetchcli.options",
    "Mode": "fetchcli.options",
    "Order": "fetchcli.options",
    "Method": "fetchcli.options",
    "InputRules": "fetchcli.options",
    "Schedule": "fetchcli.options",
    "RequestSpec": "fetchcli.options",
    "Fetcher": "fetchcli.model",
    "FetchResult": "fetchcli.model",
    "UrlRecord": "fetchcli.model",
}

__all__ = [
    "ErrorKind",
    "FetchOptions",
    "FetchResult",
    "Fetcher",
    "InputRules",
    "Method",
    "Mode",
    "Order",
    "RequestSpec",
    "Schedule",
    "UrlRecord",
    "__version__",
    "fetch_stream",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fetchcli' has no attribute {name!r}")
    return getattr(import_module(module), name)
