"""Task creation: chunked init/upload/commit, legacy /task/new, streaming and retries."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fsspec
import pytest

from tasks.nodeodm import (
    InvalidOptions,
    NodeClient,
    NodeConnectionError,
    NodeResponseError,
    NodeServerError,
    UploadFile,
)

from .fakenode import FakeNode

TASK_UUID = "3f0e1d6a-2c4b-4f7e-9a1d-5b6c7d8e9f00"


def uploads(node: FakeNode) -> list[tuple[str, str, bytes]]:
    return [f for c in node.calls if c.path.startswith("/task/new/upload/") for f in c.files]


def test_chunked_upload_calls_in_order(client: NodeClient, node: FakeNode, tmp_path: Path) -> None:
    local = tmp_path / "IMG_0001.JPG"
    local.write_bytes(b"local" * 1000)
    with fsspec.open("memory://bucket/batch/IMG_0002.JPG", "wb") as f:
        f.write(b"remote" * 1000)
    named = io.BytesIO(b"in memory")
    named.name = "/somewhere/IMG_0003.JPG"
    files = [local, fsspec.open("memory://bucket/batch/IMG_0002.JPG"), named, ("geo.txt", b"EPSG:4326\n")]

    uuid = client.create_task(files, options={"dsm": True}, name="survey", skip_post_processing=True,
                              outputs=["odm_orthophoto/odm_orthophoto.tif"], task_uuid=TASK_UUID,
                              parallel_uploads=2, retry_delay=0)

    assert uuid == TASK_UUID
    paths = node.paths()
    assert paths[:2] == ["GET /info", "POST /task/new/init"]
    assert paths[2:6] == [f"POST /task/new/upload/{TASK_UUID}"] * 4
    assert paths[6:] == [f"POST /task/new/commit/{TASK_UUID}"]
    init = node.calls[1]
    assert init.headers["set-uuid"] == TASK_UUID
    assert init.headers["Content-Type"].startswith("multipart/form-data")
    assert init.files == []
    assert json.loads(init.fields["options"]) == [{"name": "dsm", "value": True}]
    assert init.fields["name"] == "survey"
    assert init.fields["skipPostProcessing"] == "true"
    assert json.loads(init.fields["outputs"]) == ["odm_orthophoto/odm_orthophoto.tif"]
    assert {f[0] for f in uploads(node)} == {"images"}
    assert sorted(node.files[TASK_UUID]) == [
        ("IMG_0001.JPG", b"local" * 1000), ("IMG_0002.JPG", b"remote" * 1000),
        ("IMG_0003.JPG", b"in memory"), ("geo.txt", b"EPSG:4326\n"),
    ]
    assert client.task_info(uuid).name == "survey"


def test_node_version_is_asked_once(client: NodeClient, node: FakeNode) -> None:
    client.create_task([("a.jpg", b"a")])
    client.create_task([("b.jpg", b"b")])
    assert node.paths().count("GET /info") == 1


def test_chunk_files_groups_files_per_request(client: NodeClient, node: FakeNode) -> None:
    uuid = client.create_task([(f"{i}.jpg", bytes([i])) for i in range(5)], chunk_files=2)
    sizes = sorted(len(c.files) for c in node.calls if c.path.startswith("/task/new/upload/"))
    assert sizes == [1, 2, 2]
    assert len(node.files[uuid]) == 5


class RecordingFile(io.RawIOBase):
    """A non-seekable stream that remembers how much each read asked for."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = io.BytesIO(data)
        self.name = name
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return self._data.read(size)


