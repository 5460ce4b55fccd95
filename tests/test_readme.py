"""The README's recipes run as written (the parts that can run on this machine)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def _pre_commit_config() -> str:
    """The `.pre-commit-config.yaml` of the README."""
    block = re.search(r"```yaml\n(repos:\n.*?)```", README, re.S)
    assert block is not None, "the README has no pre-commit config"
    return block.group(1)


@pytest.mark.slow
def test_the_pre_commit_recipe_runs_against_a_local_clone(tmp_path: Path) -> None:
    # The recipe as written, with a clone of this repository as `repo:` and its last
    # commit as `rev:`; pre-commit builds the hook's environment from it (this needs the
    # package index for the dependencies).
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if pre_commit is None:
        pytest.skip("pre-commit is not installed (pip install pre-commit)")
    config = _pre_commit_config()
    here = Path(__file__).parent.parent
    head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True)
    if head.returncode:
        pytest.skip("not a git clone")
    clone = tmp_path / "fetchcli"
    subprocess.run(["git", "clone", "-q", str(here), str(clone)], check=True)
    project = tmp_path / "project"
    (project / "docs").mkdir(parents=True)
    config = re.sub(r"repo: \S+", f"repo: {clone}", config, count=1)
    config = re.sub(r"rev: \S+", f"rev: {head.stdout.decode().strip()}", config, count=1)
    (project / ".pre-commit-config.yaml").write_text(config)
    (project / "README.md").write_text("# P\n\n[Install](docs/install.md#setup) [Gone](gone.md)\n")
    (project / "docs" / "install.md").write_text("# Install\n\n## Setup\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(argv, cwd=project, check=True, env=env)
    done = subprocess.run(
        [pre_commit, "run", "--all-files"], cwd=project, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "README.md:3:" in done.stdout and "gone.md" in done.stdout
    assert "install.md" not in done.stdout.split("gone.md")[0].split("README.md:3:")[-1]


def test_the_recipes_name_a_release_of_this_repository() -> None:
    # `rev:` and `@vX.Y.Z` in the recipes name the tag of the version being released.
    from fetchcli import __version__

    tags = set(re.findall(r"(?:rev: |@)(v\d+\.\d+\.\d+)", README))
    assert tags == {f"v{__version__}"}
