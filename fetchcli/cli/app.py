"""The command line: flags and FETCHCLI_* variables → FetchOptions → a run.

This is the only module that imports Typer. It checks usage (exit 2 with one
short line), wires sources → engine → writer/summary/progress, installs the
signal handlers and turns the results into an exit code.
"""

import contextlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar, cast

import typer
from typer.core import TyperCommand
from typer.models import OptionInfo

from fetchcli import options as opt
from fetchcli._version import version_line
from fetchcli.cli.exitcodes import ExitCode
from fetchcli.sinks.formats import Format
from fetchcli.units import format_duration, format_size, parse_duration, parse_rate, parse_size

if TYPE_CHECKING:  # the Click this Typer ships (it may vendor its own)
    from typer._click import Context as ClickContext
    from typer._click import HelpFormatter, Parameter
    from typer._click.exceptions import NoSuchOption

ENV_PREFIX = "FETCHCLI_"
_FLAG = re.compile(r"--([a-z0-9-]+)")
# Click's UsageError as this Typer ships it (Typer may vendor Click): BadParameter's base.
_USAGE_ERROR = cast(type[Exception], typer.BadParameter.__mro__[1])
_T = TypeVar("_T")


app = typer.Typer(
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Fetch or check lists of URLs concurrently. Results go to stdout, progress to stderr.",
)

# --help panels, in the order shown; options without one (--help, --version, completion)
# go last. Within a panel, the options people use most come first.
_INPUT, _REQUESTS, _SCHEDULING, _OUTPUT = "Input", "Requests", "Scheduling", "Output"
_LINKS, _CACHE, _OTHER = "Link checking", "Cache & resume", "Other"
_PANELS = (_INPUT, _REQUESTS, _SCHEDULING, _OUTPUT, _LINKS, _CACHE, _OTHER)
_MOST_USED = (
    "--concurrency", "--timeout", "--retries", "--method", "--header", "--accept", "--format",
    "--output", "--quiet", "--extract", "--cache", "--include", "--exclude",
)  # fmt: skip
# Typo suggestions name one option, and only one this close (Click's own cutoff is 0.6,
# which offers --insecure for --concurency).
_SUGGESTION_CUTOFF = 0.8

_EXAMPLES = """\b
Examples:
  # See it work on a built-in local site, no network needed
  fetchcli --demo
  # Fetch a list: one result per URL on stdout, progress and summary on stderr
  fetchcli urls.txt
  # Status codes of a sitemap, 200 at a time, HEAD first, into a CSV file
  fetchcli sitemap.txt -c 200 -X HEAD,GET --format csv -o statuses.csv
  # Only the failures, as JSON lines for jq (a 403 counts as ok here)
  fetchcli links.txt --accept 200-299,403 --format jsonl -q | jq -c 'select(.ok == false)'
  # Check the links in your docs (folders are walked; globs work too)
  fetchcli --extract docs/ README.md
  # Finish a long run that was stopped, without fetching anything twice
  fetchcli big-list.txt --format jsonl -o results.jsonl --resume
"""


