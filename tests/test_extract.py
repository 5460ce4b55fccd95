"""--extract end to end: real documentation trees, the real command, local servers.

Every remote link points at pytest-httpserver on 127.0.0.1 (`localhost` is a reserved
name that --extract skips by default). Each test runs in its own tree (the cwd is
`tmp_path`), so sources and messages show short relative paths.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import Result

from conftest import jsonl, run_process

Record = dict[str, object]
RunCli = Callable[..., Result]
CATCH_ALL = re.compile(r"^/")


# --- helpers ------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty documentation tree that is the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def server(httpserver: HTTPServer) -> HTTPServer:
    """A server that answers 200 to every path; tests count what it was asked."""
    httpserver.expect_request(CATCH_ALL).respond_with_data("<p>ok</p>", content_type="text/html")
    return httpserver


def write(root: Path, files: dict[str, str]) -> None:
    """Write each file (parents made) under root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def base(server: HTTPServer) -> str:
    """The server's root as a link names it: 127.0.0.1, never the reserved `localhost`."""
    return f"http://127.0.0.1:{server.port}"


def requested(server: HTTPServer) -> list[str]:
    """The paths the server was asked for, in order."""
    return [request.path for request, _ in server.log]


def check(run_cli: RunCli, *args: str, input: str | None = None) -> tuple[int, list[Record]]:
    """Run `fetchcli --extract -q --format jsonl ARGS`: exit code and records by place."""
    result = run_cli("--extract", "-q", "--format", "jsonl", *args, input=input)
    return result.exit_code, sorted(jsonl(result.stdout), key=place)


def place(record: Record) -> tuple[str, int, int]:
    """Where a record's link was written: (source, line, column)."""
    return str(record["source"]), int(str(record["line"])), int(str(record["column"]))


def where(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """The 1-based (line, column) of the nth occurrence of needle in text."""
    offset = -1
    for _ in range(nth):
        offset = text.index(needle, offset + 1)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def only(records: list[Record], url_part: str) -> Record:
    """The one record whose url contains url_part."""
    found = [r for r in records if url_part in str(r["url"])]
    assert len(found) == 1, found
    return found[0]


def summary(run_cli: RunCli, root: Path, *args: str) -> dict[str, object]:
    """Run --extract with --summary-json and return its figures."""
    path = root.parent / f"{root.name}-summary.json"
    run_cli("--extract", "-q", "--format", "none", "--summary-json", str(path), *args)
    figures: dict[str, object] = json.loads(path.read_text())
    return figures


# --- 1. every CommonMark link form, and what is not a link ---------------------

README = """# Links

Inline [page]({u}/inline) and an image ![logo]({u}/logo.png).
An autolink <{u}/auto> and a bare URL {u}/bare in prose.
A [reference link][used] and raw HTML <a href="{u}/html">here</a>.

[used]: {u}/reference
[unused]: {u}/unused-definition

The code span `{u}/span` is an example.

```sh
curl {u}/fenced
```

    wget {u}/indented

<!-- {u}/comment -->
"""
LINK_PATHS = ["/inline", "/logo.png", "/auto", "/bare", "/html", "/reference"]
VERBATIM_PATHS = ["/span", "/fenced", "/indented", "/comment"]


@pytest.fixture
def readme(tree: Path, server: HTTPServer) -> str:
    """README.md with every link form pointing at the server; returns its text."""
    text = README.format(u=base(server))
    write(tree, {"README.md": text})
    return text


def test_markdown_link_forms_each_give_a_record_at_their_place(
    readme: str, server: HTTPServer, run_cli: RunCli
) -> None:
    code, records = check(run_cli, "README.md")
    assert code == 0
    expected = []
    for path in LINK_PATHS:
        url = base(server) + path
        line, column = where(readme, url)
        expected.append(("README.md", line, column, url))
    assert [(*place(r), r["url"]) for r in records] == sorted(expected)


def test_markdown_link_records_have_every_field_of_a_fetch(
    readme: str, server: HTTPServer, run_cli: RunCli
) -> None:
    _, records = check(run_cli, "README.md")
    inline = only(records, "/inline")
    assert inline["ok"] is True
    assert inline["status"] == 200
    assert inline["error"] is None
    assert inline["message"] is None
    assert inline["attempts"] == 1
    assert inline["cached"] is False
    assert inline["final_url"] == base(server) + "/inline"


def test_markdown_links_are_each_requested_once(
    readme: str, server: HTTPServer, run_cli: RunCli
) -> None:
    check(run_cli, "README.md")
    assert sorted(requested(server)) == sorted(LINK_PATHS)


def test_unused_reference_definition_is_not_checked(
    readme: str, server: HTTPServer, run_cli: RunCli
) -> None:
    _, records = check(run_cli, "README.md")
    assert not [r for r in records if "unused" in str(r["url"])]
    assert "/unused-definition" not in requested(server)


def test_code_and_comments_are_never_requested(
    readme: str, server: HTTPServer, run_cli: RunCli
) -> None:
    _, records = check(run_cli, "README.md")
    assert not set(requested(server)) & set(VERBATIM_PATHS)
    assert not [r for r in records if any(p in str(r["url"]) for p in VERBATIM_PATHS)]


def test_include_verbatim_checks_code_and_comments_too(
    readme: str, server: HTTPServer, run_cli: RunCli
) -> None:
    code, records = check(run_cli, "--include-verbatim", "README.md")
    assert code == 0
    assert sorted(requested(server)) == sorted(LINK_PATHS + VERBATIM_PATHS)
    fenced = only(records, "/fenced")
    assert place(fenced) == ("README.md", *where(readme, base(server) + "/fenced"))


# --- 2. relative links, checked on disk ---------------------------------------


def test_relative_link_to_existing_file_is_ok_on_disk(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"README.md": "See [install](docs/install.md).\n", "docs/install.md": "# I\n"})
    code, [record] = check(run_cli, "README.md")
    assert code == 0
    target = (tree / "docs" / "install.md").as_uri()
    assert record["url"] == target
    assert record["final_url"] == target
    assert record["ok"] is True
    assert record["status"] is None
    assert record["error"] is None
    assert record["attempts"] == 1
    assert record["cached"] is False
    assert record["size"] == 4
    assert place(record) == ("README.md", 1, 15)


