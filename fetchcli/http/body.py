"""Reading response bodies: decoded a bounded step at a time, or drained for reuse."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import cast

import httpx

from fetchcli.http.httpx_adapter import header_value

# Redirect bodies up to this size are read so the connection stays reusable.
_DRAIN_LIMIT = 64 * 1024
# Most bytes one decoding step may produce (bounds memory against compression bombs).
_DECODE_STEP = 256 * 1024


async def drain(response: httpx.Response) -> None:
    """Read a small redirect body before closing, so its connection can be reused."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            break
    await response.aclose()


async def close(response: httpx.Response) -> None:
    """`response.aclose()` without the context that attaches the request to an httpx error
    (~3 µs a response): closing a wire's body only gives its connection back or drops it."""
    if not response.is_closed:
        response.is_closed = True
        await cast(httpx.AsyncByteStream, response.stream).aclose()


def decoded_chunks(response: httpx.Response) -> AsyncIterable[bytes]:
    """The body after content decoding, decoded a bounded piece at a time.

    httpx decodes each network chunk whole, so a 64 KiB gzip bomb chunk
    becomes ~64 MiB at once; here no step yields more than _DECODE_STEP bytes
    and reading stops as soon as --max-body is reached.
    """
    encoding = (header_value(response.headers, b"content-encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        # Nothing to decode: the stream itself, without httpx's per-chunk decoder layers.
        # httpx types Response.stream for both clients; an AsyncClient's streams are async.
        return cast(httpx.AsyncByteStream, response.stream)
    decoder = _decoder(encoding)
    if decoder is None:
        return response.aiter_bytes()
    return _decoded(response, decoder)


async def _decoded(response: httpx.Response, decoder: zlib._Decompress) -> AsyncIterator[bytes]:
    try:
        async for raw in response.aiter_raw():
            data = decoder.decompress(raw, _DECODE_STEP)
            while True:
                if data:
                    yield data
                if not decoder.unconsumed_tail:
                    break
                data = decoder.decompress(decoder.unconsumed_tail, _DECODE_STEP)
        if tail := decoder.flush():
            yield tail
    except zlib.error as exc:
        raise httpx.DecodingError(f"cannot decode the body: {exc}") from exc


def _decoder(encoding: str) -> zlib._Decompress | None:
    """A zlib decoder for a lone gzip encoding; None leaves decoding to httpx."""
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    return None