def test_file_objects_are_streamed_not_read_whole(client: NodeClient, node: FakeNode) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    source = RecordingFile(data, "big.tif")
    uuid = client.create_task([source])
    assert node.files[uuid] == [("big.tif", data)]
    assert len(source.reads) > 8
    assert all(0 < size <= 1024 * 1024 // 8 for size in source.reads)
    # Unknown length: sent with chunked transfer encoding rather than buffered to measure it.
    upload = next(c for c in node.calls if c.path.startswith("/task/new/upload/"))
    assert upload.headers.get("Transfer-Encoding") == "chunked"


def test_seekable_file_object_is_sent_from_its_position(client: NodeClient, node: FakeNode) -> None:
    source = io.BytesIO(b"HEADERpayload")
    source.seek(6)
    uuid = client.create_task([("p.jpg", source)])
    assert node.files[uuid] == [("p.jpg", b"payload")]


@pytest.mark.parametrize(("version", "chunked"), [("1.4", True), ("1.4.0", True), ("1.3.9", False)])
def test_chunked_upload_needs_version_1_4(node: FakeNode, version: str, chunked: bool) -> None:
    node.version = version
    client = NodeClient("http://node.example:3000", transport=node.transport)
    client.create_task([("a.jpg", b"A")])
    assert ("POST /task/new/init" in node.paths()) is chunked
    assert ("POST /task/new" in node.paths()) is not chunked


def test_legacy_node_gets_one_task_new_request(node: FakeNode) -> None:
    node.version = "1.3.1"
    client = NodeClient("http://node.example:3000", transport=node.transport)
    uuid = client.create_task([("a.jpg", b"A"), ("b.jpg", b"B")], options=[{"name": "dsm", "value": True}],
                              name="old", task_uuid=TASK_UUID)
    assert node.paths() == ["GET /info", "POST /task/new"]
    new = node.calls[1]
    assert new.headers["set-uuid"] == TASK_UUID
    assert json.loads(new.fields["options"]) == [{"name": "dsm", "value": True}]
    assert node.files[uuid] == [("a.jpg", b"A"), ("b.jpg", b"B")]


def test_uploads_retry_on_5xx_then_succeed(client: NodeClient, node: FakeNode) -> None:
    node.fail_uploads = 2
    uuid = client.create_task([("a.jpg", b"A"), ("b.jpg", b"B")], parallel_uploads=1, retry_delay=0)
    assert node.paths().count(f"POST /task/new/upload/{uuid}") == 4
    assert sorted(node.files[uuid]) == [("a.jpg", b"A"), ("b.jpg", b"B")]
    assert node.paths()[-1] == f"POST /task/new/commit/{uuid}"


def test_uploads_retry_on_dropped_connections(client: NodeClient, node: FakeNode) -> None:
    node.drop_uploads = 1
    source = io.BytesIO(b"rewound")
    uuid = client.create_task([("a.jpg", source)], retry_delay=0)
    assert node.files[uuid] == [("a.jpg", b"rewound")]


def test_no_retry_stops_retries(client: NodeClient, node: FakeNode) -> None:
    node.upload_error = {"error": "Need at least 1 file.", "noRetry": True}
    with pytest.raises(NodeResponseError, match="Need at least 1 file") as caught:
        client.create_task([("a.jpg", b"A")], retry_delay=0)
    assert caught.value.no_retry is True
    assert sum(p.startswith("POST /task/new/upload/") for p in node.paths()) == 1
    assert not any("commit" in p for p in node.paths())


def test_error_bodies_without_no_retry_are_retried(client: NodeClient, node: FakeNode) -> None:
    node.upload_error = {"error": "Temporary hiccup"}
    with pytest.raises(NodeResponseError, match="hiccup"):
        client.create_task([("a.jpg", b"A")], max_retries=2, retry_delay=0)
    assert sum(p.startswith("POST /task/new/upload/") for p in node.paths()) == 3


def test_exhausted_retries_raise_the_transient_error(client: NodeClient, node: FakeNode) -> None:
    node.fail_uploads = 100
    with pytest.raises(NodeServerError) as caught:
        client.create_task([("a.jpg", b"A")], max_retries=2, retry_delay=0)
    assert caught.value.status_code == 500
    assert sum(p.startswith("POST /task/new/upload/") for p in node.paths()) == 3
    assert not any("commit" in p for p in node.paths())


def test_non_seekable_stream_is_not_retried(client: NodeClient, node: FakeNode) -> None:
    node.drop_uploads = 1
    with pytest.raises(NodeConnectionError):
        client.create_task([RecordingFile(b"once", "a.jpg")], retry_delay=0)
    assert sum(p.startswith("POST /task/new/upload/") for p in node.paths()) == 1


def test_invalid_options_fail_at_init_before_any_upload(client: NodeClient, node: FakeNode) -> None:
    with pytest.raises(InvalidOptions) as caught:
        client.create_task([("a.jpg", b"A")], options={"mesh-size": "abc"})
    assert caught.value.errors == [{"name": "mesh-size", "error": "Invalid value abc (out of range)"}]
    assert node.paths() == ["GET /info", "POST /task/new/init"]


def test_missing_local_file_fails_before_contacting_the_node(client: NodeClient, node: FakeNode,
                                                             tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        client.create_task([tmp_path / "missing.jpg"])
    assert node.calls == []


def test_progress_counts_bytes_up_to_the_total(client: NodeClient, node: FakeNode) -> None:
    reports: list[tuple[int, int | None]] = []
    node.fail_uploads = 1
    client.create_task([("a.jpg", b"A" * 300_000), ("b.jpg", b"B" * 100)], parallel_uploads=1,
                       retry_delay=0, progress=lambda done, total: reports.append((done, total)))
    assert reports[-1] == (300_100, 300_100)
    assert all(total == 300_100 for _, total in reports)


def test_upload_file_with_a_known_size_feeds_the_progress_total(client: NodeClient, node: FakeNode) -> None:
    opener = fsspec.open("memory://bucket/sized/c.jpg", "wb")
    with opener as f:
        f.write(b"C" * 500)
    reports: list[tuple[int, int | None]] = []
    uuid = client.create_task([UploadFile(fsspec.open("memory://bucket/sized/c.jpg"), size=500)],
                              progress=lambda done, total: reports.append((done, total)))
    assert node.files[uuid] == [("c.jpg", b"C" * 500)]
    assert reports[-1] == (500, 500)


def test_seekable_sources_are_sent_with_a_content_length(client: NodeClient, node: FakeNode) -> None:
    client.create_task([("a.jpg", b"A" * 10)])
    upload = next(c for c in node.calls if c.path.startswith("/task/new/upload/"))
    assert int(upload.headers["Content-Length"]) > 10
    assert "Transfer-Encoding" not in upload.headers


def test_init_task_sends_extra_fields(client: NodeClient, node: FakeNode) -> None:
    uuid = client.init_task(options={"dsm": True}, fields={"inputUrl": "s3://bucket/batch/", "outputUrl": "s3://out/b"})
    init = next(c for c in node.calls if c.path == "/task/new/init")
    assert init.fields["inputUrl"] == "s3://bucket/batch/" and init.fields["outputUrl"] == "s3://out/b"
    assert json.loads(init.fields["options"]) == [{"name": "dsm", "value": True}]
    assert uuid
