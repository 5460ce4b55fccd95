"""The --cache SQLite file: what is stored, what is served, and files it refuses."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TypeVar

import pytest

from fetchcli.model import ErrorKind, FetchResult, UrlRecord
from fetchcli.options import DEFAULT_MAX_CACHE_AGE, Method, RequestSpec, parse_age
from fetchcli.sinks.cache import CacheError, ResultCache
from fetchcli.sinks.cache_key import NOT_IN_KEY, cache_variant

T = TypeVar("T")
DAY = 86400.0
OK_CODES = frozenset(range(200, 300))


def ok(url: str, status: int = 200, **changes: object) -> FetchResult:
    fields: dict[str, object] = {
        "source": "old.txt",
        "line": 1,
        "url": url,
        "final_url": url + "final",
        "status": status,
        "ok": True,
        "size": 11,
        "elapsed": 0.25,
        "attempts": 2,
        "redirects": 1,
        "content_type": "text/plain",
        "truncated": True,
    }
    fields.update(changes)
    return FetchResult(**fields)  # type: ignore[arg-type]


def failed(url: str, status: int | None, error: ErrorKind) -> FetchResult:
    return FetchResult(
        source="old.txt", line=1, url=url, status=status, error=error, attempts=3, message="no"
    )


def record(url: str, source: str = "new.txt", line: int = 7) -> UrlRecord:
    return UrlRecord(source=source, line=line, url=url)


def with_cache(
    path: Path, body: Callable[[ResultCache], Awaitable[T]], max_age: float = DAY, **kw: object
) -> T:
    """Open a cache on path, run body with it, close it; return body's result."""

    async def run() -> T:
        async with ResultCache(path, max_age, **kw) as cache:  # type: ignore[arg-type]
            return await body(cache)

    return asyncio.run(run())