def test_relative_link_to_missing_file_is_a_file_error_naming_the_path(
    tree: Path, run_cli: RunCli
) -> None:
    text = "# Hi\n\nSee [setup](docs/setup.md).\n"
    write(tree, {"README.md": text})
    code, [record] = check(run_cli, "README.md")
    assert code == 1
    assert record["ok"] is False
    assert record["error"] == "file"
    assert record["message"] == "no such file: docs/setup.md"
    assert record["url"] == (tree / "docs" / "setup.md").as_uri()
    assert place(record) == ("README.md", *where(text, "docs/setup.md"))


def test_relative_image_is_checked_on_disk(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"docs/guide.md": "![logo](img/logo.png) ![gone](img/gone.png)\n"})
    (tree / "docs" / "img").mkdir()
    (tree / "docs" / "img" / "logo.png").write_bytes(b"\x89PNG")
    _, records = check(run_cli, "docs/guide.md")
    logo, gone = only(records, "logo.png"), only(records, "gone.png")
    assert logo["ok"] is True
    assert logo["content_type"] == "image/png"
    assert gone["error"] == "file"
    assert gone["message"] == "no such file: docs/img/gone.png"


def test_parent_folder_link_resolves_up_a_folder(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"CHANGES.md": "x\n", "docs/guide/start.md": "[changes](../../CHANGES.md)\n"})
    code, [record] = check(run_cli, "docs/guide/start.md")
    assert code == 0
    assert record["url"] == (tree / "CHANGES.md").as_uri()
    assert record["ok"] is True


def test_folder_link_is_ok_without_index_files(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"README.md": "[docs](docs/) and [api](docs/api)\n", "docs/api/x.txt": ""})
    code, records = check(run_cli, "README.md")
    assert code == 0
    assert [r["ok"] for r in records] == [True, True]
    assert records[0]["url"] == (tree / "docs").as_uri() + "/"


def test_folder_link_without_its_index_file_fails_with_index_files(
    tree: Path, run_cli: RunCli
) -> None:
    write(tree, {"README.md": "[docs](docs/)\n", "docs/other.md": ""})
    code, [record] = check(run_cli, "--index-files", "index.md,README.md", "README.md")
    assert code == 1
    assert record["error"] == "file"
    assert record["message"] == "no index file (index.md, README.md) in docs/"


def test_folder_link_with_an_index_file_is_ok_with_index_files(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"README.md": "[docs](docs/)\n", "docs/README.md": "# Docs\n"})
    code, [record] = check(run_cli, "--index-files", "index.md,README.md", "README.md")
    assert code == 0
    assert record["ok"] is True
    assert record["final_url"] == (tree / "docs" / "README.md").as_uri()


def test_fallback_extensions_find_a_link_written_without_extension(
    tree: Path, run_cli: RunCli
) -> None:
    write(tree, {"README.md": "[install](docs/install)\n", "docs/install.md": "# Install\n"})
    assert check(run_cli, "README.md")[1][0]["error"] == "file"
    code, [record] = check(run_cli, "--fallback-extensions", "md", "README.md")
    assert code == 0
    assert record["ok"] is True
    assert record["final_url"] == (tree / "docs" / "install.md").as_uri()


