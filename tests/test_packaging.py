"""What `pip install .` (not editable) installs: every module of the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_wheel_holds_every_module_of_the_package(tmp_path: Path) -> None:
    # An editable install hides a package list that misses subpackages; a wheel does not.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path),
         str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("fetchcli-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "fetchcli").rglob("*.py")}
    assert modules - shipped == set()
    assert "fetchcli/cli/app.py" in shipped
