"""--extract sources: files, folders, globs, `-` and pages expanded into documents."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from fetchcli.sources.walk import DEFAULT_EXTENSIONS, Document, expand_sources, read_files_from

needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX symlinks")

# --- helpers ----------------------------------------------------------------


def make(root: Path, *paths: str, **ignore_files: str) -> None:
    """Create empty files (a name ending in `/` is a folder) and `.gitignore` files.

    `ignore_files` maps a folder (`_` for the root, `a__b` for `a/b`) to its .gitignore text.
    """
    for path in paths:
        target = root / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("# doc\n", encoding="utf-8")
    for folder, text in ignore_files.items():
        where = root if folder == "_" else root / folder.replace("__", "/")
        where.mkdir(parents=True, exist_ok=True)
        (where / ".gitignore").write_text(text, encoding="utf-8")


def names(sources: list[str], **options: object) -> list[str]:
    """The names of the documents `sources` expand to; fails on any problem."""
    documents, problems = expand_sources(sources, **options)  # type: ignore[arg-type]
    assert problems == []
    return [document.name for document in documents]


def doc(name: str) -> Document:
    return Document(name=name, path=Path(name))


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- single sources ---------------------------------------------------------


def test_file_source_is_read_whatever_its_extension_hiddenness_or_gitignore(cwd: Path) -> None:
    make(cwd, "data.json", ".secret.png", _="*.json\n.secret.png\n")
    documents, problems = expand_sources(["data.json", ".secret.png"])
    assert (documents, problems) == ([doc("data.json"), doc(".secret.png")], [])


def test_dash_is_stdin() -> None:
    assert expand_sources(["-"]) == ([Document(name="-", path=None)], [])


def test_http_url_that_is_not_a_file_is_a_page_even_with_a_query(cwd: Path) -> None:
    url = "https://example.org/docs/?page=2&x=[1]"
    assert expand_sources([url, "HTTP://a.test/"]) == (
        [
            Document(name=url, path=None, url=url),
            Document(name="HTTP://a.test/", path=None, url="HTTP://a.test/"),
        ],
        [],
    )


def test_missing_source_is_a_problem(cwd: Path) -> None:
    assert expand_sources(["nope.md"]) == (
        [],
        ["cannot read source 'nope.md': No such file or directory"],
    )


def test_existing_file_with_glob_characters_is_that_file(cwd: Path) -> None:
    make(cwd, "a[1].md", "a1.md")
    assert names(["a[1].md"]) == ["a[1].md"]


# --- folders ----------------------------------------------------------------


def test_folder_walk_is_sorted_files_first_then_each_subfolder_depth_first(cwd: Path) -> None:
    make(cwd, "docs/z.md", "docs/b/2.md", "docs/b/c/3.md", "docs/a/1.md", "docs/m.md")
    assert names(["docs"]) == [
        "docs/m.md",
        "docs/z.md",
        "docs/a/1.md",
        "docs/b/2.md",
        "docs/b/c/3.md",
    ]


def test_folder_walk_gives_documents_with_the_path_to_read(cwd: Path) -> None:
    make(cwd, "docs/guide/a.md")
    documents, _ = expand_sources(["docs"])
    assert documents == [Document(name="docs/guide/a.md", path=Path("docs/guide/a.md"))]
    assert documents[0].path is not None and documents[0].path.is_file()


def test_folder_walk_takes_default_extensions_case_insensitively(cwd: Path) -> None:
    files = ["a.MD", "b.markdown", "c.mdx", "d.HTML", "e.htm", "f.Rst", "g.txt"]
    make(cwd, *(f"d/{name}" for name in [*files, "h.json", "i.png", "README", "j.md.bak"]))
    assert names(["d"]) == [f"d/{name}" for name in files]


def test_extensions_option_replaces_the_defaults_with_or_without_dot(cwd: Path) -> None:
    make(cwd, "d/a.md", "d/b.json", "d/c.ADOC")
    assert names(["d"], extensions=["json", ".adoc"]) == ["d/b.json", "d/c.ADOC"]


def test_names_keep_the_folder_as_the_user_wrote_it(cwd: Path) -> None:
    make(cwd, "docs/a.md")
    assert names(["docs"]) == ["docs/a.md"]
    assert names(["docs/"]) == ["docs/a.md"]
    assert names(["./docs"]) == ["docs/a.md"]  # a leading ./ is dropped, as git shows paths
    assert names(["."]) == ["docs/a.md"]
    assert names([str(cwd / "docs")]) == [str(cwd / "docs" / "a.md")]


def test_folder_walk_skips_hidden_files_and_folders(cwd: Path) -> None:
    make(cwd, "d/.draft.md", "d/.github/ci.md", "d/ok.md")
    assert names(["d"]) == ["d/ok.md"]


def test_hidden_option_takes_hidden_files_and_folders(cwd: Path) -> None:
    make(cwd, "d/.draft.md", "d/.github/ci.md", "d/ok.md")
    assert names(["d"], hidden=True) == ["d/.draft.md", "d/ok.md", "d/.github/ci.md"]


def test_dot_git_folder_is_skipped_even_with_hidden(cwd: Path) -> None:
    make(cwd, "d/.git/description.txt", "d/ok.md")
    assert names(["d"], hidden=True) == ["d/ok.md"]


def test_hidden_folder_named_as_the_source_is_walked(cwd: Path) -> None:
    make(cwd, ".github/ci.md")
    assert names([".github"]) == [".github/ci.md"]


def test_folder_without_documents_is_a_problem_naming_extensions_and_flags(cwd: Path) -> None:
    make(cwd, "docs/a.png", "docs/.hidden.md")
    assert expand_sources(["docs"]) == (
        [],
        [
            "no documents in 'docs' (extensions " + " ".join(DEFAULT_EXTENSIONS) + "; "
            "--hidden / --no-ignore to include hidden or ignored files)"
        ],
    )


@needs_symlinks
def test_symlinked_folder_is_not_followed_so_a_loop_ends(cwd: Path) -> None:
    make(cwd, "d/a.md", "d/sub/b.md")
    (cwd / "d/sub/loop").symlink_to(cwd / "d", target_is_directory=True)
    (cwd / "d/elsewhere").symlink_to(cwd / "d/sub", target_is_directory=True)
    assert names(["d"]) == ["d/a.md", "d/sub/b.md"]


@needs_symlinks
def test_symlinked_file_is_read_and_a_broken_one_skipped(cwd: Path) -> None:
    make(cwd, "target/real.md", "d/a.md")
    (cwd / "d/link.md").symlink_to(cwd / "target/real.md")
    (cwd / "d/broken.md").symlink_to(cwd / "missing.md")
    assert names(["d"]) == ["d/a.md", "d/link.md"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_unreadable_subfolder_is_skipped_silently(cwd: Path) -> None:
    make(cwd, "d/a.md", "d/locked/b.md")
    (cwd / "d/locked").chmod(0)
    try:
        assert names(["d"]) == ["d/a.md"]
    finally:
        (cwd / "d/locked").chmod(0o755)


# --- .gitignore ---------------------------------------------------------------


def test_gitignore_skips_matching_files_and_directory_patterns(cwd: Path) -> None:
    make(cwd, "a.md", "x.draft.md", "build/out.md", "sub/build/out.md", "sub/b.md")
    make(cwd, _="*.draft.md\nbuild/\n")
    assert names(["."]) == ["a.md", "sub/b.md"]


def test_gitignore_directory_pattern_does_not_match_a_file_of_that_name(cwd: Path) -> None:
    make(cwd, "build.md/x.md", "notes/build.md", _="build.md/\n")
    assert names(["."]) == ["notes/build.md"]


def test_gitignore_anchored_pattern_applies_only_in_its_own_folder(cwd: Path) -> None:
    make(cwd, "top.md", "sub/top.md", _="/top.md\n")
    assert names(["."]) == ["sub/top.md"]


def test_gitignore_negation_reincludes_a_file(cwd: Path) -> None:
    make(cwd, "a.draft.md", "keep.draft.md", _="*.draft.md\n!keep.draft.md\n")
    assert names(["."]) == ["keep.draft.md"]


def test_file_inside_an_ignored_folder_cannot_be_reincluded(cwd: Path) -> None:
    make(cwd, "a.md", "build/keep.md", _="build/\n!build/keep.md\n")
    assert names(["."]) == ["a.md"]


def test_subfolder_gitignore_applies_below_it_and_overrides_its_parent(cwd: Path) -> None:
    make(cwd, "a.txt", "guide/b.txt", "guide/c.md", "guide/deep/d.txt", "guide/deep/e.md")
    make(cwd, _="*.md\n", guide="!c.md\n*.txt\n")
    assert names(["."]) == ["a.txt", "guide/c.md"]


def test_no_ignore_takes_gitignored_files(cwd: Path) -> None:
    make(cwd, "a.md", "build/out.md", "x.draft.md", _="build/\n*.draft.md\n")
    assert names(["."], ignore=False) == ["a.md", "x.draft.md", "build/out.md"]


def test_git_info_exclude_is_honoured_at_a_repository_root(cwd: Path) -> None:
    make(cwd, "a.md", "local.md", ".git/info/")
    (cwd / ".git/info/exclude").write_text("local.md\n", encoding="utf-8")
    assert names(["."]) == ["a.md"]


def test_gitignore_above_a_walked_folder_applies_inside_a_repository(cwd: Path) -> None:
    make(cwd, ".git/", "docs/a.md", "docs/_build/b.md", "docs/c.log.md", _="_build/\n*.log.md\n")
    assert names(["docs"]) == ["docs/a.md"]


def test_gitignore_above_a_walked_folder_is_not_read_outside_a_repository(cwd: Path) -> None:
    make(cwd, "docs/a.md", "docs/_build/b.md", _="_build/\n")
    assert names(["docs"]) == ["docs/a.md", "docs/_build/b.md"]


def test_ignored_folder_named_as_the_source_is_walked(cwd: Path) -> None:
    make(cwd, ".git/", "build/out.md", "build/x.log.md", _="build/\n*.log.md\n")
    assert names(["build"]) == ["build/out.md", "build/x.log.md"]


def test_nested_repository_does_not_inherit_the_outer_gitignore(cwd: Path) -> None:
    make(cwd, "a.md", "b.gen.md", "vendor/lib/.git/", "vendor/lib/c.gen.md", _="*.gen.md\n")
    assert names(["."]) == ["a.md", "vendor/lib/c.gen.md"]


# --- globs --------------------------------------------------------------------


def test_glob_double_star_matches_any_depth_including_zero_folders(cwd: Path) -> None:
    make(cwd, "docs/a.md", "docs/x/b.md", "docs/x/y/c.md", "docs/x/d.txt", "e.md")
    assert names(["docs/**/*.md"]) == ["docs/a.md", "docs/x/b.md", "docs/x/y/c.md"]


def test_glob_without_folder_names_files_relative_to_cwd(cwd: Path) -> None:
    make(cwd, "b.md", "a.md", "sub/c.md")
    assert names(["*.md"]) == ["a.md", "b.md"]
    assert names(["*.md"]) == ["a.md", "b.md"]


def test_glob_with_wildcards_in_several_segments(cwd: Path) -> None:
    make(cwd, "v1/guide/a.md", "v2/guide/b.md", "v2/other/c.md", "v3/guide/")
    assert names(["v?/guide/*.md"]) == ["v1/guide/a.md", "v2/guide/b.md"]


def test_glob_takes_files_whatever_their_extension_and_skips_folders(cwd: Path) -> None:
    make(cwd, "d/a.json", "d/b.md", "d/sub/c.md")
    assert names(["d/*"]) == ["d/a.json", "d/b.md"]


def test_glob_trailing_double_star_takes_every_file_below(cwd: Path) -> None:
    make(cwd, "d/a.json", "d/sub/c.md")
    assert names(["d/**"]) == ["d/a.json", "d/sub/c.md"]


def test_glob_skips_hidden_paths_the_pattern_does_not_name(cwd: Path) -> None:
    make(cwd, "a.md", ".b.md", ".github/c.md", "d/.e/f.md")
    assert names(["**/*.md"]) == ["a.md"]


def test_glob_finds_hidden_paths_the_pattern_names(cwd: Path) -> None:
    make(cwd, ".github/c.md", ".github/.d.md", ".b.md", "a.md")
    assert names([".github/*.md"]) == [".github/c.md"]
    assert names([".*.md"]) == [".b.md"]


def test_glob_with_hidden_option_finds_hidden_paths(cwd: Path) -> None:
    make(cwd, "a.md", ".github/c.md", ".git/d.md")
    assert names(["**/*.md"], hidden=True) == ["a.md", ".github/c.md"]


def test_glob_applies_gitignore_from_its_base_folder_down(cwd: Path) -> None:
    make(cwd, "d/a.md", "d/b.draft.md", "d/build/c.md", "d/s/e.md", d="*.draft.md\nbuild/\n")
    make(cwd, d__s="e.md\n")
    assert names(["d/**/*.md"]) == ["d/a.md"]
    assert names(["d/**/*.md"], ignore=False) == [
        "d/a.md",
        "d/b.draft.md",
        "d/build/c.md",
        "d/s/e.md",
    ]


def test_glob_matching_nothing_is_a_problem(cwd: Path) -> None:
    make(cwd, "docs/a.md")
    assert expand_sources(["docs/**/*.mdx", "missing/*.md"]) == (
        [],
        ["no file matches 'docs/**/*.mdx'", "no file matches 'missing/*.md'"],
    )


@needs_symlinks
def test_glob_double_star_does_not_follow_symlinked_folders(cwd: Path) -> None:
    make(cwd, "d/a.md")
    (cwd / "d/loop").symlink_to(cwd / "d", target_is_directory=True)
    assert names(["d/**/*.md"]) == ["d/a.md"]


@needs_symlinks
def test_glob_segment_naming_a_symlinked_folder_follows_it(cwd: Path) -> None:
    make(cwd, "real/a.md")
    (cwd / "alias").symlink_to(cwd / "real", target_is_directory=True)
    assert names(["alias/*.md"]) == ["alias/a.md"]
    assert names(["al*/*.md"]) == ["alias/a.md"]


# --- several sources ------------------------------------------------------------


def test_same_file_is_read_once_and_its_first_position_wins(cwd: Path) -> None:
    make(cwd, "docs/a.md", "docs/b.md")
    assert names(["docs/b.md", "docs", "docs/**/*.md", "docs/a.md", "-", "-"]) == [
        "docs/b.md",
        "docs/a.md",
        "-",
    ]


@needs_symlinks
def test_same_file_through_a_symlink_is_read_once(cwd: Path) -> None:
    make(cwd, "docs/a.md")
    (cwd / "alias.md").symlink_to(cwd / "docs/a.md")
    (cwd / "mirror").symlink_to(cwd / "docs", target_is_directory=True)
    assert names(["docs", "alias.md", "mirror", "mirror/*.md"]) == ["docs/a.md"]


def test_problems_come_one_per_source_and_do_not_stop_the_others(cwd: Path) -> None:
    make(cwd, "a.md", "empty/")
    documents, problems = expand_sources(["gone.md", "a.md", "empty", "*.mdx"])
    assert documents == [doc("a.md")]
    assert [problem.split(" (")[0] for problem in problems] == [
        "cannot read source 'gone.md': No such file or directory",
        "no documents in 'empty'",
        "no file matches '*.mdx'",
    ]


def test_files_from_entries_come_after_the_sources(cwd: Path) -> None:
    make(cwd, "a.md", "d/b.md", "c.md")
    assert names(["c.md"], files_from=["d", "a.md", "c.md"]) == ["c.md", "d/b.md", "a.md"]


def test_read_files_from_skips_blank_and_comment_lines(cwd: Path) -> None:
    (cwd / "list.txt").write_bytes(b"\xef\xbb\xbfdocs/\r\n\n  # a comment\n  README.md  \n*.md\n")
    assert read_files_from("list.txt") == ["docs/", "README.md", "*.md"]


def test_read_files_from_dash_reads_stdin() -> None:
    assert read_files_from("-", stdin=io.BytesIO(b"a.md\n#x\nb.md")) == ["a.md", "b.md"]


def test_read_files_from_a_missing_file_raises_oserror(cwd: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_files_from("missing.txt")


@pytest.mark.slow
def test_a_walk_of_ten_thousand_files_leaves_an_ignored_folder_out_in_order(cwd: Path) -> None:
    for folder in range(100):
        (cwd / f"d{folder}" / "sub").mkdir(parents=True)
        for number in range(100):
            (cwd / f"d{folder}" / "sub" / f"f{number}.md").touch()
    make(cwd, _="*.log\nbuild/\n!keep.md\n/d7/\n")
    documents, _ = expand_sources(["."])
    assert len(documents) == 9900  # all but /d7/, in sorted order
    assert [str(d.path) for d in documents] == sorted(str(d.path) for d in documents)
