"""A real `odmflow serve --test` process with two WebODM users, driven over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from odmflow.launcher import ROOT, NodeProcess, start_node
from tests.conftest import make_images

USERS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}


def add_user(data_dir: Path, username: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "odmflow", "user", "add", username, "--password", password, "--data-dir", str(data_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


@dataclass
class Api:
    """What a WebODM API script holds: the server's URL and a token."""

    url: str
    token: str | None = None

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"JWT {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = self.headers(kwargs.pop("headers", None))
        kwargs.setdefault("timeout", 60)
        return requests.request(method, self.url + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def login(self, username: str) -> Api:
        res = requests.post(f"{self.url}/api/token-auth/", data={"username": username, "password": USERS[username]},
                            timeout=30)
        assert res.status_code == 200, res.text
        return Api(self.url, res.json()["token"])

    def wait_task(self, project: int, task: str, statuses: tuple[int, ...] = (30, 40, 50),
                  timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            res = self.get(f"/api/projects/{project}/tasks/{task}/")
            assert res.status_code == 200, res.text
            body: dict[str, Any] = res.json()
            if body["status"] in statuses and body["pending_action"] is None:
                return body
            assert time.monotonic() < deadline, f"task stuck: {body}"
            time.sleep(0.3)


    def wait_gone(self, project: int, task: str, timeout: float = 60) -> None:
        """Wait for a removal to be carried out: it is asynchronous, as in WebODM."""
        deadline = time.monotonic() + timeout
        while self.get(f"/api/projects/{project}/tasks/{task}/").status_code != 404:
            assert time.monotonic() < deadline, f"task {task} still there"
            time.sleep(0.2)


class Server:
    """The running node; `restart()` replaces it with a new process on the same folder."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.node: NodeProcess = start_node(data_dir, "--test", env=env)

    @property
    def url(self) -> str:
        return self.node.url

    def restart(self) -> None:
        self.node.stop()
        self.node = self.node.restart()

    def stop(self) -> None:
        self.node.stop()


@contextmanager
def serving(tmp_path_factory: pytest.TempPathFactory, name: str, users: list[str],
            env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server on a fresh data folder, with these test users."""
    data_dir = tmp_path_factory.mktemp(name) / "data"
    for user in users:
        done = add_user(data_dir, user, USERS[user])
        assert done.returncode == 0, done.stderr
    srv = Server(data_dir, env)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory, "webodm", list(USERS)) as srv:
        yield srv


@pytest.fixture(scope="session")
def alice(server: Server) -> Api:
    return Api(server.url).login("alice")


@pytest.fixture(scope="session")
def bob(server: Server) -> Api:
    return Api(server.url).login("bob")


@pytest.fixture(scope="session")
def carol(server: Server) -> Api:
    return Api(server.url).login("carol")


@pytest.fixture(scope="session")
def all_zip(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished NodeODM task's all.zip: processed by the test node through its NodeODM API."""
    folder = tmp_path_factory.mktemp("allzip")
    images = make_images(folder / "images", 3)
    options = '[{"name": "dsm", "value": true}, {"name": "dtm", "value": true}]'
    files = [("images", (Path(p).name, open(p, "rb"), "image/jpeg")) for p in images]
    try:
        res = requests.post(f"{server.url}/task/new", files=files, data={"options": options, "name": "survey"},
                            timeout=60)
    finally:
        for _, (_, fh, _) in files:
            fh.close()
    uuid = res.json()["uuid"]
    deadline = time.monotonic() + 90
    while True:
        info = requests.get(f"{server.url}/task/{uuid}/info", timeout=30).json()
        if info["status"]["code"] in (30, 40, 50):
            break
        assert time.monotonic() < deadline, info
        time.sleep(0.5)
    assert info["status"]["code"] == 40, info
    zipped = requests.get(f"{server.url}/task/{uuid}/download/all.zip", timeout=60)
    assert zipped.status_code == 200
    path = folder / "all.zip"
    path.write_bytes(zipped.content)
    (folder / "uuid").write_text(uuid)
    return path
