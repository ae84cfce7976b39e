"""Imported tasks: their records, files, console, actions and map tiles, and bad input."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import morecantile
import pytest
import rasterio
from PIL import Image
from rio_cogeo.cogeo import cog_validate

from .conftest import Api, Server

TASK_FIELDS = {
    "id", "project", "processing_node", "processing_node_name", "auto_processing_node", "uuid", "name",
    "processing_time", "status", "last_error", "options", "available_assets", "created_at", "pending_action",
    "public", "public_edit", "resize_to", "upload_progress", "resize_progress", "running_progress", "import_url",
    "images_count", "partial", "potree_scene", "epsg", "wkt", "tags", "orthophoto_bands", "size", "compacted",
    "crop", "media", "can_rerun_from", "statistics", "extent", "srs",
}
UNKNOWN = "0b7f8a52-1b7e-4c1e-9d7f-2a3b4c5d6e7f"


@pytest.fixture(scope="module")
def project(alice: Api) -> int:
    pid: int = alice.post("/api/projects/", data={"name": "Imports"}).json()["id"]
    return pid


@pytest.fixture(scope="module")
def imported(alice: Api, project: int, all_zip: Path) -> dict[str, Any]:
    """all.zip of a finished NodeODM task, imported by upload."""
    with open(all_zip, "rb") as fh:
        res = alice.post(f"/api/projects/{project}/tasks/import", files={"file": ("all.zip", fh, "application/zip")},
                         data={"name": "Survey one"})
    assert res.status_code == 201, res.text
    body = res.json()
    assert (body["status"], body["pending_action"], body["import_url"]) == (20, 5, "file://all.zip")
    assert body["auto_processing_node"] is False and body["name"] == "Survey one"
    task = alice.wait_task(project, body["id"])
    assert task["status"] == 40, task
    return task


class Redirector(BaseHTTPRequestHandler):
    """Redirects /to?<url>, loops on /loop, and claims a huge body on /huge."""

    def do_GET(self) -> None:
        if self.path.startswith("/to?"):
            self.send_response(302)
            self.send_header("Location", self.path[4:])
        elif self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
        elif self.path.startswith("/huge"):
            self.send_response(200)
            self.send_header("Content-Length", str(200 * 1024**3))
        else:
            self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def redirector() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_imported_task_record(alice: Api, project: int, imported: dict[str, Any]) -> None:
    assert set(imported) == TASK_FIELDS
    assert imported["project"] == project and imported["running_progress"] == 1.0
    assert imported["processing_node"] is None and imported["can_rerun_from"] == []
    assets = imported["available_assets"]
    assert assets[0] == "all.zip"
    assert {"orthophoto.tif", "orthophoto.png", "dsm.tif", "dtm.tif", "georeferenced_model.laz"} <= set(assets)
    assert imported["epsg"] == 32615 and imported["size"] > 0
    west, south, east, north = imported["extent"]
    assert -92.2 < west < east < -92.0 and 40.2 < south < north < 40.4  # the test engine's patch of Iowa
    assert [b["name"] for b in imported["orthophoto_bands"]][:3] == ["red", "green", "blue"]
    listed = alice.get(f"/api/projects/{project}/tasks/").json()
    assert imported["id"] in [t["id"] for t in listed]
    assert alice.get(f"/api/projects/{project}/tasks/", params={"status": 40}).json()
    assert alice.get(f"/api/projects/{project}/tasks/", params={"status": "x"}).json() == ["Invalid status parameter"]
    assert imported["id"] in alice.get(f"/api/projects/{project}/").json()["tasks"]


def test_downloads_and_assets(server: Server, alice: Api, project: int, imported: dict[str, Any],
                              tmp_path: Path) -> None:
    base = f"/api/projects/{project}/tasks/{imported['id']}"
    ortho = alice.get(f"{base}/download/orthophoto.tif")
    assert ortho.status_code == 200 and ortho.headers["content-type"] == "image/tiff"
    assert 'filename="Survey-one-orthophoto.tif"' in ortho.headers["content-disposition"]
    with rasterio.MemoryFile(ortho.content) as mem, mem.open() as src:
        assert src.crs.to_epsg() == 32615
    (tmp_path / "ortho.tif").write_bytes(ortho.content)
    assert cog_validate(tmp_path / "ortho.tif", quiet=True)[0]  # rewritten as a COG on import
    everything = alice.get(f"{base}/download/all.zip")
    assert everything.status_code == 200 and everything.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(everything.content)).namelist()
    assert "odm_orthophoto/odm_orthophoto.tif" in names and "odm_dem/dsm.tif" in names
    inline = alice.get(f"{base}/download/dsm.tif", params={"inline": 1, "filename": "x.tif"})
    disposition = inline.headers["content-disposition"]
    assert disposition.startswith("inline") and "x.tif" in disposition
    assert alice.get(f"{base}/assets/odm_dem/dtm.tif").status_code == 200
    assert Api(server.url).get(f"{base}/download/orthophoto.tif").status_code == 404  # private task, no token
    assert Api(server.url).get(f"{base}/download/orthophoto.tif", params={"jwt": alice.token}).status_code == 200

    for asset in ("nothing.tif", "report.pdf"):
        res = alice.get(f"{base}/download/{asset}")
        assert (res.status_code, res.json()) == (404, {"detail": "Asset does not exist"})


def test_asset_paths_never_leave_the_task_folder(server: Server, alice: Api, project: int,
                                                 imported: dict[str, Any]) -> None:
    base = f"/api/projects/{project}/tasks/{imported['id']}/assets/"
    assets = server.data_dir / "webodm" / "tasks" / imported["id"] / "assets"
    (assets / "outside").symlink_to(server.data_dir / "webodm" / "secret_key")
    (assets.parent / "sibling.txt").write_text("not an asset")
    for path in ("%2e%2e/%2e%2e/%2e%2e/secret_key", "..%2f..%2f..%2fsecret_key", "%2e%2e/sibling.txt",
                 "odm_dem/%2e%2e/%2e%2e/sibling.txt", "outside", "%2fetc%2fpasswd", "odm_dem", "missing.txt"):
        res = alice.get(base + path)
        assert (res.status_code, res.json()) == (404, {"detail": "Asset does not exist"}), path
    (assets / "outside").unlink()


def test_console_output(alice: Api, project: int, imported: dict[str, Any]) -> None:
    base = f"/api/projects/{project}/tasks/{imported['id']}/output/"
    full = alice.get(base).json()
    assert isinstance(full, str) and full
    lines = full.split("\n")
    assert alice.get(base, params={"line": 1}).json() == "\n".join(lines[1:])
    assert alice.get(base, params={"line": len(lines)}).json() == ""
    counted = alice.get(base, params={"f": "json", "line": 0, "limit": 2}).json()
    assert counted == {"lines": lines[:2], "count": len(lines)}
    assert alice.get(base, params={"line": "x"}).json() == ["Invalid parameter"]


def test_tiles(server: Server, alice: Api, project: int, imported: dict[str, Any]) -> None:
    base = f"/api/projects/{project}/tasks/{imported['id']}"
    tj = alice.get(f"{base}/orthophoto/tiles.json").json()
    assert tj["tilejson"] == "2.1.0" and tj["scheme"] == "xyz" and tj["name"] == "Survey one"
    assert tj["tiles"] == [f"{base}/orthophoto/tiles/{{z}}/{{x}}/{{y}}"]
    west, south, east, north = tj["bounds"]
    assert west < east and south < north and 0 <= tj["minzoom"] < tj["maxzoom"] <= 30
    z = tj["maxzoom"] - 3
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, z)
    png = alice.get(f"{base}/orthophoto/tiles/{z}/{tile.x}/{tile.y}.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    assert image.size == (256, 256) and max(image.convert("L").tobytes()) > 0  # real pixels, not an empty tile
    retina = Image.open(io.BytesIO(alice.get(f"{base}/orthophoto/tiles/{z}/{tile.x}/{tile.y}@2x.png").content))
    assert retina.size == (512, 512)
    anonymous = Api(server.url).get(f"{base}/orthophoto/tiles/{z}/{tile.x}/{tile.y}.png", params={"jwt": alice.token})
    assert anonymous.status_code == 200

    dsm = alice.get(f"{base}/dsm/tiles.json", params={"rescale": "250,260", "color_map": "viridis"}).json()
    assert "rescale=250%2C260" in dsm["tiles"][0] and "color_map=viridis" in dsm["tiles"][0]
    colored = alice.get(f"{base}/dsm/tiles/{z}/{tile.x}/{tile.y}.png", params={"rescale": "250,260",
                                                                              "color_map": "viridis"})
    assert colored.status_code == 200
    assert Image.open(io.BytesIO(colored.content)).convert("RGB").getpixel((128, 128)) != (0, 0, 0)
    assert alice.get(f"{base}/dtm/tiles.json").status_code == 200
    stats = alice.get(f"{base}/dsm/metadata").json()["statistics"]["1"]
    assert 249 < stats["min"] < stats["max"] < 260

    bad = alice.get(f"{base}/dsm/tiles/{z}/{tile.x}/{tile.y}.png", params={"rescale": "low,high"})
    assert (bad.status_code, bad.json()) == (400, ["Invalid rescale value"])
    far = alice.get(f"{base}/orthophoto/tiles/{z}/0/0.png")
    assert (far.status_code, far.json()) == (404, {"detail": "Outside of bounds"})
    deep = alice.get(f"{base}/orthophoto/tiles/{tj['maxzoom'] + 1}/{tile.x}/{tile.y}.png")
    assert (deep.status_code, deep.json()) == (404, {"detail": "Not found."})
    assert alice.get(f"{base}/plant/tiles.json").status_code == 404


def test_patch_and_bad_input(alice: Api, project: int, imported: dict[str, Any]) -> None:
    base = f"/api/projects/{project}/tasks/{imported['id']}/"
    options = [{"name": "orthophoto-resolution", "value": 2}]
    patched = alice.patch(base, json={"name": "Survey one", "options": options, "tags": "a b", "status": 10})
    assert patched.status_code == 200
    assert patched.json()["options"] == options and patched.json()["tags"] == ["a", "b"]
    assert patched.json()["status"] == 40  # read-only fields are ignored
    bad = alice.patch(base, data={"options": "[{oops"})
    assert (bad.status_code, bad.json()) == (400, {"options": ["Value must be valid JSON."]})
    invalid = alice.patch(base, json={"options": [{"value": 1}]})
    assert (invalid.status_code, invalid.json()) == (400, {"options": ["Invalid options"]})
    node = alice.patch(base, json={"processing_node": 9999})
    assert node.json() == {"processing_node": ['Invalid pk "9999" - object does not exist.']}
    assert alice.get(base).json()["options"] == options  # nothing stored was lost

    for path in (f"/api/projects/{project}/tasks/{UNKNOWN}/", f"/api/projects/{project}/tasks/not-a-uuid/",
                 f"/api/projects/{project}/tasks/{UNKNOWN}/output/", f"/api/projects/{project + 999}/tasks/"):
        res = alice.get(path)
        assert (res.status_code, res.json()) == (404, {"detail": "Not found."}), path
    assert alice.delete(base).json() == {"detail": 'Method "DELETE" not allowed.'}


def test_other_users_cannot_reach_tasks(bob: Api, project: int, imported: dict[str, Any]) -> None:
    base = f"/api/projects/{project}/tasks/{imported['id']}"
    for res in (bob.get(f"{base}/"), bob.patch(f"{base}/", json={"name": "x"}), bob.post(f"{base}/remove/"),
                bob.get(f"{base}/download/all.zip"), bob.get(f"{base}/orthophoto/tiles.json")):
        assert res.status_code == 404, res.request.url
    mine = bob.post("/api/projects/", data={"name": "Bob's"}).json()["id"]
    assert bob.get(f"/api/projects/{mine}/tasks/{imported['id']}/").status_code == 404


def test_import_by_url_with_redirect(alice: Api, project: int, imported: dict[str, Any], redirector: str,
                                     server: Server, all_zip: Path) -> None:
    node_url = f"{server.url}/task/{(all_zip.parent / 'uuid').read_text()}/download/all.zip"
    res = alice.post(f"/api/projects/{project}/tasks/import", data={"url": f"{redirector}/to?{node_url}"})
    assert res.status_code == 201 and res.json()["import_url"].startswith(redirector)
    task = alice.wait_task(project, res.json()["id"])
    assert task["status"] == 40 and task["available_assets"] == imported["available_assets"]

    cancel = alice.post(f"/api/projects/{project}/tasks/{task['id']}/cancel/")
    assert cancel.json() == {"success": True}
    assert alice.wait_task(project, task["id"])["status"] == 50  # a finished task too, as in WebODM
    alice.post(f"/api/projects/{project}/tasks/{task['id']}/restart/")
    restarted = alice.get(f"/api/projects/{project}/tasks/{task['id']}/").json()
    assert (restarted["status"], restarted["last_error"]) == (30, "Cannot restart a task that has no processing node")

    removed = alice.post(f"/api/projects/{project}/tasks/{task['id']}/remove/")
    assert removed.json() == {"success": True}
    alice.wait_gone(project, task["id"])
    assert not (server.data_dir / "webodm" / "tasks" / task["id"]).exists()


def test_bad_imports(server: Server, alice: Api, project: int, redirector: str, tmp_path: Path) -> None:
    url = f"/api/projects/{project}/tasks/import"
    for data, message in (({"url": "file:///etc/passwd"}, "Invalid URL. Did you mean http:///etc/passwd ?"),
                          ({"url": "ftp://example.com/a.zip"}, "Invalid URL. Did you mean http://example.com/a.zip ?"),
                          ({"name": "nothing"}, "Cannot create task, either specify a URL or upload 1 file.")):
        res = alice.post(url, data=data)
        assert (res.status_code, res.json()) == (400, [message]), data
    two = alice.post(url, files=[("file", ("a.zip", b"PK")), ("file", ("b.zip", b"PK"))])
    assert two.json() == ["Cannot create task, you need to upload 1 file"]
    assert Api(server.url).post(url, data={"url": "http://example.com/a.zip"}).status_code == 404

    slip = io.BytesIO()
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("odm_orthophoto/ok.txt", "fine")
        zf.writestr("../../../../escaped.txt", "should never be written")
    failures: dict[str, tuple[dict[str, Any], str]] = {
        "slip": ({"files": {"file": ("all.zip", slip.getvalue())}}, "Invalid zip file: Refusing to unpack"),
        "not a zip": ({"files": {"file": ("all.zip", b"this is not a zip")}}, "Invalid zip file"),
        "loop": ({"data": {"url": f"{redirector}/loop"}}, "Too many redirects"),
        "huge": ({"data": {"url": f"{redirector}/huge"}}, "File too large"),
        "missing": ({"data": {"url": f"{redirector}/missing.zip"}}, "HTTP 404"),
    }
    for case, (kwargs, message) in failures.items():
        res = alice.post(url, **kwargs)
        assert res.status_code == 201, (case, res.text)
        task = alice.wait_task(project, res.json()["id"])
        assert task["status"] == 30 and message in task["last_error"], (case, task["last_error"])
        assert task["available_assets"] == []
    assert not list(server.data_dir.parent.rglob("escaped.txt"))


def test_create_tasks_from_images(server: Server, alice: Api, tmp_path: Path) -> None:
    pid = alice.post("/api/projects/", data={"name": "Uploads"}).json()["id"]
    url = f"/api/projects/{pid}/tasks/"
    images = [("images", (f"IMG_{i}.JPG", _jpeg(i), "image/jpeg")) for i in range(3)]
    options = '[{"name": "dsm", "value": true}]'
    res = alice.post(url, files=images, data={"name": "Direct", "options": options})
    assert res.status_code == 201, res.text
    task = res.json()
    assert (task["status"], task["uuid"], task["images_count"], task["partial"]) == (None, "", 3, False)
    assert task["options"] == [{"name": "dsm", "value": True}] and task["available_assets"] == []
    stored = server.data_dir / "webodm" / "tasks" / task["id"] / "images"
    assert sorted(p.name for p in stored.iterdir()) == ["IMG_0.JPG", "IMG_1.JPG", "IMG_2.JPG"]

    one = alice.post(url, files=images[:1], data={"name": "Too few"})
    assert (one.status_code, one.json()) == (400, ["Cannot create task, you need at least 2 images"])
    bad = alice.post(url, files=images, data={"name": "Bad options", "options": "{nope"})
    assert (bad.status_code, bad.json()) == (400, {"options": ["Value must be valid JSON."]})
    assert [t["name"] for t in alice.get(url).json()] == ["Direct"]  # failed creations leave nothing

    partial = alice.post(url, json={"partial": True, "name": "Chunked"}).json()
    assert partial["partial"] is True and partial["images_count"] == 0
    base = f"{url}{partial['id']}"
    assert alice.post(f"{base}/commit/").json() == ["You need to upload at least 1 file before commit"]
    assert alice.post(f"{base}/upload/", data={"name": "x"}).json() == ["No files uploaded"]
    for image in images:
        up = alice.post(f"{base}/upload/", files=[image])
        assert up.json() == {"success": True, "uploaded": {image[1][0]: len(image[1][1])}}
    big = _jpeg(9)
    half = len(big) // 2
    for index, chunk in enumerate((big[:half], big[half:])):
        dz = {"dzuuid": "5f0e-chunked", "dzchunkindex": index, "dztotalchunkcount": 2,
              "dzchunkbyteoffset": index * half}
        up = alice.post(f"{base}/upload/", files=[("file", ("IMG_9.JPG", chunk))], data=dz)
        assert up.json() == {"success": True, "uploaded": {"IMG_9.JPG": len(big)} if index else {}}
    stored = server.data_dir / "webodm" / "tasks" / partial["id"] / "images"
    assert (stored / "IMG_9.JPG").read_bytes() == big
    committed = alice.post(f"{base}/commit/")
    assert committed.status_code == 200
    assert (committed.json()["partial"], committed.json()["images_count"]) == (False, 4)
    assert alice.post(f"{base}/remove/").json() == {"success": True}
    alice.wait_gone(pid, partial["id"])


def _jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (seed * 60 % 255, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def test_tiles_of_a_removed_task_are_gone_at_once(alice: Api, bob: Api, project: int, all_zip: Path) -> None:
    with open(all_zip, "rb") as fh:
        body = alice.post(f"/api/projects/{project}/tasks/import", files={"file": ("all.zip", fh)},
                          data={"name": "Short-lived"}).json()
    task = alice.wait_task(project, body["id"])
    base = f"/api/projects/{project}/tasks/{task['id']}"
    tj = alice.get(f"{base}/orthophoto/tiles.json").json()
    west, south, east, north = tj["bounds"]
    z = tj["maxzoom"] - 3
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, z)
    url = f"{base}/orthophoto/tiles/{z}/{tile.x}/{tile.y}.png"
    assert alice.get(url).status_code == 200  # access checked and remembered for a moment
    assert bob.get(url).status_code == 404  # per credentials: another user is checked anew
    assert alice.post(f"{base}/remove/").json() == {"success": True}
    alice.wait_gone(project, task["id"])
    assert alice.get(url).status_code == 404  # within the 2 s its access was remembered for
