"""Whether a host name can be fetched: the rule the normal form and redirects share."""

from __future__ import annotations

import re

_IP_V4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def name_problem(ascii_host: str, host: str) -> str | None:
    """Why a lower-case ASCII host (`host` as given) is no valid name, or None.

    Usage: `name_problem("a..b.example", "a..b.example")` says the name has an empty label.
    An IPv4 address passes; an IPv6 literal is not a name and is not checked here.
    """
    if _IP_V4.match(ascii_host):
        return None
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or any(not 0 < len(label) <= 63 for label in labels):
        return f"host {host!r} is not a valid name (empty label, or one over 63 characters)"
    for label in labels:
        if label.startswith("xn--"):
            import idna  # only for a punycode label: not at start-up

            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                return f"host {host!r} cannot be encoded: {exc}"
    return None
