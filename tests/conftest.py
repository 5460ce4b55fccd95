"""Shared fixtures: URL files, a mixed local site, and run_cli()."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner, Result

from fetchcli.cli.app import app
from fetchcli.model import ErrorKind, FetchResult

# A port on 127.0.0.1 that nothing listens on: connections are refused at once.
REFUSED = "http://127.0.0.1:9/"


@pytest.fixture
def url_file(tmp_path: Path) -> Callable[..., Path]:
    """Write lines (str or bytes) to a file and return its path."""
    counter = iter(range(1000))

    def write(*lines: str | bytes, name: str | None = None) -> Path:
        path = tmp_path / (name or f"urls{next(counter)}.txt")
        data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    """A small mixed site: ok pages, a 404, a 500, a 503, a redirect."""
    httpserver.expect_request("/ok").respond_with_data("hello world", content_type="text/plain")
    httpserver.expect_request("/other").respond_with_data("<p>other</p>", content_type="text/html")
    httpserver.expect_request("/missing").respond_with_data("gone", status=404)
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    httpserver.expect_request("/busy").respond_with_data("busy", status=503)
    httpserver.expect_request("/moved").respond_with_data(
        "", status=301, headers={"Location": "/ok"}
    )
    return httpserver


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Run the real command in-process; result.stdout and result.stderr are separate."""
    runner = CliRunner()

    def run(
        *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)

    return run


def run_process(
    args: Sequence[str], *, input: bytes | None = None, timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m fetchcli ARGS` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "fetchcli", *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def invalid_result(line: int = 4) -> FetchResult:
    """The result of an input line with an unsupported scheme (never fetched)."""
    return FetchResult(
        source="urls.txt",
        line=line,
        url="ftp://x.example/",
        error=ErrorKind.INVALID_URL,
        message="unsupported scheme 'ftp'",
    )


def jsonl(text: str) -> list[dict[str, object]]:
    """Parse jsonl output into records."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
