"""--help in panels with examples, shell completion of option values, and typo suggestions."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from conftest import run_process
from fetchcli.cli.app import app

PANELS = ["Input", "Requests", "Scheduling", "Output", "Link checking", "Cache & resume", "Other"]


@pytest.fixture(scope="module")
def help_text() -> str:
    result = CliRunner().invoke(app, ["--help"], prog_name="fetchcli")
    assert result.exit_code == 0
    return result.stdout


def sections(text: str) -> dict[str, list[str]]:
    """The entries of each section of the help: `Heading:` then indented lines."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][\w &]*:", line):
            current = found.setdefault(line[:-1], [])
        elif current is not None and re.match(r"  \S", line):
            current.append(line.strip())
    return found


def test_help_shows_the_panels_in_order(help_text: str) -> None:
    assert list(sections(help_text)) == PANELS


def test_every_option_is_in_a_named_panel(help_text: str) -> None:
    assert "Options:" not in help_text.splitlines()
    assert "Arguments:" not in help_text.splitlines()


def test_the_input_panel_opens_with_the_sources(help_text: str) -> None:
    assert sections(help_text)["Input"][0].startswith("SOURCE...")


def test_the_most_used_options_come_first_in_their_panel(help_text: str) -> None:
    found = sections(help_text)
    assert found["Requests"][0].startswith("-t, --timeout")
    assert found["Scheduling"][0].startswith("-c, --concurrency")
    assert found["Output"][0].startswith("--format")


def test_help_ends_with_examples(help_text: str) -> None:
    tail = help_text[help_text.index("Other:") :]
    assert "Examples:" in tail and "fetchcli --demo" in tail


def example_commands(text: str) -> list[list[str]]:
    """The fetchcli part of each example command line, as arguments."""
    examples = text[text.index("Examples:") :].splitlines()[1:]
    commands = []
    for line in (line.strip() for line in examples):
        for part in line.split(" | "):
            if part.startswith("fetchcli "):
                commands.append(shlex.split(part)[1:])
    return commands


def test_there_are_five_or_six_examples(help_text: str) -> None:
    assert 5 <= len(example_commands(help_text)) <= 6


def test_every_example_parses(help_text: str) -> None:
    command = typer.main.get_command(app)
    for args in example_commands(help_text):
        command.make_context("fetchcli", args)  # raises on an unknown option or a bad value


def test_help_imports_neither_rich_nor_the_http_stack() -> None:
    script = (
        "import sys, contextlib, io\n"
        "sys.argv = ['fetchcli', '--help']\n"
        "from fetchcli.__main__ import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    run()\n"
        "loaded = {name.split('.')[0] for name, module in sys.modules.items() if module}\n"
        "print(sorted(loaded & {'rich', 'pycurl', 'httpx'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def completions(words: str) -> list[str]:
    """What bash completion offers for the last word of `words`."""
    env = dict(os.environ, _FETCHCLI_COMPLETE="complete_bash", COMP_WORDS=words)
    env["COMP_CWORD"] = str(len(words.split(" ")) - 1)
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli"], env=env, capture_output=True, text=True, timeout=60
    )
    return done.stdout.split()


@pytest.mark.parametrize(
    ("words", "values"),
    [
        ("fetchcli -X ", ["GET", "HEAD", "HEAD,GET"]),
        ("fetchcli --method HE", ["HEAD", "HEAD,GET"]),
        ("fetchcli --format ", ["text", "jsonl", "csv", "none"]),
        ("fetchcli --mode ", ["queue", "semaphore", "gather"]),
        ("fetchcli --order ", ["completion", "input"]),
    ],
)
def test_option_values_complete(words: str, values: list[str]) -> None:
    assert completions(words) == values


def test_a_typo_suggests_the_closest_option() -> None:
    done = run_process(["--concurency", "5", "urls.txt"])
    first = done.stderr.decode().splitlines()[0]
    assert done.returncode == 2
    assert first == "fetchcli: error: No such option: --concurency (did you mean --concurrency?)"


def test_a_name_close_to_no_option_suggests_nothing() -> None:
    done = run_process(["--frobnicate", "urls.txt"])
    assert done.returncode == 2 and b"did you mean" not in done.stderr
