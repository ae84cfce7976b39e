"""Shared fixtures: real `odmflow serve` processes on loopback, and small images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from odmflow.launcher import NodeProcess, free_port, start_node

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TOKEN = "s3cret"

__all__ = ["NodeProcess", "free_port", "start_node", "make_images", "TOKEN", "SHARED"]


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A fast test-engine node with a token and an image limit."""
    proc = start_node(
        tmp_path_factory.mktemp("node"), "--test", "--max-images", "20", token=TOKEN,
        env={"ODMFLOW_WEBHOOK_DELAY": "0.2"},
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def slow_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A test-engine node whose runs take a few seconds, for cancel and restart."""
    proc = start_node(tmp_path_factory.mktemp("slow"), "--test", "--test-seconds", "6")
    yield proc
    proc.stop()


def make_images(folder: Path, count: int = 3, size: tuple[int, int] = (64, 48)) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"IMG_{i:04d}.JPG"
        Image.new("RGB", size, (i * 40 % 255, 120, 200)).save(path)
        paths.append(str(path))
    return paths


CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A moto S3 server on loopback; yields the environment that points clients at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    server.stop()


@pytest.fixture
def images(tmp_path: Path) -> list[str]:
    return make_images(tmp_path / "images")
