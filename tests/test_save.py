"""--save DIR: safe_name against hostile URLs, and bodies written through the CLI."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import Result
from werkzeug import Request, Response

from conftest import jsonl
from fetchcli.http.save import marked_truncated, safe_name
from servers import ThreadedServer

RunCli = Callable[..., Result]
UrlFile = Callable[..., Path]

WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)
HOSTILE = [
    "http://h/../../etc/passwd",
    "http://h/%2e%2e/%2e%2e/x",
    "http://h/..%2f..%2f..%2fetc%2fpasswd",
    "http://h/%2f%2e%2e%5c%2e%2e%5cwin.ini",
    "http://h/..\\..\\boot.ini",
    "http://h/a%00b",
    "http://h/%00",
    "http://h/" + "a" * 5000,
    "http://h/" + "%2e" * 3000,
    "http://h/" + "日本" * 2000,
    "http://con/",
    "http://h/NUL.txt",
    "http:///NUL.txt",
    "http://nul.txt/",
    "http://CON.tar.gz/x",
    "http://com1.example/",
    "http://lpt9/",
    "http://aux./",
    "http://h/ünïcødé/日本語.html",
    "http://bücher.example/straße",
    "http://h/%E2%80%AE/txt.exe",
    "http://h/.hidden",
    "http://h/.",
    "http://h/..",
    "http:///..",
    "http:///.",
    "http://[::1]/x",
    "http://h/-rf",
    "http://h/%0d%0a%1b[31m",
    "",
]


def assert_plain_name(name: str) -> None:
    """A single, visible path component that no filesystem treats specially."""
    assert name not in ("", ".", "..")
    assert not name.startswith(".")
    assert "/" not in name and "\\" not in name and "\0" not in name
    assert name.isprintable()


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as running:
        yield running
    assert running.errors == []


def files_in(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir()}


@pytest.mark.parametrize("url", HOSTILE)
def test_safe_name_is_one_plain_path_component(url: str) -> None:
    assert_plain_name(safe_name(url))


@pytest.mark.parametrize("url", HOSTILE)
def test_safe_name_never_leaves_the_directory(url: str, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    for name in (safe_name(url), marked_truncated(safe_name(url))):
        assert Path(os.path.join(root, name)).resolve().parent == root


@pytest.mark.parametrize("url", HOSTILE)
def test_safe_name_is_at_most_150_characters_even_when_marked_truncated(url: str) -> None:
    assert len(marked_truncated(safe_name(url))) <= 150


@pytest.mark.parametrize("url", HOSTILE)
def test_safe_name_never_has_a_windows_reserved_stem(url: str) -> None:
    for name in (safe_name(url), marked_truncated(safe_name(url))):
        # Windows reserves CON, CON.txt, "CON .txt" alike: the part before the first dot.
        assert name.split(".", 1)[0].rstrip(" ").lower() not in WINDOWS_RESERVED


@pytest.mark.parametrize("url", ["http://con/", "http://nul.txt/", "http://CON.tar.gz/x"])
def test_safe_name_prefixes_a_reserved_host_name(url: str) -> None:
    name = safe_name(url)
    assert name.startswith("_") and name[1:].split(".", 1)[0].split("-")[0].lower() in (
        WINDOWS_RESERVED
    )


def test_safe_name_differs_for_urls_differing_only_in_query() -> None:
    names = {safe_name(f"http://h/page?id={n}") for n in range(50)}
    assert len(names) == 50
    assert safe_name("http://h/page") != safe_name("http://h/page?")


def test_safe_name_differs_for_urls_differing_only_in_case() -> None:
    # On a case-insensitive disk /A and /a must still be two files.
    assert safe_name("http://h/A").lower() != safe_name("http://h/a").lower()


def test_safe_name_is_the_same_for_the_same_url_in_another_process() -> None:
    url = "http://h/ünï/../x?q=1#f"
    code = f"from fetchcli.http.save import safe_name; print(safe_name({url!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        timeout=30,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert done.stdout.decode().strip() == safe_name(url) == safe_name(url)


def test_safe_name_of_random_hostile_urls_is_plain_unique_and_inside(tmp_path: Path) -> None:
    pieces = ["/", "\\", ".", "..", "%2e", "%2f", "%00", "\0", " ", "?", "#", "con", "é", "日", "a"]
    generator = random.Random(20240601)
    urls = {
        "http://h/" + "".join(generator.choice(pieces) for _ in range(generator.randint(0, 40)))
        for _ in range(500)
    }
    names = {safe_name(url) for url in urls}
    assert len(names) == len(urls)
    assert len({name.lower() for name in names}) == len(urls)
    root = tmp_path.resolve()
    for name in names:
        assert_plain_name(name)
        assert len(name) <= 150
        assert Path(os.path.join(root, name)).resolve().parent == root


def test_save_writes_exactly_the_served_bytes(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    sizes = [0, 1, 1000, 16384, 100_001]
    urls = [server.url(f"/sized?bytes={n}") for n in sizes]
    target = tmp_path / "bodies"
    result = run_cli(str(url_file(*urls)), "--save", str(target), "-q", "--format", "none")
    assert result.exit_code == 0
    assert files_in(target) == {safe_name(u): b"x" * n for u, n in zip(urls, sizes, strict=True)}


def test_save_writes_one_file_per_distinct_url(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    one, two = server.url("/sized?bytes=10"), server.url("/sized?bytes=10&again=1")
    target = tmp_path / "bodies"
    result = run_cli(str(url_file(one, two, one, two, one)), "--save", str(target), "-q", "-c", "1")
    assert result.exit_code == 0
    assert sorted(files_in(target)) == sorted({safe_name(one), safe_name(two)})


def test_save_leaves_no_temporary_files(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    urls = [server.url(f"/sized?bytes={1000 * n}") for n in range(20)]
    target = tmp_path / "bodies"
    run_cli(str(url_file(*urls)), "--save", str(target), "-q", "-c", "8")
    names = sorted(files_in(target))
    assert len(names) == 20
    assert not [name for name in names if ".part" in name]


def test_save_creates_a_missing_directory(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    target = tmp_path / "a" / "b"
    result = run_cli(str(url_file(server.url("/sized?bytes=3"))), "--save", str(target), "-q")
    assert result.exit_code == 0 and list(files_in(target).values()) == [b"xxx"]


def test_save_keeps_hostile_paths_inside_the_directory(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    base = server.base_url
    urls = [f"{base}/..%2f..%2fescaped", f"{base}/%2e%2e/%2e%2e/escaped2", f"{base}/.."]
    target = tmp_path / "deep" / "bodies"
    run_cli(str(url_file(*urls, name="list.txt")), "--save", str(target), "-q")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "list.txt"]
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["bodies"]
    assert len(files_in(target)) == 3


def test_save_marks_a_truncated_body_and_keeps_only_max_body_bytes(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    url = server.url("/sized?bytes=50000")
    target = tmp_path / "bodies"
    result = run_cli(
        str(url_file(url)), "--save", str(target), "--max-body", "700", "-q", "--format", "jsonl"
    )
    (record,) = jsonl(result.stdout)
    assert record["truncated"] is True and record["size"] == 700
    assert files_in(target) == {marked_truncated(safe_name(url)): b"x" * 700}
    assert record["saved"] == str(target / marked_truncated(safe_name(url)))


def test_save_does_not_mark_a_body_of_exactly_max_body(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    url = server.url("/sized?bytes=700")
    target = tmp_path / "bodies"
    run_cli(str(url_file(url)), "--save", str(target), "--max-body", "700", "-q")
    assert files_in(target) == {safe_name(url): b"x" * 700}


def test_save_leaves_nothing_for_a_body_that_fails_part_way(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    url = server.url("/reset-after-headers")
    target = tmp_path / "bodies"
    result = run_cli(
        str(url_file(url)), "--save", str(target), "-q", "-r", "0", "--format", "jsonl"
    )
    (record,) = jsonl(result.stdout)
    assert record["ok"] is False and record["error"] is not None
    assert files_in(target) == {}


def test_save_into_a_regular_file_is_a_usage_error(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"keep me")
    result = run_cli(str(url_file(server.url("/sized?bytes=3"))), "--save", str(blocker), "-q")
    assert result.exit_code == 2
    assert "--save" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) <= 5
    assert blocker.read_bytes() == b"keep me"
    assert server.requests["/sized"] == 0


def test_save_does_not_retry_a_body_that_was_partly_saved(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    path = url_file(server.url("/reset-after-headers"))
    args = ("-q", "-r", "2", "--backoff", "0.01", "--format", "jsonl")
    result = run_cli(str(path), "--save", str(tmp_path / "bodies"), *args)
    (record,) = jsonl(result.stdout)
    assert record["attempts"] == 1 and record["ok"] is False
    assert server.requests["/reset-after-headers"] == 1


def test_save_does_not_retry_a_body_that_timed_out_after_part_was_saved(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    # A timeout is retryable whatever the transport, so only --save stops the retry here.
    path = url_file(server.url("/trickle?bytes=100&delay=0.05"))
    args = ("-q", "-r", "2", "--backoff", "0.01", "-t", "0.3", "--format", "jsonl")
    result = run_cli(str(path), "--save", str(tmp_path / "bodies"), *args)
    (record,) = jsonl(result.stdout)
    assert record["error"] == "timeout" and record["attempts"] == 1
    assert server.requests["/trickle"] == 1


def test_without_save_a_body_that_timed_out_part_way_is_retried(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile
) -> None:
    # The control for the test above: the same failure is retried when nothing was saved.
    path = url_file(server.url("/trickle?bytes=100&delay=0.05"))
    args = ("-q", "-r", "2", "--backoff", "0.01", "-t", "0.3", "--format", "jsonl")
    result = run_cli(str(path), *args)
    (record,) = jsonl(result.stdout)
    assert record["error"] == "timeout" and record["attempts"] == 3


def test_save_of_one_url_fetched_concurrently_leaves_one_whole_file(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    url = server.url("/sized?bytes=200000")
    target = tmp_path / "bodies"
    result = run_cli(str(url_file(*[url] * 16)), "--save", str(target), "-q", "-c", "8")
    assert result.exit_code == 0
    assert files_in(target) == {safe_name(url): b"x" * 200_000}


def test_save_leaves_nothing_for_a_body_that_times_out(
    server: ThreadedServer, run_cli: RunCli, url_file: UrlFile, tmp_path: Path
) -> None:
    path = url_file(server.url("/trickle?bytes=100&delay=0.05"))
    target = tmp_path / "bodies"
    result = run_cli(
        str(path), "--save", str(target), "-q", "-r", "0", "-t", "0.4", "--format", "jsonl"
    )
    (record,) = jsonl(result.stdout)
    assert record["error"] == "timeout" and 0 < record["size"] < 100
    assert files_in(target) == {}


# Under --workers 2 a lone URL goes to the child process (children first on a tie).
@pytest.mark.parametrize("workers", [1, 2])
def test_a_save_directory_that_fails_mid_run_stops_it_with_a_usage_error(
    run_cli: RunCli, url_file: UrlFile, tmp_path: Path, httpserver: HTTPServer, workers: int
) -> None:
    save = tmp_path / "bodies"

    def remove_dir_then_answer(_request: Request) -> Response:
        shutil.rmtree(save, ignore_errors=True)
        return Response("body")

    httpserver.expect_request("/gone").respond_with_handler(remove_dir_then_answer)
    args = ["--save", str(save), "-q", "-r", "2", "--workers", str(workers)]
    result = run_cli(str(url_file(httpserver.url_for("/gone"))), *args)
    assert result.exit_code == 2 and "--save" in result.stderr
    assert len(httpserver.log) == 1  # not retried: the disk failed, not the URL
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "start", "end"),
    [
        ("https://a.example/docs/page1.html", "a.example__docs_page1-", ".html"),
        ("https://a.example/archive.tar.gz", "a.example__archive.tar-", ".gz"),
        ("https://a.example/", "a.example-", ""),
        ("https://a.example/v1.2/api", "a.example__v1.2_api-", ""),
    ],
)
def test_safe_name_keeps_the_extension_last(url: str, start: str, end: str) -> None:
    name = safe_name(url)
    assert name.startswith(start) and name.endswith(end)
    assert marked_truncated(name).endswith(f".truncated{end}")
