"""The local-file and anchor checker on real trees: targets, fallbacks, index files, anchors."""

from __future__ import annotations

import asyncio
import errno
import mimetypes
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import fetchcli.local.checker
from fetchcli.local import LocalChecker, LocalRules
from fetchcli.model import ErrorKind, FetchResult, UrlRecord
from fetchcli.sources.documents import DocumentKind, anchors

INSTALL = """\
# Install

## Setup

First.

## Setup

Again.

## Setup

## Options {#custom-id}

<a id="raw-id"></a>

# Änderungen
"""
PAGE = '<html><body><h1 id="intro">Intro</h1><a name="legacy">old</a></body></html>\n'
GUIDE = '<html><body><h2 id="top-section">Guide</h2></body></html>\n'
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docs tree in tmp_path, which is also the cwd (messages show relative paths)."""
    docs = tmp_path / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / "empty").mkdir()
    (docs / "both").mkdir()
    (docs / "folder.md").mkdir()
    (docs / "install.md").write_text(INSTALL, encoding="utf-8")
    (docs / "page.html").write_text(PAGE, encoding="utf-8")
    (docs / "guide" / "index.html").write_text(GUIDE, encoding="utf-8")
    (docs / "both" / "index.html").write_text(GUIDE, encoding="utf-8")
    (docs / "both" / "README.md").write_text("# Both\n", encoding="utf-8")
    (docs / "notes.txt").write_text("plain notes\n", encoding="utf-8")
    (docs / "my file.md").write_text("# Spaced Out\n", encoding="utf-8")
    (docs / "rate 100%.md").write_text("# Rates\n", encoding="utf-8")
    (docs / "page.md").write_text("# Markdown Page\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def uri(path: Path, fragment: str | None = None) -> str:
    """The file:// URI the sources layer makes of a link: `as_uri()` plus `#fragment`."""
    return path.as_uri() + ("" if fragment is None else f"#{fragment}")


def check_all(checker: LocalChecker, *urls: str) -> list[FetchResult]:
    """Check every URL concurrently in one event loop, as the engine would."""

    async def main() -> list[FetchResult]:
        records = [UrlRecord(source="README.md", line=7, column=14, url=url) for url in urls]
        return list(await asyncio.gather(*(checker(record) for record in records)))

    return asyncio.run(main())


def check(url: str, rules: LocalRules | None = None) -> FetchResult:
    """Check one URL with a fresh checker."""
    return check_all(LocalChecker(rules or LocalRules()), url)[0]


# Found targets


def test_existing_file_result_fields(tree: Path) -> None:
    target = tree / "docs" / "install.md"
    result = check(uri(target))
    assert result.source == "README.md"
    assert result.line == 7
    assert result.url == uri(target)
    assert result.final_url == uri(target)
    assert result.status is None
    assert result.ok is True
    assert result.size == target.stat().st_size
    assert 0.0 <= result.elapsed < 5.0
    assert result.attempts == 1
    assert result.redirects == 0
    assert result.content_type == mimetypes.guess_type(target.as_uri())[0]
    assert result.truncated is False
    assert result.error is None
    assert result.message is None
    assert result.column == 14
    assert result.cached is False
    assert result.saved is None
    assert RFC3339_UTC.fullmatch(result.fetched_at or "")


def test_html_file_gets_its_content_type(tree: Path) -> None:
    assert check(uri(tree / "docs" / "page.html")).content_type == "text/html"


def test_file_of_unknown_type_has_no_content_type(tree: Path) -> None:
    (tree / "docs" / "blob.fetchcli-unknown").write_bytes(b"\x00")
    result = check(uri(tree / "docs" / "blob.fetchcli-unknown"))
    assert result.ok is True
    assert result.content_type is None


def test_percent_encoded_spaces_name_the_file(tree: Path) -> None:
    url = uri(tree / "docs" / "my file.md")
    assert "my%20file.md" in url
    result = check(url)
    assert result.ok is True
    assert result.final_url == url


def test_percent_sign_in_a_name_is_decoded_once(tree: Path) -> None:
    url = uri(tree / "docs" / "rate 100%.md", "rates")
    assert "rate%20100%25.md" in url
    result = check(url)
    assert result.ok is True
    assert result.size == len("# Rates\n")


