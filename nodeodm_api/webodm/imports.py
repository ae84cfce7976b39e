"""`POST /api/projects/{p}/tasks/import`: a finished task's zip (NodeODM's all.zip or a
WebODM export), uploaded or fetched from a URL, becomes a COMPLETED task.

The request answers 201 at once with the task RUNNING and pending IMPORT; the download
and unpacking go on in the background, and resume after a restart of the server.
URLs must be http(s); redirects are followed a bounded number of times, each one checked
again; downloads stop at a size limit; archives are unpacked with every entry checked
first, so nothing lands outside the task's folder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from tasks.archive import UnsafeArchive, extract

from .auth import current_user, service
from .common import JSON, ApiError, api, not_found
from .files import asset_names, folder_size_mb
from .geo import ensure_cog, raster_facts, task_rasters
from .projects import own_project
from .service import WebODM
from .tasks import Pending, Status, node_view, task_json

log = logging.getLogger("odmflow.webodm")

MAX_BYTES_ENV = "ODMFLOW_IMPORT_MAX_BYTES"
MAX_BYTES = 50 * 1024**3
MAX_REDIRECTS = 5
UPLOADED = "file://all.zip"
ARCHIVE = "import.zip"
CHUNK = 1 << 20


class ImportFailed(Exception):
    """Why an import failed, as the task's `last_error` says it."""


def max_bytes() -> int:
    try:
        return int(os.environ.get(MAX_BYTES_ENV) or MAX_BYTES)
    except ValueError:
        return MAX_BYTES


# The request ------------------------------------------------------------------------------
def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        rest = url.strip().split("://", 1)[-1]
        raise ApiError.invalid(f"Invalid URL. Did you mean http://{rest} ?")
    return url.strip()


