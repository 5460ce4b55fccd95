"""The wire contract: what any transport under the HTTP fetcher must do, in one place.

A wire transport is an `httpx.AsyncBaseTransport` (httpx stays the client
API: `Request` in, `Response` out). The fetcher gives each attempt one
`Attempt`, carried on the request in the `ATTEMPT` extension (a request
without one may carry httpx's own documented `trace` extension instead, which
httpcore's transport calls too). A transport must:

1. Once a connection is assigned to the request, before sending, call
   `Attempt.assigned()` of the request's `ATTEMPT` (or, without one,
   `request.extensions["trace"]` when present). The attempt deadline (`-t`)
   starts there, so time spent waiting for a free connection is never timed,
   and the transport enforces it: a request or body still running at
   `Attempt.deadline` fails with `httpx.TimeoutException`, also while the
   reader is slow (the libcurl wire gives each transfer what remains of it as
   CURLOPT_TIMEOUT_MS, so the clock runs in C, not in a timer per request, and
   times a paused transfer itself, which libcurl does not).
2. Hold at most one connection slot per attempt: when the request carries an
   `Attempt` whose `slot` is free, put its release in the slot (`slot.hold`)
   instead of releasing at the end of the body, so that the attempt keeps it
   across redirects; the fetcher releases it when the attempt ends.
3. Raise only httpx exceptions (`httpx.TransportError` and subclasses, or
   `httpx.InvalidURL` for a URL it cannot send),
   mapped at the transport's own boundary, keeping the original as
   `__cause__` (DNS and TLS causes are found there: see `http.errors`).
4. Send the request's method, URL and headers as they are: follow no
   redirect, add no header, keep no cookie. A transport may decode content
   only when it advertises no encoding it cannot decode and removes the
   `Content-Encoding`/`Content-Length` that described the wire bytes (the
   libcurl wire as `client.Wires` builds it does, so that decoding is done
   in C a bounded step at a time).
5. Return once the status line and headers have arrived, with the body as a
   stream that is read as it arrives and whose `aclose()` gives the
   connection back (or drops it when the body was not read to the end).
6. Take the body limit a request may carry in the `BODY_LIMIT` extension
   (`--max-body`, in bytes after content decoding) as leave to stop: a
   transport that decodes may end the transfer once it has delivered more
   than that many bytes, and then ends the stream as a complete one (no
   error; the connection dropped, or on HTTP/2 the stream reset). The
   reader has seen more than the limit, so it knows the body was cut. A
   transport that leaves decoding to the reader ignores the limit (what it
   delivers is not what is counted). The libcurl wire stops in its write
   callback, so that decoding a bomb ends there instead of going on into a
   paused transfer's memory.

`tests/test_wire.py` checks these for every transport.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

# The request extension that carries an Attempt.
ATTEMPT = "fetchcli.attempt"
# The request extension that carries the body limit (an int, in decoded bytes).
BODY_LIMIT = "fetchcli.body_limit"


class PoolSlot:
    """A connection slot of a transport, held by one attempt until release()."""

    __slots__ = ("_release",)

    def __init__(self) -> None:
        self._release: Callable[[], None] | None = None

    @property
    def held(self) -> bool:
        return self._release is not None

    def hold(self, release: Callable[[], None]) -> None:
        self._release = release

    def release(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release()


class Attempt:
    """One attempt's state shared with the transport: its connection slot and its deadline.

    Usage: `attempt = Attempt(timeout=10.0)`; `request.extensions |= attempt.extensions()`;
    after a failure, `attempt.expired()` says whether the deadline ended it.
    """

    __slots__ = ("_on_assigned", "deadline", "slot", "timeout")

    def __init__(
        self, on_assigned: Callable[[], None] | None = None, *, timeout: float | None = None
    ) -> None:
        self.slot = PoolSlot()
        self._on_assigned = on_assigned
        self.timeout = timeout  # seconds from the first connection assigned; None: no deadline
        self.deadline: float | None = None  # on the time.monotonic() clock, once assigned

    def extensions(self) -> dict[str, object]:
        """The request extensions that carry this attempt to the transport."""
        return {ATTEMPT: self}

    def assigned(self) -> None:
        """A connection is assigned to one of the attempt's requests: the deadline starts."""
        if self.deadline is None and self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout
        if self._on_assigned is not None:
            self._on_assigned()

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 once past it); None: no deadline (yet)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.deadline is not None and time.monotonic() >= self.deadline


class Wire(Protocol):
    """A wire transport: what the HTTP fetcher sends through (see the module docstring)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response: ...

    async def aclose(self) -> None: ...


TraceHook = Callable[[str, object], Awaitable[None]]
