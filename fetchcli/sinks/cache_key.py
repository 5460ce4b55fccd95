"""The cache key: how a result was fetched, so that it is served only to runs that ask alike."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from typing import Any

from fetchcli.options import RequestSpec

__all__ = ["NOT_IN_KEY", "cache_variant"]

# RequestSpec fields that do not change what a server sends back, so that a
# result fetched under other values is the same answer; every other field of
# RequestSpec is part of the key (tests/test_cache.py checks each one).
NOT_IN_KEY = {
    "timeout": "how long we wait, not what is asked",
    "connect_timeout": "how long we wait, not what is asked",
    "retries": "how often we ask, not what",
    "backoff": "how often we ask, not what",
    "max_retry_after": "how often we ask, not what",
    "accept": "judged again at each lookup against today's list (lychee's rule)",
    "save_dir": "where a body is written, not what the server sends",
}


def cache_variant(spec: RequestSpec) -> str:
    """The key prefix for results fetched as `spec` asks; "" for the default request.

    Results differ by how they were fetched (HEAD has no body, --no-follow stops
    at a redirect, another Authorization sees another page): any difference
    from the default keys its own entries. Hashed, so that no header value
    (a token) is stored in the file.
    """
    keyed = _keyed(spec)
    if keyed == _keyed(RequestSpec()):
        return ""
    text = json.dumps(keyed, sort_keys=True, default=sorted)
    return "v2:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _keyed(spec: RequestSpec) -> dict[str, Any]:
    return {f.name: getattr(spec, f.name) for f in fields(spec) if f.name not in NOT_IN_KEY}