def test_symlink_to_a_file_is_followed(tree: Path) -> None:
    link = tree / "docs" / "link.md"
    link.symlink_to(tree / "docs" / "install.md")
    result = check(uri(link, "custom-id"))
    assert result.ok is True
    assert result.final_url == uri(link)
    assert result.size == (tree / "docs" / "install.md").stat().st_size


def test_broken_symlink_is_a_missing_file(tree: Path) -> None:
    (tree / "docs" / "dangling.md").symlink_to(tree / "docs" / "gone.md")
    result = check(uri(tree / "docs" / "dangling.md"))
    assert result.error is ErrorKind.FILE
    assert result.message == "no such file: docs/dangling.md"


# Missing targets


def test_missing_file_result_fields(tree: Path) -> None:
    url = uri(tree / "docs" / "missing.md", "setup")
    result = check(url)
    assert result.source == "README.md"
    assert result.line == 7
    assert result.url == url
    assert result.final_url is None
    assert result.status is None
    assert result.ok is False
    assert result.size is None
    assert result.attempts == 1
    assert result.content_type is None
    assert result.error is ErrorKind.FILE
    assert result.message == "no such file: docs/missing.md"
    assert result.column == 14
    assert RFC3339_UTC.fullmatch(result.fetched_at or "")


def test_missing_file_outside_the_cwd_is_shown_absolute(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree / "elsewhere").mkdir()
    monkeypatch.chdir(tree / "elsewhere")
    result = check(uri(tree / "docs" / "missing.md"))
    assert result.message == f"no such file: {tree / 'docs' / 'missing.md'}"


def test_trailing_slash_after_a_file_is_a_missing_file(tree: Path) -> None:
    result = check(uri(tree / "docs" / "install.md") + "/")
    assert result.error is ErrorKind.FILE
    assert result.message == "no such file: docs/install.md/"


# Fallback extensions


@pytest.mark.parametrize("extension", ["md", ".md"])
def test_fallback_extension_finds_the_file(tree: Path, extension: str) -> None:
    result = check(uri(tree / "docs" / "install"), LocalRules(fallback_extensions=(extension,)))
    assert result.ok is True
    assert result.final_url == uri(tree / "docs" / "install.md")
    assert result.size == (tree / "docs" / "install.md").stat().st_size


def test_fallback_extensions_are_tried_in_order(tree: Path) -> None:
    result = check(uri(tree / "docs" / "page"), LocalRules(fallback_extensions=("html", "md")))
    assert result.final_url == uri(tree / "docs" / "page.html")


def test_fallback_file_is_checked_for_the_fragment(tree: Path) -> None:
    rules = LocalRules(fallback_extensions=("md",))
    result = check(uri(tree / "docs" / "install", "nowhere"), rules)
    assert result.error is ErrorKind.FRAGMENT
    assert result.message == "no anchor #nowhere in docs/install.md"


def test_missing_file_after_fallbacks_names_the_link_target(tree: Path) -> None:
    result = check(uri(tree / "docs" / "absent"), LocalRules(fallback_extensions=("md", "html")))
    assert result.error is ErrorKind.FILE
    assert result.message == "no such file: docs/absent"


# Folders and index files


def test_folder_is_ok_without_index_files(tree: Path) -> None:
    result = check(uri(tree / "docs" / "empty"))
    assert result.ok is True
    assert result.final_url == uri(tree / "docs" / "empty")
    assert result.size is None
    assert result.content_type is None
    assert result.attempts == 1


def test_folder_resolves_to_its_index_file(tree: Path) -> None:
    index = tree / "docs" / "guide" / "index.html"
    result = check(uri(tree / "docs" / "guide"), LocalRules(index_files=("index.html",)))
    assert result.ok is True
    assert result.final_url == uri(index)
    assert result.size == index.stat().st_size
    assert result.content_type == "text/html"


def test_index_files_are_tried_in_order(tree: Path) -> None:
    rules = LocalRules(index_files=("README.md", "index.html"))
    result = check(uri(tree / "docs" / "both"), rules)
    assert result.final_url == uri(tree / "docs" / "both" / "README.md")


