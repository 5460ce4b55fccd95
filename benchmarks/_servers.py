"""The benchmark's local HTTP server: nginx when installed, else fallback_server.py.

Both listen on 127.0.0.1 only, on a free port, serve the generated files
`/1k` (1 KiB) and `/100k` (100 KiB), and are stopped on every path by the
`local_server()` context manager.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FILES = {"1k": 1024, "100k": 100 * 1024}
NGINX_CANDIDATES = (
    "nginx",
    "/usr/sbin/nginx",
    "/usr/local/sbin/nginx",
    "/usr/local/nginx/sbin/nginx",
)
FALLBACK_SCRIPT = Path(__file__).with_name("fallback_server.py")
START_SECONDS = 10.0  # longest wait for a server to answer
PORT_TRIES = 5  # a free port can be taken between probing and nginx's bind
FALLBACK_MAX_SECONDS = 6 * 3600  # the fallback server stops by itself after this

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 20000;
events {{
    worker_connections 8192;
    multi_accept on;
}}
http {{
    access_log off;
    default_type {default_type};
    types {{ }}
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    client_body_temp_path {prefix}/tmp/client_body;
{temp_paths}
    server {{
{listens}
        server_name localhost;
        root {prefix}/www;
{locations}
    }}
}}
"""

# Temp-path directives of modules a minimal build may leave out (nginx -V says --without-…).
OPTIONAL_TEMP_PATHS = ("proxy", "fastcgi", "uwsgi", "scgi")


