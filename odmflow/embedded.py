"""The embedded Prefect: a local Prefect server on SQLite and a Runner, as child processes.

Used when no `PREFECT_API_URL` is given, so that `odmflow serve` needs nothing else
installed. Children are tied to this process (they get SIGTERM if it dies), so a
crashed node never leaves a stray server holding the database.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .settings import Settings

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: children outlive a crash, as with any supervisor
        pass


def free_port(preferred: int = 0, host: str = "127.0.0.1") -> int:
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("No free port")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)


def prefect_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(settings.prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED=str(settings.prefect_ui).lower(),
        PREFECT_LOGGING_TO_API_BATCH_INTERVAL="0.5",
        PREFECT_SERVER_API_KEEPALIVE_TIMEOUT="30",
    )
    return env


class PrefectServer:
    """`prefect server start` on loopback, with its database in the data folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port(settings.prefect_port)
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> str:
        self.settings.prefect_home.mkdir(parents=True, exist_ok=True)
        prefect = str(Path(sys.executable).with_name("prefect"))
        args = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        env = prefect_env(self.settings)
        # The UI asks the API at this URL; without it, it assumes port 4200.
        env.update(PREFECT_UI_API_URL=self.url, PREFECT_SERVER_API_PORT=str(self.port))
        self.proc = spawn(args, env, self.settings.prefect_home / "server.log")
        wait_healthy(self.url, timeout, self.proc)
        return self.url

    def stop(self) -> None:
        stop(self.proc)


def wait_healthy(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"The Prefect server exited with code {proc.returncode}; see its server.log.")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"The Prefect server at {url} did not answer within {timeout:.0f} s.")


def start_runner(settings: Settings, api_url: str) -> subprocess.Popen[bytes]:
    """The Runner that executes process-images runs, in its own process."""
    env = prefect_env(settings)
    env["PREFECT_API_URL"] = api_url
    log = settings.data_dir / "runner.log"
    return spawn([sys.executable, "-m", "odmflow.worker"], env, log)


def stop(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
