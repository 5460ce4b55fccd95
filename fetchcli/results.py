"""FetchResult: the one record written per input URL."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from fetchcli.errors import ErrorKind

if TYPE_CHECKING:
    from fetchcli.sources import UrlRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """The outcome of one input record; fields are the jsonl keys, in order.

    Usage: `if not result.ok: print(result.url, result.error, result.message)`.
    """

    source: str
    line: int
    url: str
    final_url: str | None = None
    status: int | None = None
    ok: bool = False
    size: int | None = None
    elapsed: float = 0.0
    attempts: int = 0
    redirects: int = 0
    content_type: str | None = None
    truncated: bool = False
    error: ErrorKind | None = None
    message: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The jsonl/csv record: a dict in the contract's key order."""
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_record(cls, record: object) -> FetchResult:
        """Rebuild a result from its jsonl record; ValueError if it is not one."""
        if not isinstance(record, dict) or list(record) != list(FIELDS):
            raise ValueError("not a fetchcli record")
        error = record["error"]
        return cls(**{**record, "error": None if error is None else ErrorKind(error)})


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FetchResult))


def invalid_result(record: UrlRecord) -> FetchResult:
    """The result for a record that is not fetched because its URL is invalid."""
    return FetchResult(
        source=record.source,
        line=record.line,
        url=record.url,
        error=ErrorKind.INVALID_URL,
        message=record.error,
    )
