"""The wire contract: what any transport under the HTTP fetcher must do, in one place.

A wire transport is an `httpx.AsyncBaseTransport` (httpx stays the client
API: `Request` in, `Response` out). The fetcher gives each attempt one
`Attempt`, carried on the request in the `ATTEMPT` extension, and passes
httpx's own documented `trace` extension (which httpcore's transport calls
too). A transport must:

1. Call `request.extensions["trace"]` (when present) once a connection is
   assigned to the request, before sending. The attempt deadline (`-t`)
   starts there, so time spent waiting for a free connection is never timed.
   (A transport that never calls it still gets a deadline: the fetcher starts
   it when the response head arrives at the latest.)
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
    """One attempt's state shared with the transport: its connection slot and deadline start.

    Usage: `attempt = Attempt(start_deadline)`; `request.extensions |= attempt.extensions()`.
    """

    __slots__ = ("_on_assigned", "slot")

    def __init__(self, on_assigned: Callable[[], None]) -> None:
        self.slot = PoolSlot()
        self._on_assigned = on_assigned

    def extensions(self) -> dict[str, object]:
        """The request extensions that carry this attempt to the transport."""
        return {"trace": self._trace, ATTEMPT: self}

    async def _trace(self, _event: str, _info: object) -> None:
        # The transport's first trace event comes once a connection is assigned.
        self._on_assigned()


class Wire(Protocol):
    """A wire transport: what the HTTP fetcher sends through (see the module docstring)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response: ...

    async def aclose(self) -> None: ...


TraceHook = Callable[[str, object], Awaitable[None]]
