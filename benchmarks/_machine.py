"""What the report says about the machine: CPU, memory, OS, Python, package versions."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys

PACKAGES = (
    "fetchcli",
    "httpx",
    "httpcore",
    "h11",
    "h2",
    "anyio",
    "sniffio",
    "aiohttp",
    "httpx-aiohttp",
    "typer",
    "rich",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(info.readline().split()[1])
        return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _curl_version() -> str:
    curl = shutil.which("curl")
    if not curl:
        return "not found"
    try:
        out = subprocess.run([curl, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return " ".join(out.stdout.split()[:2])


def machine_lines() -> list[str]:
    """The machine section: CPU, memory, kernel, Python and package versions, date, load."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    return [
        f"- date: {now}",
        f"- nproc: {os.cpu_count()} (usable by this process: {affinity}); CPU: {_cpu_model()}; "
        f"memory: {_memory_total()}",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python: {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        f"- packages: {versions}",
        f"- curl: {_curl_version()}",
        f"- load average (1/5/15 min) at start: {load}",
    ]