def stored_urls(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT url FROM results ORDER BY url")]


class Clock:
    """A settable clock for expiry tests."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_stored_result_is_served_with_attempts_zero_and_the_new_records_place(
    tmp_path: Path,
) -> None:
    url = "https://a.example/page"

    async def body(cache: ResultCache) -> FetchResult | None:
        await cache.store(ok(url))
        await cache.flush()
        return await cache.lookup(record(url), OK_CODES)

    served = with_cache(tmp_path / "c.db", body)
    assert served is not None and served.fetched_at is not None
    assert dataclasses.replace(served, fetched_at=None) == FetchResult(
        source="new.txt",
        line=7,
        url=url,
        final_url=url + "final",
        status=200,
        ok=True,
        size=11,
        elapsed=0.0,
        attempts=0,
        redirects=1,
        content_type="text/plain",
        truncated=True,
        error=None,
        message=None,
        cached=True,
    )


def test_uncommitted_result_is_served_in_the_same_run(tmp_path: Path) -> None:
    async def body(cache: ResultCache) -> FetchResult | None:
        await cache.store(ok("https://a.example/"))
        return await cache.lookup(record("https://a.example/"), OK_CODES)

    served = with_cache(tmp_path / "c.db", body)
    assert served is not None and served.attempts == 0


def test_failures_are_never_stored(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    results = [
        failed("https://a.example/404", 404, ErrorKind.HTTP_STATUS),
        failed("https://a.example/slow", None, ErrorKind.TIMEOUT),
        failed("https://a.example/dns", None, ErrorKind.DNS),
    ]

    async def body(cache: ResultCache) -> list[FetchResult | None]:
        for result in results:
            await cache.store(result)
        return [await cache.lookup(record(r.url), frozenset({404})) for r in results]

    assert with_cache(path, body) == [None, None, None]
    assert stored_urls(path) == []


def test_a_failure_retires_an_older_success(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    url = "https://a.example/flaky"

    async def first(cache: ResultCache) -> None:
        await cache.store(ok(url, status=403))

    async def second(cache: ResultCache) -> None:
        await cache.store(failed(url, 500, ErrorKind.HTTP_STATUS))

    with_cache(path, first)
    with_cache(path, second)
    assert stored_urls(path) == []


def test_a_served_result_does_not_renew_its_entry(tmp_path: Path) -> None:
    clock = Clock()
    url = "https://a.example/"

    async def body(cache: ResultCache) -> FetchResult | None:
        await cache.store(ok(url))
        clock.now += 50
        served = await cache.lookup(record(url), OK_CODES)
        assert served is not None
        await cache.store(served)  # attempts 0: ignored
        clock.now += 60
        return await cache.lookup(record(url), OK_CODES)

    assert with_cache(tmp_path / "c.db", body, max_age=100, clock=clock) is None


def test_expired_entry_is_not_served(tmp_path: Path) -> None:
    clock = Clock()
    url = "https://a.example/"

    async def body(cache: ResultCache) -> tuple[FetchResult | None, FetchResult | None]:
        await cache.store(ok(url))
        await cache.flush()
        clock.now += 99
        fresh = await cache.lookup(record(url), OK_CODES)
        clock.now += 1
        return fresh, await cache.lookup(record(url), OK_CODES)

    fresh, expired = with_cache(tmp_path / "c.db", body, max_age=100, clock=clock)
    assert fresh is not None
    assert expired is None


def test_max_age_zero_serves_nothing(tmp_path: Path) -> None:
    async def body(cache: ResultCache) -> FetchResult | None:
        await cache.store(ok("https://a.example/"))
        return await cache.lookup(record("https://a.example/"), OK_CODES)

    assert with_cache(tmp_path / "c.db", body, max_age=0) is None


def test_entry_whose_status_left_accept_is_not_served(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    url = "https://a.example/private"

    async def first(cache: ResultCache) -> None:
        await cache.store(ok(url, status=403))

    async def later(cache: ResultCache) -> tuple[FetchResult | None, FetchResult | None]:
        narrow = await cache.lookup(record(url), OK_CODES)
        wide = await cache.lookup(record(url), OK_CODES | {403})
        return narrow, wide

    with_cache(path, first)
    narrow, wide = with_cache(path, later)
    assert narrow is None
    assert wide is not None and wide.status == 403 and wide.ok


def test_invalid_record_is_never_served(tmp_path: Path) -> None:
    async def body(cache: ResultCache) -> FetchResult | None:
        await cache.store(ok("ftp://a.example/"))
        bad = UrlRecord(source="-", line=1, url="ftp://a.example/", error="unsupported scheme")
        return await cache.lookup(bad, OK_CODES)

    assert with_cache(tmp_path / "c.db", body) is None


def test_results_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.db"

    async def first(cache: ResultCache) -> None:
        for n in range(20):
            await cache.store(ok(f"https://a.example/{n}"))

    async def second(cache: ResultCache) -> list[FetchResult | None]:
        return [await cache.lookup(record(f"https://a.example/{n}"), OK_CODES) for n in range(20)]

    with_cache(path, first)
    assert all(result is not None for result in with_cache(path, second))


def test_pending_results_are_committed_within_the_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "c.db"

    async def body(cache: ResultCache) -> list[str]:
        await cache.store(ok("https://a.example/"))
        await asyncio.sleep(0.3)
        return await asyncio.to_thread(stored_urls, path)

    assert with_cache(path, body, flush_interval=0.05) == ["https://a.example/"]


def store_many(path: Path, name: str, start: threading.Barrier) -> None:
    """One run storing 500 results in small batches, so its commits interleave with another's."""

    async def body(cache: ResultCache) -> None:
        for n in range(500):
            await cache.store(ok(f"https://{name}.example/{n}"))
            if n % 50 == 0:
                await cache.lookup(record(f"https://{name}.example/{n}"), OK_CODES)

    start.wait(timeout=30)
    with_cache(path, body, batch_size=10)


@pytest.mark.parametrize("runner", ["threads", "processes"])
def test_two_concurrent_runs_on_one_file_lose_nothing(tmp_path: Path, runner: str) -> None:
    path = tmp_path / "c.db"
    errors: list[BaseException] = []

    def in_thread(name: str, start: threading.Barrier) -> None:
        try:
            store_many(path, name, start)
        except BaseException as exc:
            errors.append(exc)

    if runner == "threads":
        barrier = threading.Barrier(2)
        workers: list[threading.Thread | BaseProcess] = [
            threading.Thread(target=in_thread, args=(name, barrier)) for name in ("a", "b")
        ]
    else:  # separate processes lock the file with fcntl, not SQLite's in-process tables
        spawn = multiprocessing.get_context("spawn")
        barrier = spawn.Barrier(2)  # type: ignore[assignment]
        workers = [spawn.Process(target=store_many, args=(path, name, barrier)) for name in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert all(getattr(worker, "exitcode", 0) == 0 for worker in workers)

    async def lookup_all(cache: ResultCache) -> list[FetchResult | None]:
        return [
            await cache.lookup(record(f"https://{name}.example/{n}"), OK_CODES)
            for name in ("a", "b")
            for n in range(500)
        ]

    assert all(result is not None for result in with_cache(path, lookup_all))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT count(*) FROM results").fetchone() == (1000,)
    db.close()


def test_corrupt_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    data = os.urandom(8192)
    path.write_bytes(data)
    with pytest.raises(CacheError, match=r"^--cache .*c\.db: ") as caught:
        with_cache(path, lambda cache: asyncio.sleep(0))
    assert "\n" not in str(caught.value)
    assert path.read_bytes() == data


def test_foreign_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE results (url TEXT, owner TEXT)")
    db.close()
    data = path.read_bytes()
    with pytest.raises(CacheError, match=r"^--cache .*other\.db: not a fetchcli cache"):
        with_cache(path, lambda cache: asyncio.sleep(0))
    assert path.read_bytes() == data


def test_cache_of_another_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with_cache(path, lambda cache: asyncio.sleep(0))
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(CacheError, match=r"--cache .*cache version 99"):
        with_cache(path, lambda cache: asyncio.sleep(0))


def test_empty_file_becomes_a_cache(tmp_path: Path) -> None:
    path = tmp_path / "made-by-mktemp"
    path.touch()
    with_cache(path, lambda cache: cache.store(ok("https://a.example/")))
    assert stored_urls(path) == ["https://a.example/"]


def test_unopenable_path_is_a_cache_error(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match=r"--cache .*missing"):
        with_cache(tmp_path / "missing" / "c.db", lambda cache: asyncio.sleep(0))


def test_sqlite_runs_in_one_worker_thread(tmp_path: Path) -> None:
    async def body(cache: ResultCache) -> None:
        await cache.store(ok("https://a.example/"))
        await cache.flush()
        await cache.lookup(record("https://a.example/"), OK_CODES)

    threads: set[str] = set()
    original = sqlite3.Connection.execute

    def execute(db: sqlite3.Connection, *args: object) -> sqlite3.Cursor:
        threads.add(threading.current_thread().name)
        return original(db, *args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite3, "connect", _connect_with(execute))
        with_cache(tmp_path / "c.db", body)
    assert len(threads) == 1
    assert threads.pop().startswith("fetchcli-cache")


def _connect_with(execute: Callable[..., sqlite3.Cursor]) -> Callable[..., sqlite3.Connection]:
    real_connect = sqlite3.connect

    class Spy(sqlite3.Connection):
        def execute(self, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
            return execute(self, *args)

    def connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        return real_connect(*args, factory=Spy, **kwargs)  # type: ignore[call-overload]

    return connect


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", DAY),
        ("45", 45.0),
        ("0", 0.0),
        ("1.5h", 5400.0),
        (" 2H ", 7200.0),
        (DEFAULT_MAX_CACHE_AGE, DAY),
    ],
)
def test_parse_age_accepts(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "-5", "5w", "1d2h", "inf", "nan", "1e3", "1 day"])
def test_parse_age_rejects_with_the_flag_name(text: str) -> None:
    with pytest.raises(ValueError, match="--max-cache-age"):
        parse_age(text)


