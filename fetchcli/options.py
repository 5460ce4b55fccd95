"""FetchOptions: every setting of a run, in frozen, validated parts along the seams.

`InputRules` (sources), `Schedule` (engine) and `RequestSpec` (the HTTP
fetcher) each go where they are needed, whole; `FetchOptions` composes them
with the cache settings. Usage:

    FetchOptions()                                   # the CLI's defaults
    FetchOptions(concurrency=200, timeout=5.0)
    FetchOptions(accept="200-299,403", method="HEAD,GET")

The CLI builds one of these from its flags; the library takes it as is. Invalid
values raise `ValueError` with one sentence that names the flag, before any work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from urllib.parse import urlsplit

from fetchcli._version import __version__


class Mode(StrEnum):
    """How requests are scheduled (`--mode`)."""

    QUEUE = "queue"
    SEMAPHORE = "semaphore"
    GATHER = "gather"


class Order(StrEnum):
    """Which order results are written in (`--order`)."""

    COMPLETION = "completion"
    INPUT = "input"


SCHEMES = ("http", "https")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")

DEFAULT_CONCURRENCY = 50
MAX_CONCURRENCY = 10_000
MAX_WORKERS = 256
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 0.5
MAX_BACKOFF = 30.0
DEFAULT_MAX_RETRY_AFTER = 60.0
DEFAULT_METHOD = "GET"  # Method.GET
DEFAULT_MAX_REDIRECTS = 10
DEFAULT_MAX_BODY = 50 * 1024 * 1024
DEFAULT_ACCEPT = "200-299"
DEFAULT_SCHEME = "https"
DEFAULT_MAX_CACHE_AGE = "1d"
DEFAULT_USER_AGENT = f"fetchcli/{__version__}"
# A line longer than this (after stripping) is an invalid_url record.
MAX_LINE_BYTES = 8192
# --order input: how far ahead of the oldest unwritten result a URL may start.
ORDER_WINDOW_FACTOR = 4

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def parse_accept(text: str) -> frozenset[int]:
    """Parse an accept list such as `200-299,403` into a set of status codes."""
    codes: set[int] = set()
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if sep else low)
        except ValueError:
            raise ValueError(
                f"--accept expects codes or ranges like 200-299,403 (got {text!r})"
            ) from None
        if not 100 <= first <= last <= 599:
            raise ValueError(f"--accept codes must be ordered and within 100-599 (got {part!r})")
        codes.update(range(first, last + 1))
    return frozenset(codes)


_AGE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", re.IGNORECASE)
_AGE_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_age(text: str) -> float:
    """Seconds in a `--max-cache-age` value: `90s`, `15m`, `2h`, `1d` or bare seconds."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            "--max-cache-age expects seconds or a number with an s, m, h or d suffix"
            f" such as 90s, 15m, 2h, 1d (got {text!r})"
        )
    return float(match.group(1)) * _AGE_UNITS[match.group(2).lower()]


