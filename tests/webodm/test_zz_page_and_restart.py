"""The map page in headless Chromium, then a restart of the server (kept last: it replaces
the session's server process)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from odmflow.launcher import ROOT

from .conftest import Api, Server

#: Set to write the screenshot into docs/ as well (it is shown in the documentation).
DOCS_ENV = "ODMFLOW_DOCS_SCREENSHOT"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def shown(carol: Api, all_zip: Path) -> tuple[int, str]:
    """A user of her own, so the page shows one clean project."""
    pid = carol.post("/api/projects/", data={"name": "Test field"}).json()["id"]
    with open(all_zip, "rb") as fh:
        tid = carol.post(f"/api/projects/{pid}/tasks/import", files={"file": ("all.zip", fh)},
                         data={"name": "Iowa test field (imported all.zip)"}).json()["id"]
    assert carol.wait_task(pid, tid)["status"] == 40
    return pid, tid


def test_page_and_its_files_are_served_locally(server: Server) -> None:
    anon = Api(server.url)
    page = anon.get("/map")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert anon.get("/").text == page.text
    for path in ("/webodm-static/leaflet/leaflet.js", "/webodm-static/leaflet/leaflet.css",
                 "/webodm-static/map.js", "/webodm-static/leaflet/LICENSE"):
        assert anon.get(path).status_code == 200, path
    assert "http" not in page.text.replace("http-equiv", "")  # nothing fetched from the internet


def _screenshot(chromium: str, url: str, shot: Path) -> Image.Image:
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=15000",
         f"--user-data-dir={shot.parent / 'profile'}", f"--screenshot={shot}", "--window-size=1280,800", url],
        capture_output=True, timeout=120, check=False,
    )
    assert shot.is_file()
    if os.environ.get(DOCS_ENV):
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT / "docs" / shot.name)
    return Image.open(shot).convert("RGB")


def test_map_page_screenshot(server: Server, carol: Api, shown: tuple[int, str], tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine")
    url = f"{server.url}/map#jwt={carol.token}&task={shown[1]}"
    ortho = _screenshot(chromium, url, tmp_path / "webodm-map.png")
    assert ortho.size == (1280, 800)
    # The map area must show the raster: its gradient differs from the flat background.
    assert max(ImageStat.Stat(ortho.crop((400, 100, 1240, 760))).stddev) > 20
    dsm = _screenshot(chromium, url + "&layer=dsm", tmp_path / "webodm-map-dsm.png")
    assert max(ImageStat.Stat(dsm.crop((400, 100, 1240, 760))).stddev) > 20
    assert dsm.crop((400, 100, 1240, 760)).tobytes() != ortho.crop((400, 100, 1240, 760)).tobytes()


def test_restart_keeps_users_projects_and_tasks(server: Server, alice: Api, carol: Api,
                                                shown: tuple[int, str]) -> None:
    pid, tid = shown
    before = carol.get(f"/api/projects/{pid}/tasks/{tid}/").json()
    alices = alice.get("/api/projects/").json()
    for project in alices:  # tasks still being processed would change on their own
        for task in alice.get(f"/api/projects/{project['id']}/tasks/").json():
            if not task["partial"]:
                alice.wait_task(project["id"], task["id"])
    alices_tasks = {p["id"]: alice.get(f"/api/projects/{p['id']}/tasks/").json() for p in alices}
    assert any(alices_tasks.values())
    server.restart()
    # The same tokens still work: the signing key outlives the process too.
    alice, carol = Api(server.url, alice.token), Api(server.url, carol.token)
    assert alice.get("/api/projects/").json() == alices
    assert {p["id"]: alice.get(f"/api/projects/{p['id']}/tasks/").json() for p in alices} == alices_tasks
    assert carol.get(f"/api/projects/{pid}/tasks/{tid}/").json() == before
    assert Api(server.url).login("bob").token
    assert carol.get(f"/api/projects/{pid}/tasks/{tid}/orthophoto/tiles.json").status_code == 200
    assert carol.get(f"/api/projects/{pid}/tasks/{tid}/download/orthophoto.tif").status_code == 200