def test_root_relative_link_without_root_dir_is_invalid_naming_root_dir(
    tree: Path, run_cli: RunCli
) -> None:
    write(tree, {"docs/a.md": "[b](/docs/b.md)\n", "docs/b.md": ""})
    code, [record] = check(run_cli, "docs/a.md")
    assert code == 1
    assert record["error"] == "invalid_url"
    assert "--root-dir" in str(record["message"])
    assert record["url"] == "/docs/b.md"
    assert record["attempts"] == 0


def test_root_relative_link_is_checked_under_root_dir(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"site/docs/a.md": "[b](/docs/b.md) [c](/docs/c.md)\n", "site/docs/b.md": ""})
    code, records = check(run_cli, "--root-dir", "site", "site/docs/a.md")
    assert code == 1
    b, c = only(records, "b.md"), only(records, "c.md")
    assert b["ok"] is True
    assert b["url"] == (tree / "site" / "docs" / "b.md").as_uri()
    assert c["error"] == "file"
    assert c["message"] == "no such file: site/docs/c.md"


def test_missing_root_dir_is_a_usage_error(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"a.md": "[b](/b.md)\n"})
    result = run_cli("--extract", "--root-dir", "nowhere", "a.md")
    assert result.exit_code == 2
    assert "--root-dir" in result.stderr


# --- 3. anchors ---------------------------------------------------------------


def test_fragment_in_the_same_file_is_checked(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"README.md": "# Quick Start\n\n[go](#quick-start) [no](#slow-start)\n"})
    code, [good, bad] = check(run_cli, "README.md")
    assert code == 1
    assert good["ok"] is True
    assert good["url"] == (tree / "README.md").as_uri() + "#quick-start"
    assert bad["ok"] is False
    assert bad["error"] == "fragment"
    assert bad["message"] == "no anchor #slow-start in README.md"


def test_fragment_on_another_file_counts_repeated_headings(tree: Path, run_cli: RunCli) -> None:
    write(
        tree,
        {
            "README.md": "[1](docs/faq.md#setup) [2](docs/faq.md#setup-1)\n",
            "docs/more.md": "[3](faq.md#setup-2)\n",
            "docs/faq.md": "# FAQ\n\n## Setup\n\ntext\n\n## Setup\n",
        },
    )
    code, records = check(run_cli, "README.md", "docs/more.md")
    assert code == 1
    assert [r["ok"] for r in records] == [True, True, False]
    assert records[2]["error"] == "fragment"
    assert records[2]["message"] == "no anchor #setup-2 in docs/faq.md"


def test_custom_heading_id_is_an_anchor(tree: Path, run_cli: RunCli) -> None:
    write(
        tree,
        {
            "README.md": "[a](guide.md#install-it) [b](guide.md#installation)\n",
            "guide.md": "## Installation {#install-it}\n",
        },
    )
    _, [custom, slug] = check(run_cli, "README.md")
    assert custom["ok"] is True
    assert slug["ok"] is True


def test_html_target_id_and_name_are_anchors(tree: Path, run_cli: RunCli) -> None:
    page = '<h2 id="intro">Intro</h2><a name="legacy"></a><p id="x">x</p>'
    write(
        tree,
        {
            "README.md": "[a](page.html#intro) [b](page.html#legacy) [c](page.html#outro)\n",
            "page.html": page,
        },
    )
    code, records = check(run_cli, "README.md")
    assert code == 1
    assert [r["error"] for r in records] == [None, None, "fragment"]
    assert records[2]["message"] == "no anchor #outro in page.html"


def test_missing_anchor_on_an_existing_file_keeps_the_file_facts(
    tree: Path, run_cli: RunCli
) -> None:
    write(tree, {"README.md": "[x](notes.md#gone)\n", "notes.md": "# Notes\n"})
    _, [record] = check(run_cli, "README.md")
    assert record["error"] == "fragment"
    assert record["final_url"] == (tree / "notes.md").as_uri()
    assert record["size"] == 8
    assert record["attempts"] == 1


# --- 4. every place gets a record, every target one request --------------------


REPEATED = {"a.md": "[one]({url}) and\n  [two]({url})\n", "b.md": "# B\n\nThe same: <{url}>\n"}


@pytest.fixture
def repeated(tree: Path, server: HTTPServer) -> str:
    """One remote URL linked from three places in two files; returns the URL."""
    url = base(server) + "/shared"
    write(tree, {name: text.format(url=url) for name, text in REPEATED.items()})
    return url


def repeated_places(url: str) -> list[tuple[str, int, int]]:
    """Where the fixture `repeated` wrote its three links."""
    a, b = (REPEATED[name].format(url=url) for name in ("a.md", "b.md"))
    return [("a.md", *where(a, url)), ("a.md", *where(a, url, 2)), ("b.md", *where(b, url))]


def test_same_remote_url_in_three_places_gives_three_records(
    repeated: str, run_cli: RunCli
) -> None:
    code, records = check(run_cli, "a.md", "b.md")
    assert code == 0
    assert [place(r) for r in records] == repeated_places(repeated)
    assert all(r["url"] == repeated and r["ok"] is True for r in records)


