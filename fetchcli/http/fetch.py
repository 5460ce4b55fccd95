"""`fetch_one`: one record in, one result out, with retries.

It never raises (except `CancelledError`, and `SaveError` for a failing
`--save` disk). Each attempt runs under a total deadline of `--timeout`
seconds that starts once a connection is assigned (so waiting for a free
connection in the pool does not count) and covers connect, redirects, headers
and the whole body: a server that trickles one byte a second still times out.
The wire keeps that deadline (`wire.Attempt`); the fetcher only names it in the message.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from fetchcli.http.body import close, decoded_chunks, drain
from fetchcli.http.client import Client, make_client
from fetchcli.http.curl import AS_SENT
from fetchcli.http.errors import classify
from fetchcli.http.httpx_adapter import header_value
from fetchcli.http.save import BodyFile, SaveError
from fetchcli.http.wire import BODY_LIMIT, Attempt
from fetchcli.model import (
    ErrorKind,
    Fetcher,
    FetchResult,
    Gate,
    UrlRecord,
    invalid_result,
    is_retryable,
    result_for,
)
from fetchcli.options import MAX_BACKOFF, Method, RequestSpec

# HEAD,GET: statuses after which a HEAD is repeated as GET, because servers
# that mishandle HEAD answer with them although a GET would succeed.
HEAD_FALLBACK_STATUSES = frozenset({403, 405, 501})


@dataclass(slots=True)
class _Attempt:
    """What one attempt produced; becomes the result if it is the last."""

    status: int | None = None
    final_url: str | None = None
    size: int | None = None
    redirects: int = 0
    content_type: str | None = None
    truncated: bool = False
    error: ErrorKind | None = None
    message: str | None = None
    retry_after: float | None = None
    sent: bool = False
    saved_partly: bool = False  # a body reached --save: another attempt must not follow
    saved: str | None = None  # where --save wrote the body
    undecodable: bool = False  # the body's Content-Encoding could not be decoded


async def fetch_one(
    client: Client,
    record: UrlRecord,
    spec: RequestSpec,
    gate: Gate | None = None,
) -> FetchResult:
    """Fetch one record with retries; always returns a result for it.

    The one exception it raises (besides cancellation) is SaveError: a failing
    --save disk is not a fact about the URL, so no result could be honest.
    """
    if record.error is not None:
        return invalid_result(record)
    started = time.perf_counter()
    method = "HEAD" if spec.method is Method.HEAD_GET else str(spec.method)
    attempts = retried = 0  # the HEAD probe of HEAD,GET is an attempt, not a retry
    as_sent = False
    while True:
        attempts += 1
        last_try = retried >= spec.retries
        if gate is None:
            attempt = await _attempt(client, record.url, method, spec, last_try, as_sent)
        else:
            async with gate(record.url):
                attempt = await _attempt(client, record.url, method, spec, last_try, as_sent)
        if not attempt.sent:
            attempts = 0  # httpx refused the URL before sending anything
            break
        if attempt.undecodable and not as_sent and not attempt.saved_partly:
            # A body labelled with an encoding we did not ask for and cannot decode
            # (`Content-Encoding: utf-8`): taken as sent, as curl without --compressed.
            as_sent = True
            continue
        if spec.method is Method.HEAD_GET and method == "HEAD" and _head_failed(attempt):
            method = "GET"
            continue
        if (
            attempt.error is None
            or attempt.saved_partly
            or retried >= spec.retries
            or not is_retryable(attempt.error, attempt.status)
        ):
            break
        retried += 1
        delay = _backoff(spec.backoff, attempts)
        if attempt.retry_after is not None:
            if attempt.retry_after > spec.max_retry_after:
                attempt.message = (
                    f"{attempt.message}; server asked to retry after {attempt.retry_after:g}s,"
                    f" more than --max-retry-after {spec.max_retry_after:g}s"
                )
                break
            delay = attempt.retry_after
        await asyncio.sleep(delay)
    return _result(record, attempt, attempts, time.perf_counter() - started)


async def _attempt(
    client: Client, url: str, method: str, spec: RequestSpec, last_try: bool, as_sent: bool
) -> _Attempt:
    outcome = _Attempt()
    # One connection slot and one deadline for the attempt, redirects included; the wire
    # enforces the deadline (it starts once a connection is assigned).
    wire = Attempt(timeout=spec.timeout)
    response: httpx.Response | None = None
    try:
        extensions = wire.extensions()
        extensions[BODY_LIMIT] = spec.max_body  # the wire stops decoding past it
        if as_sent:
            extensions[AS_SENT] = True
        request = client.new_request(method, url, extensions)
        outcome.sent = True
        while True:
            response = await client.send_once(request)
            # The URL as given until a redirect: httpx's normal form may differ.
            outcome.final_url = str(response.url) if outcome.redirects else url
            if not spec.follow:
                break
            try:
                next_request = client.redirect(request, response)
            except Exception as exc:  # httpx.InvalidURL is no HTTPError
                outcome.error, outcome.message = classify(exc)
                _bad_location(outcome, response, url, spec)
                return outcome
            if next_request is None:
                break
            if outcome.redirects >= spec.max_redirects:
                outcome.error = ErrorKind.TOO_MANY_REDIRECTS
                outcome.message = f"more than {spec.max_redirects} redirects"
                return outcome
            outcome.redirects += 1
            request = next_request
            await drain(response)
        await _read(response, outcome, spec, url, skip_body=not last_try)
    except SaveError:
        raise  # our disk, not the URL, failed: the run stops and says so
    except Exception as exc:  # every failure becomes a classified result
        outcome.error, outcome.message = classify(exc)
        outcome.undecodable = isinstance(exc, httpx.DecodingError)
        if outcome.redirects and outcome.error is ErrorKind.INVALID_URL:
            outcome.message = f"redirect to an unfetchable URL: {outcome.message}"
    finally:
        if response is not None:
            await close(response)
        wire.slot.release()
    if outcome.error is ErrorKind.TIMEOUT and wire.expired():
        outcome.message = f"no complete response within {spec.timeout:g}s"
    return outcome


def _bad_location(outcome: _Attempt, seen: httpx.Response, url: str, spec: RequestSpec) -> None:
    """A redirect whose Location httpx could not use: the redirect is the answer, or the error."""
    outcome.final_url = str(seen.url) if outcome.redirects else url
    if spec.follow:
        outcome.message = f"redirect to an unfetchable URL: {outcome.message}"
        return
    outcome.status = seen.status_code
    outcome.content_type = header_value(seen.headers, b"content-type")
    ok = seen.status_code in spec.accept
    outcome.error = None if ok else ErrorKind.HTTP_STATUS
    outcome.message = None if ok else f"{seen.status_code} {seen.reason_phrase}".strip()


async def _read(
    response: httpx.Response, outcome: _Attempt, spec: RequestSpec, url: str, skip_body: bool
) -> None:
    status = response.status_code
    outcome.status = status
    outcome.content_type = header_value(response.headers, b"content-type")
    if status not in spec.accept:
        outcome.error = ErrorKind.HTTP_STATUS
        outcome.message = f"{status} {response.reason_phrase}".strip()
    if skip_body and outcome.error is not None and is_retryable(outcome.error, status):
        outcome.retry_after = _retry_after(header_value(response.headers, b"retry-after"))
        return  # not worth reading: another attempt follows
    outcome.size = 0
    if response.request.method == "HEAD":
        return
    body = BodyFile(spec.save_dir, url) if spec.save_dir else None
    try:
        async for chunk in decoded_chunks(response):
            room = spec.max_body - outcome.size
            if len(chunk) > room:
                chunk, outcome.truncated = chunk[:room], True
            outcome.size += len(chunk)
            if body is not None and chunk:
                await body.write(chunk)
                outcome.saved_partly = True
            if outcome.truncated:
                break
    except BaseException:
        if body is not None:
            await asyncio.shield(body.discard())
        raise
    if body is not None:
        outcome.saved = await body.finish(outcome.truncated)


def _head_failed(attempt: _Attempt) -> bool:
    """Whether a HEAD answer says nothing about the URL, so GET must decide."""
    if attempt.status is None:
        return attempt.error is ErrorKind.PROTOCOL
    return attempt.status in HEAD_FALLBACK_STATUSES


def _backoff(base: float, attempt: int) -> float:
    """Exponential backoff with full jitter, capped at MAX_BACKOFF seconds."""
    return random.uniform(0, min(MAX_BACKOFF, base * 2 ** (attempt - 1)))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header, given in seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # only for a Retry-After given as a date

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _result(record: UrlRecord, attempt: _Attempt, attempts: int, elapsed: float) -> FetchResult:
    return result_for(
        record,
        final_url=attempt.final_url,
        status=attempt.status,
        ok=attempt.error is None,
        size=attempt.size,
        elapsed=round(elapsed, 6),
        attempts=attempts,
        redirects=attempt.redirects,
        content_type=attempt.content_type,
        truncated=attempt.truncated,
        error=attempt.error,
        message=attempt.message,
        saved=attempt.saved,
    )


@asynccontextmanager
async def open_http_fetcher(
    spec: RequestSpec, connections: int, gate: Gate | None = None
) -> AsyncIterator[Fetcher]:
    """The HTTP fetcher: a client with `connections` pooled, each attempt held in `gate`.

    Usage: `async with open_http_fetcher(RequestSpec(), 50) as fetch: result = await fetch(record)`.
    """
    async with make_client(spec, connections) as client:

        async def fetch(record: UrlRecord) -> FetchResult:
            return await fetch_one(client, record, spec, gate)

        yield fetch
