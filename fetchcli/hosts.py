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
    # One trailing dot names the root (`example.com.`); a second is an empty label.
    labels = (ascii_host[:-1] if ascii_host.endswith(".") else ascii_host).split(".")
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


def encode_host(host: str) -> str:
    """A host name as it is sent: lower-cased, IDNA-encoded (UTS 46), valid by name_problem.

    Usage: `encode_host("Bücher.example")` is `"xn--bcher-kva.example"`; ValueError says
    why a host cannot be sent (`encode_host("a..b.example")`).
    """
    if host.isascii():
        ascii_host = host.lower()
    else:
        import idna  # only for a non-ASCII host: not at start-up

        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"host {host!r} cannot be encoded: {exc}") from None
    problem = name_problem(ascii_host, host)
    if problem is not None:
        raise ValueError(problem)
    return ascii_host
