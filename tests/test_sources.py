"""Input rules: lazy readers, skip/scheme/length rules, shard, unique, filters, extract."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetchcli.model import UrlRecord
from fetchcli.options import MAX_LINE_BYTES, InputRules
from fetchcli.sources.normal_form import normalize_url
from fetchcli.sources.readers import aiter_in_thread, count_records, iter_records
from fetchcli.sources.rules import InputFilter, SourceStats, extract_urls

# --- helpers ----------------------------------------------------------------


def write(tmp_path: Path, data: bytes, name: str = "urls.txt") -> str:
    """Write raw bytes to a file in tmp_path and return its path as a string."""
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def read(
    tmp_path: Path, data: bytes, stats: SourceStats | None = None, **options: object
) -> list[UrlRecord]:
    """All records of one file holding `data`, read with InputRules(**options)."""
    return list(iter_records([write(tmp_path, data)], InputRules(**options), stats))  # type: ignore[arg-type]


def urls(records: list[UrlRecord]) -> list[str]:
    return [record.url for record in records]


def padded_url(size: int) -> str:
    """A valid URL of exactly `size` ASCII bytes."""
    prefix = "https://a.example/"
    return prefix + "a" * (size - len(prefix))


def make_records(count: int) -> Iterator[UrlRecord]:
    for number in range(1, count + 1):
        yield UrlRecord(source="s", line=number, url=f"https://e.example/{number}")


# --- blank and comment lines ------------------------------------------------


def test_blank_line_gives_no_record(tmp_path: Path) -> None:
    assert read(tmp_path, b"\n\n\n") == []


def test_whitespace_only_line_gives_no_record(tmp_path: Path) -> None:
    assert read(tmp_path, b"   \t  \r\n") == []


def test_comment_line_gives_no_record(tmp_path: Path) -> None:
    assert read(tmp_path, b"# https://a.example/\n") == []


def test_comment_after_whitespace_is_skipped(tmp_path: Path) -> None:
    assert read(tmp_path, b"   # note\n\t# another\n") == []


def test_empty_file_gives_no_records(tmp_path: Path) -> None:
    assert read(tmp_path, b"") == []


def test_every_other_line_gives_exactly_one_record(tmp_path: Path) -> None:
    data = b"a.example\n\n# c\nftp://b.example/\nhttps://c.example/x y\nd.example\n"
    records = read(tmp_path, data)
    assert [r.line for r in records] == [1, 4, 5, 6]


def test_line_numbers_are_one_based_and_count_skipped_lines(tmp_path: Path) -> None:
    records = read(tmp_path, b"a.example\n\n# note\n   \nb.example\n")
    assert [(r.line, r.url) for r in records] == [
        (1, "https://a.example/"),
        (5, "https://b.example/"),
    ]


def test_surrounding_whitespace_is_stripped(tmp_path: Path) -> None:
    records = read(tmp_path, b"  \t https://a.example/p \t \n")
    assert urls(records) == ["https://a.example/p"]
    assert records[0].error is None


def test_crlf_line_endings_are_stripped(tmp_path: Path) -> None:
    records = read(tmp_path, b"https://a.example/\r\nhttps://b.example/\r\n")
    assert urls(records) == ["https://a.example/", "https://b.example/"]
    assert all(r.error is None for r in records)


def test_last_line_without_newline_gives_a_record(tmp_path: Path) -> None:
    records = read(tmp_path, b"a.example\nb.example")
    assert [(r.line, r.url) for r in records] == [
        (1, "https://a.example/"),
        (2, "https://b.example/"),
    ]


def test_source_name_is_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, b"a.example\n", name="list.txt")
    monkeypatch.chdir(tmp_path)
    records = list(iter_records(["list.txt"], InputRules()))
    assert [r.source for r in records] == ["list.txt"]


def test_sources_are_read_in_order_with_their_own_line_numbers(tmp_path: Path) -> None:
    first = write(tmp_path, b"a.example\nb.example\n", name="one.txt")
    second = write(tmp_path, b"\nc.example\n", name="two.txt")
    records = list(iter_records([first, second], InputRules()))
    assert [(r.source, r.line, r.url) for r in records] == [
        (first, 1, "https://a.example/"),
        (first, 2, "https://b.example/"),
        (second, 2, "https://c.example/"),
    ]


def test_stdin_source_is_named_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"# c\na.example\n")))
    records = list(iter_records(["-"], InputRules()))
    assert [(r.source, r.line, r.url) for r in records] == [("-", 2, "https://a.example/")]


def test_missing_source_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        list(iter_records([str(tmp_path / "missing.txt")], InputRules()))


# --- scheme and validity ----------------------------------------------------


def test_bare_host_gets_https(tmp_path: Path) -> None:
    records = read(tmp_path, b"example.com/path\n")
    assert urls(records) == ["https://example.com/path"]
    assert records[0].error is None


def test_bare_host_gets_http_with_default_scheme_http(tmp_path: Path) -> None:
    records = read(tmp_path, b"example.com/path\n", default_scheme="http")
    assert urls(records) == ["http://example.com/path"]


def test_http_url_keeps_its_scheme(tmp_path: Path) -> None:
    assert urls(read(tmp_path, b"http://a.example/\n")) == ["http://a.example/"]


def test_upper_case_scheme_and_host_are_lower_cased(tmp_path: Path) -> None:
    assert urls(read(tmp_path, b"HTTPS://A.example/P\n")) == ["https://a.example/P"]


@pytest.mark.parametrize(
    "line",
    [
        b"ftp://files.example/a.txt",
        b"javascript:alert(1)",
        b"file:///etc/passwd",
        b"mailto:someone@a.example",
        b"data:text/plain,hi",
    ],
)
def test_unsupported_scheme_gives_error_record(tmp_path: Path, line: bytes) -> None:
    records = read(tmp_path, line + b"\n")
    assert len(records) == 1
    assert records[0].error
    assert records[0].url == line.decode()


def test_host_with_port_is_not_a_scheme(tmp_path: Path) -> None:
    records = read(tmp_path, b"host:8080/path\n")
    assert urls(records) == ["https://host:8080/path"]
    assert records[0].error is None


def test_host_with_port_and_no_path_is_not_a_scheme(tmp_path: Path) -> None:
    records = read(tmp_path, b"localhost:8080\n")
    assert urls(records) == ["https://localhost:8080/"]
    assert records[0].error is None


def test_whitespace_inside_url_gives_error_record(tmp_path: Path) -> None:
    records = read(tmp_path, b"https://a.example/a b\n")
    assert len(records) == 1
    assert records[0].error


def test_tab_inside_url_gives_error_record(tmp_path: Path) -> None:
    records = read(tmp_path, b"https://a.example/a\tb\n")
    assert len(records) == 1
    assert records[0].error


def test_control_character_inside_url_gives_error_record(tmp_path: Path) -> None:
    records = read(tmp_path, b"https://a.example/\x1b[31m\n")
    assert len(records) == 1
    assert records[0].error


def test_url_without_host_gives_error_record(tmp_path: Path) -> None:
    records = read(tmp_path, b"https://\n")
    assert len(records) == 1
    assert records[0].error


def test_undecodable_line_gives_error_record_with_escaped_url(tmp_path: Path) -> None:
    records = read(tmp_path, b"\xff\xfeexample.com/\xe9\n")
    assert len(records) == 1
    assert records[0].error
    assert records[0].url == "\\xff\\xfeexample.com/\\xe9"


def test_undecodable_line_does_not_stop_the_run(tmp_path: Path) -> None:
    records = read(tmp_path, b"\xff\nb.example\n")
    assert [(r.line, r.error is None) for r in records] == [(1, False), (2, True)]


def test_non_ascii_utf8_url_is_accepted_with_its_host_idna_encoded(tmp_path: Path) -> None:
    records = read(tmp_path, "https://münchen.example/straße\n".encode())
    assert urls(records) == ["https://xn--mnchen-3ya.example/straße"]
    assert records[0].error is None


def test_line_of_8193_bytes_gives_error_record(tmp_path: Path) -> None:
    records = read(tmp_path, padded_url(MAX_LINE_BYTES + 1).encode() + b"\n")
    assert len(records) == 1
    assert records[0].error


def test_line_of_8192_bytes_is_accepted(tmp_path: Path) -> None:
    url = padded_url(MAX_LINE_BYTES)
    records = read(tmp_path, url.encode() + b"\n")
    assert urls(records) == [url]
    assert records[0].error is None


def test_line_of_8192_bytes_with_surrounding_whitespace_is_accepted(tmp_path: Path) -> None:
    url = padded_url(MAX_LINE_BYTES)
    records = read(tmp_path, b"    " + url.encode() + b"  \t\r\n")
    assert urls(records) == [url]
    assert records[0].error is None


def test_length_limit_counts_bytes_not_characters(tmp_path: Path) -> None:
    # 4097 two-byte characters are 8194 bytes.
    records = read(tmp_path, ("https://a.example/" + "é" * 4097).encode() + b"\n")
    assert len(records) == 1
    assert records[0].error


@pytest.mark.parametrize("size", [1_000_000, 1024 * 1024, 65536, 65535 + 8])
def test_huge_line_gives_one_error_record_and_next_line_is_kept(tmp_path: Path, size: int) -> None:
    data = padded_url(size).encode() + b"\nb.example/ok\n"
    records = read(tmp_path, data)
    assert [(r.line, r.error is None) for r in records] == [(1, False), (2, True)]
    assert records[1].url == "https://b.example/ok"


def test_huge_line_without_newline_at_end_gives_one_error_record(tmp_path: Path) -> None:
    records = read(tmp_path, b"a.example\n" + b"x" * 1_000_000)
    assert [(r.line, r.error is None) for r in records] == [(1, True), (2, False)]


def test_huge_line_error_record_url_is_short(tmp_path: Path) -> None:
    records = read(tmp_path, b"x" * 1_000_000 + b"\n")
    assert len(records[0].url) < 1000


def test_huge_whitespace_only_line_gives_no_record(tmp_path: Path) -> None:
    assert read(tmp_path, b" " * 70_000 + b"\nb.example\n") == [
        UrlRecord(source=str(tmp_path / "urls.txt"), line=2, url="https://b.example/")
    ]


def test_url_followed_by_huge_trailing_whitespace_is_fetched_as_stripped(tmp_path: Path) -> None:
    assert urls(read(tmp_path, b"example.com" + b" " * 70_000 + b"\n")) == ["https://example.com/"]


def test_url_after_huge_leading_whitespace_is_fetched_as_stripped(tmp_path: Path) -> None:
    records = read(tmp_path, b" " * 70_000 + b"example.com\n")
    assert [(r.url, r.error) for r in records] == [("https://example.com/", None)]


def test_url_between_huge_whitespace_runs_is_fetched_as_stripped(tmp_path: Path) -> None:
    records = read(tmp_path, b" " * 70_000 + b"example.com" + b"\t" * 140_000 + b"\nb.example\n")
    assert [(r.line, r.url, r.error) for r in records] == [
        (1, "https://example.com/", None),
        (2, "https://b.example/", None),
    ]


def test_comment_after_huge_whitespace_is_skipped(tmp_path: Path) -> None:
    assert read(tmp_path, b" " * 70_000 + b"# note https://a.example/\n") == []


def test_huge_line_with_content_on_both_sides_of_inner_whitespace_is_too_long(
    tmp_path: Path,
) -> None:
    records = read(tmp_path, b"example.com" + b" " * 70_000 + b"x\nb.example\n")
    assert [(r.line, r.error is None) for r in records] == [(1, False), (2, True)]


# --- normalize_url ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", "https://example.com/"),
        ("example.com/a?b=1#c", "https://example.com/a?b=1#c"),
        ("https://example.com/", "https://example.com/"),
        ("http://example.com/", "http://example.com/"),
        ("HTTP://Example.com/A", "http://example.com/A"),
        ("localhost:8080", "https://localhost:8080/"),
        ("host:8080/path", "https://host:8080/path"),
        ("example.com:443?q=1", "https://example.com/?q=1"),
        ("https://user:pw@a.example:8443/p", "https://user:pw@a.example:8443/p"),
        ("https://[::1]:8080/", "https://[::1]:8080/"),
        ("127.0.0.1/x", "https://127.0.0.1/x"),
    ],
)
def test_normalize_url_accepts(text: str, expected: str) -> None:
    assert normalize_url(text) == (expected, None)


def test_normalize_url_uses_given_default_scheme() -> None:
    assert normalize_url("example.com", "http") == ("http://example.com/", None)


@pytest.mark.parametrize(
    "text",
    [
        "ftp://a.example/",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://",
        "https:///path",
        "https://a.example:/",
        "https://a.example:99999/",
        "https://[::1/",
        "https://a.example/a b",
        "https://a.example/\x00",
        "https://a.example/\x7f",
        "https://a.example/\x85",
    ],
)
def test_normalize_url_rejects(text: str) -> None:
    _, error = normalize_url(text)
    assert error


def test_normalize_url_returns_unsupported_text_unchanged() -> None:
    assert normalize_url("ftp://a.example/")[0] == "ftp://a.example/"


# --- --unique ---------------------------------------------------------------


def test_without_unique_repeats_are_kept(tmp_path: Path) -> None:
    assert len(read(tmp_path, b"a.example\na.example\n")) == 2


def test_unique_skips_repeated_url(tmp_path: Path) -> None:
    records = read(tmp_path, b"a.example/x\nb.example/\na.example/x\n", unique=True)
    assert [(r.line, r.url) for r in records] == [
        (1, "https://a.example/x"),
        (2, "https://b.example/"),
    ]


def test_unique_compares_after_normalization(tmp_path: Path) -> None:
    records = read(tmp_path, b"example.com/a\nhttps://example.com/a\n", unique=True)
    assert [(r.line, r.url) for r in records] == [(1, "https://example.com/a")]


def test_unique_applies_across_sources(tmp_path: Path) -> None:
    first = write(tmp_path, b"a.example\n", name="one.txt")
    second = write(tmp_path, b"a.example\nb.example\n", name="two.txt")
    records = list(iter_records([first, second], InputRules(unique=True)))
    assert [(r.source, r.line) for r in records] == [(first, 1), (second, 2)]


def test_unique_treats_http_and_https_as_different(tmp_path: Path) -> None:
    records = read(tmp_path, b"http://a.example/\nhttps://a.example/\n", unique=True)
    assert len(records) == 2


# --- --shard ----------------------------------------------------------------


def test_shard_positions_skip_blank_and_comment_lines(tmp_path: Path) -> None:
    data = b"# head\na.example\n\nb.example\n   # c\nc.example\nd.example\n"
    records = read(tmp_path, data, shard=(1, 2))
    assert [(r.line, r.url) for r in records] == [
        (2, "https://a.example/"),
        (6, "https://c.example/"),
    ]


def test_shard_positions_continue_across_sources(tmp_path: Path) -> None:
    first = write(tmp_path, b"a1.example\na2.example\na3.example\n", name="one.txt")
    second = write(tmp_path, b"# c\nb1.example\nb2.example\n", name="two.txt")
    records = list(iter_records([first, second], InputRules(shard=(2, 2))))
    assert [(r.source, r.line) for r in records] == [(first, 2), (second, 2)]


def test_shard_counts_invalid_lines_as_positions(tmp_path: Path) -> None:
    records = read(tmp_path, b"ftp://x\na.example\nb.example\n", shard=(1, 2))
    assert [r.line for r in records] == [1, 3]
    assert records[0].error


def test_shard_counts_excluded_urls_as_positions(tmp_path: Path) -> None:
    data = b"a.example\nb.example\nc.example\nd.example\n"
    records = read(tmp_path, data, shard=(2, 2), exclude=("b\\.example",))
    assert urls(records) == ["https://d.example/"]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_shards_partition_the_records_exactly(tmp_path: Path, n: int) -> None:
    first = write(tmp_path, b"".join(b"a%d.example\n# c\n\n" % i for i in range(10)), "one.txt")
    second = write(
        tmp_path, b"ftp://bad\n" + b"".join(b"b%d.example\n" % i for i in range(7)), "two.txt"
    )
    everything = list(iter_records([first, second], InputRules()))
    shards = [
        list(iter_records([first, second], InputRules(shard=(k, n)))) for k in range(1, n + 1)
    ]
    keys = [(r.source, r.line) for shard in shards for r in shard]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted((r.source, r.line) for r in everything)


def test_shard_is_applied_before_unique(tmp_path: Path) -> None:
    # positions: 0 a, 1 a, 2 b, 3 b. Shard first: 1/2 holds a (0) and b (2).
    data = b"a.example\na.example\nb.example\nb.example\n"
    assert [r.line for r in read(tmp_path, data, shard=(1, 2), unique=True)] == [1, 3]


def test_second_shard_with_unique_sees_its_own_positions(tmp_path: Path) -> None:
    data = b"a.example\na.example\nb.example\nb.example\n"
    assert [r.line for r in read(tmp_path, data, shard=(2, 2), unique=True)] == [2, 4]


def test_shard_string_option_is_honoured(tmp_path: Path) -> None:
    records = read(tmp_path, b"a.example\nb.example\nc.example\n", shard="3/3")
    assert [r.line for r in records] == [3]


# --- --include / --exclude --------------------------------------------------


def test_exclude_skips_matching_url(tmp_path: Path) -> None:
    records = read(tmp_path, b"a.example/x\nb.example/y\n", exclude=("a\\.example",))
    assert urls(records) == ["https://b.example/y"]


def test_exclude_is_counted_in_stats(tmp_path: Path) -> None:
    stats = SourceStats()
    read(tmp_path, b"a.example/1\na.example/2\nb.example\n", stats, exclude=("a\\.",))
    assert stats.excluded == 2


def test_include_keeps_only_matching_urls(tmp_path: Path) -> None:
    stats = SourceStats()
    records = read(tmp_path, b"a.example/doc\nb.example/img\n", stats, include=("/doc",))
    assert urls(records) == ["https://a.example/doc"]
    assert stats.excluded == 1


def test_any_include_pattern_may_match(tmp_path: Path) -> None:
    data = b"a.example\nb.example\nc.example\n"
    records = read(tmp_path, data, include=("//a\\.", "//c\\."))
    assert urls(records) == ["https://a.example/", "https://c.example/"]


def test_exclude_wins_over_include(tmp_path: Path) -> None:
    stats = SourceStats()
    records = read(
        tmp_path,
        b"a.example/keep\na.example/private/x\n",
        stats,
        include=("a\\.example",),
        exclude=("private",),
    )
    assert urls(records) == ["https://a.example/keep"]
    assert stats.excluded == 1


def test_patterns_are_searched_anywhere_in_url(tmp_path: Path) -> None:
    records = read(tmp_path, b"a.example/path/page.pdf\nb.example/\n", exclude=("\\.pdf",))
    assert urls(records) == ["https://b.example/"]


def test_patterns_see_the_normalized_url(tmp_path: Path) -> None:
    records = read(tmp_path, b"a.example/\n", include=("^https://a\\.example/$",))
    assert urls(records) == ["https://a.example/"]


def test_excluded_url_is_not_counted_as_duplicate(tmp_path: Path) -> None:
    stats = SourceStats()
    read(tmp_path, b"a.example\na.example\n", stats, unique=True, exclude=("a\\.",))
    assert stats.excluded == 2


# --- --extract --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("See [the docs](https://a.example/p) now", "https://a.example/p"),
        ("Autolink: <https://b.example/>", "https://b.example/"),
        ('<a href="https://c.example/x?y=1">c</a>', "https://c.example/x?y=1"),
        ("<a href='https://c.example/single'>c</a>", "https://c.example/single"),
        ("Read more at https://d.example/page.", "https://d.example/page"),
        ("It is there (https://e.example/q) too", "https://e.example/q"),
        ("Foo: https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        (
            "[Foo](https://en.wikipedia.org/wiki/Foo_(bar))",
            "https://en.wikipedia.org/wiki/Foo_(bar)",
        ),
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar)).",
            "https://en.wikipedia.org/wiki/Foo_(bar)",
        ),
        ('2024-01-01 GET url="https://f.example/a" 200', "https://f.example/a"),
        ("first https://g.example/x, then more", "https://g.example/x"),
        ("done: https://h.example/;", "https://h.example/"),
        ("HTTP://I.example/upper", "http://i.example/upper"),
    ],
)
def test_extract_finds_url_in_text(tmp_path: Path, line: str, expected: str) -> None:
    records = read(tmp_path, line.encode() + b"\n", extract=True)
    assert [(r.url, r.error) for r in records] == [(expected, None)]


def test_extract_line_with_several_urls_gives_several_records_with_same_line(
    tmp_path: Path,
) -> None:
    data = b"intro\n[a](https://a.example/) and <https://b.example/> and http://c.example/x.\n"
    records = read(tmp_path, data, extract=True)
    assert [(r.line, r.url) for r in records] == [
        (2, "https://a.example/"),
        (2, "https://b.example/"),
        (2, "http://c.example/x"),
    ]


def test_extract_scans_lines_starting_with_hash(tmp_path: Path) -> None:
    records = read(tmp_path, b"# [Home](https://a.example/)\n", extract=True)
    assert [(r.line, r.url) for r in records] == [(1, "https://a.example/")]


def test_extract_line_without_url_gives_no_record(tmp_path: Path) -> None:
    assert (
        read(tmp_path, b"just some prose, example.com and ftp://x.example/\n", extract=True) == []
    )


def test_extract_scheme_without_host_gives_no_record(tmp_path: Path) -> None:
    assert read(tmp_path, b"the prefix https:// alone\n", extract=True) == []


def test_extract_keeps_line_numbers(tmp_path: Path) -> None:
    data = b"\n# Title\nno link\ntext https://a.example/ text\n\n<https://b.example/>\n"
    records = read(tmp_path, data, extract=True)
    assert [(r.line, r.url) for r in records] == [
        (4, "https://a.example/"),
        (6, "https://b.example/"),
    ]


def test_extract_combines_with_unique(tmp_path: Path) -> None:
    data = b"https://a.example/ https://a.example/\nsee https://a.example/.\n"
    records = read(tmp_path, data, extract=True, unique=True)
    assert [(r.line, r.url) for r in records] == [(1, "https://a.example/")]


def test_extract_urls_returns_urls_in_order() -> None:
    assert extract_urls("x https://a.example/1 y http://b.example/2, z") == [
        "https://a.example/1",
        "http://b.example/2",
    ]


# --- count_records ----------------------------------------------------------


@pytest.mark.parametrize("shard", [None, (1, 1), (1, 2), (2, 2), (1, 3), (2, 3), (3, 3), (4, 5)])
def test_count_records_agrees_with_records(tmp_path: Path, shard: tuple[int, int] | None) -> None:
    first = write(tmp_path, b"a.example\n\n# c\n   # d\nftp://bad\n\xff\nb.example", "one.txt")
    second = write(
        tmp_path,
        b"c.example\n" + b"x" * 100_000 + b"\n" + b" " * 100_000 + b"\nd.example\n",
        "two.txt",
    )
    expected = len(list(iter_records([first, second], InputRules(shard=shard))))
    assert count_records([first, second], shard) == expected


def test_count_records_of_empty_sources_is_zero(tmp_path: Path) -> None:
    assert count_records([write(tmp_path, b"\n# only a comment\n")], (2, 3)) == 0


# --- InputFilter used directly ----------------------------------------------


def test_input_rules_accept_str_lines() -> None:
    rules = InputFilter(InputRules())
    assert list(rules.records("given", 7, "example.com/a")) == [
        UrlRecord(source="given", line=7, url="https://example.com/a")
    ]


def test_input_rules_skip_str_comment() -> None:
    assert list(InputFilter(InputRules()).records("s", 1, "  # note")) == []


def test_input_rules_accept_bytes_lines() -> None:
    records = list(InputFilter(InputRules()).records("s", 1, b"  a.example \n"))
    assert [r.url for r in records] == ["https://a.example/"]


def test_input_rules_keep_unique_state_across_calls() -> None:
    rules = InputFilter(InputRules(unique=True))
    first = list(rules.records("s", 1, "a.example"))
    second = list(rules.records("s", 2, "https://a.example"))
    assert (len(first), len(second)) == (1, 0)


def test_input_rules_keep_shard_position_across_calls() -> None:
    rules = InputFilter(InputRules(shard=(2, 2)))
    lines = ["a.example", "# c", "b.example", "c.example", "d.example"]
    kept = [r.line for n, text in enumerate(lines, 1) for r in rules.records("s", n, text)]
    assert kept == [3, 5]


# --- aiter_in_thread --------------------------------------------------------


async def collect(records: Iterator[UrlRecord], **kwargs: object) -> list[UrlRecord]:
    return [record async for record in aiter_in_thread(records, **kwargs)]  # type: ignore[arg-type]


def test_aiter_in_thread_yields_the_records_in_order() -> None:
    assert asyncio.run(collect(make_records(1000))) == list(make_records(1000))


def test_aiter_in_thread_eager_yields_the_records_in_order() -> None:
    assert asyncio.run(collect(make_records(300), eager=True)) == list(make_records(300))


def test_aiter_in_thread_with_small_batches_yields_the_records_in_order() -> None:
    assert asyncio.run(collect(make_records(50), batch=3)) == list(make_records(50))


def test_aiter_in_thread_of_empty_iterator_yields_nothing() -> None:
    assert asyncio.run(collect(iter([]))) == []


@pytest.mark.timeout(10)
def test_aiter_in_thread_reraises_the_iterator_exception() -> None:
    def failing() -> Iterator[UrlRecord]:
        yield from make_records(3)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        asyncio.run(collect(failing()))


@pytest.mark.timeout(10)
def test_aiter_in_thread_eager_delivers_records_before_the_exception() -> None:
    got: list[UrlRecord] = []

    def failing() -> Iterator[UrlRecord]:
        yield from make_records(3)
        raise RuntimeError("late failure")

    async def main() -> None:
        async for record in aiter_in_thread(failing(), eager=True):
            got.append(record)

    with pytest.raises(RuntimeError, match="late failure"):
        asyncio.run(main())
    assert got == list(make_records(3))


@pytest.mark.timeout(10)
def test_aiter_in_thread_closed_early_finishes_promptly() -> None:
    before = set(threading.enumerate())

    async def main() -> list[UrlRecord]:
        got: list[UrlRecord] = []
        async with contextlib.aclosing(aiter_in_thread(make_records(100_000))) as stream:
            async for record in stream:
                got.append(record)
                if len(got) == 3:
                    break
        return got

    assert asyncio.run(main()) == list(make_records(3))
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=5)
        assert not thread.is_alive(), f"{thread.name} still running after the consumer closed"


@pytest.mark.timeout(10)
def test_aiter_in_thread_keeps_the_event_loop_free_while_reading() -> None:
    released = threading.Event()

    def blocking() -> Iterator[UrlRecord]:
        # Only a coroutine on the loop sets this: if reading ran on the loop, it would stall.
        assert released.wait(timeout=5)
        yield from make_records(1)

    async def main() -> list[UrlRecord]:
        async def release() -> None:
            await asyncio.sleep(0)
            released.set()

        task = asyncio.create_task(release())
        got = await collect(blocking())
        await task
        return got

    assert asyncio.run(main()) == list(make_records(1))


REAL_README = """\
# Project [![build](https://ci.example/badge.svg)](https://ci.example/builds)

