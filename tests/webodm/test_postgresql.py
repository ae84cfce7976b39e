"""The records in PostgreSQL (ODMFLOW_DATABASE_URL), with a throwaway local cluster.

Skipped where PostgreSQL's server programs are not installed.
"""

from __future__ import annotations

import asyncio
import io
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from nodeodm_api.webodm.db import Database, Project, Task, User, database_url
from odmflow.launcher import free_port, start_node

from .conftest import Api, add_user


def _run_as_postgres(command: list[str], *, owner: str | None) -> subprocess.CompletedProcess[str]:
    if owner:
        # PostgreSQL refuses to run as root.
        return subprocess.run(["su", owner, "-s", "/bin/sh", "-c", " ".join(command)],
                              capture_output=True, text=True, timeout=60)
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL is not installed")
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip("running as root with no postgres user")
    # Not under pytest's temporary folders: those are private to the user running the tests.
    folder = Path(tempfile.mkdtemp(prefix="odmflow-pg-"))
    if owner:
        shutil.chown(folder, owner)
    port = free_port()
    data = folder / "db"
    done = _run_as_postgres(["initdb", "-D", str(data), "-A", "trust", "-U", "odm"], owner=owner)
    assert done.returncode == 0, done.stderr
    options = f"'-p {port} -k {folder} -c listen_addresses=127.0.0.1'"
    done = _run_as_postgres(["pg_ctl", "-D", str(data), "-w", "-o", options, "-l", str(folder / "log"), "start"],
                            owner=owner)
    assert done.returncode == 0, done.stderr + done.stdout
    try:
        yield f"postgresql://odm@127.0.0.1:{port}/postgres"
    finally:
        _run_as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"], owner=owner)
        shutil.rmtree(folder, ignore_errors=True)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(out, "JPEG")
    return out.getvalue()


def test_records_live_in_postgresql(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ODMFLOW_DATABASE_URL", postgres_url)
    done = add_user(data_dir, "alice", "alice-password")
    assert done.returncode == 0, done.stderr
    node = start_node(data_dir, "--test", env={"ODMFLOW_DATABASE_URL": postgres_url})
    try:
        alice = Api(node.url).login("alice")
        pid = alice.post("/api/projects/", data={"name": "In PostgreSQL"}).json()["id"]
        images = [("images", (f"{i}.jpg", _jpeg(), "image/jpeg")) for i in range(2)]
        task = alice.post(f"/api/projects/{pid}/tasks/", files=images, data={"name": "waiting"}).json()
        assert alice.get(f"/api/projects/{pid}/tasks/{task['id']}/").json() == task
    finally:
        node.stop()
    assert not (data_dir / "webodm.db").exists()
    rows = asyncio.run(_rows(postgres_url))
    assert rows == [("alice", "In PostgreSQL", task["id"], "waiting")]


async def _rows(url: str) -> list[tuple[str, str, str, str]]:
    db = Database(database_url(Path("."), url))
    try:
        async with db.session() as session:
            query = (select(User.username, Project.name, Task.id, Task.name)
                     .join(Project, Project.owner_id == User.id).join(Task, Task.project_id == Project.id))
            return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]
    finally:
        await db.close()
