from __future__ import annotations

import zipfile
from pathlib import Path

from tasks.outputs import available_assets, build_zip, normalise, zip_entries


def layout(root: Path) -> Path:
    for rel in ("odm_orthophoto/odm_orthophoto.tif", "odm_dem/dsm.tif", "odm_report/shots.geojson",
                "odm_report/stats/x.json", "images.json", "images/a.jpg", "opensfm/reconstruction.json",
                "odm_texturing/odm_textured_model_geo.obj"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    return root


def test_normalise_strips_parent_references() -> None:
    assert normalise("../../package.json") == "package.json"
    assert normalise("/etc/passwd") == "etc/passwd"
    assert normalise("a/../../b") == "b"
    assert normalise("odm_dem\\dsm.tif") == "odm_dem/dsm.tif"


def test_all_zip_follows_nodeodm_paths(tmp_path: Path) -> None:
    zf = zipfile.ZipFile(build_zip(layout(tmp_path)))
    names = zf.namelist()
    assert "odm_orthophoto/odm_orthophoto.tif" in names and "odm_dem/dsm.tif" in names
    assert "odm_report/" in names and "odm_report/stats/" in names  # folders are entries of their own
    assert not any(n.startswith(("images/", "opensfm/")) for n in names)
    assert zf.read("images.json") == b"images.json"
    assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_outputs_override_and_never_leave_the_project(tmp_path: Path) -> None:
    project = layout(tmp_path / "p")
    (tmp_path / "secret.txt").write_text("no")
    (project / "link").symlink_to(tmp_path / "secret.txt")
    entries = [arc for _, arc in zip_entries(project, ["images.json", "../secret.txt", "link", "missing"])]
    assert entries == ["images.json"]


def test_available_assets(tmp_path: Path) -> None:
    project = layout(tmp_path)
    assert available_assets(project) == ["orthophoto.tif", "dsm.tif", "shots.geojson", "images.json",
                                         "textured_model.zip"]
    build_zip(project)
    assert available_assets(project)[0] == "all.zip"
