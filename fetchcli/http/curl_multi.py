"""libcurl's multi interface driven by an asyncio loop, and the state of one transfer.

The design is tornado's `curl_httpclient`: libcurl says which sockets it
wants watched (CURLMOPT_SOCKETFUNCTION) and when it next needs the clock
(CURLMOPT_TIMERFUNCTION → `loop.call_later`); each readiness event or timer
runs `socket_action` for that socket, then `info_read` collects finished
transfers. libcurl is never called from inside its own callbacks: they only
record state and schedule work. A watchdog timer runs every transfer
(`socket_all`) each second while transfers are active, so one lost socket
event cannot stall a run.

Where there is epoll (Linux), libcurl's sockets are watched by an epoll set
of their own, which the loop watches as one reader: a socket costs one
`epoll_ctl` per change, and one loop callback acts on every socket that is
ready. A keep-alive connection that libcurl stops watching between transfers
stays in the set ("parked"): its next transfer costs one `epoll_ctl` instead of
two, and an event on it while parked (the server closed it) unregisters it.
Elsewhere each socket is a `loop.add_reader`/`add_writer` of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import select
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pycurl  # type: ignore[import-untyped]

from fetchcli.http.curl_errors import E_UNRECOVERABLE_POLL, curl_error
from fetchcli.options import CONNECTIONS_PER_SLOT

# Seconds between forced `socket_action(SOCKET_TIMEOUT)` calls while transfers are active.
WATCHDOG_INTERVAL = 1.0
# A transfer pauses once this many body bytes wait for the reader, and resumes below half.
HIGH_WATER = 256 * 1024
LOW_WATER = HIGH_WATER // 2
# A body in a coding that can expand past libcurl's pause buffer (nested codings, brotli,
# zstd: a compression bomb) whose limit is this close is not paused but kept here up to the
# limit: paused, libcurl goes on decoding what it has read into that buffer, which a bomb
# overflows (64 MiB, CURLE_TOO_LARGE), losing the body. One gzip or deflate layer expands a
# read by at most ~1 000×, which the buffer holds: such bodies are paused as any other.
UNPAUSED_ROOM = 64 * 1024 * 1024
# What the bodies of one transport may hold, read or not, before even those are paused.
UNPAUSED_BUDGET = 256 * 1024 * 1024
_TAME_CODINGS = (b"gzip", b"x-gzip", b"deflate", b"identity", b"")


class Held:
    """Body bytes received and not yet read, over every transfer of one transport."""

    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0


# A transfer's body limit when the request gives none.
NO_LIMIT = 2**63
# Watch libcurl's sockets with an epoll set of their own (where there is one).
USE_EPOLL = hasattr(select, "epoll")
_EPOLL_IN = getattr(select, "EPOLLIN", 0)
_EPOLL_OUT = getattr(select, "EPOLLOUT", 0)
# As the loop's selector: an error or hang-up wakes the reader and the writer.
_READABLE = ~_EPOLL_OUT
_WRITABLE = ~_EPOLL_IN

# (handle, CURLE code, libcurl's error text) for every transfer that ends in the multi.
Finished = Callable[[Any, int, str], None]
# Ends a transfer from our side (out of the multi): (transfer, its error or None).
Abort = Callable[["Transfer", Exception | None], None]


class Multi:
    """A pycurl CurlMulti whose sockets and timers are watched by one asyncio loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        finished: Finished,
        *,
        max_connections: int,
        multiplex: bool,
        acted: Callable[[], None] | None = None,
    ) -> None:
        self._loop = loop
        self._finished = finished
        self._acted = acted  # called after each round of libcurl's work (heads_arrived)
        self._handles: set[Any] = set()
        self._watched: dict[int, int] = {}  # fd → the POLL_IN/POLL_OUT bits registered
        # fds libcurl stopped watching that stay in the epoll set for reading: its socket,
        # or (closed since) nothing, as epoll forgets a closed socket.
        self._parked: set[int] = set()
        self._timer: asyncio.Handle | None = None
        self._due = 0.0  # when self._timer fires
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False
        self._epoll: Any = None
        if USE_EPOLL:
            self._epoll = select.epoll()
            loop.add_reader(self._epoll.fileno(), self._on_ready)
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        # Transfers are at most max_connections (the transport's slots); connections, busy or
        # idle, at most CONNECTIONS_PER_SLOT times that: requests that move between origins
        # reuse the idle connections of each instead of closing one to open another.
        connections = max_connections * CONNECTIONS_PER_SLOT
        self._multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, connections)
        self._multi.setopt(pycurl.M_MAXCONNECTS, connections)
        pipelining = pycurl.PIPE_MULTIPLEX if multiplex else pycurl.PIPE_NOTHING
        self._multi.setopt(pycurl.M_PIPELINING, pipelining)

    def add(self, handle: Any) -> None:
        """Start a configured easy handle; `finished` is called when it ends."""
        self._multi.add_handle(handle)
        self._handles.add(handle)
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(WATCHDOG_INTERVAL, self._tick)

    def remove(self, handle: Any) -> None:
        """Stop a transfer (its connection is closed unless it is complete)."""
        if handle in self._handles:
            self._handles.discard(handle)
            self._multi.remove_handle(handle)

    def close(self) -> None:
        """Remove every handle, stop watching sockets and timers, and free the multi."""
        for handle in list(self._handles):
            self.remove(handle)
        for fd in list(self._watched):
            self._on_socket(pycurl.POLL_REMOVE, fd, None, None)
        for timer in (self._timer, self._watchdog):
            if timer is not None:
                timer.cancel()
        self._timer = self._watchdog = None
        self._closed = True  # libcurl may still set a timer while it cleans up
        self._multi.close()
        if self._epoll is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._parked.clear()

    def _on_socket(self, what: int, fd: int, _multi: Any, _socketp: Any) -> None:
        """CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl asks (POLL_REMOVE: nothing)."""
        old = self._watched.get(fd, 0)
        new = 0 if self._closed else what & pycurl.POLL_INOUT  # POLL_REMOVE, POLL_NONE: 0
        if old == new:
            return
        if self._epoll is not None:
            if not new and old == pycurl.POLL_IN and not self._closed:
                self._parked.add(fd)  # kept for its next transfer (see the module's doc)
            else:
                if fd in self._parked:  # registered for reading, unless closed since
                    self._parked.discard(fd)
                    old = pycurl.POLL_IN
                _epoll_watch(self._epoll, fd, old, new)
        else:
            self._loop_watch(fd, old, new)
        if new:
            self._watched[fd] = new
        else:
            del self._watched[fd]

    def _loop_watch(self, fd: int, old: int, new: int) -> None:
        """Change what the loop watches fd for, from `old` to `new` (POLL_IN/POLL_OUT bits)."""
        loop = self._loop
        if old & pycurl.POLL_IN and not new & pycurl.POLL_IN:
            loop.remove_reader(fd)
        if old & pycurl.POLL_OUT and not new & pycurl.POLL_OUT:
            loop.remove_writer(fd)
        if new & pycurl.POLL_IN and not old & pycurl.POLL_IN:
            loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
        if new & pycurl.POLL_OUT and not old & pycurl.POLL_OUT:
            loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)

    def _on_ready(self) -> None:
        """The epoll set is readable: let libcurl act on every ready socket, then collect."""
        watched = self._watched
        action = self._multi.socket_action
        try:
            for fd, events in self._epoll.poll(0):
                wanted = watched.get(fd, 0)  # 0: parked, or an earlier action here closed it
                if not wanted and fd in self._parked:
                    self._parked.discard(fd)  # idle, and closed or sent to: stop watching it
                    _epoll_watch(self._epoll, fd, pycurl.POLL_IN, 0)
                    continue
                mask = 0
                if events & _READABLE and wanted & pycurl.POLL_IN:
                    mask = pycurl.CSELECT_IN
                if events & _WRITABLE and wanted & pycurl.POLL_OUT:
                    mask |= pycurl.CSELECT_OUT
                if mask:
                    action(fd, mask)
        except pycurl.error as exc:
            self._fail_all(exc)
        self._collect()

    def _on_timer(self, timeout_ms: int) -> None:
        """CURLMOPT_TIMERFUNCTION: run libcurl's timeouts after timeout_ms (-1: never)."""
        # An earlier timer already set is kept (and -1 ignored): running libcurl's
        # timeouts early is harmless, it re-arms; this spares timers, several per request.
        if self._closed or timeout_ms < 0:
            return
        due = self._loop.time() + timeout_ms / 1000
        if self._timer is not None:
            if self._due <= due:
                return
            self._timer.cancel()
        self._due = due
        if timeout_ms == 0:  # soon, but not from inside libcurl
            self._timer = self._loop.call_soon(self._on_timeout)
        else:
            self._timer = self._loop.call_at(due, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        self._act(pycurl.SOCKET_TIMEOUT, 0)

    def _tick(self) -> None:
        """The watchdog: let libcurl look at every transfer, in case an event was missed."""
        self._watchdog = None
        if not self._handles:
            return
        try:
            # socket_action(SOCKET_TIMEOUT) runs only transfers with an expired timer, and
            # one waiting on a socket may have none: socket_all runs them all (as tornado).
            with warnings.catch_warnings():  # pycurl: "socket_all is deprecated"
                warnings.simplefilter("ignore", DeprecationWarning)
                self._multi.socket_all()
        except pycurl.error as exc:
            self._fail_all(exc)
        self._collect()
        if self._handles and self._watchdog is None:
            self._watchdog = self._loop.call_later(WATCHDOG_INTERVAL, self._tick)

    def _act(self, fd: int, mask: int) -> None:
        """Let libcurl act on one socket (or on its timeouts), then collect what ended."""
        try:
            self._multi.socket_action(fd, mask)
        except pycurl.error as exc:
            self._fail_all(exc)
        self._collect()

    def _fail_all(self, exc: Exception) -> None:
        """The multi itself failed: no transfer can go on."""
        for handle in list(self._handles):
            self.remove(handle)
            self._finished(handle, E_UNRECOVERABLE_POLL, f"libcurl multi failed: {exc}")

    def _collect(self) -> None:
        if self._acted is not None:
            self._acted()
        while True:
            queued, ok, failed = self._multi.info_read()
            for handle in ok:
                self._end(handle, pycurl.E_OK, "")
            for handle, code, message in failed:
                self._end(handle, code, message)
            if not queued:
                return

    def _end(self, handle: Any, code: int, message: str) -> None:
        if handle in self._handles:
            self.remove(handle)
            self._finished(handle, code, message)


class Transfer:
    """One request on an easy handle: its response head, its waiting body bytes, its end."""

    # The header and write callbacks run inside `socket_action`: they only record and
    # wake. The header callback is `lines.append` itself (no Python frame for each of a
    # head's ten-odd lines): after each round of libcurl's work, `heads_arrived` finds
    # the transfers whose head just ended and lets their responses go. The reader takes
    # chunks with `take()`, which unpauses a paused transfer once the backlog is down to
    # LOW_WATER. Once more than the body limit has been delivered, the write callback
    # stops the transfer (`stopped`): libcurl then ends it with CURLE_WRITE_ERROR and
    # decodes nothing more (a paused transfer would go on decoding what it has read into
    # its own memory: curl_easy_pause(3), "Memory use"). When the stop comes while an
    # unpause delivers what libcurl held, `abort` ends it instead.

    __slots__ = (
        "_abort",
        "_final",
        "_heads",
        "_held",
        "_loop",
        "_waiter",
        "buffered",
        "chunks",
        "deadline",
        "deadline_timer",
        "done",
        "error",
        "explosive",
        "handle",
        "head",
        "last",
        "lines",
        "paused",
        "peak",
        "release",
        "request",
        "room",
        "seen",
        "started",
        "stopped",
        "timer",
    )

    def __init__(
        self,
        handle: Any,
        request: Any,
        loop: asyncio.AbstractEventLoop,
        abort: Abort,
        limit: int | None = None,
        held: Held | None = None,
        heads: set[Transfer] | None = None,
    ) -> None:
        self.handle = handle
        self._held = Held() if held is None else held  # shared by the transport's transfers
        # The transport's transfers `heads_arrived` watches: the transport adds this one once
        # it is in the multi; it leaves once its head has come (and, with a read timeout,
        # whose clock later head lines such as trailers also reset, once it has ended).
        self._heads: set[Transfer] = set() if heads is None else heads
        self.request = request
        self._loop = loop
        self._abort = abort
        self.head: asyncio.Future[None] = loop.create_future()  # set once the head is complete
        self.lines: list[bytes] = []  # every head line libcurl gave (see final_head)
        self.seen = 0  # how many of them `heads_arrived` has looked at
        self._final: list[bytes] | None = None  # the final head, once found
        self.chunks: deque[bytes] = deque()
        self.buffered = self.peak = 0
        self.paused = self.done = False
        self.room = NO_LIMIT if limit is None else limit  # body bytes left to the limit
        self.stopped = False  # the write callback ended the transfer at the limit
        self.explosive: bool | None = None  # whether its coding can expand past libcurl's buffer
        self.error: Exception | None = None
        self.started = self.last = time.monotonic()  # `last`: when body bytes last arrived
        self.release: Callable[[], None] | None = None  # the connection slot, if we hold it
        self.timer: asyncio.TimerHandle | None = None  # the read timeout check
        self.deadline: float | None = None  # the attempt's, on time.monotonic(); libcurl's too
        self.deadline_timer: asyncio.TimerHandle | None = None  # set while it may be paused
        self._waiter: asyncio.Future[None] | None = None

    def response_head(self) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes, bytes]]]:
        """The final head: HTTP version, status code, reason phrase and header fields
        (name, lower-case name, value)."""
        head = self.final_head()
        if not head:
            raise httpx.RemoteProtocolError("no response head", request=self.request)
        status_line, *lines = head
        version, _, rest = status_line.rstrip().partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not (code.isdigit() and len(code) == 3):  # libcurl checks HTTP/1; be sure anyway
            raise httpx.RemoteProtocolError(f"invalid status line {status_line!r}")
        return version, int(code), reason, _header_items(lines)

    def final_head(self) -> list[bytes] | None:
        """The status line and header lines of the final response; None until it is complete.

        `lines` holds every head line libcurl gave, interim responses (100 Continue, 103
        Early Hints) and trailers included; the final head is the first non-interim one
        that a blank line ended.
        """
        if self._final is not None:
            return self._final
        start = 0
        lines = self.lines
        for end, line in enumerate(lines):
            if line == b"\r\n" or line == b"\n":
                if end > start and not _interim(lines[start]):
                    self._final = lines[start:end]
                    return self._final
                start = end + 1
        return None

    def _head_arrived(self) -> None:
        """Let the response be returned if its head is complete."""
        if not self.head.done() and self.final_head() is not None:
            self.head.set_result(None)
            if self.timer is None:
                self._heads.discard(self)

    def on_write(self, data: bytes) -> int | None:
        """CURLOPT_WRITEFUNCTION: keep a body chunk, or pause the transfer if too much waits.

        The chunk that goes past the body limit is kept, and the transfer stopped.
        """
        if self.buffered >= HIGH_WATER and (
            self.room > UNPAUSED_ROOM or self._held.bytes > UNPAUSED_BUDGET or not self._explosive()
        ):
            self.paused = True  # libcurl keeps `data` and offers it again after PAUSE_CONT
            if self.deadline is not None and self.deadline_timer is None:
                # libcurl does not time a paused transfer: the deadline is kept here.
                delay = max(0.0, self.deadline - time.monotonic())
                self.deadline_timer = self._loop.call_later(delay, self._deadline_passed)
            return pycurl.WRITEFUNC_PAUSE  # type: ignore[no-any-return]
        size = len(data)
        self.room -= size
        if self.room < 0 and self.stopped:
            return 0  # offered again after the stop: nothing more is kept
        if not self.head.done():
            self._head_arrived()
        self.chunks.append(data)
        buffered = self.buffered = self.buffered + size
        self._held.bytes += size
        if buffered > self.peak:
            self.peak = buffered
        if self.timer is not None:  # only the read timeout looks at it
            self.last = time.monotonic()
        self._wake()
        if self.room < 0:
            self.stopped = True
            return 0  # short of len(data): libcurl ends the transfer, CURLE_WRITE_ERROR
        return None

    def _deadline_passed(self) -> None:
        """The attempt deadline passed while the transfer was (or had been) paused."""
        self.deadline_timer = None
        if not self.done:
            self.drop()  # the reader gets the error next, not the chunks still waiting
            message = "the attempt deadline passed while the body was being read"
            error = curl_error(
                pycurl.E_OPERATION_TIMEDOUT, message, connected=True, request=self.request
            )
            self._abort(self, error)

    def _explosive(self) -> bool:
        """Whether the body's codings can expand one read past libcurl's pause buffer."""
        if self.explosive is None:
            codings = [
                coding.strip().lower()
                for line in self.lines
                if line[:17].lower() == b"content-encoding:"
                for coding in line[17:].split(b",")
            ]
            codings = [coding for coding in codings if coding not in (b"", b"identity")]
            self.explosive = len(codings) > 1 or any(c not in _TAME_CODINGS for c in codings)
        return self.explosive

    def drop(self) -> None:
        """Forget the chunks nobody will read (the body was closed early)."""
        self._held.bytes -= self.buffered
        self.chunks.clear()
        self.buffered = 0

    def take(self) -> bytes:
        """The oldest waiting chunk; unpauses the transfer once the backlog is small."""
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        self._held.bytes -= len(chunk)
        if self.paused and self.buffered <= LOW_WATER and not self.done:
            self.paused = False
            self.last = time.monotonic()
            try:
                self.handle.pause(pycurl.PAUSE_CONT)  # may deliver the held chunk right away
            except pycurl.error as exc:
                if not self.stopped:
                    raise curl_error(exc.args[0], str(exc.args[1]), connected=True) from exc
                # What libcurl held went past the limit (CURLE_WRITE_ERROR from the pause):
                # the body ends with what was kept.
                self._abort(self, None)
        return chunk

    async def wait(self) -> None:
        """Until a chunk arrives or the transfer ends."""
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def finish(self, error: Exception | None) -> None:
        """Mark the end; a head still awaited comes now if it is complete (the body then
        raises the error), else gets the error (or is cancelled without one)."""
        self.done = True
        self.error = error
        self._head_arrived()
        if not self.head.done():
            if error is None:
                self.head.cancel()
            else:
                self.head.set_exception(error)
        self._heads.discard(self)  # also when the head was cancelled with its awaiting task
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def heads_arrived(waiting: set[Transfer]) -> None:
    """After a round of libcurl's work: let go each response whose head just ended.

    `waiting`: the transfers whose head has not come, or that have a read timeout
    (the header callback only appends lines). New head lines, trailers too, count
    as data for the read timeout. A head ends with a blank line; the response
    goes before any body byte, so that a retryable status need not wait for a
    body that stalls.
    """
    arrived: list[Transfer] = []
    for transfer in waiting:
        lines = transfer.lines
        seen = transfer.seen
        if len(lines) == seen:
            continue
        transfer.seen = len(lines)
        if transfer.timer is not None:  # only the read timeout looks at it
            transfer.last = time.monotonic()
        # Every new line: an empty chunked body's trailers may follow its head's blank line.
        new = lines[seen:]
        if not transfer.head.done() and (b"\r\n" in new or b"\n" in new):
            arrived.append(transfer)
    for transfer in arrived:
        transfer._head_arrived()