async def _import(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        raise not_found()
    project = await own_project(request, user)
    svc = service(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    name, url = "Imported Task", None
    upload: UploadFile | Request | None = None
    if ctype in ("application/zip", "application/octet-stream"):
        upload = request
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=10)
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        text = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        name = text.get("name") or name
        url = text.get("url") or text.get("import_url") or None
        if len(files) > 1 or (files and url):
            raise ApiError.invalid("Cannot create task, you need to upload 1 file")
        upload = files[0] if files else None
    if upload is None and not url:
        raise ApiError.invalid("Cannot create task, either specify a URL or upload 1 file.")
    if url:
        url = check_url(url)
    task = await svc.records.add_task(project, {
        "name": name[:255], "status": Status.RUNNING, "pending_action": Pending.IMPORT,
        "auto_processing_node": False, "import_url": url or UPLOADED,
    })
    folder = svc.task_dir(task.id)
    try:
        if upload is not None:
            await _save(upload, folder / ARCHIVE)
    except ImportFailed as exc:
        await svc.records.update_task(task.id, status=Status.FAILED, pending_action=None, last_error=str(exc))
        raise ApiError.invalid(str(exc)) from None
    svc.spawn(run_import(svc, task.id), f"import {task.id}")
    return JSON(task_json(task, node_view(request)), status_code=201)


async def _save(source: UploadFile | Request, dest: Path) -> None:
    """Copy the uploaded zip into the task folder, stopping at the size limit."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    limit, written = max_bytes(), 0
    with open(dest, "wb") as out:
        if isinstance(source, UploadFile):
            while chunk := await source.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    break
                await asyncio.to_thread(out.write, chunk)
        else:
            async for chunk in source.stream():
                written += len(chunk)
                if written > limit:
                    break
                out.write(chunk)
    if written > limit:
        dest.unlink(missing_ok=True)
        raise ImportFailed(f"File too large (over {limit} bytes)")


import_task = api({"POST": _import})


# The background job -----------------------------------------------------------------------
async def run_import(svc: WebODM, task_id: str) -> None:
    task = await svc.records.task(task_id)
    if task is None:
        return
    folder = svc.task_dir(task_id)
    archive = folder / ARCHIVE
    try:
        if task.import_url.startswith(("http://", "https://")):
            await download(svc, task_id, task.import_url, archive)
        elif not archive.is_file():
            raise ImportFailed("The uploaded file is gone; import it again")
        fields = await asyncio.to_thread(unpack, archive, folder)
    except ImportFailed as exc:
        await svc.records.update_task(task_id, status=Status.FAILED, pending_action=None, last_error=str(exc))
        return
    except Exception as exc:
        log.exception("Import of %s failed", task_id)
        await svc.records.update_task(task_id, status=Status.FAILED, pending_action=None,
                                      last_error=f"Import failed: {exc}")
        return
    if await svc.records.update_task(task_id, **fields) is None:
        await asyncio.to_thread(svc.remove_task_dir, task_id)  # removed while importing
        return
    archive.unlink(missing_ok=True)


async def resume_imports(svc: WebODM) -> None:
    """Imports a stopped server left half-way start again."""
    for task in await svc.records.tasks_pending(Pending.IMPORT):
        svc.spawn(run_import(svc, task.id), f"import {task.id}")


async def download(svc: WebODM, task_id: str, url: str, dest: Path) -> None:
    limit = max_bytes()
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    timeout = httpx.Timeout(60.0, connect=20.0)
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = check_redirect(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise ImportFailed(f"Cannot download {url}: HTTP {response.status_code}")
                    total = int(response.headers.get("content-length") or 0)
                    if total > limit:
                        raise ImportFailed(f"File too large ({total} bytes, the limit is {limit})")
                    await _stream(svc, task_id, response, part, total, limit)
                    os.replace(part, dest)
                    return
            except httpx.HTTPError as exc:
                raise ImportFailed(f"Cannot download {url}: {exc}") from None
            finally:
                part.unlink(missing_ok=True)
    raise ImportFailed(f"Too many redirects (more than {MAX_REDIRECTS})")


def check_redirect(url: str, location: str) -> str:
    target = urljoin(url, location)
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise ImportFailed(f"Refusing to follow a redirect to {target}")
    return target


async def _stream(svc: WebODM, task_id: str, response: httpx.Response, part: Path, total: int, limit: int) -> None:
    written, reported = 0, time.monotonic()
    with open(part, "wb") as out:
        async for chunk in response.aiter_bytes(CHUNK):
            written += len(chunk)
            if written > limit:
                raise ImportFailed(f"File too large (over {limit} bytes)")
            await asyncio.to_thread(out.write, chunk)
            if total and time.monotonic() - reported > 1:
                reported = time.monotonic()
                await svc.records.update_task(task_id, running_progress=round(0.9 * written / total, 4))


def unpack(archive: Path, folder: Path) -> dict[str, Any]:
    """Unpack into `folder/assets` and read what the task record needs from the files."""
    staging = folder / "assets.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        extract(archive, staging)
    except zipfile.BadZipFile:
        raise ImportFailed("Invalid zip file") from None
    except UnsafeArchive as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ImportFailed(f"Invalid zip file: {exc}") from None
    _lift_single_folder(staging)
    assets = folder / "assets"
    shutil.rmtree(assets, ignore_errors=True)
    staging.replace(assets)
    shutil.rmtree(folder / "cache", ignore_errors=True)
    return finish_fields(assets)


def _lift_single_folder(root: Path) -> None:
    """A zip of one folder (not an orthophoto folder) has that folder's contents moved up."""
    entries = [p for p in root.iterdir() if p.name != "__MACOSX"]
    if len(entries) != 1 or not entries[0].is_dir() or entries[0].name.endswith("odm_orthophoto"):
        return
    inner = entries[0]
    tmp = root.with_name(root.name + ".lift")
    inner.replace(tmp)
    shutil.rmtree(root)
    tmp.replace(root)


def finish_fields(assets: Path) -> dict[str, Any]:
    """The record of a COMPLETED task whose results are in `assets`."""
    extents: dict[str, list[float]] = {}
    epsg, wkt, bands = None, None, []
    for kind, path in task_rasters(assets).items():
        ensure_cog(path)
        facts = raster_facts(path)
        if facts["extent"]:
            extents[kind] = facts["extent"]
        epsg = epsg or facts["epsg"]
        wkt = wkt or facts["wkt"]
        if kind == "orthophoto":
            bands = facts["bands"]
    output = assets / "task_output.txt"
    return {
        "status": Status.COMPLETED, "pending_action": None, "running_progress": 1.0, "last_error": None,
        "available_assets": asset_names(assets), "extents": extents, "epsg": epsg, "wkt": wkt,
        "orthophoto_bands": bands, "size": folder_size_mb(assets), "statistics": _statistics(assets),
        "console": output.read_text(errors="replace") if output.is_file() else "",
    }


def _statistics(assets: Path) -> dict[str, Any]:
    """The summary WebODM shows from ODM's report (`odm_report/stats.json`), when present."""
    path = assets / "odm_report" / "stats.json"
    try:
        stats = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}
    if not isinstance(stats, dict):
        return {}
    out: dict[str, Any] = {}
    points = (stats.get("point_cloud_statistics") or {}).get("stats", {}).get("statistic", [{}])
    if isinstance(points, list) and points and isinstance(points[0], dict) and "count" in points[0]:
        out["pointcloud"] = {"points": points[0]["count"]}
    odm = stats.get("odm_processing_statistics") or {}
    if isinstance(odm, dict):
        if "average_gsd" in odm:
            out["gsd"] = odm["average_gsd"]
        if "area" in odm:
            out["area"] = odm["area"]
    return out