def test_folder_without_any_index_file_is_a_file_error(tree: Path) -> None:
    rules = LocalRules(index_files=("index.html", "README.md"))
    result = check(uri(tree / "docs" / "empty"), rules)
    assert result.ok is False
    assert result.final_url is None
    assert result.error is ErrorKind.FILE
    assert result.message == "no index file (index.html, README.md) in docs/empty"


def test_fragment_is_checked_in_the_index_file(tree: Path) -> None:
    checker = LocalChecker(LocalRules(index_files=("index.html",)))
    folder = tree / "docs" / "guide"
    found, missing = check_all(checker, uri(folder, "top-section"), uri(folder, "nope"))
    assert found.ok is True
    assert missing.error is ErrorKind.FRAGMENT
    assert missing.message == "no anchor #nope in docs/guide/index.html"


def test_fragment_on_a_folder_named_like_a_document_is_a_file_error(tree: Path) -> None:
    result = check(uri(tree / "docs" / "folder.md", "intro"))
    assert result.ok is False
    assert result.error is ErrorKind.FILE
    assert result.message == f"{os.strerror(errno.EISDIR)}: docs/folder.md"


# Fragments


def test_heading_slug_is_an_anchor(tree: Path) -> None:
    assert check(uri(tree / "docs" / "install.md", "setup")).ok is True


@pytest.mark.parametrize("fragment", ["setup-1", "setup-2"])
def test_repeated_headings_are_numbered_anchors(tree: Path, fragment: str) -> None:
    assert check(uri(tree / "docs" / "install.md", fragment)).ok is True


def test_missing_anchor_result_fields(tree: Path) -> None:
    target = tree / "docs" / "install.md"
    result = check(uri(target, "setup-3"))
    assert result.ok is False
    assert result.status is None
    assert result.final_url == uri(target)
    assert result.size == target.stat().st_size
    assert result.attempts == 1
    assert result.error is ErrorKind.FRAGMENT
    assert result.message == "no anchor #setup-3 in docs/install.md"


def test_custom_id_is_an_anchor(tree: Path) -> None:
    assert check(uri(tree / "docs" / "install.md", "custom-id")).ok is True


def test_raw_html_id_in_markdown_is_an_anchor(tree: Path) -> None:
    assert check(uri(tree / "docs" / "install.md", "raw-id")).ok is True


@pytest.mark.parametrize("fragment", ["intro", "legacy"])
def test_html_id_and_name_are_anchors(tree: Path, fragment: str) -> None:
    assert check(uri(tree / "docs" / "page.html", fragment)).ok is True


def test_markdown_fragment_also_matches_lower_cased_as_on_github(tree: Path) -> None:
    assert check(uri(tree / "docs" / "install.md", "Setup")).ok is True


def test_html_fragment_must_match_the_id_exactly(tree: Path) -> None:
    result = check(uri(tree / "docs" / "page.html", "Intro"))
    assert result.error is ErrorKind.FRAGMENT
    assert result.message == "no anchor #Intro in docs/page.html"


def test_percent_encoded_fragment_is_decoded(tree: Path) -> None:
    assert check(uri(tree / "docs" / "install.md", "%C3%A4nderungen")).ok is True


@pytest.mark.parametrize("fragment", ["", "top", "Top"])
def test_empty_and_top_fragments_are_always_ok(tree: Path, fragment: str) -> None:
    assert check(uri(tree / "docs" / "install.md", fragment)).ok is True


@pytest.mark.parametrize("name", ["install.md", "page.html", "notes.txt"])
@pytest.mark.parametrize("fragment", ["L10", "L10-L20", "L3C2-L4C7"])
def test_line_fragments_are_ok_on_any_file(tree: Path, name: str, fragment: str) -> None:
    assert check(uri(tree / "docs" / name, fragment)).ok is True


@pytest.mark.parametrize("fragment", ["setup:~:text=First", ":~:text=Again"])
def test_text_directive_is_not_part_of_the_fragment(tree: Path, fragment: str) -> None:
    assert check(uri(tree / "docs" / "install.md", fragment)).ok is True


