"""Usage checks in one place: every problem with the flags and the file system, before any work.

`usage_problems()` only looks (it opens, creates and truncates nothing), so a
run with a usage error leaves every file as it was. The CLI prints the first
problem and exits 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from errno import ENOENT
from pathlib import Path
from typing import TYPE_CHECKING

from fetchcli.options import FetchOptions
from fetchcli.sinks.formats import Format
from fetchcli.sources.readers import STDIN, check_readable

if TYPE_CHECKING:
    from fetchcli.sources.walk import Document


class UsageProblem(Exception):
    """A usage error; the CLI exits 2 with its message (also raised by --resume loading)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """The output-side settings of a run: what the engine does not need to know."""

    sources: list[str]
    output_format: Format = Format.TEXT
    output: Path | None = None
    summary_json: Path | None = None
    quiet: bool = False
    demo: bool = False
    resume: bool = False
    report: Path | None = None
    files_from: tuple[str, ...] = ()  # files naming more sources, one per line (--extract)
    dump: bool = False  # list the links --extract would check, and stop
    append: bool = False  # add to -o FILE instead of replacing it


def sources_to_read(settings: RunSettings, stdin_isatty: bool) -> list[str]:
    """The sources as given; stdin when none is given and it is not a terminal."""
    if settings.sources or settings.demo or stdin_isatty:
        return list(settings.sources)
    return [STDIN]


def documents_to_read(
    options: FetchOptions, settings: RunSettings, stdin_isatty: bool
) -> tuple[list[Document], list[str]]:
    """The documents of an --extract run, and a problem for each source that names none."""
    from fetchcli.sources.walk import expand_sources, read_files_from

    listed: list[str] = []
    problems = []
    for name in settings.files_from:
        try:
            listed += read_files_from(name)
        except OSError as exc:
            problems.append(f"--files-from: cannot read {name!r}: {exc.strerror or exc}")
    docs = options.documents
    sources = (
        settings.sources if settings.sources or listed else sources_to_read(settings, stdin_isatty)
    )
    documents, missing = expand_sources(
        sources, extensions=docs.extensions, hidden=docs.hidden, ignore=docs.ignore,
        files_from=listed,
    )  # fmt: skip
    return documents, problems + missing


def usage_problems(
    options: FetchOptions,
    settings: RunSettings,
    *,
    stdin_isatty: bool,
    documents: tuple[list[Document], list[str]] | None = None,
) -> list[str]:
    """Every usage problem of a run, in the order a user would fix them; empty if none.

    `documents` is what `documents_to_read()` found for an --extract run (it may
    read stdin for `--files-from -`, so it is read once and given here).
    """
    if options.rules.extract and not settings.demo:
        problems = _extract_problems(options, settings, stdin_isatty, documents)
    else:
        problems = _source_problems(settings, stdin_isatty)
        if settings.files_from or settings.dump:
            flag = "--files-from" if settings.files_from else "--dump"
            problems.append(f"{flag} reads documents: use it with --extract")
    problems += _resume_problems(settings, sources_to_read(settings, stdin_isatty))
    if settings.append and settings.output is None:
        problems.append("--append adds to -o FILE: give -o FILE too")
    outputs = _outputs(options, settings)
    for flag, path in outputs:
        problems += _writable(flag, path)
    problems += _collisions(outputs, sources_to_read(settings, stdin_isatty))
    if settings.report is not None:
        problems += _report_problems(settings.report)
    if options.request.save_dir is not None:
        problems += _creatable_dir("--save", Path(options.request.save_dir))
    return problems


def _report_problems(path: Path) -> list[str]:
    from fetchcli.sinks.report import REPORTS  # only a run that writes one pays for the import

    if path.suffix.lower() in REPORTS:
        return []
    choices = " or ".join(f"{suffix} ({kind.description})" for suffix, kind in REPORTS.items())
    return [f"--report FILE must end in {choices}, got '{path}'"]


def _extract_problems(
    options: FetchOptions,
    settings: RunSettings,
    stdin_isatty: bool,
    documents: tuple[list[Document], list[str]] | None,
) -> list[str]:
    if not settings.sources and not settings.files_from and stdin_isatty:
        return ["no documents to read: give files, folders or globs, or - for stdin"]
    if documents is None:
        documents = documents_to_read(options, settings, stdin_isatty)
    problems = list(documents[1])
    root = options.documents.root_dir
    if root is not None and not Path(root).is_dir():
        problems.append(f"--root-dir: no directory {root!r}")
    return problems


def _source_problems(settings: RunSettings, stdin_isatty: bool) -> list[str]:
    if settings.demo:
        if settings.sources:
            return ["--demo reads no source: drop the file names, or drop --demo"]
        return []
    if not settings.sources and stdin_isatty:
        return ["no URLs to read: give a file, or - for stdin (or try --demo)"]
    problems = []
    for name in settings.sources:
        try:
            check_readable(name)
        except OSError as exc:
            hint = " (a URL source starts with http:// or https://)" if exc.errno == ENOENT else ""
            problems.append(f"cannot read source {name!r}: {exc.strerror or exc}{hint}")
    return problems


def _resume_problems(settings: RunSettings, sources: list[str]) -> list[str]:
    if not settings.resume:
        return []
    if settings.output is None or settings.output_format is not Format.JSONL:
        return ["--resume needs -o FILE and --format jsonl"]
    if settings.demo:
        return ["--resume does not combine with --demo"]
    twice = sorted({name for name in sources if sources.count(name) > 1})
    if twice:  # a result names its (source, line): the two could not be told apart
        return [f"--resume: source {twice[0]!r} is given twice"]
    return []


def _outputs(options: FetchOptions, settings: RunSettings) -> list[tuple[str, Path]]:
    """The files a run writes, by flag (their missing folders are created)."""
    named = (
        ("-o/--output", settings.output),
        ("--summary-json", settings.summary_json),
        ("--report", settings.report),
        ("--cache", None if options.cache is None else Path(options.cache)),
    )
    return [(flag, path) for flag, path in named if path is not None and str(path) != "-"]


def _writable(flag: str, path: Path) -> list[str]:
    """Whether a file can be written (or made, folders and all), found now, not after the run."""
    if path.is_dir():
        return [f"{flag}: {str(path)!r} is a directory"]
    if path.exists():
        return [] if os.access(path, os.W_OK) else [f"{flag}: cannot write {str(path)!r}"]
    return _creatable_dir(flag, path.parent)


def _collisions(outputs: list[tuple[str, Path]], sources: list[str]) -> list[str]:
    """An output that is an input file or another output: it would destroy what it reads."""
    problems = []
    seen: dict[str, str] = {}
    inputs = {_same(name): name for name in sources if name != STDIN and os.path.isfile(name)}
    for flag, path in outputs:
        key = _same(str(path))
        if key in inputs and flag != "--cache":
            problems.append(f"{flag}: {str(path)!r} is an input file (input file is output file)")
        elif key in seen:
            problems.append(f"{flag}: {str(path)!r} is also given to {seen[key]}")
        seen.setdefault(key, flag)
    return problems


def _same(name: str) -> str:
    return os.path.realpath(name)


def _creatable_dir(flag: str, path: Path) -> list[str]:
    """Whether a folder exists and is writable, or can be made where the nearest one is."""
    if path.exists():
        if not path.is_dir():
            return [f"{flag}: cannot use directory {str(path)!r}: Not a directory"]
        if not os.access(path, os.W_OK):
            return [f"{flag}: directory {str(path)!r} is not writable"]
        return []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        return [f"{flag}: cannot use directory {str(path)!r}: Permission denied"]
    return []