class ServerError(RuntimeError):
    """The local server could not be started."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Server:
    """A running local server."""

    kind: str  # "nginx" or "fallback"
    description: str
    base_url: str
    tls_base_url: str | None = None  # the same files over HTTPS (nginx only)
    h2_base_url: str | None = None  # the same files over HTTPS with HTTP/2 (nginx only)
    ca_file: str | None = None  # the CA that signed the HTTPS listener's certificate


def find_nginx() -> str | None:
    """The nginx binary on PATH or in the usual sbin folders, else None."""
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def nginx_version(binary: str) -> str:
    """`nginx/1.22.1`, or "nginx (version unknown)"."""
    try:
        done = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "nginx (version unknown)"
    return done.stderr.strip().removeprefix("nginx version: ") or "nginx (version unknown)"


def write_files(root: Path) -> None:
    """Write the served files into root, readable by nginx's unprivileged worker."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    pattern = bytes(range(32, 127))
    for name, size in FILES.items():
        path = root / name
        path.write_bytes((pattern * (size // len(pattern) + 1))[:size])
        path.chmod(0o644)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:
    # Linux: the server gets SIGTERM if the runner dies without stopping it.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def check_serving(port: int) -> None:
    """GET /1k once and check the body, or raise ServerError."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/1k?n=check")
        response = connection.getresponse()
        body = response.read()
    except OSError as exc:
        raise ServerError(f"GET /1k failed: {exc}") from exc
    finally:
        connection.close()
    if response.status != 200 or len(body) != FILES["1k"]:
        raise ServerError(f"GET /1k gave status {response.status}, {len(body)} bytes")


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_listening(process: subprocess.Popen[bytes], ports: list[int]) -> bool:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        if all(listening(port) for port in ports):
            return True
        time.sleep(0.05)
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; always reaps the process."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_nginx(
    binary: str,
    prefix: Path,
    *,
    ports: int = 1,
    default_type: str = "application/octet-stream",
    locations: str = "        location / { }",
    tls: str | None = None,
    http2: bool = False,
) -> tuple[subprocess.Popen[bytes], list[int]]:
    """nginx serving `prefix/www` on `ports` free ports of 127.0.0.1 (NGINX_CONF, one worker).

    `tls`: a PEM file with key and certificate chain; the last port then speaks HTTPS
    (HTTP/1.1 only). With `http2`, the last port speaks HTTPS with HTTP/2 and the one
    before it HTTPS with HTTP/1.1.
    """
    built = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10).stderr
    temp_paths = "\n".join(
        f"    {name}_temp_path {prefix}/tmp/{name};"
        for name in OPTIONAL_TEMP_PATHS
        if f"--without-http_{name}_module" not in built
    )
    (prefix / "tmp").mkdir(exist_ok=True)
    error_log = prefix / "error.log"
    last_error = ""
    for _ in range(PORT_TRIES):
        chosen = sorted({free_port() for _ in range(ports * 2)})[:ports]
        if len(chosen) < ports:
            continue
        kinds = [""] * len(chosen)
        if tls is not None:
            kinds[-1] = " ssl http2" if http2 else " ssl"
            if http2 and len(kinds) > 1:
                kinds[-2] = " ssl"
        listens = "\n".join(
            f"        listen 127.0.0.1:{port} backlog=4096{kind};"
            for port, kind in zip(chosen, kinds, strict=True)
        )
        if tls is not None:
            listens += f"\n        ssl_certificate {tls};\n        ssl_certificate_key {tls};"
        conf = prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                prefix=prefix,
                temp_paths=temp_paths,
                listens=listens,
                default_type=default_type,
                locations=locations,
            )
        )
        process = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(conf), "-e", str(error_log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # no threads run yet
        )
        if _wait_listening(process, chosen):
            return process, chosen
        stop(process)
        last_error = error_log.read_text(errors="replace")[-500:] if error_log.exists() else ""
        if "in use" not in last_error:
            break
    raise ServerError(f"nginx did not start: {last_error.strip() or 'no error log'}")


def _start_fallback(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(FALLBACK_SCRIPT),
            str(root),
            "--max-seconds",
            str(FALLBACK_MAX_SECONDS),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        preexec_fn=die_with_parent,  # no threads run yet
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_SECONDS)
    line = process.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        stop(process)
        raise ServerError("the fallback server did not report its port")
    return process, int(line)


def _certificate(workdir: Path) -> tuple[str | None, str | None]:
    """A key and certificate for 127.0.0.1 and the CA file that trusts it (trustme), or Nones."""
    try:
        import trustme
    except ImportError:
        return None, None
    ca = trustme.CA()
    pem, ca_file = workdir / "server.pem", workdir / "ca.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    pem.chmod(0o644)  # nginx's worker reads it
    ca.cert_pem.write_to_path(str(ca_file))
    return str(pem), str(ca_file)


@contextlib.contextmanager
def local_server(choice: str, workdir: Path) -> Iterator[Server]:
    """Start the chosen server ("auto", "nginx" or "fallback") and stop it on exit."""
    root = workdir / "www"
    write_files(root)
    workdir.chmod(0o755)  # nginx's worker (nobody when run as root) reads www/
    binary = find_nginx() if choice in ("auto", "nginx") else None
    if choice == "nginx" and binary is None:
        raise ServerError("--server nginx: nginx is not installed (apt-get install nginx-light)")
    if binary is not None:
        pem, ca_file = _certificate(workdir)
        process, ports = start_nginx(
            binary, workdir, ports=1 if pem is None else 3, tls=pem, http2=pem is not None
        )
        port = ports[0]
        description = (
            f"{nginx_version(binary)} ({binary}), 1 worker, access_log off, "
            "keepalive_requests 10000000, worker_connections 8192, sendfile on"
            + (
                ""
                if pem is None
                else "; HTTPS on a second port and HTTPS + HTTP/2 on a third (a trustme CA)"
            )
        )
        server = Server(
            kind="nginx",
            description=description,
            base_url=f"http://127.0.0.1:{port}",
            tls_base_url=None if pem is None else f"https://127.0.0.1:{ports[1]}",
            h2_base_url=None if pem is None else f"https://127.0.0.1:{ports[2]}",
            ca_file=ca_file,
        )
    else:
        note = "" if choice == "fallback" else "nginx not found (apt-get install nginx-light); "
        process, port = _start_fallback(root)
        description = (
            f"{note}benchmarks/fallback_server.py, a single-threaded asyncio "
            "HTTP/1.1 keep-alive server (far slower than nginx)"
        )
        server = Server(
            kind="fallback", description=description, base_url=f"http://127.0.0.1:{port}"
        )
    try:
        check_serving(port)
        yield server
    finally:
        stop(process)
