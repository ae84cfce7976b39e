"""Asset downloads: parallel Range requests, plain streams and redirects to another host."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import httpx
import pytest

from tasks.nodeodm import AssetNotReady, NodeClient, NodeServerError

from .fakenode import STORAGE_HOST, FakeNode

CHUNK = 64 * 1024
ASSET = os.urandom(10 * CHUNK + 1234)


def test_ranged_parallel_download_reassembles_exact_bytes(client: NodeClient, node: FakeNode,
                                                          tmp_path: Path) -> None:
    task = node.add_task(asset=ASSET)
    reports: list[tuple[int, int | None]] = []
    dest = tmp_path / "all.zip"
    size = client.download(task, dest, parallel=4, chunk_size=CHUNK,
                           progress=lambda done, total: reports.append((done, total)))
    assert size == len(ASSET)
    assert dest.read_bytes() == ASSET
    ranges = [c.headers["Range"] for c in node.calls if "download" in c.path]
    assert len(ranges) == math.ceil(len(ASSET) / CHUNK)
    expected = {f"bytes={a}-{min(a + CHUNK, len(ASSET)) - 1}" for a in range(0, len(ASSET), CHUNK)}
    assert set(ranges) == expected
    assert reports[-1] == (len(ASSET), len(ASSET))
    assert [p.name for p in tmp_path.iterdir()] == ["all.zip"]  # no partial file left behind


def test_download_into_a_file_object(client: NodeClient, node: FakeNode) -> None:
    task = node.add_task(asset=ASSET)
    out = io.BytesIO()
    client.download(task, out, parallel=3, chunk_size=CHUNK)
    assert out.getvalue() == ASSET


def test_small_asset_needs_a_single_request(client: NodeClient, node: FakeNode) -> None:
    task = node.add_task(asset=b"tiny zip")
    out = io.BytesIO()
    assert client.download(task, out, chunk_size=CHUNK) == 8
    assert out.getvalue() == b"tiny zip"
    assert sum("download" in p for p in node.paths()) == 1


def test_node_without_range_support_is_streamed(client: NodeClient, node: FakeNode) -> None:
    node.ranges = False  # NodeODM itself ignores Range and answers 200
    task = node.add_task(asset=ASSET)
    out = io.BytesIO()
    client.download(task, out, parallel=8, chunk_size=CHUNK)
    assert out.getvalue() == ASSET
    assert sum("download" in p for p in node.paths()) == 1


def test_parallel_one_sends_no_range(client: NodeClient, node: FakeNode) -> None:
    task = node.add_task(asset=ASSET)
    out = io.BytesIO()
    client.download(task, out, parallel=1)
    assert out.getvalue() == ASSET
    assert "Range" not in node.calls[-1].headers


def test_redirect_to_another_host_is_followed(client: NodeClient, node: FakeNode, tmp_path: Path) -> None:
    node.redirect = True
    task = node.add_task(asset=ASSET)
    client.download(task, tmp_path / "all.zip", parallel=4, chunk_size=CHUNK)
    assert (tmp_path / "all.zip").read_bytes() == ASSET
    assert sum("download" in p for p in node.paths("node.example")) == 1
    storage = [c for c in node.calls if c.host == STORAGE_HOST]
    assert len(storage) == math.ceil(len(ASSET) / CHUNK)
    assert all(c.params == {"sig": "x"} for c in storage)  # the pre-signed URL, untouched


def test_asset_not_ready_raises_and_leaves_no_file(client: NodeClient, node: FakeNode,
                                                   tmp_path: Path) -> None:
    task = node.add_task(code=20)
    with pytest.raises(AssetNotReady, match="Wait until the task is COMPLETED"):
        client.download(task, tmp_path / "all.zip")
    assert list(tmp_path.iterdir()) == []


def test_range_ignored_halfway_raises(node: FakeNode, tmp_path: Path) -> None:
    def flaky(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Range", "").startswith("bytes=0-"):
            return node.handle(request)
        return httpx.Response(200, content=ASSET)

    client = NodeClient("http://node.example:3000", transport=httpx.MockTransport(flaky))
    task = node.add_task(asset=ASSET)
    with pytest.raises(NodeServerError, match="parallel=1"):
        client.download(task, tmp_path / "all.zip", parallel=2, chunk_size=CHUNK)
    assert list(tmp_path.iterdir()) == []