def test_same_remote_url_in_three_places_is_requested_once(
    repeated: str, server: HTTPServer, run_cli: RunCli
) -> None:
    check(run_cli, "a.md", "b.md")
    assert requested(server) == ["/shared"]


def test_repeats_of_a_remote_url_have_no_attempts_and_are_cached(
    repeated: str, run_cli: RunCli
) -> None:
    _, records = check(run_cli, "a.md", "b.md")
    fetched = [r for r in records if r["cached"] is False]
    repeats = [r for r in records if r["cached"] is True]
    assert len(fetched) == 1 and fetched[0]["attempts"] == 1
    assert [(r["attempts"], r["elapsed"], r["status"]) for r in repeats] == [(0, 0.0, 200)] * 2


def test_first_occurrence_is_the_one_fetched(repeated: str, run_cli: RunCli) -> None:
    _, records = check(run_cli, "-c", "1", "a.md", "b.md")
    assert [r["cached"] for r in records] == [False, True, True]


def test_unique_gives_one_record_per_remote_target(
    repeated: str, server: HTTPServer, run_cli: RunCli
) -> None:
    code, records = check(run_cli, "--unique", "a.md", "b.md")
    assert code == 0
    assert [place(r) for r in records] == repeated_places(repeated)[:1]
    assert records[0]["cached"] is False
    assert requested(server) == ["/shared"]


def test_url_fragment_does_not_make_another_request(
    tree: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    url = base(server) + "/page"
    write(tree, {"a.md": f"<{url}#one> <{url}#two> <{url}>\n"})
    _, records = check(run_cli, "a.md")
    assert len(records) == 3
    assert requested(server) == ["/page"]


def test_repeat_with_another_fragment_does_not_report_the_first_ones_final_url(
    tree: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    url = base(server) + "/page"
    write(tree, {"a.md": f"<{url}#one>\n<{url}#two>\n"})
    _, [first, repeat] = check(run_cli, "-c", "1", "a.md")
    assert first["cached"] is False
    assert repeat["cached"] is True
    assert "#one" not in str(repeat["final_url"])


def test_same_local_link_repeated_is_checked_once(tree: Path, run_cli: RunCli) -> None:
    text = "[x](docs/x.md) [x again](docs/x.md)\n"
    write(tree, {"a.md": text, "docs/b.md": "[x](x.md)\n", "docs/x.md": "# X\n"})
    code, records = check(run_cli, "-c", "1", "a.md", "docs/b.md")
    assert code == 0
    second = where(text, "docs/x.md", 2)
    assert [place(r) for r in records] == [("a.md", 1, 5), ("a.md", *second), ("docs/b.md", 1, 5)]
    assert [(r["cached"], r["attempts"]) for r in records] == [(False, 1), (True, 0), (True, 0)]
    assert {r["url"] for r in records} == {(tree / "docs" / "x.md").as_uri()}


def test_unique_gives_one_record_per_local_target(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"a.md": "[x](x.md) [x again](x.md)\n", "b.md": "[x](x.md)\n", "x.md": ""})
    _, records = check(run_cli, "--unique", "a.md", "b.md")
    assert [place(r) for r in records] == [("a.md", 1, 5)]


def test_unique_keeps_each_anchor_of_a_local_file(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"a.md": "[a](x.md#a) [b](x.md#b)\n", "x.md": "# A\n"})
    code, records = check(run_cli, "--unique", "a.md")
    assert [r["error"] for r in records] == [None, "fragment"]
    assert code == 1


def test_a_missing_anchor_is_not_hidden_by_an_earlier_good_one(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"a.md": "[a](x.md#a) [b](x.md#b) [a](x.md#a)\n", "x.md": "# A\n"})
    code, records = check(run_cli, "a.md")
    assert code == 1
    assert [r["error"] for r in records] == [None, "fragment", None]


# --- 5. links not checked -----------------------------------------------------

NOT_CHECKED = """# Contact

[mail](mailto:docs@docs.site) [call](tel:+15550100) [js](javascript:void(0))
[sample](https://example.com/x) [dev]({local}/dev)
"""


@pytest.fixture
def unchecked(tree: Path, server: HTTPServer) -> Path:
    local = f"http://localhost:{server.port}"
    write(tree, {"README.md": NOT_CHECKED.format(local=local)})
    return tree


