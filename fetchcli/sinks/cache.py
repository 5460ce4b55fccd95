"""ResultCache: a SQLite file of ok results keyed by normalized URL (`--cache FILE`).

The rules follow lychee's cache.rs; each is commented where it is applied: only
ok results are stored, an entry is served only while younger than
`--max-cache-age` and while its status is in today's `--accept`, and a served
result has `attempts` 0 and the asking record's source and line.

Every SQLite call runs in one worker thread that owns the connection, so the
event loop never waits on the disk. Writes are batched (`BATCH_SIZE` results or
`FLUSH_INTERVAL` seconds per transaction), so a fast run is not bound by fsyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from os import PathLike, fspath
from typing import Any, TypeVar

from fetchcli.model import Fetcher, FetchResult, UrlRecord, result_for

SCHEMA_VERSION = 1
# PRAGMA application_id: "fcli" in ASCII marks the file as a fetchcli cache.
APPLICATION_ID = 0x6663_6C69
# Another run on the same file holds the write lock for one batch at a time: wait, don't fail.
BUSY_TIMEOUT = 30.0
BATCH_SIZE = 512
FLUSH_INTERVAL = 0.5

# The FetchResult fields an entry keeps; the others belong to the run that asks.
_KEPT = ("url", "status", "final_url", "size", "redirects", "content_type", "truncated")
_COLUMNS = ", ".join((*_KEPT, "stored_at"))
_SCHEMA = (
    "CREATE TABLE results (url TEXT PRIMARY KEY, status INTEGER NOT NULL, final_url TEXT,"
    " size INTEGER, redirects INTEGER NOT NULL, content_type TEXT, truncated INTEGER NOT NULL,"
    " stored_at REAL NOT NULL)"
)
_Row = tuple[Any, ...]  # the _KEPT fields, then stored_at (time.time() seconds)
_SELECT = f"SELECT {_COLUMNS} FROM results WHERE url = ?"
_UPSERT = f"INSERT OR REPLACE INTO results ({_COLUMNS}) VALUES ({', '.join('?' * 8)})"
_T = TypeVar("_T")


class CacheError(Exception):
    """The `--cache` file cannot be used; the message is one line that names it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"--cache {path}: {' '.join(reason.split())}")
        self.path = path


