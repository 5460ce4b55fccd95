"""Shared by the baseline clients: room for one file descriptor per connection."""

from __future__ import annotations

import resource

_SPARE = 64


def raise_open_files(concurrency: int) -> None:
    """Raise the soft RLIMIT_NOFILE towards concurrency + a few, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = concurrency + _SPARE
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard > soft):
        new = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