def test_fragment_on_a_text_file_is_not_checked(tree: Path) -> None:
    assert check(uri(tree / "docs" / "notes.txt", "anything")).ok is True


def test_fragments_are_not_checked_when_turned_off(tree: Path) -> None:
    result = check(uri(tree / "docs" / "install.md", "nowhere"), LocalRules(check_fragments=False))
    assert result.ok is True


def skip_if_modes_are_ignored(path: Path) -> None:
    """Skip when root (with CAP_DAC_OVERRIDE) still reads `path` after a chmod 0."""
    if os.geteuid() != 0:
        return
    try:
        if path.is_dir():
            list(path.iterdir())
        else:
            path.read_bytes()
    except PermissionError:
        return
    pytest.skip("root reads files whatever their mode")


def test_unreadable_file_with_a_fragment_is_a_file_error(tree: Path) -> None:
    secret = tree / "docs" / "secret.md"
    secret.write_text("# Secret\n", encoding="utf-8")
    secret.chmod(0)
    try:
        skip_if_modes_are_ignored(secret)
        result = check(uri(secret, "secret"))
    finally:
        secret.chmod(0o644)
    assert result.ok is False
    assert result.error is ErrorKind.FILE
    assert result.message == f"{os.strerror(errno.EACCES)}: docs/secret.md"


def test_target_in_a_folder_that_cannot_be_searched_is_a_file_error(tree: Path) -> None:
    locked = tree / "docs" / "locked"
    locked.mkdir()
    (locked / "a.md").write_text("# A\n", encoding="utf-8")
    locked.chmod(0)
    try:
        skip_if_modes_are_ignored(locked)
        result = check(uri(locked / "a.md"))
    finally:
        locked.chmod(0o755)
    assert result.error is ErrorKind.FILE
    assert result.message == f"{os.strerror(errno.EACCES)}: docs/locked/a.md"


@pytest.mark.timeout(10)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_named_like_a_document_does_not_hang(tree: Path) -> None:
    os.mkfifo(tree / "docs" / "pipe.md")
    result = check(uri(tree / "docs" / "pipe.md", "intro"))
    assert result.error is ErrorKind.FRAGMENT


