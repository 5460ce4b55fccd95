"""Start-up: what a run imports and builds before its first request stays what it uses.

These are behavioural guards, not timings: each lists modules that only some
runs need (a format, --cache, --workers, --resume, a non-ASCII host...) and
checks that a run which does not use them never imports them.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pytest_httpserver import HTTPServer

import fetchcli

# Never needed by a plain `-q --format none` run, nor by an offline --extract run.
_DEFERRED = {
    "csv",  # --format csv
    "decimal",  # a size with a fraction (--max-body 1.5M), through fractions
    "fractions",
    "pickle",  # --workers
    "rich",  # the status line, the summary panels
    "shlex",  # the command that finishes a stopped run
    "sqlite3",  # --cache
    "fetchcli.engine.workers",
    "fetchcli.sinks.cache",
    "fetchcli.sinks.dump",  # --dump
    "fetchcli.sinks.report",  # --report
    "fetchcli.sinks.resume",  # --resume
}
# Also never needed by an offline --extract run, which has no HTTP stack to pull them in.
_DEFERRED_OFFLINE = _DEFERRED | {
    "hashlib",  # --unique
    "httpx",
    "idna",  # a non-ASCII or xn-- host
    "json",  # --format jsonl, --summary-json
    "pycurl",
    # Markdown that the simple reading takes (headings, paragraphs, plain inline links)
    # needs no markdown-it, which these runs' documents are.
    "markdown_it",
}


def _loaded_by_run(args: list[str]) -> tuple[str, set[str]]:
    """Run the command in a fresh interpreter: its exit code and the modules it imported.

    The probe reports without importing anything itself (json is judged too); a name
    stubbed out with None (`httpx._main`, see fetchcli.__main__) was not imported.
    """
    code = (
        "import sys\n"
        f"sys.argv = ['fetchcli', *{args!r}]\n"
        "from fetchcli.__main__ import run\n"
        "print(run())\n"
        "print(' '.join(sorted(name for name, module in sys.modules.items() if module)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    exit_line, modules_line = done.stdout.decode().splitlines()[-2:]
    return exit_line, set(modules_line.split())


def test_a_plain_quiet_run_imports_only_what_it_uses(
    site: HTTPServer, url_file: Callable[..., Path]
) -> None:
    path = url_file(site.url_for("/ok"))
    code, modules = _loaded_by_run([str(path), "-q", "--format", "none"])
    assert code == "0"
    assert len(site.log) == 1
    assert sorted(_DEFERRED & _top_and_full(modules)) == []


def test_an_offline_extract_run_imports_only_what_it_uses(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.md").write_text("# Other\n\n## Part\n")
    (tmp_path / "index.md").write_text("# Title\n\n[a](sub/other.md) [b](sub/other.md#part)\n")
    args = ["--extract", str(tmp_path), "--offline", "-q", "--format", "none"]
    code, modules = _loaded_by_run(args)
    assert code == "0"
    assert sorted(_DEFERRED_OFFLINE & _top_and_full(modules)) == []


def test_a_warning_to_a_pipe_is_written_without_rich(tmp_path: Path) -> None:
    """A run that only warns (here: no link to check) writes the line itself, not via Rich."""
    (tmp_path / "index.md").write_text("# Title\n\nNo links here.\n")
    args = ["--extract", str(tmp_path), "--offline", "-q", "--format", "none"]
    code, modules = _loaded_by_run(args)
    assert code == "0"
    assert sorted(_DEFERRED_OFFLINE & _top_and_full(modules)) == []
    command = [sys.executable, "-m", "fetchcli", *args]
    done = subprocess.run(command, capture_output=True, timeout=60)
    warning = b"fetchcli: warning: no link in the documents; nothing was checked\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", warning)


def test_the_deferred_parts_still_work(tmp_path: Path, site: HTTPServer) -> None:
    """jsonl, csv, --unique and a fractional --max-body load what they need when used."""
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{site.url_for('/ok')}\n{site.url_for('/ok')}\n")
    for fmt, first in (("jsonl", "{"), ("csv", "source,")):
        done = subprocess.run(
            [sys.executable, "-m", "fetchcli", str(urls), "-q", "--unique", "--format", fmt,
             "--max-body", "1.5K"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(first)
        assert len(done.stdout.splitlines()) == (1 if fmt == "jsonl" else 2)


def test_the_run_names_the_errors_of_parts_it_may_not_import() -> None:
    """The errors a run catches without importing their modules are named right."""
    from fetchcli.cli import run
    from fetchcli.engine.workers import WorkerError
    from fetchcli.http.save import SaveError
    from fetchcli.sinks.cache import CacheError
    from fetchcli.sinks.resume import ResumeError

    assert run._loaded(run._PART_ERRORS) == (CacheError, ResumeError, SaveError)
    assert run._loaded(run._WORKER_ERRORS) == (WorkerError,)
    assert run._loaded((("fetchcli.not_imported", "Error"),)) == ()


def test_the_fetch_callback_has_evaluated_annotations() -> None:
    """Typer reads the ~60 parameters twice per start: string annotations cost ~25 ms to eval."""
    from fetchcli.cli.app import fetch

    assert not [name for name, hint in fetch.__annotations__.items() if isinstance(hint, str)]


def test_cheaper_character_classes_match_what_they_replace() -> None:
    """Each class, written as the characters it takes, is the negated one it replaced."""
    from fetchcli.sinks import report
    from fetchcli.sources import normal_form

    every = "".join(map(chr, range(sys.maxunicode + 1)))
    lower_ascii = re.compile(r"[^A-Z\x80-\U0010ffff]")
    new_lower_ascii = re.compile(normal_form._LOWER_ASCII.pattern.removesuffix("*\\Z"))
    assert lower_ascii.sub("", every) == new_lower_ascii.sub("", every)
    xml_illegal = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    assert xml_illegal.sub("", every) == report._XML_ILLEGAL.sub("", every)


def _top_and_full(modules: set[str]) -> set[str]:
    """Every module name and the top-level package of each (`rich` for `rich.console`)."""
    return modules | {name.split(".")[0] for name in modules}


def test_version_imports_nothing_but_itself() -> None:
    """`--version` costs little more than starting Python: no typing, no httpx, no Typer.

    Run without site (`-I -S`), whose import hooks would load typing or contextlib first.
    """
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(fetchcli.__file__).parent.parent)!r})\n"
        "before = set(sys.modules)\n"
        "sys.argv = ['fetchcli', '--version']\n"
        "from fetchcli.__main__ import run\n"
        "status = run()\n"
        "print(status, sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    version, report = done.stdout.decode().splitlines()
    assert version.startswith("fetchcli ")
    status, added = report.split(" ", 1)
    imported = set(ast.literal_eval(added))
    assert status == "0"
    # Not loaded by a site-less start, and not needed to print a version.
    slow = {"typing", "contextlib", "re", "enum", "functools", "collections", "dataclasses"}
    assert sorted(imported & (slow | {"asyncio", "httpx", "typer", "rich", "pycurl"})) == []
    ours = {name for name in imported if name.split(".")[0] == "fetchcli"}
    assert ours == {"fetchcli", "fetchcli.__main__", "fetchcli._version"}


def test_a_profiled_run_exits_the_usual_way_and_keeps_the_profile(tmp_path: Path) -> None:
    """A run ends with os._exit, except under a profiler or tracer, which write at exit."""
    profile = tmp_path / "run.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "fetchcli", "--version"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert profile.stat().st_size > 0