def _interim(status_line: bytes) -> bool:
    """Whether a status line is a 1xx response that another head follows."""
    parts = status_line.split(None, 2)
    code = parts[1] if len(parts) > 1 else b""
    return code.startswith(b"1") and code != b"101"


class CurlBody(httpx.AsyncByteStream):
    """A response body as libcurl delivers it; closing early stops the transfer."""

    def __init__(self, transfer: Transfer, close: Callable[[Transfer], None]) -> None:
        self._transfer = transfer
        self._close = close

    @property
    def peak_buffered(self) -> int:
        """The most body bytes that ever waited for the reader (bounded by back-pressure)."""
        return self._transfer.peak

    async def __aiter__(self) -> AsyncIterator[bytes]:
        transfer = self._transfer
        while True:
            if transfer.chunks:
                yield transfer.take()
            elif transfer.done:
                if transfer.error is not None:
                    raise transfer.error
                return
            else:
                await transfer.wait()

    async def aclose(self) -> None:
        self._close(self._transfer)


def _header_items(lines: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
    """(name, lower-case name, value) from raw header lines, as tolerant as curl."""
    headers: list[tuple[bytes, bytes, bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):  # obsolete line folding continues the previous value
            if headers:
                name, lower, value = headers[-1]
                headers[-1] = (name, lower, value + b" " + line.strip())
            continue
        name, colon, value = line.partition(b":")
        name = name.strip()  # "Name : value" is accepted, as curl does
        if colon and name:
            headers.append((name, name.lower(), value.strip()))
    return headers


def _epoll_watch(epoll: Any, fd: int, old: int, new: int) -> None:
    """Change what the epoll set watches fd for, from `old` to `new` (POLL_IN/POLL_OUT bits)."""
    if not new:
        with contextlib.suppress(OSError, ValueError):  # gone with its socket, or closed
            epoll.unregister(fd)
        return
    events = _EPOLL_IN if new & pycurl.POLL_IN else 0
    if new & pycurl.POLL_OUT:
        events |= _EPOLL_OUT
    try:
        if old:
            epoll.modify(fd, events)
        else:
            epoll.register(fd, events)
    except FileNotFoundError:  # epoll forgot a socket closed without a POLL_REMOVE
        epoll.register(fd, events)
    except FileExistsError:  # ... and the fd was opened again since
        epoll.modify(fd, events)


def set_body(handle: Any, method: str, body: bytes, *, chunked: bool) -> None:
    """Send `body` with the request (POST semantics, under the request's own method)."""
    source = io.BytesIO(body)
    handle.setopt(pycurl.POST, 1)
    handle.setopt(pycurl.READFUNCTION, source.read)
    handle.setopt(pycurl.SEEKFUNCTION, lambda offset, origin: _seek(source, offset, origin))
    if not chunked:
        handle.setopt(pycurl.POSTFIELDSIZE_LARGE, len(body))
    if method != "POST":
        handle.setopt(pycurl.CUSTOMREQUEST, method)


def _seek(source: io.BytesIO, offset: int, origin: int) -> int:
    """CURLOPT_SEEKFUNCTION: rewind the body when libcurl must send it again."""
    source.seek(offset, origin)
    return pycurl.SEEKFUNC_OK  # type: ignore[no-any-return]