def test_skipped_schemes_and_reserved_names_give_no_record(
    unchecked: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    code, records = check(run_cli, "README.md")
    assert code == 0
    assert records == []
    assert requested(server) == []


def test_skipped_schemes_and_reserved_names_are_counted_excluded(
    unchecked: Path, run_cli: RunCli
) -> None:
    figures = summary(run_cli, unchecked, "README.md")
    assert figures["excluded"] == 5
    assert figures["total"] == 0


def test_no_default_excludes_would_check_reserved_names(
    unchecked: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    result = run_cli("--extract", "--dump", "--no-default-excludes", "README.md")
    assert result.exit_code == 0
    urls = [line.split(" ", 1)[1] for line in result.stdout.splitlines()]
    assert urls == ["https://example.com/x", f"http://localhost:{server.port}/dev"]


def test_no_default_excludes_still_skips_mailto_tel_and_javascript(
    tree: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    write(tree, {"a.md": "[m](mailto:a@docs.site) [t](tel:+15550100) [j](javascript:go())\n"})
    figures = summary(run_cli, tree, "--no-default-excludes", "a.md")
    assert (figures["total"], figures["excluded"]) == (0, 3)


def test_no_default_excludes_fetches_a_reserved_name(
    tree: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    # The server listens on `localhost`, which resolves locally (RFC 6761), never via DNS.
    write(tree, {"a.md": f"<http://localhost:{server.port}/dev>\n"})
    assert check(run_cli, "a.md")[1] == []
    code, [record] = check(run_cli, "--no-default-excludes", "-r", "0", "a.md")
    assert code == 0
    assert record["status"] == 200
    assert requested(server) == ["/dev"]


def test_exclude_file_patterns_are_not_checked_and_counted(
    tree: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    write(
        tree,
        {
            "a.md": f"<{base(server)}/keep> <{base(server)}/private/x> [d](drafts/y.md)\n",
            "excludes.txt": "# internal pages\n/private/\n\ndrafts/\n",
        },
    )
    code, records = check(run_cli, "--exclude-file", "excludes.txt", "a.md")
    assert code == 0
    assert [r["url"] for r in records] == [base(server) + "/keep"]
    assert requested(server) == ["/keep"]
    figures = summary(run_cli, tree, "--exclude-file", "excludes.txt", "a.md")
    assert figures["excluded"] == 2


def test_unreadable_exclude_file_is_a_usage_error(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"a.md": "x\n"})
    result = run_cli("--extract", "--exclude-file", "nope.txt", "a.md")
    assert result.exit_code == 2
    assert "--exclude-file" in result.stderr


# --- 6. --offline -------------------------------------------------------------


@pytest.fixture
def mixed(tree: Path, server: HTTPServer) -> Path:
    """A document with two remote links, a good and a missing local link, and an anchor."""
    write(
        tree,
        {
            "README.md": (
                f"# Top\n\n<{base(server)}/a> [b]({base(server)}/b)\n"
                "[guide](guide.md) [gone](gone.md) [top](#top-1)\n"
            ),
            "guide.md": "# Guide\n",
        },
    )
    return tree


def test_offline_checks_local_links_and_anchors(mixed: Path, run_cli: RunCli) -> None:
    code, records = check(run_cli, "--offline", "README.md")
    assert code == 1
    assert [(r["url"], r["error"]) for r in records] == [
        ((mixed / "guide.md").as_uri(), None),
        ((mixed / "gone.md").as_uri(), "file"),
        ((mixed / "README.md").as_uri() + "#top-1", "fragment"),
    ]


def test_offline_requests_nothing(mixed: Path, server: HTTPServer, run_cli: RunCli) -> None:
    check(run_cli, "--offline", "README.md")
    assert requested(server) == []


def test_offline_counts_remote_links_excluded(mixed: Path, run_cli: RunCli) -> None:
    figures = summary(run_cli, mixed, "--offline", "README.md")
    assert figures["excluded"] == 2
    assert figures["total"] == 3


def test_offline_does_not_fetch_a_page_source(server: HTTPServer, run_cli: RunCli) -> None:
    run_cli("--extract", "-q", "--offline", base(server) + "/page.html")
    assert requested(server) == []


# --- 7. --dump ----------------------------------------------------------------


@pytest.fixture
def dumped(tree: Path, server: HTTPServer) -> Path:
    write(
        tree,
        {
            "README.md": f"# T\n\nSee <{base(server)}/a>, [gone](gone.md)\n",
            "docs/b.md": '[t](../README.md#t) and "quoted" <https://example.com/>\n',
        },
    )
    return tree


def test_dump_text_lists_source_line_column_and_url(
    dumped: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    result = run_cli("--extract", "--dump", "README.md", "docs")
    assert result.exit_code == 0
    line, column = where((dumped / "README.md").read_text(), "gone.md")
    assert result.stdout.splitlines() == [
        f"README.md:3:6 {base(server)}/a",
        f"README.md:{line}:{column} {(dumped / 'gone.md').as_uri()}",
        f"docs/b.md:1:5 {(dumped / 'README.md').as_uri()}#t",
    ]


def test_dump_jsonl_has_exactly_the_dump_keys(
    dumped: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    result = run_cli("--extract", "--dump", "--format", "jsonl", "README.md", "docs")
    assert result.exit_code == 0
    records = jsonl(result.stdout)
    assert records[0] == {"source": "README.md", "line": 3, "column": 6, "url": base(server) + "/a"}
    assert [list(r) for r in records] == [["source", "line", "column", "url"]] * 3


def test_dump_csv_has_a_header_and_a_row_per_link(
    dumped: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    result = run_cli("--extract", "--dump", "--format", "csv", "README.md", "docs")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["source", "line", "column", "url"]
    assert rows[3] == ["docs/b.md", "1", "5", (dumped / "README.md").as_uri() + "#t"]
    assert len(rows) == 4


def test_dump_fetches_nothing_and_exits_0_despite_broken_links(
    dumped: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    result = run_cli("--extract", "--dump", "README.md", "docs")
    assert result.exit_code == 0
    assert requested(server) == []


# --- 8. sources ---------------------------------------------------------------


@pytest.fixture
def docs_tree(tree: Path) -> Path:
    """docs/ with files in two levels, one of a type a walk skips, one hidden."""
    write(
        tree,
        {
            "docs/zeta.md": "[z](https://docs.site/z)\n",
            "docs/alpha.md": "[a](https://docs.site/a)\n",
            "docs/guide/install.rst": "`i <https://docs.site/i>`_\n",
            "docs/guide/intro.html": '<a href="https://docs.site/h">h</a>\n',
            "docs/api.json": '{"url": "https://docs.site/json"}\n',
            "docs/.drafts/wip.md": "[w](https://docs.site/w)\n",
            "docs/notes.txt": "see https://docs.site/t\n",
        },
    )
    return tree


def dump_sources(run_cli: RunCli, *args: str, input: str | None = None) -> list[str]:
    """The `source` of each link --dump lists, in output order."""
    result = run_cli("--extract", "--dump", "--format", "jsonl", *args, input=input)
    assert result.exit_code == 0, result.stderr
    return [str(r["source"]) for r in jsonl(result.stdout)]


def test_folder_source_is_walked_recursively_in_sorted_order(
    docs_tree: Path, run_cli: RunCli
) -> None:
    assert dump_sources(run_cli, "docs") == [
        "docs/alpha.md",
        "docs/notes.txt",
        "docs/zeta.md",
        "docs/guide/install.rst",
        "docs/guide/intro.html",
    ]


def test_glob_source_is_expanded_by_fetchcli(docs_tree: Path, run_cli: RunCli) -> None:
    write(docs_tree, {"docs/guide/deep/more.md": "<https://docs.site/m>\n"})
    assert dump_sources(run_cli, "docs/**/*.md") == [
        "docs/alpha.md",
        "docs/zeta.md",
        "docs/guide/deep/more.md",
    ]


def test_files_from_adds_sources_after_the_arguments(docs_tree: Path, run_cli: RunCli) -> None:
    write(docs_tree, {"list.txt": "# docs to check\ndocs/zeta.md\n\ndocs/guide/\n"})
    sources = dump_sources(run_cli, "--files-from", "list.txt", "docs/alpha.md")
    assert sources == [
        "docs/alpha.md",
        "docs/zeta.md",
        "docs/guide/install.rst",
        "docs/guide/intro.html",
    ]


def test_files_from_stdin_names_the_documents(docs_tree: Path, run_cli: RunCli) -> None:
    sources = dump_sources(run_cli, "--files-from", "-", input="docs/zeta.md\ndocs/alpha.md\n")
    assert sources == ["docs/zeta.md", "docs/alpha.md"]


def test_no_source_reads_stdin_as_free_text(tree: Path, run_cli: RunCli) -> None:
    assert dump_sources(run_cli, input="see https://docs.site/a\n") == ["-"]


def test_unreadable_files_from_is_a_usage_error(tree: Path, run_cli: RunCli) -> None:
    result = run_cli("--extract", "--files-from", "missing-list.txt")
    assert result.exit_code == 2
    assert "--files-from" in result.stderr
    assert "missing-list.txt" in result.stderr


def test_a_document_named_twice_is_read_once(docs_tree: Path, run_cli: RunCli) -> None:
    assert dump_sources(run_cli, "docs/alpha.md", "docs/*.md") == ["docs/alpha.md", "docs/zeta.md"]


def test_stdin_is_read_as_free_text(tree: Path, server: HTTPServer, run_cli: RunCli) -> None:
    a, b = base(server) + "/a", base(server) + "/b"
    text = f"Deployed to {a} (see {b}).\n[c](relative.md)\n"
    code, records = check(run_cli, "-", input=text)
    assert code == 0
    assert [(*place(r), r["url"], r["ok"]) for r in records] == [
        ("-", *where(text, a), a, True),
        ("-", *where(text, b), b, True),
    ]


PAGE = """<!doctype html>
<html><head><base href="/docs/v2/"></head>
<body>
<a href="install.html">Install</a>
<a href="../v1/old.html">Old</a>
<img src="/logo.png">
<a href="#top">top</a>
</body></html>
"""


@pytest.fixture
def page_site(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/page.html").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/docs/v2/install.html").respond_with_data("ok")
    httpserver.expect_request("/logo.png").respond_with_data("png")
    httpserver.expect_request("/docs/v1/old.html").respond_with_data("gone", status=404)
    httpserver.expect_request("/docs/v2/").respond_with_data("no index", status=404)
    return httpserver


def test_page_source_links_resolve_against_its_base_href(
    page_site: HTTPServer, run_cli: RunCli
) -> None:
    page = base(page_site) + "/page.html"
    code, records = check(run_cli, page)
    assert code == 1
    assert [(r["source"], r["line"], r["url"], r["status"]) for r in records] == [
        (page, 4, base(page_site) + "/docs/v2/install.html", 200),
        (page, 5, base(page_site) + "/docs/v1/old.html", 404),
        (page, 6, base(page_site) + "/logo.png", 200),
        (page, 7, base(page_site) + "/docs/v2/#top", 404),
    ]


def test_page_source_is_fetched_once_and_its_links_remotely(
    page_site: HTTPServer, run_cli: RunCli
) -> None:
    check(run_cli, base(page_site) + "/page.html")
    assert sorted(requested(page_site)) == [
        "/docs/v1/old.html",
        "/docs/v2/",
        "/docs/v2/install.html",
        "/logo.png",
        "/page.html",
    ]


def test_page_source_that_links_to_itself_is_requested_once(
    httpserver: HTTPServer, run_cli: RunCli
) -> None:
    body = '<a href="#top">top</a> <a href="page.html">this page</a>'
    httpserver.expect_request("/page.html").respond_with_data(body, content_type="text/html")
    code, records = check(run_cli, base(httpserver) + "/page.html")
    assert code == 0
    assert len(records) == 2
    assert requested(httpserver) == ["/page.html"]


def test_a_page_source_is_read_once_for_its_links_and_its_anchors(
    httpserver: HTTPServer, run_cli: RunCli
) -> None:
    body = '<h2 id="usage">Usage</h2> <a href="#usage">u</a> <a href="page.html#nope">n</a>'
    httpserver.expect_request("/page.html").respond_with_data(body, content_type="text/html")
    code, records = check(run_cli, base(httpserver) + "/page.html", "--check-fragments")
    assert code == 1
    assert [(r["ok"], r["error"], r["cached"]) for r in records] == [
        (True, None, True),
        (False, "fragment", True),
    ]
    assert records[0]["status"] == 200 and records[0]["attempts"] == 0
    assert requested(httpserver) == ["/page.html"]


@pytest.mark.parametrize(
    "option", [["--no-follow"], ["-X", "HEAD"], ["--max-body", "30"]], ids=lambda o: o[0]
)
def test_a_page_source_read_unlike_a_link_check_is_checked_as_a_link(
    httpserver: HTTPServer, run_cli: RunCli, option: list[str]
) -> None:
    # Reading the page (GET, redirects followed, the whole body) says nothing of what the
    # link back to it gives with these options: that link is requested as asked.
    body = '<a href="page.html">x</a>' + "more text than thirty bytes " * 3
    httpserver.expect_request("/page.html").respond_with_data(body, content_type="text/html")
    code, records = check(run_cli, base(httpserver) + "/page.html", *option)
    assert code == 0 and len(records) == 1
    assert records[0]["attempts"] == 1 and records[0]["cached"] is False
    assert len(requested(httpserver)) == 2


def test_page_source_after_a_redirect_resolves_against_the_final_url(
    httpserver: HTTPServer, run_cli: RunCli
) -> None:
    httpserver.expect_request("/go").respond_with_data(
        "", status=302, headers={"Location": "/guide/index.html"}
    )
    body = '<a href="next.html">n</a>'
    httpserver.expect_request("/guide/index.html").respond_with_data(body, content_type="text/html")
    httpserver.expect_request("/guide/next.html").respond_with_data("ok")
    code, [record] = check(run_cli, base(httpserver) + "/go")
    assert code == 0
    assert record["url"] == base(httpserver) + "/guide/next.html"


def test_page_source_that_fails_is_reported_as_a_record(
    httpserver: HTTPServer, run_cli: RunCli
) -> None:
    httpserver.expect_request("/gone.html").respond_with_data("no", status=404)
    page = base(httpserver) + "/gone.html"
    code, [record] = check(run_cli, page)
    assert code == 1
    assert (record["source"], record["line"], record["url"], record["status"]) == (
        page,
        1,
        page,
        404,
    )


def test_folder_with_no_document_is_a_usage_error_naming_it(tree: Path) -> None:
    (tree / "assets").mkdir()
    (tree / "assets" / "app.js").write_text("https://docs.site/x\n")
    done = run_process(["--extract", "assets"], timeout=30)
    assert done.returncode == 2
    assert b"'assets'" in done.stderr
    assert b"Traceback" not in done.stderr
    assert done.stdout == b""


def test_missing_source_is_a_usage_error(tree: Path, run_cli: RunCli) -> None:
    result = run_cli("--extract", "nope.md")
    assert result.exit_code == 2
    assert "'nope.md'" in result.stderr
    assert result.stdout == ""


def test_glob_that_matches_nothing_is_a_usage_error(tree: Path, run_cli: RunCli) -> None:
    (tree / "docs").mkdir()
    result = run_cli("--extract", "docs/**/*.md")
    assert result.exit_code == 2
    assert "docs/**/*.md" in result.stderr


# --- 9. --remap, --base-url ---------------------------------------------------


def test_remap_sends_a_production_url_to_the_local_server(
    tree: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    write(tree, {"a.md": "[api](https://api.prod.site/v1/users?page=2)\n"})
    rule = rf"^https://api\.prod\.site/ {base(server)}/"
    code, [record] = check(run_cli, "--remap", rule, "a.md")
    assert code == 0
    assert record["url"] == base(server) + "/v1/users?page=2"
    assert record["status"] == 200
    assert requested(server) == ["/v1/users"]


def test_base_url_links_to_the_site_are_checked_on_disk(
    tree: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    write(
        tree,
        {
            "site/index.md": (
                "[a](https://docs.site/guide/a.md#setup) [b](https://docs.site/guide/b.md)\n"
                f"<{base(server)}/elsewhere>\n"
            ),
            "site/guide/a.md": "## Setup\n",
        },
    )
    args = ("--base-url", "https://docs.site/", "--root-dir", "site", "site/index.md")
    code, records = check(run_cli, *args)
    assert code == 1
    assert [(r["url"], r["error"]) for r in records] == [
        ((tree / "site" / "guide" / "a.md").as_uri() + "#setup", None),
        ((tree / "site" / "guide" / "b.md").as_uri(), "file"),
        (base(server) + "/elsewhere", None),
    ]
    assert requested(server) == ["/elsewhere"]


def test_bad_remap_rule_is_a_usage_error(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"a.md": "x\n"})
    result = run_cli("--extract", "--remap", "only-a-pattern", "a.md")
    assert result.exit_code == 2
    assert "--remap" in result.stderr


# --- 10. without --extract ----------------------------------------------------


def test_url_source_without_extract_is_fetched_as_one_url(
    tree: Path, page_site: HTTPServer, run_cli: RunCli
) -> None:
    page = base(page_site) + "/page.html"
    result = run_cli("-q", "--format", "jsonl", page)
    assert result.exit_code == 0
    [record] = jsonl(result.stdout)
    assert (record["url"], record["status"], record["column"]) == (page, 200, None)
    assert requested(page_site) == ["/page.html"]


def test_file_source_without_extract_is_a_list_of_urls(
    tree: Path, server: HTTPServer, run_cli: RunCli
) -> None:
    write(tree, {"README.md": f"# Title\n{base(server)}/a\n"})
    result = run_cli("-q", "--format", "jsonl", "README.md")
    assert result.exit_code == 0
    [record] = jsonl(result.stdout)
    assert (record["line"], record["url"]) == (2, base(server) + "/a")


# --- 11. exit codes and the text format -----------------------------------------


def test_exit_0_when_every_link_is_ok(tree: Path, server: HTTPServer) -> None:
    write(tree, {"README.md": f"[a](docs/a.md) <{base(server)}/ok>\n", "docs/a.md": "# A\n"})
    done = run_process(["--extract", "-q", "README.md"], timeout=30)
    assert done.returncode == 0, done.stderr
    assert requested(server) == ["/ok"]


def test_exit_1_with_a_missing_file(tree: Path) -> None:
    write(tree, {"README.md": "[a](docs/a.md)\n"})
    done = run_process(["--extract", "-q", "README.md"], timeout=30)
    assert done.returncode == 1
    assert done.stdout.decode().startswith("ERR:file ")


def test_exit_1_with_a_missing_anchor(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"README.md": "# A\n[b](#b)\n"})
    assert run_cli("--extract", "-q", "README.md").exit_code == 1


def test_text_format_shows_ok_for_a_local_file_found(tree: Path, run_cli: RunCli) -> None:
    write(tree, {"README.md": "[a](a.md)\n", "a.md": "# A\n"})
    result = run_cli("--extract", "-q", "README.md")
    assert result.exit_code == 0
    fields = result.stdout.split()
    assert fields[0] == "OK"
    assert fields[1] == "4B"
    assert fields[3] == (tree / "a.md").as_uri()
