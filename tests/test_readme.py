"""The README's recipes run as written (the parts that can run on this machine)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _actions_script() -> str:
    """The `check links` step's shell script from the README's GitHub Actions job."""
    block = re.search(r"```yaml\n# \.github/workflows/links\.yml\n(.*?)```", README, re.S)
    assert block is not None, "the README has no links workflow"
    script = re.search(r"run: \|\n((?:          .*\n)+)", block.group(1))
    assert script is not None, "the workflow has no multi-line run step"
    return "\n".join(line[10:] for line in script.group(1).splitlines())


def _run_step(tree: Path) -> subprocess.CompletedProcess[str]:
    summary = tree.parent / "summary.md"
    bin_dir = Path(sys.executable).parent  # `fetchcli` as pip installed it
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(
        ["bash", "-c", _actions_script()], cwd=tree, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_the_actions_job_passes_on_docs_whose_links_work(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    (tree / "docs").mkdir(parents=True)
    (tree / "README.md").write_text("# Project\n\nSee [install](docs/install.md#setup).\n")
    (tree / "docs" / "install.md").write_text("# Install\n\n## Setup\n\n[Back](../README.md)\n")
    done = _run_step(tree)
    assert done.returncode == 0, done.stderr
    assert "# fetchcli report" in (tmp_path / "summary.md").read_text()


def test_the_actions_job_fails_on_a_broken_link_and_names_it(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    tree.mkdir()
    (tree / "README.md").write_text("# Project\n\nSee [install](docs/install.md).\n")
    done = _run_step(tree)
    assert done.returncode == 1
    report = (tmp_path / "summary.md").read_text()
    assert "README.md" in report and "docs/install.md" in report


def test_the_pre_commit_hook_entry_is_a_working_command(tmp_path: Path) -> None:
    hooks = (Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text()
    entry = next(line.split(":", 1)[1].split() for line in hooks.splitlines() if "entry:" in line)
    page = tmp_path / "a.md"
    page.write_text("# A\n\n[self](#a) and [gone](#nowhere)\n")
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", *entry[1:], str(page)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "no anchor #nowhere" in done.stderr
