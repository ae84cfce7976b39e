"""Run real `odmflow serve` processes, for tests, benchmarks and scripts.

Each node runs in its own process group, so `kill()` takes down the API, the
embedded Prefect server, the Runner and any flow run at once, as a crash would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NodeProcess:
    """An `odmflow serve` process group (API, Prefect server, Runner, flow runs)."""

    url: str
    port: int
    data_dir: Path
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    token: str | None = None

    def get(self, path: str, **params: object) -> requests.Response:
        if self.token:
            params.setdefault("token", self.token)
        return requests.get(self.url + path, params=params, timeout=30)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        params = kwargs.pop("params", {}) or {}
        if self.token:
            params.setdefault("token", self.token)  # type: ignore[union-attr]
        return requests.post(self.url + path, params=params, timeout=60, **kwargs)  # type: ignore[arg-type]

    def kill(self) -> None:
        """Crash the whole node at once, as a power cut would."""
        _signal_group(self.proc, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        _signal_group(self.proc, signal.SIGKILL)  # stragglers (flow runs) of the group

    def restart(self) -> NodeProcess:
        return start_node(self.data_dir, *self.args, token=self.token, env=self.env, port=self.port)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def start_node(
    data_dir: Path, *args: str, token: str | None = None, env: dict[str, str] | None = None,
    port: int | None = None, timeout: float = 120, prefect_ui: bool = False,
) -> NodeProcess:
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ODMFLOW_"))}
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "odmflow", "serve", "--port", str(port), "--data-dir", str(data_dir),
           "--prefect-port", "0", "--prefect-ui" if prefect_ui else "--no-prefect-ui", *args]
    if token:
        cmd += ["--token", token]
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "serve.log", "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    node = NodeProcess(f"http://127.0.0.1:{port}", port, data_dir, list(args), env or {}, proc, token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"odmflow serve exited: {(data_dir / 'serve.log').read_text()[-3000:]}")
        try:
            if requests.get(f"{node.url}/auth/info", timeout=1).status_code == 200:
                return node
        except requests.RequestException:
            pass
        time.sleep(0.3)
    node.stop()
    raise RuntimeError(f"odmflow serve did not start: {(data_dir / 'serve.log').read_text()[-3000:]}")
