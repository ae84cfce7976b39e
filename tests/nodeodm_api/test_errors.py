"""Every error case of NodeODM's behaviour reference, answered in NodeODM's shape."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import requests

from tests.conftest import TOKEN, NodeProcess

UNKNOWN = "5c4dbd3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"


def jpeg(name: str = "a.jpg", content: bytes = b"\xff\xd8\xff\xe0 not really a jpeg") -> tuple[str, tuple[str, bytes]]:
    return ("images", (name, content))


def init(node: NodeProcess, **fields: str) -> str:
    answer = node.post("/task/new/init", files={k: (None, v) for k, v in fields.items()} or {"name": (None, "t")})
    return str(answer.json()["uuid"])


def test_bad_token_is_refused_everywhere_but_auth(node: NodeProcess) -> None:
    message = {"error": "Invalid authentication token: token does not match."}
    for path in ("/info", "/options", "/task/list", f"/task/{UNKNOWN}/info"):
        assert requests.get(node.url + path, params={"token": "wrong"}).json() == message
        assert requests.get(node.url + path).json() == message
    assert requests.post(node.url + "/task/cancel", params={"token": "nope"}, data={"uuid": UNKNOWN}).json() == message
    # The token is read from the query string only, never a header or the body.
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(node.url + "/info", headers=headers).json() == message
    assert requests.get(node.url + "/auth/info").json()["loginUrl"] is None
    assert requests.post(node.url + "/auth/login").json() == {"error": "Not available"}
    assert requests.post(node.url + "/auth/register").json() == {"error": "Not available"}


def test_unknown_and_missing_uuid(node: NodeProcess) -> None:
    assert node.get(f"/task/{UNKNOWN}/info").json() == {"error": f"{UNKNOWN} not found"}
    assert node.get("/task/not-a-uuid/info").json() == {"error": "not-a-uuid not found"}
    assert node.get(f"/task/{UNKNOWN}/output").json() == {"error": f"{UNKNOWN} not found"}
    for action in ("cancel", "remove", "restart"):
        assert node.post(f"/task/{action}", data={}).json() == {"error": "uuid param missing."}
        assert node.post(f"/task/{action}", json={"uuid": UNKNOWN}).json() == {
            "success": False, "error": f"{UNKNOWN} not found"}
        # Multipart bodies are not read for these routes, as in NodeODM.
        multipart = node.post(f"/task/{action}", files={"uuid": (None, UNKNOWN)})
        assert multipart.json() == {"error": "uuid param missing."}
    assert node.post(f"/task/new/upload/{UNKNOWN}", files=[jpeg()]).json() == {"error": "Invalid uuid (not found)"}
    assert node.post("/task/new/upload/..%2F..%2Fetc", files=[jpeg()]).status_code == 404  # no such route
    assert node.post(f"/task/new/commit/{UNKNOWN}").json() == {"error": "Invalid uuid (not found)"}


def test_bad_options(node: NodeProcess) -> None:
    answer = node.post("/task/new/init", files={"options": (None, "not json")}).json()
    assert answer == {"error": "Unexpected token 'o', \"not json\" is not valid JSON"}
    bad = json.dumps([{"name": "mesh-size", "value": "abc"}, {"name": "dsm", "value": "y"}])
    errors = json.loads(node.post("/task/new/init", files={"options": (None, bad)}).json()["error"])
    assert errors == [
        {"name": "mesh-size", "error": "Invalid value NaN (out of range)"},
        {"name": "dsm", "error": "Cannot convert y to boolean"},
    ]
    enum = json.dumps([{"name": "feature-quality", "value": "ultimate"}])
    assert "not in enum" in node.post("/task/new", files=[jpeg(), ("options", (None, enum))]).json()["error"]
    # An empty string passes init (NodeODM only checks sent values) and fails at commit.
    uuid = init(node, options="")
    node.post(f"/task/new/upload/{uuid}", files=[jpeg()])
    assert node.post(f"/task/new/commit/{uuid}").json() == {"error": "Unexpected end of JSON input"}


def test_wrong_field_and_missing_files(node: NodeProcess) -> None:
    assert node.post("/task/new", files=[("photos", ("a.jpg", b"x"))]).json() == {"error": "Unexpected field"}
    assert node.post("/task/new", files={"name": (None, "x")}).json() == {
        "error": "Need at least 1 file or a zip file url."}
    assert node.post("/task/new", data={"name": "x"}).json() == {"error": "Need at least 1 file or a zip file url."}
    assert node.post("/task/new/init", files=[jpeg()]).json() == {"error": "Unexpected field"}
    uuid = init(node)
    assert node.post(f"/task/new/upload/{uuid}", files={"name": (None, "x")}).json() == {
        "error": "Need at least 1 file.", "noRetry": True}
    assert node.post(f"/task/new/commit/{uuid}").json() == {"error": "Need at least 1 file."}


def test_filenames_never_escape_the_task_folder(node: NodeProcess) -> None:
    uuid = init(node)
    names = ["../../evil.jpg", "..\\..\\evil2.jpg", "/etc/passwd.jpg", "..", "sub/dir/ok.jpg"]
    for name in names:
        assert node.post(f"/task/new/upload/{uuid}", files=[jpeg(name, name.encode())]).json() == {"success": True}
    assert node.post(f"/task/new/commit/{uuid}").json() == {"uuid": uuid}
    folder = node.data_dir / "tasks" / uuid / "images"
    assert sorted(p.name for p in folder.iterdir()) == ["evil.jpg", "evil2.jpg", "file", "ok.jpg", "passwd.jpg"]
    assert not (node.data_dir / "evil.jpg").exists() and not (node.data_dir.parent / "evil.jpg").exists()


def test_duplicate_names_and_safe_retries(node: NodeProcess) -> None:
    uuid = init(node)
    upload = f"/task/new/upload/{uuid}"
    node.post(upload, files=[jpeg("a.jpg", b"one")])
    node.post(upload, files=[jpeg("a.jpg", b"two")])
    node.post(upload, files=[jpeg("a.jpg", b"one")])  # a retried chunk: same bytes, no new file
    node.post(upload, files=[jpeg("noext", b"1")])
    node.post(upload, files=[jpeg("noext", b"2")])
    node.post(upload, files=[jpeg("b.jpg", b"first"), jpeg("b.jpg", b"second")])  # same request: overwrite
    assert node.post(f"/task/new/commit/{uuid}").json() == {"uuid": uuid}
    assert node.post(f"/task/new/commit/{uuid}").json() == {"uuid": uuid}  # a retried commit is harmless
    folder = node.data_dir / "tasks" / uuid / "images"
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg", "a_.jpg", "b.jpg", "noext", "noext_"]
    assert (folder / "b.jpg").read_bytes() == b"second"
    assert node.get(f"/task/{uuid}/info").json()["imagesCount"] == 5


def test_max_images_is_enforced_without_losing_earlier_files(node: NodeProcess) -> None:
    files = [jpeg(f"{i}.jpg", bytes([i])) for i in range(21)]
    answer = node.post("/task/new", files=files).json()
    assert answer["error"] == "21 images uploaded, but this node can only process up to 20."
    assert answer["noRetry"] is True
    uuid = init(node)
    assert node.post(f"/task/new/upload/{uuid}", files=files[:15]).json() == {"success": True}
    refused = node.post(f"/task/new/upload/{uuid}", files=files[15:]).json()
    assert refused["noRetry"] is True and "up to 20" in refused["error"]
    assert len(list((node.data_dir / "tmp" / uuid / "images").iterdir())) == 15  # kept


def test_download_before_completion_and_bad_assets(slow_node: NodeProcess) -> None:
    answer = slow_node.post("/task/new", files=[jpeg()]).json()
    uuid = answer["uuid"]
    assert slow_node.get(f"/task/{uuid}/download/all.zip").json() == {"error": "Asset not ready"}
    assert slow_node.get(f"/task/{uuid}/download/..%2F..%2Fpyproject.toml").json() == {"error": "Invalid asset"}
    assert slow_node.get(f"/task/{uuid}/download/../../task.json").status_code in (200, 404)
    assert slow_node.post("/task/restart", data={"uuid": uuid}).json() == {
        "success": False, "error": "Task cannot be restarted"}
    slow_node.post("/task/cancel", data={"uuid": uuid})


def test_invalid_set_uuid(node: NodeProcess) -> None:
    answer = node.post("/task/new/init", headers={"set-uuid": "../../x"}, files={"name": (None, "a")})
    assert answer.json() == {"error": "Invalid set-uuid: ../../x"}
    uuid = node.post("/task/new", files=[jpeg()]).json()["uuid"]
    again = node.post("/task/new", headers={"set-uuid": uuid}, files=[jpeg()])
    assert again.json() == {"error": f"Invalid set-uuid: {uuid}"}


def test_seed_zip_cannot_write_outside_and_keeps_nothing_partial(node: NodeProcess) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("opensfm/ok.txt", "fine")
        zf.writestr("../../escaped.txt", "bad")
    answer = node.post("/task/new", files=[jpeg(), jpeg("seed.zip", buffer.getvalue())]).json()
    assert "outside the task folder" in answer["error"]
    assert not list(node.data_dir.rglob("escaped.txt"))


def test_seed_zip_and_gcp_files_are_placed(node: NodeProcess) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("opensfm/reconstruction.json", "[]")
    files = [jpeg(), jpeg("geo.txt", b"EPSG:4326\n"), jpeg("seed.zip", buffer.getvalue()), jpeg("other.zip", b"PK")]
    uuid = node.post("/task/new", files=files).json()["uuid"]
    folder = node.data_dir / "tasks" / uuid
    assert (folder / "opensfm" / "reconstruction.json").read_text() == "[]"
    assert (folder / "gcp" / "geo.txt").is_file()
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["a.jpg"]


def test_zipurl_downloads_images(node: NodeProcess, tmp_path: Path) -> None:
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    with zipfile.ZipFile(tmp_path / "images.zip", "w") as zf:
        for i in range(3):
            zf.writestr(f"nested/dir/{i}.jpg", f"img{i}")
        zf.writestr("../../evil.jpg", "flattened, so harmless")
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/images.zip"
        uuid = node.post("/task/new", files={"zipurl": (None, url)}).json()["uuid"]
        deadline = time.monotonic() + 60
        while node.get(f"/task/{uuid}/info").json()["status"]["code"] < 30 and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        server.shutdown()
    info = node.get(f"/task/{uuid}/info").json()
    assert info["status"]["code"] == 40 and info["imagesCount"] == 4
    assert sorted(p.name for p in (node.data_dir / "tasks" / uuid / "images").iterdir()) == [
        "0.jpg", "1.jpg", "2.jpg", "evil.jpg"]


def test_unknown_route_and_openapi(node: NodeProcess) -> None:
    missing = requests.get(node.url + "/nope")
    assert missing.status_code == 404 and missing.text == "Cannot GET /nope"
    doc = requests.get(node.url + "/swagger.json").json()
    assert doc["swagger"] == "2.0" and "/task/new/init" in doc["paths"]


def test_unnamed_task_still_has_a_name(node: NodeProcess) -> None:
    """NodeODM leaves `name` out when none is sent, and PyODM's TaskInfo then raises
    KeyError; odmflow names the task as NodeODM names one sent with an empty name."""
    uuid = node.post("/task/new", files=[jpeg()]).json()["uuid"]
    assert node.get(f"/task/{uuid}/info").json()["name"].startswith("Task of 20")