class ResultCache:
    """Ok results from earlier runs, served again while fresh.

    Usage:

        async with ResultCache("links.db", parse_age("1d")) as cache:
            result = await cache.lookup(record, spec.accept)
            if result is None:
                result = await fetch(record)
                await cache.store(result)

    Opening raises `CacheError` for a corrupt file, a non-SQLite file or another
    program's database, before anything is fetched. `clock` is for tests.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        max_age: float,
        *,
        batch_size: int = BATCH_SIZE,
        flush_interval: float = FLUSH_INTERVAL,
        clock: Callable[[], float] = time.time,
        variant: str = "",
    ) -> None:
        if not max_age >= 0:
            raise ValueError(f"--max-cache-age must be 0 or more seconds (got {max_age!r})")
        self.path = fspath(path)
        self.max_age = float(max_age)
        self._batch_size = max(1, batch_size)
        self._flush_interval = flush_interval
        self._clock = clock
        # Results differ by how they were fetched (HEAD has no body, --no-follow stops
        # at a redirect): a variant other than the default keys its own entries.
        self._prefix = f"{variant} " if variant else ""
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None  # touched only by the worker thread
        # url -> row to write, or None to delete; committed by flush().
        self._pending: dict[str, _Row | None] = {}
        self._closing: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResultCache:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetchcli-cache")
        try:
            await self._call(self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        self._closing = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_periodically())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._closing is not None and self._flusher is not None, "cache is not open"
        executor = self._executor
        self._closing.set()
        try:
            await self._flusher  # it commits what is pending, even on Ctrl-C
        finally:
            await self._call(self._close)
            self._executor = None
            if executor is not None:
                executor.shutdown(wait=False)

    def wrap(self, fetcher: Fetcher, accept: frozenset[int]) -> Fetcher:
        """A fetcher that serves fresh ok results from here and stores what `fetcher` gets."""

        async def cached(record: UrlRecord) -> FetchResult:
            result = await self.lookup(record, accept)
            if result is None:
                result = await fetcher(record)
                await self.store(result)
            return result

        return cached

    async def lookup(self, record: UrlRecord, accept: frozenset[int]) -> FetchResult | None:
        """The cached result for this record, judged by today's `accept`, or None to fetch it."""
        if record.error is not None:
            return None
        key = self._prefix + record.url
        if key in self._pending:
            row = self._pending[key]  # stored this run, not yet committed
        else:
            row = await self._call(self._read, key)
        if row is None:
            return None
        *kept, stored_at = row
        fields = dict(zip(_KEPT, kept, strict=True))
        # An entry from the future means the clock moved back: don't trust its age.
        if not 0 <= self._clock() - stored_at < self.max_age:
            return None
        # Re-judge: the entry was ok under its own run's --accept; today's may be narrower.
        if fields["status"] not in accept:
            return None
        fields["truncated"] = bool(fields["truncated"])
        del fields["url"]  # the row's url column also holds the variant's prefix
        return result_for(record, **fields, ok=True, elapsed=0.0, attempts=0, cached=True)

    async def store(self, result: FetchResult) -> None:
        """Remember an ok result; a failure instead forgets the URL. Commits in batches."""
        # attempts 0: served from the cache or never fetched; storing it would renew
        # an entry's age without anyone having checked the URL.
        if result.attempts == 0:
            return
        key = self._prefix + result.url
        if result.ok and result.status is not None and result.error is None:
            # The row's url column is the key: the variant's prefix and the URL.
            kept = (getattr(result, f) for f in _KEPT[1:])
            self._pending[key] = (key, *kept, self._clock())
        else:
            # Never cache a failure, and let it retire an older success: the newest answer
            # wins, so a later run with a wider --accept cannot serve a stale status.
            self._pending[key] = None
        if len(self._pending) >= self._batch_size:
            await self.flush()

    async def flush(self) -> None:
        """Commit what store() has gathered (it runs every batch, every interval, and on close)."""
        if not self._pending:
            return
        rows, self._pending = self._pending, {}
        # Shielded: a cancelled caller (Ctrl-C) must not drop rows already taken from _pending.
        await asyncio.shield(self._call(self._write, rows))

    async def _flush_periodically(self) -> None:
        assert self._closing is not None
        closed = False
        while not closed:  # one last flush after closing is set
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._flush_interval)
            closed = self._closing.is_set()
            await self.flush()

    async def _call(self, func: Callable[..., _T], *args: object) -> _T:
        """Run func in the worker thread; SQLite errors become CacheError here, and only here."""
        if self._executor is None:
            raise RuntimeError("use ResultCache in `async with`")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, func, *args)
        except sqlite3.Error as exc:
            raise CacheError(self.path, f"cannot use it as a cache ({exc})") from exc

    # The methods below run in the worker thread only.

    def _open(self) -> None:
        # isolation_level=None: transactions are begun explicitly, never implicitly.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            if _identity(db) == (0, 0, set()):  # a new or empty file: make it a cache
                # IMMEDIATE takes the write lock, so two runs creating one file take turns;
                # the second finds the schema made and leaves it alone.
                db.execute("BEGIN IMMEDIATE")
                if _identity(db) == (0, 0, set()):
                    db.execute(_SCHEMA)
                    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
            application_id, version, tables = _identity(db)
            if application_id != APPLICATION_ID or "results" not in tables:
                raise CacheError(self.path, "not a fetchcli cache (another program's database)")
            if version != SCHEMA_VERSION:
                raise CacheError(self.path, f"cache version {version}, not {SCHEMA_VERSION}")
            # Only now, when the file is known to be ours, may we change its journal mode.
            _use_wal(db)
            # NORMAL: in WAL mode a power cut may lose the last commits but never corrupts.
            db.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            db.close()
            raise
        self._db = db

    def _read(self, url: str) -> _Row | None:
        assert self._db is not None
        row: _Row | None = self._db.execute(_SELECT, (url,)).fetchone()
        return row

    def _write(self, rows: dict[str, _Row | None]) -> None:
        db = self._db
        if db is None:
            return
        # IMMEDIATE: a read transaction upgraded to a write can fail at once with
        # SQLITE_BUSY in WAL mode; taking the lock up front waits for busy_timeout instead.
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_UPSERT, [row for row in rows.values() if row is not None])
            gone = [(url,) for url, row in rows.items() if row is None]
            db.executemany("DELETE FROM results WHERE url = ?", gone)
            db.execute("COMMIT")
        finally:
            if db.in_transaction:
                db.rollback()

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _identity(db: sqlite3.Connection) -> tuple[int, int, set[str]]:
    """application_id, user_version and table names (reading fails fast on a non-SQLite file)."""
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return application_id, version, tables


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL, so runs can read while another writes; the mode persists in the file."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            # A file system without shared memory (or :memory:) keeps its mode: slower, still safe.
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            # The switch needs the file to itself and SQLite does not apply busy_timeout
            # to it, so two runs creating one cache at once retry here.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # in the worker thread, never on the event loop