def test_negative_max_age_is_rejected() -> None:
    with pytest.raises(ValueError, match="--max-cache-age"):
        ResultCache("unused.db", -1)


def test_lookup_before_opening_is_a_clear_error(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "c.db", DAY)
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(cache.lookup(record("https://a.example/"), OK_CODES))


# --- the key: how results were fetched -------------------------------------

# One changed value for every RequestSpec field; a field added to RequestSpec
# without a line here (or in NOT_IN_KEY) makes the test below fail.
_CHANGED: dict[str, object] = {
    "method": Method.HEAD,
    "headers": (("Authorization", "Bearer other"),),
    "user_agent": "other/1.0",
    "follow": False,
    "max_redirects": 3,
    "http2": True,
    "insecure": True,
    "proxy": "http://127.0.0.1:3128",
    "max_body": 700,
}


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(RequestSpec)])
def test_every_request_field_reaches_the_cache_key_or_says_why_not(name: str) -> None:
    if name in NOT_IN_KEY:
        assert name not in _CHANGED
        return
    assert name in _CHANGED, f"RequestSpec.{name}: put it in the key test or in NOT_IN_KEY"
    changed = dataclasses.replace(RequestSpec(), **{name: _CHANGED[name]})
    assert cache_variant(changed) != cache_variant(RequestSpec())


def test_the_default_request_keys_plain_urls() -> None:
    assert cache_variant(RequestSpec()) == ""


def test_the_key_holds_no_header_value() -> None:
    spec = RequestSpec(headers=(("Authorization", "Bearer s3cret"),))
    assert "s3cret" not in cache_variant(spec)


def test_a_result_fetched_with_another_header_is_not_served(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    mine = cache_variant(RequestSpec(headers=(("Authorization", "Bearer a"),)))
    theirs = cache_variant(RequestSpec(headers=(("Authorization", "Bearer b"),)))

    async def store(cache: ResultCache) -> None:
        await cache.store(ok("https://a.example/"))

    async def look(cache: ResultCache) -> FetchResult | None:
        return await cache.lookup(record("https://a.example/"), OK_CODES)

    with_cache(path, store, variant=mine)
    assert with_cache(path, look, variant=theirs) is None
    assert with_cache(path, look, variant=mine) is not None


def test_wrap_serves_fresh_results_and_stores_fetched_ones(tmp_path: Path) -> None:
    fetched: list[str] = []

    async def fetcher(rec: UrlRecord) -> FetchResult:
        fetched.append(rec.url)
        return ok(rec.url)

    async def twice(cache: ResultCache) -> list[FetchResult]:
        wrapped = cache.wrap(fetcher, OK_CODES)
        return [await wrapped(record("https://a.example/")) for _ in range(2)]

    first, second = with_cache(tmp_path / "c.db", twice)
    assert fetched == ["https://a.example/"]
    assert (first.attempts, second.attempts) == (2, 0)