def parse_header(text: str) -> tuple[str, str]:
    """Parse one `-H "Name: value"` into a (name, value) pair."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _TOKEN.match(name):
        raise ValueError(f"--header expects 'Name: value' (got {text!r})")
    if _CONTROL.search(value):
        raise ValueError(f"--header value must not contain control characters (in {name!r})")
    if not value.isascii():
        raise ValueError(f"--header value must be ASCII (in {name!r}); percent-encode the rest")
    return name, value


def parse_shard(text: str) -> tuple[int, int]:
    """Parse `--shard K/N` into (K, N) with 1 <= K <= N."""
    k, sep, n = text.partition("/")
    try:
        shard = int(k), int(n)
    except ValueError:
        raise ValueError(f"--shard expects K/N such as 1/4 (got {text!r})") from None
    if not sep or not 1 <= shard[0] <= shard[1]:
        raise ValueError(f"--shard expects K/N with 1 <= K <= N (got {text!r})")
    return shard


def _as_headers(value: object) -> tuple[tuple[str, str], ...]:
    items: Iterable[object] = value.items() if isinstance(value, Mapping) else value  # type: ignore[assignment]
    return tuple(
        parse_header(item) if isinstance(item, str) else _check_header(*item) for item in items
    )  # type: ignore[misc]


def _check_header(name: str, value: str) -> tuple[str, str]:
    checked = parse_header(f"{name}: {value}")
    if checked[0] != name.strip():
        raise ValueError(f"--header name must be a token (got {name!r})")
    return checked


class Method(StrEnum):
    """The request method (`-X`): GET, HEAD, or HEAD then GET when HEAD says nothing."""

    GET = "GET"
    HEAD = "HEAD"
    HEAD_GET = "HEAD,GET"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRules:
    """How input lines become records (SPEC "Input").

    Usage: `InputRules(unique=True, exclude=("\\.pdf$",))`.
    """

    default_scheme: str = DEFAULT_SCHEME
    unique: bool = False
    shard: tuple[int, int] | None = None
    extract: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.shard, str):
            set_(self, "shard", parse_shard(self.shard))
        set_(self, "include", tuple(self.include))
        set_(self, "exclude", tuple(self.exclude))
        set_(self, "default_scheme", str(self.default_scheme).lower())
        if self.default_scheme not in SCHEMES:
            raise ValueError(
                f"--default-scheme must be http or https (got {self.default_scheme!r})"
            )
        if self.shard is not None:
            parse_shard(f"{self.shard[0]}/{self.shard[1]}")
        for flag, patterns in (("--include", self.include), ("--exclude", self.exclude)):
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{flag} {pattern!r} is not a valid regex: {exc}") from None

    @property
    def filters(self) -> bool:
        """Whether a rule may drop records, so that counting lines cannot give the total."""
        return bool(self.extract or self.unique or self.include or self.exclude)


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """How records are scheduled onto the fetcher: the engine's settings.

    Usage: `Schedule(concurrency=200, per_host=4, mode=Mode.QUEUE)`.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    mode: Mode = Mode.QUEUE
    order: Order = Order.COMPLETION
    per_host: int = 0
    rate: float = 0.0
    workers: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _enum(Mode, self.mode, "--mode"))
        object.__setattr__(self, "order", _enum(Order, self.order, "--order"))
        _within("--concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        _within("--per-host", self.per_host, 0, MAX_CONCURRENCY)
        _within("--workers", self.workers, 1, MAX_WORKERS)
        _non_negative("--rate", self.rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSpec:
    """How one URL is requested and judged: everything the HTTP fetcher needs.

    Usage: `RequestSpec(method=Method.HEAD_GET, timeout=5.0, accept=parse_accept("200-299,403"))`.
    """

    method: Method = Method.GET
    headers: tuple[tuple[str, str], ...] = ()
    user_agent: str = DEFAULT_USER_AGENT
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float | None = None
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    follow: bool = True
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    http2: bool = False
    insecure: bool = False
    proxy: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    accept: frozenset[int] = field(default_factory=lambda: parse_accept(DEFAULT_ACCEPT))
    save_dir: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        method = str(self.method).upper().replace(" ", "")
        set_(self, "method", _enum(Method, method, "--method"))
        if isinstance(self.accept, str):
            set_(self, "accept", parse_accept(self.accept))
        else:
            set_(self, "accept", frozenset(self.accept))
        set_(self, "headers", _as_headers(self.headers))
        _within("--retries", self.retries, 0, 100)
        _within("--max-redirects", self.max_redirects, 0, 1000)
        _positive("--timeout", self.timeout)
        if self.connect_timeout is not None:
            _positive("--connect-timeout", self.connect_timeout)
        _non_negative("--backoff", self.backoff)
        _non_negative("--max-retry-after", self.max_retry_after)
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int):
            raise ValueError(f"--max-body must be a whole number of bytes (got {self.max_body!r})")
        if self.max_body < 0:
            raise ValueError(f"--max-body must be 0 or more bytes (got {self.max_body})")
        if _CONTROL.search(self.user_agent) or not self.user_agent.isascii():
            raise ValueError("--user-agent must be ASCII without control characters")
        if self.proxy is not None:
            _check_proxy(self.proxy)

    @property
    def attempt_connect_timeout(self) -> float:
        """Seconds allowed to connect: `--connect-timeout`, else `--timeout`."""
        return self.timeout if self.connect_timeout is None else self.connect_timeout


_PARTS: dict[str, type[InputRules] | type[Schedule] | type[RequestSpec]] = {
    f.name: part for part in (InputRules, Schedule, RequestSpec) for f in fields(part)
}


@dataclass(frozen=True, slots=True, init=False)
class FetchOptions:
    """Every setting of one run: input rules, schedule and request, plus the cache.

    Usage:

        FetchOptions()                                     # the CLI's defaults
        FetchOptions(concurrency=200, timeout=5.0)         # any field of a part, by name
        FetchOptions(schedule=Schedule(per_host=2), request=RequestSpec(retries=0))
        options.replace(concurrency=10)                    # a copy with fields changed

    Invalid values raise `ValueError` with one sentence that names the flag.
    """

    rules: InputRules
    schedule: Schedule
    request: RequestSpec
    cache: str | None
    max_cache_age: float

    def __init__(
        self,
        *,
        rules: InputRules | None = None,
        schedule: Schedule | None = None,
        request: RequestSpec | None = None,
        cache: str | None = None,
        max_cache_age: float | None = None,
        **flat: object,
    ) -> None:
        parts: dict[type[object], object] = {
            InputRules: rules or InputRules(),
            Schedule: schedule or Schedule(),
            RequestSpec: request or RequestSpec(),
        }
        changes: dict[type[object], dict[str, object]] = {}
        for name, value in flat.items():
            part = _PARTS.get(name)
            if part is None:
                raise TypeError(f"FetchOptions has no option {name!r}")
            changes.setdefault(part, {})[name] = value
        for part, values in changes.items():
            parts[part] = replace(parts[part], **values)  # type: ignore[type-var]
        age = parse_age(DEFAULT_MAX_CACHE_AGE) if max_cache_age is None else max_cache_age
        _non_negative("--max-cache-age", age)
        set_ = object.__setattr__
        set_(self, "rules", parts[InputRules])
        set_(self, "schedule", parts[Schedule])
        set_(self, "request", parts[RequestSpec])
        set_(self, "cache", cache)
        set_(self, "max_cache_age", float(age))

    def replace(self, **changes: object) -> FetchOptions:
        """A copy with some fields changed, named as in the constructor."""
        return FetchOptions(
            rules=self.rules,
            schedule=self.schedule,
            request=self.request,
            cache=self.cache,
            max_cache_age=self.max_cache_age,
            **changes,  # type: ignore[arg-type]
        )


def _enum(kind: type[StrEnum], value: object, flag: str) -> StrEnum:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ValueError(f"{flag} must be one of {choices} (got {value!r})") from None


def _within(flag: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{flag} must be a whole number from {low} to {high} (got {value!r})")


def _positive(flag: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{flag} must be a finite number of seconds above 0 (got {value!r})")


def _non_negative(flag: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{flag} must be a finite number, 0 or more (got {value!r})")


def _check_proxy(proxy: str) -> None:
    parts = urlsplit(proxy)
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        schemes = ", ".join(f"{s}://" for s in PROXY_SCHEMES)
        raise ValueError(f"--proxy must be a URL starting with {schemes} (got {proxy!r})")
