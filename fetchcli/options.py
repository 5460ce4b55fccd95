"""FetchOptions: every setting of a run, in frozen, validated parts along the seams.

`InputRules` (sources), `Schedule` (engine), `RequestSpec` (the HTTP
fetcher) and `DocumentRules` (--extract: documents and local links) each go
where they are needed, whole; `FetchOptions` composes them with the cache
settings. Usage:

    FetchOptions()                                   # the CLI's defaults
    FetchOptions(concurrency=200, timeout=5.0)
    FetchOptions(accept="200-299,403", method="HEAD,GET")

The CLI builds one of these from its flags; the library takes it as is. Invalid
values raise `ValueError` with one sentence that names the flag, before any work.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from fetchcli._version import __version__
from fetchcli.values import (
    PROXY_SCHEMES,
    as_enum,
    as_headers,
    check_header_text,
    check_non_negative,
    check_positive,
    check_proxy,
    check_regex,
    check_within,
    parse_accept,
    parse_age,
    parse_header,
    parse_shard,
)

__all__ = [  # the parsers live in fetchcli.values; they are re-exported for the library
    "PROXY_SCHEMES",
    "parse_accept",
    "parse_age",
    "parse_header",
    "parse_shard",
]


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
# Connections the wire may keep open (busy or idle) per -c slot: requests that move between
# origins reuse each origin's idle connections. The open-file budget counts them.
CONNECTIONS_PER_SLOT = 2
# --order input: how far ahead of the oldest unwritten result a URL may start.
ORDER_WINDOW_FACTOR = 4


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
                check_regex(flag, pattern)

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
        object.__setattr__(self, "mode", as_enum(Mode, self.mode, "--mode"))
        object.__setattr__(self, "order", as_enum(Order, self.order, "--order"))
        check_within("--concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        check_within("--per-host", self.per_host, 0, MAX_CONCURRENCY)
        check_within("--workers", self.workers, 1, MAX_WORKERS)
        check_non_negative("--rate", self.rate)


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
        set_(self, "method", as_enum(Method, method, "--method"))
        if isinstance(self.accept, str):
            set_(self, "accept", parse_accept(self.accept))
        else:
            set_(self, "accept", frozenset(self.accept))
        set_(self, "headers", as_headers(self.headers))
        check_within("--retries", self.retries, 0, 100)
        check_within("--max-redirects", self.max_redirects, 0, 1000)
        check_positive("--timeout", self.timeout)
        if self.connect_timeout is not None:
            check_positive("--connect-timeout", self.connect_timeout)
        check_non_negative("--backoff", self.backoff)
        check_non_negative("--max-retry-after", self.max_retry_after)
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int):
            raise ValueError(f"--max-body must be a whole number of bytes (got {self.max_body!r})")
        if self.max_body < 0:
            raise ValueError(f"--max-body must be 0 or more bytes (got {self.max_body})")
        check_header_text("--user-agent", self.user_agent)
        if self.proxy is not None:
            check_proxy(self.proxy)

    @property
    def attempt_connect_timeout(self) -> float:
        """Seconds allowed to connect: `--connect-timeout`, else `--timeout`."""
        return self.timeout if self.connect_timeout is None else self.connect_timeout


DEFAULT_EXTENSIONS = (".md", ".markdown", ".mdx", ".html", ".htm", ".rst", ".txt")


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentRules:
    """How `--extract` finds documents, resolves their links and checks local ones.

    Usage: `DocumentRules(root_dir="site", fallback_extensions=("html",), offline=True)`.
    """

    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    hidden: bool = False
    ignore: bool = True  # skip what .gitignore files ignore (--no-ignore: False)
    include_verbatim: bool = False
    root_dir: str | None = None
    base_url: str | None = None
    remap: tuple[tuple[str, str], ...] = ()  # (regex, replacement), the first match applies
    default_excludes: bool = True  # skip RFC 2606/6761 example names
    offline: bool = False
    check_fragments: bool = False  # remote pages' anchors too (local ones are always checked)
    fallback_extensions: tuple[str, ...] = ()
    index_files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "extensions", tuple(_dotted(e) for e in self.extensions))
        set_(self, "fallback_extensions", tuple(e.lstrip(".") for e in self.fallback_extensions))
        set_(self, "index_files", tuple(self.index_files))
        set_(self, "remap", tuple((str(p), str(r)) for p, r in self.remap))
        for pattern, _ in self.remap:
            check_regex("--remap", pattern)
        if self.base_url is not None and not self.base_url.lower().startswith(SCHEMES_PREFIX):
            raise ValueError(f"--base-url must be an http(s) URL (got {self.base_url!r})")


def _dotted(extension: str) -> str:
    extension = extension.strip().lower()
    return extension if extension.startswith(".") else f".{extension}"


SCHEMES_PREFIX = ("http://", "https://")

_Part = InputRules | Schedule | RequestSpec | DocumentRules
_PARTS: dict[str, type[_Part]] = {
    f.name: part
    for part in (InputRules, Schedule, RequestSpec, DocumentRules)
    for f in fields(part)
}


@dataclass(frozen=True, slots=True, init=False)
class FetchOptions:
    """Every setting of one run: input rules, schedule, request and documents, plus the cache.

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
    documents: DocumentRules
    cache: str | None
    max_cache_age: float

    def __init__(
        self,
        *,
        rules: InputRules | None = None,
        schedule: Schedule | None = None,
        request: RequestSpec | None = None,
        documents: DocumentRules | None = None,
        cache: str | None = None,
        max_cache_age: float | None = None,
        **flat: object,
    ) -> None:
        parts: dict[type[_Part], _Part] = {
            InputRules: rules or InputRules(),
            Schedule: schedule or Schedule(),
            RequestSpec: request or RequestSpec(),
            DocumentRules: documents or DocumentRules(),
        }
        # Flat values are unchecked here: each part's __post_init__ checks them, naming the flag.
        changes: dict[type[_Part], dict[str, Any]] = {}
        for name, value in flat.items():
            part = _PARTS.get(name)
            if part is None:
                raise TypeError(f"FetchOptions has no option {name!r}")
            changes.setdefault(part, {})[name] = value
        for part, values in changes.items():
            parts[part] = replace(parts[part], **values)
        age = parse_age(DEFAULT_MAX_CACHE_AGE) if max_cache_age is None else max_cache_age
        check_non_negative("--max-cache-age", age)
        set_ = object.__setattr__
        set_(self, "rules", parts[InputRules])
        set_(self, "schedule", parts[Schedule])
        set_(self, "request", parts[RequestSpec])
        set_(self, "documents", parts[DocumentRules])
        set_(self, "cache", cache)
        set_(self, "max_cache_age", float(age))

    def replace(self, **changes: object) -> FetchOptions:
        """A copy with some fields changed, named as in the constructor."""
        return FetchOptions(
            rules=self.rules,
            schedule=self.schedule,
            request=self.request,
            documents=self.documents,
            cache=self.cache,
            max_cache_age=self.max_cache_age,
            **changes,
        )