def test_parser_crash_fails_the_link_not_the_run(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_anchors(text: str, kind: DocumentKind) -> frozenset[str]:
        raise RecursionError("too deep")

    monkeypatch.setattr(fetchcli.local.checker, "anchors", broken_anchors)
    result = check(uri(tree / "docs" / "install.md", "setup"))
    assert result.error is ErrorKind.FILE
    assert result.message == "cannot parse anchors (RecursionError): docs/install.md"


# Other records


def test_record_with_an_error_gives_the_invalid_result() -> None:
    record = UrlRecord(source="README.md", line=2, url="docs/[x", error="bad link")
    result = asyncio.run(LocalChecker(LocalRules())(record))
    assert result.error is ErrorKind.INVALID_URL
    assert result.message == "bad link"
    assert result.attempts == 0


@pytest.mark.parametrize("url", ["https://a.example/", "file://server/share/a.md", "file:a.md"])
def test_url_that_is_no_local_file_is_invalid(url: str) -> None:
    result = check(url)
    assert result.ok is False
    assert result.url == url
    assert result.error is ErrorKind.INVALID_URL
    assert result.message
    assert result.attempts == 0
    assert result.column == 14


# Caches and concurrency


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each document the checker parses for anchors."""
    parsed: list[str] = []

    def counted_anchors(text: str, kind: DocumentKind) -> frozenset[str]:
        parsed.append(text)
        return anchors(text, kind)

    monkeypatch.setattr(fetchcli.local.checker, "anchors", counted_anchors)
    return parsed


def test_concurrent_checks_of_one_file_parse_it_once(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = counting(monkeypatch)
    target = tree / "docs" / "install.md"
    urls = [uri(target, fragment) for fragment in ("setup", "setup-1", "nowhere") * 20]
    results = check_all(LocalChecker(LocalRules()), *urls)
    assert [result.ok for result in results] == [True, True, False] * 20
    assert parsed == [INSTALL]


def test_later_checks_of_one_file_reuse_its_anchors(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = counting(monkeypatch)
    checker = LocalChecker(LocalRules())
    target = tree / "docs" / "install.md"

    async def one_by_one() -> list[bool]:
        records = [UrlRecord(source="a.md", line=n, url=uri(target, "setup")) for n in (1, 2)]
        return [(await checker(record)).ok for record in records]

    assert asyncio.run(one_by_one()) == [True, True]
    assert len(parsed) == 1


def test_concurrent_checks_of_one_path_stat_it_once(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = str(tree / "docs" / "install.md")
    stats: list[str] = []
    real_stat: Callable[..., os.stat_result] = os.stat

    def stat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        stats.append(path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    check_all(LocalChecker(LocalRules()), *[uri(Path(target))] * 30)
    assert stats.count(target) == 1


def test_cancelled_check_leaves_the_shared_parse_to_the_others(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def slow_anchors(text: str, kind: DocumentKind) -> frozenset[str]:
        release.wait(5)
        return anchors(text, kind)

    monkeypatch.setattr(fetchcli.local.checker, "anchors", slow_anchors)
    checker = LocalChecker(LocalRules())
    record = UrlRecord(source="a.md", line=1, url=uri(tree / "docs" / "install.md", "setup"))

    async def main() -> tuple[bool, bool]:
        first = asyncio.create_task(checker(record))
        second = asyncio.create_task(checker(record))
        await asyncio.sleep(0.05)
        first.cancel()
        release.set()
        result = await second
        with pytest.raises(asyncio.CancelledError):
            await first
        return first.cancelled(), result.ok

    assert asyncio.run(main()) == (True, True)


# Rules


@pytest.mark.parametrize("extension", ["", ".", "md/x"])
def test_rules_reject_a_bad_fallback_extension(extension: str) -> None:
    with pytest.raises(ValueError, match="--fallback-extensions"):
        LocalRules(fallback_extensions=(extension,))


@pytest.mark.parametrize("name", ["", "..", "docs/index.html"])
def test_rules_reject_a_bad_index_file(name: str) -> None:
    with pytest.raises(ValueError, match="--index-files"):
        LocalRules(index_files=(name,))


def test_rules_reject_one_string_for_a_tuple() -> None:
    with pytest.raises(ValueError, match="--fallback-extensions"):
        LocalRules(fallback_extensions="md")  # type: ignore[arg-type]


# Speed


def big_tree(root: Path) -> list[str]:
    """100 Markdown files in 10 folders, and 5 000 links into them (1 in 10 broken)."""
    targets: list[tuple[Path, int]] = []
    for folder in range(10):
        (root / f"part{folder}").mkdir(parents=True)
        for page in range(10):
            path = root / f"part{folder}" / f"page{page}.md"
            body = "".join(f"## Section {n}\n\nText with a [link](../x.md).\n\n" for n in range(30))
            path.write_text(f"# Page {folder}.{page}\n\n{body}", encoding="utf-8")
            targets.append((path, 30))
    urls = []
    for n in range(5000):
        path, sections = targets[n % len(targets)]
        if n % 10 == 9:
            urls.append(uri(path, "no-such-section") if n % 20 else uri(path.with_suffix(".txt")))
        elif n % 10 == 8:
            urls.append(uri(path.parent))
        else:
            urls.append(uri(path, f"section-{n % sections}"))
    return urls


@pytest.mark.slow
def test_five_thousand_links_into_a_hundred_files_read_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How fast is for benchmarks/linkcheck.py (its --offline row); here, what makes it fast:
    # each target file is parsed for anchors once, however many links point into it, and a
    # second pass over the same links parses nothing.
    urls = big_tree(tmp_path)
    parsed: list[int] = []

    def counted_anchors(text: str, kind: DocumentKind) -> frozenset[str]:
        parsed.append(len(text))
        return anchors(text, kind)

    monkeypatch.setattr(fetchcli.local.checker, "anchors", counted_anchors)
    checker = LocalChecker(LocalRules())
    first = check_all(checker, *urls)
    assert sum(not result.ok for result in first) == 500
    assert len(parsed) == 90  # the 10 files that only their folder links name are not read
    again = check_all(checker, *urls)
    assert [r.ok for r in again] == [r.ok for r in first] and len(parsed) == 90
