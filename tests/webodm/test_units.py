"""The WebODM layer's pure pieces, without a server."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from nodeodm_api.webodm.auth import check_password, hash_password
from nodeodm_api.webodm.db import Database, Task, database_url
from nodeodm_api.webodm.files import asset_names, download_name, inside
from nodeodm_api.webodm.imports import ImportFailed, check_redirect
from nodeodm_api.webodm.processing import options_dict, publish_assets, run_error
from nodeodm_api.webodm.records import Records
from tasks.storage import MARKER


def test_database_urls(tmp_path: Path) -> None:
    assert database_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/webodm.db"
    assert database_url(tmp_path, "postgresql://u:p@db/odm") == "postgresql+asyncpg://u:p@db/odm"
    assert database_url(tmp_path, "postgres://db/odm") == "postgresql+asyncpg://db/odm"
    assert database_url(tmp_path, "postgresql+psycopg://db/odm") == "postgresql+psycopg://db/odm"


def test_passwords_are_salted_hashes() -> None:
    first, second = hash_password("secret"), hash_password("secret")
    assert first != second and "secret" not in first
    assert check_password("secret", first) and not check_password("Secret", first)
    assert not check_password("secret", "garbage") and not check_password("secret", "md5$x$y$z$a$b")


def test_inside_compares_whole_components(tmp_path: Path) -> None:
    root = tmp_path / "assets"
    (root / "odm_dem").mkdir(parents=True)
    (root / "odm_dem" / "dsm.tif").write_bytes(b"x")
    sibling = tmp_path / "assets-evil"  # shares the string prefix of the assets folder
    sibling.mkdir()
    (sibling / "x.txt").write_text("no")
    assert inside(root, "odm_dem/dsm.tif") == (root / "odm_dem" / "dsm.tif").resolve()
    for bad in ("../assets-evil/x.txt", "/etc/passwd", "odm_dem", "odm_dem/../../assets-evil/x.txt", "", "a\x00b"):
        assert inside(root, bad) is None, bad


def test_asset_names_follow_webodm(tmp_path: Path) -> None:
    assert asset_names(tmp_path / "missing") == []
    (tmp_path / "odm_dem").mkdir()
    (tmp_path / "odm_dem" / "dsm.tif").write_bytes(b"x")
    (tmp_path / "images.json").write_text("[]")  # not a WebODM asset
    (tmp_path / "odm_texturing").mkdir()
    assert asset_names(tmp_path) == ["all.zip", "textured_model.zip", "dsm.tif"]
    assert download_name("My Task!", "all.zip") == "My-Task-all.zip"
    assert download_name(None, "dsm.tif") == "dsm.tif"


def test_redirects_stay_on_http() -> None:
    assert check_redirect("http://a/x/y.zip", "/z.zip") == "http://a/z.zip"
    assert check_redirect("http://a/x", "https://b/c") == "https://b/c"
    for target in ("file:///etc/passwd", "ftp://b/c", "gopher://b"):
        try:
            check_redirect("http://a/x", target)
        except ImportFailed:
            continue
        raise AssertionError(target)


def test_processing_helpers(tmp_path: Path) -> None:
    assert options_dict([{"name": "dsm", "value": True}, {"name": "rerun-from", "value": "odm_dem"}]) == \
        {"dsm": True, "rerun-from": "odm_dem"}
    assert options_dict(None) == {}
    message = ("Flow run encountered an exception: BatchFailed: Batch t failed with every option set of the "
               "ladder: Invalid options: orthophoto-resolution: must be a number")
    assert run_error(message).startswith("Batch t failed") and run_error(message).endswith("must be a number")
    assert run_error(None) == "Processing failed"

    # A run's published results (listed by their marker) become the assets; the rest goes.
    published = tmp_path / "task" / "output" / "t"
    (published / "odm_orthophoto").mkdir(parents=True)
    (published / "odm_orthophoto" / "odm_orthophoto.tif").write_bytes(b"tif")
    (published / "item.json").write_text("{}")
    (published / MARKER).write_text(json.dumps({"assets": ["odm_orthophoto/odm_orthophoto.tif"]}))
    old = tmp_path / "task" / "assets" / "stale.txt"
    old.parent.mkdir(parents=True)
    old.write_text("from the previous run")
    assets = publish_assets(tmp_path / "task", "t")
    assert sorted(str(p.relative_to(assets)) for p in assets.rglob("*") if p.is_file()) == \
        ["odm_orthophoto/odm_orthophoto.tif"]
    assert not (tmp_path / "task" / "output").exists()


def test_new_columns_are_added_to_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "webodm.db"
    with sqlite3.connect(path) as conn:  # a task table from before `run_id` existed
        columns = ", ".join(f"{c.name}" for c in Task.__table__.columns if c.name != "run_id")
        conn.execute(f"CREATE TABLE webodm_task ({columns})")
        conn.execute("INSERT INTO webodm_task (id, name) VALUES ('a', 'kept')")

    async def open_and_read() -> tuple[str | None, str | None]:
        db = Database(database_url(tmp_path))
        await db.open()
        try:
            task = await Records(db).task("a")
            assert task is not None
            return task.name, task.run_id
        finally:
            await db.close()

    assert asyncio.run(open_and_read()) == ("kept", None)