class _FetchCommand(TyperCommand):
    """The one command, with its --help in panels and typo suggestions that make sense."""

    def get_params(self, ctx: "ClickContext") -> "list[Parameter]":
        """Parameters by panel, the most used first in each (the order --help shows)."""
        return sorted(super().get_params(ctx), key=_help_rank)

    def format_options(self, ctx: "ClickContext", formatter: "HelpFormatter") -> None:
        """Each panel as a section of plain text: --help stays fast (it never imports Rich)."""
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(_panel(param), []).append(record)
        for panel, records in sections.items():
            with formatter.section(panel):
                formatter.write_dl(records)

    def parse_args(self, ctx: "ClickContext", args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _USAGE_ERROR as exc:
            if hasattr(exc, "possibilities"):  # an unknown option
                _suggest(cast("NoSuchOption", exc), self.get_params(ctx))
            raise


def _suggest(error: "NoSuchOption", params: "list[Parameter]") -> None:
    """Suggest the one option closest to an unknown one, if it is close."""
    import difflib  # only a mistyped command line pays for it

    names = [name for param in params for name in (*param.opts, *param.secondary_opts)]
    close = difflib.get_close_matches(error.option_name, names, n=1, cutoff=_SUGGESTION_CUTOFF)
    error.possibilities = None
    if close:
        error.message = f"{error.message} (did you mean {close[0]}?)"


def _panel(param: "Parameter") -> str:
    return getattr(param, "rich_help_panel", None) or _OTHER


def _help_rank(param: "Parameter") -> tuple[int, bool, bool]:
    argument = param.param_type_name == "argument"
    return _PANELS.index(_panel(param)), not argument, not set(param.opts) & set(_MOST_USED)


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper().replace("-", "_")


def _option(
    *decls: str,
    panel: str,
    help: str,
    show_default: bool = True,
    complete: Callable[[str], list[str]] | None = None,
) -> OptionInfo:
    """A Typer option, shown in a --help panel, that can also be set from FETCHCLI_<NAME>."""
    name = next(d for d in decls if d.startswith("--")).lstrip("-").split("/")[0]
    info = typer.Option(
        *decls,
        envvar=_env(name),
        help=help,
        show_default=show_default,
        rich_help_panel=panel,
        autocompletion=complete,
    )
    return cast(OptionInfo, info)  # Typer declares Option() as returning Any


def _list_option(*decls: str, panel: str, help: str) -> OptionInfo:
    """A repeatable option; its FETCHCLI_<NAME> variable holds one value per line."""
    name = next(d for d in decls if d.startswith("--")).lstrip("-")
    help = f"{help}  [env var: {_env(name)}, one per line]"
    info = typer.Option(*decls, help=help, show_default=False, rich_help_panel=panel)
    return cast(OptionInfo, info)


def _complete_method(incomplete: str) -> list[str]:
    """-X values for shell completion (the option stays a string: `head,get` is accepted too)."""
    return [method.value for method in opt.Method if method.value.startswith(incomplete)]


def _from_env(values: list[str] | None, flag: str) -> tuple[str, ...]:
    """The flag's values, else those of its variable, one per line (values may hold spaces)."""
    if values:
        return tuple(values)
    lines = os.environ.get(_env(flag), "").splitlines()
    return tuple(line.strip() for line in lines if line.strip())


def _workers(text: str) -> int:
    if text.strip().lower() == "auto":
        return os.cpu_count() or 1
    try:
        return int(text)
    except ValueError:
        usage_error(f"--workers expects a number or auto (got {text!r})")


def _closed(stream: object) -> bool:
    """Whether a standard stream is missing or closed (`fetchcli … >&-`)."""
    if stream is None:
        return True
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):
        return False  # not a file at all (a test's buffer): writable as far as we know
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def _list(text: str) -> tuple[str, ...]:
    """A comma-separated option value: `md,html` or `.md, .html`."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _remap(rule: str) -> tuple[str, str]:
    pattern, _, replacement = rule.strip().partition(" ")
    if not pattern or not replacement.strip():
        usage_error(f"--remap expects 'REGEX REPLACEMENT' (got {rule!r})")
    return pattern, replacement.strip()


def _exclude_files(names: list[str] | None) -> tuple[str, ...]:
    """The regexes of each --exclude-file, one per line (blank lines and # comments skipped)."""
    patterns: list[str] = []
    for name in _from_env(names, "exclude-file"):
        try:
            lines = Path(name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            usage_error(f"--exclude-file: cannot read {name!r}: {getattr(exc, 'strerror', exc)}")
        patterns += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return tuple(patterns)


class _Where:
    """Usage messages that say when a bad value came from a FETCHCLI_* variable, not a flag."""

    def __init__(self, ctx: typer.Context) -> None:
        self._ctx = ctx

    def parse(self, parse: Callable[[str, str], _T], flag: str, text: str) -> _T:
        """`parse(text, flag)`, or exit 2 with its message."""
        try:
            return parse(text, flag)
        except ValueError as exc:
            usage_error(self.said(str(exc)))

    def said(self, message: str) -> str:
        """The message, naming the variable when the flag it starts with was set by one."""
        match = _FLAG.match(message)
        if match is None:
            return message
        name = match.group(1).replace("-", "_")
        with contextlib.suppress(KeyError):
            source = self._ctx.get_parameter_source(name)
            if source is not None and source.name == "ENVIRONMENT":  # Typer vendors Click
                return f"{message} (from {_env(name)})"
        return message


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


def usage_error(message: str) -> NoReturn:
    """Print one short line naming what is wrong, then exit 2."""
    _say_usage_error(message)
    raise typer.Exit(ExitCode.USAGE)


def _say_usage_error(message: str) -> None:
    from fetchcli.text import safe_text

    sys.stderr.write(f"fetchcli: error: {safe_text(message)}\n")
    sys.stderr.write("Try 'fetchcli --help' for help.\n")


@app.command(cls=_FetchCommand, epilog=_EXAMPLES)
def fetch(
    ctx: typer.Context,
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files of URLs, one per line, or - for stdin (the default when piped).",
            show_default=False,
            metavar="SOURCE...",
            rich_help_panel=_INPUT,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        _option(
            "-c", "--concurrency", panel=_SCHEDULING, help="Requests in flight at once (1-10000)."
        ),
    ] = opt.DEFAULT_CONCURRENCY,
    mode: Annotated[
        opt.Mode,
        _option("--mode", panel=_SCHEDULING, help="Scheduling: queue, semaphore or gather."),
    ] = opt.Mode.QUEUE,
    per_host: Annotated[
        int, _option("--per-host", panel=_SCHEDULING, help="At most N in flight per host (0: off).")
    ] = 0,
    workers: Annotated[
        str,
        _option(
            "--workers",
            panel=_SCHEDULING,
            help="Processes sharing the work: a number, or auto (one per CPU).",
        ),
    ] = "1",
    rate: Annotated[
        str,
        _option(
            "--rate",
            panel=_SCHEDULING,
            help="At most R request starts overall: 10, 10/s, 600/m (0: off).",
        ),
    ] = "0",
    timeout: Annotated[
        str,
        _option(
            "-t",
            "--timeout",
            panel=_REQUESTS,
            help="Time for one attempt, body included: 10, 5s, 500ms.",
        ),
    ] = format_duration(opt.DEFAULT_TIMEOUT),
    connect_timeout: Annotated[
        str | None,
        _option(
            "--connect-timeout",
            panel=_REQUESTS,
            help="Time to connect [default: --timeout].",
            show_default=False,
        ),
    ] = None,
    retries: Annotated[
        int,
        _option(
            "-r",
            "--retries",
            panel=_REQUESTS,
            help="Retries after connect errors, timeouts, 408/429/502/503/504.",
        ),
    ] = opt.DEFAULT_RETRIES,
    backoff: Annotated[
        str,
        _option(
            "--backoff", panel=_REQUESTS, help="Base time of exponential backoff (full jitter)."
        ),
    ] = format_duration(opt.DEFAULT_BACKOFF),
    max_retry_after: Annotated[
        str, _option("--max-retry-after", panel=_REQUESTS, help="Longest Retry-After to wait for.")
    ] = format_duration(opt.DEFAULT_MAX_RETRY_AFTER),
    method: Annotated[
        str,
        _option(
            "-X",
            "--method",
            panel=_REQUESTS,
            help="GET, HEAD, or HEAD,GET (HEAD, then GET if HEAD fails).",
            complete=_complete_method,
        ),
    ] = opt.DEFAULT_METHOD,
    header: Annotated[
        list[str] | None,
        _list_option(
            "-H",
            "--header",
            panel=_REQUESTS,
            help="Extra request header 'Name: value' (repeatable).",
        ),
    ] = None,
    user_agent: Annotated[
        str, _option("-A", "--user-agent", panel=_REQUESTS, help="User-Agent header.")
    ] = opt.DEFAULT_USER_AGENT,
    follow: Annotated[
        bool, _option("--follow/--no-follow", panel=_REQUESTS, help="Follow redirects.")
    ] = True,
    max_redirects: Annotated[
        int, _option("--max-redirects", panel=_REQUESTS, help="Most redirects to follow.")
    ] = opt.DEFAULT_MAX_REDIRECTS,
    http2: Annotated[bool, _option("--http2", panel=_REQUESTS, help="Negotiate HTTP/2.")] = False,
    insecure: Annotated[
        bool, _option("-k", "--insecure", panel=_REQUESTS, help="Skip TLS certificate checks.")
    ] = False,
    proxy: Annotated[
        str | None,
        _option(
            "--proxy",
            panel=_REQUESTS,
            help="HTTP(S) proxy URL [default: HTTP(S)_PROXY].",
            show_default=False,
        ),
    ] = None,
    max_body: Annotated[
        str,
        _option(
            "--max-body",
            panel=_REQUESTS,
            help="Stop reading a body past this size: 1048576, 1M, 50MiB.",
        ),
    ] = format_size(opt.DEFAULT_MAX_BODY),
    save: Annotated[
        Path | None,
        _option(
            "--save",
            panel=_REQUESTS,
            help="Write each body into DIR under a safe name.",
            show_default=False,
        ),
    ] = None,
    accept: Annotated[
        str,
        _option(
            "--accept", panel=_REQUESTS, help="Status codes that count as ok, e.g. 200-299,403."
        ),
    ] = opt.DEFAULT_ACCEPT,
    default_scheme: Annotated[
        str,
        _option(
            "--default-scheme", panel=_INPUT, help="Scheme for lines without one: https or http."
        ),
    ] = opt.DEFAULT_SCHEME,
    unique: Annotated[
        bool, _option("--unique", panel=_INPUT, help="Skip URLs already seen.")
    ] = False,
    shard: Annotated[
        str | None,
        _option(
            "--shard", panel=_INPUT, help="Process only shard K of N: K/N.", show_default=False
        ),
    ] = None,
    extract: Annotated[
        bool,
        _option(
            "--extract",
            panel=_LINKS,
            help="Check the links in SOURCEs: documents, folders, globs or page URLs.",
        ),
    ] = False,
    extensions: Annotated[
        str,
        _option(
            "--extensions", panel=_LINKS, help="Document types a folder walk reads (--extract)."
        ),
    ] = ",".join(e.lstrip(".") for e in opt.DEFAULT_EXTENSIONS),
    hidden: Annotated[
        bool,
        _option("--hidden", panel=_LINKS, help="Walk hidden files and folders too (--extract)."),
    ] = False,
    no_ignore: Annotated[
        bool,
        _option(
            "--no-ignore", panel=_LINKS, help="Walk what .gitignore files ignore too (--extract)."
        ),
    ] = False,
    files_from: Annotated[
        list[str] | None,
        _list_option(
            "--files-from", panel=_LINKS, help="Read more SOURCEs from FILE, one per line."
        ),
    ] = None,
    include_verbatim: Annotated[
        bool,
        _option(
            "--include-verbatim", panel=_LINKS, help="Check links in code blocks and comments too."
        ),
    ] = False,
    root_dir: Annotated[
        str | None,
        _option(
            "--root-dir",
            panel=_LINKS,
            help="Where /root-relative links of local documents point.",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        _option(
            "--base-url",
            panel=_LINKS,
            help="The site the local tree is: links to it are checked on disk.",
            show_default=False,
        ),
    ] = None,
    fallback_extensions: Annotated[
        str,
        _option(
            "--fallback-extensions",
            panel=_LINKS,
            help="Try these when a linked file is missing: md,html.",
        ),
    ] = "",
    index_files: Annotated[
        str,
        _option(
            "--index-files",
            panel=_LINKS,
            help="A linked folder needs one of these: index.html,README.md.",
        ),
    ] = "",
    remap: Annotated[
        list[str] | None,
        _list_option(
            "--remap", panel=_LINKS, help="Rewrite links first: 'REGEX REPLACEMENT' (repeatable)."
        ),
    ] = None,
    check_fragments: Annotated[
        bool,
        _option(
            "--check-fragments", panel=_LINKS, help="Check #fragments of remote HTML pages too."
        ),
    ] = False,
    offline: Annotated[
        bool,
        _option(
            "--offline", panel=_LINKS, help="Check only local links and anchors; fetch nothing."
        ),
    ] = False,
    dump: Annotated[
        bool,
        _option("--dump", panel=_LINKS, help="List the links that would be checked, and stop."),
    ] = False,
    no_default_excludes: Annotated[
        bool,
        _option(
            "--no-default-excludes",
            panel=_LINKS,
            help="Check example.com, *.test, localhost and other reserved names too.",
        ),
    ] = False,
    exclude_file: Annotated[
        list[str] | None,
        _list_option(
            "--exclude-file", panel=_INPUT, help="Read --exclude regexes from FILE, one per line."
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        _list_option(
            "--include", panel=_INPUT, help="Fetch only URLs matching this regex (repeatable)."
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        _list_option("--exclude", panel=_INPUT, help="Skip URLs matching this regex (repeatable)."),
    ] = None,
    order: Annotated[
        opt.Order,
        _option("--order", panel=_OUTPUT, help="Write results in completion or input order."),
    ] = opt.Order.COMPLETION,
    output_format: Annotated[
        Format,
        _option(
            "--format", panel=_OUTPUT, help="Result format, one line per result (none: no lines)."
        ),
    ] = Format.TEXT,
    output: Annotated[
        Path | None,
        _option(
            "-o",
            "--output",
            panel=_OUTPUT,
            help="Write results to FILE instead of stdout.",
            show_default=False,
        ),
    ] = None,
    summary_json: Annotated[
        Path | None,
        _option(
            "--summary-json",
            panel=_OUTPUT,
            help="Write the summary figures to FILE as JSON.",
            show_default=False,
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        _option(
            "--cache",
            panel=_CACHE,
            help="SQLite file of ok results to reuse while fresh.",
            show_default=False,
        ),
    ] = None,
    max_cache_age: Annotated[
        str,
        _option(
            "--max-cache-age",
            panel=_CACHE,
            help="Reuse cached ok results younger than this: 90s, 2h, 1d.",
        ),
    ] = opt.DEFAULT_MAX_CACHE_AGE,
    report: Annotated[
        Path | None,
        _option(
            "--report",
            panel=_OUTPUT,
            help="Write a run report: FILE.md (Markdown) or FILE.xml (JUnit).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        _option(
            "--resume", panel=_CACHE, help="Skip records already in -o FILE (jsonl) and append."
        ),
    ] = False,
    append: Annotated[
        bool,
        _option(
            "--append",
            panel=_OUTPUT,
            help="Add results to the end of -o FILE instead of replacing it.",
        ),
    ] = False,
    quiet: Annotated[
        bool, _option("-q", "--quiet", panel=_OUTPUT, help="No progress display and no summary.")
    ] = False,
    demo: Annotated[
        bool,
        _option(
            "--demo", panel=_INPUT, help="Fetch a few hundred URLs from a built-in local demo site."
        ),
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    """Fetch every URL in SOURCE... (files, or - for stdin) and write one result per URL."""
    where = _Where(ctx)
    try:
        options = opt.FetchOptions(
            concurrency=concurrency,
            mode=mode,
            order=order,
            per_host=per_host,
            workers=_workers(workers),
            rate=where.parse(parse_rate, "--rate", rate),
            timeout=where.parse(parse_duration, "--timeout", timeout),
            connect_timeout=None
            if connect_timeout is None
            else where.parse(parse_duration, "--connect-timeout", connect_timeout),
            retries=retries,
            backoff=where.parse(parse_duration, "--backoff", backoff),
            max_retry_after=where.parse(parse_duration, "--max-retry-after", max_retry_after),
            method=method,
            headers=_from_env(header, "header"),
            user_agent=user_agent,
            follow=follow,
            max_redirects=max_redirects,
            http2=http2,
            insecure=insecure,
            proxy=proxy,
            max_body=where.parse(parse_size, "--max-body", max_body),
            save_dir=None if save is None else str(save),
            cache=None if cache is None else str(cache),
            max_cache_age=where.parse(parse_duration, "--max-cache-age", max_cache_age),
            accept=accept,
            default_scheme=default_scheme,
            unique=unique,
            shard=shard,
            extract=extract,
            include=_from_env(include, "include"),
            exclude=(*_from_env(exclude, "exclude"), *_exclude_files(exclude_file)),
            extensions=_list(extensions),
            hidden=hidden,
            ignore=not no_ignore,
            include_verbatim=include_verbatim,
            root_dir=root_dir,
            base_url=base_url,
            remap=tuple(_remap(rule) for rule in _from_env(remap, "remap")),
            default_excludes=not no_default_excludes,
            offline=offline,
            check_fragments=check_fragments,
            fallback_extensions=_list(fallback_extensions),
            index_files=_list(index_files),
        )
    except ValueError as exc:
        usage_error(where.said(str(exc)))
    from fetchcli.cli.environment import Environment
    from fetchcli.cli.run import Run
    from fetchcli.cli.usage import RunSettings, UsageProblem, documents_to_read, usage_problems

    settings = RunSettings(
        sources=list(sources or ()),
        output_format=output_format,
        output=output,
        summary_json=summary_json,
        quiet=quiet,
        demo=demo,
        resume=resume,
        report=report,
        files_from=_from_env(files_from, "files-from"),
        dump=dump,
        append=append,
    )
    env = Environment()
    tty = bool(env.stdin_isatty)
    found = None
    if extract and not demo and (sources or files_from or not tty):
        found = documents_to_read(options, settings, tty)  # once: it may read stdin
    problems = usage_problems(options, settings, stdin_isatty=tty, documents=found)
    if _closed(sys.stdout) and output is None and (output_format is not Format.NONE or dump):
        problems.append("cannot write results: standard output is closed (use -o FILE)")
    if problems:
        usage_error(problems[0])
    try:
        documents = None if found is None else found[0]
        code = Run(options, settings, env, documents=documents).execute()
    except UsageProblem as exc:  # --resume found a file it cannot continue
        usage_error(str(exc))
    raise typer.Exit(code)


def main() -> None:
    """Run the Typer app (`fetchcli.__main__` answers `--version` before importing this).

    Click's own usage errors (an unknown option, a bad choice) are printed in
    the same two-line style as every other usage error.
    """
    try:
        code = app(prog_name="fetchcli", standalone_mode=False)
    except _USAGE_ERROR as exc:
        _say_usage_error(str(getattr(exc, "format_message", exc.__str__)()))
        sys.exit(ExitCode.USAGE)
    sys.exit(code if isinstance(code, int) else 0)