See the [guide](https://docs.example/guide#install) or <https://docs.example/faq>.
Wikipedia explains it (https://en.wikipedia.org/wiki/Foo_(bar)), and so does https://a.example/x.
<a href="https://html.example/page?x=1&amp;y=2">a link</a>, 'https://quoted.example/q'.
A reST link: `the spec <https://rst.example/spec/>`_ and a log line: GET https://log.example/api;

No link on this line.
[ref]: https://ref.example/path "Title"
"""


def test_extract_finds_every_link_in_a_real_looking_document(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(REAL_README)
    found = [(r.line, r.url) for r in iter_records([str(path)], InputRules(extract=True))]
    assert found == [
        (1, "https://ci.example/badge.svg"),
        (1, "https://ci.example/builds"),
        (3, "https://docs.example/guide#install"),
        (3, "https://docs.example/faq"),
        (4, "https://en.wikipedia.org/wiki/Foo_(bar)"),
        (4, "https://a.example/x"),
        (5, "https://html.example/page?x=1&y=2"),
        (5, "https://quoted.example/q"),
        (6, "https://rst.example/spec/"),
        (6, "https://log.example/api"),
        (9, "https://ref.example/path"),
    ]


# --- host names that cannot be sent -------------------------------------------


@pytest.mark.parametrize(
    "host", ["a..b.example", "a" * 64 + ".example", "xn--.example", "b" * 250 + ".example"]
)
def test_an_unencodable_host_is_an_invalid_url(host: str) -> None:
    _, error = normalize_url(f"http://{host}/")
    assert error is not None and "host" in error


@pytest.mark.parametrize(
    "host", ["bücher.example", "_dmarc.example.org", "127.0.0.1", "[::1]", "a.example."]
)
def test_real_world_hosts_are_accepted(host: str) -> None:
    assert normalize_url(f"http://{host}/")[1] is None
