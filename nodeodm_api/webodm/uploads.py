"""Creating tasks from images: in one multipart request, or `partial` then `upload/` and
`commit/`. Every file part is an input, whatever its field name, as in WebODM.

The images land in the task's `images/` folder and the task waits (status null) until
the processing seam (`WebODM.processor`) takes it; nothing here talks to a node.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from ..uploads import safe_name
from .auth import require_user, service
from .common import JSON, ApiError, api, as_bool, as_int, body
from .projects import own_project
from .tasks import kick, node_view, project_task, task_json, writable_fields

MAX_FILES = 10_000
_DZUUID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


async def _form(request: Request) -> tuple[dict[str, Any], list[UploadFile]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        return await body(request), []
    form = await request.form(max_files=MAX_FILES, max_fields=1000)
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return fields, [v for _, v in form.multi_items() if isinstance(v, UploadFile)]


async def save_files(files: list[UploadFile], folder: Path) -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    saved: dict[str, int] = {}
    for upload in files:
        name = safe_name(upload.filename or "file")
        target = folder / name
        await upload.seek(0)
        await asyncio.to_thread(_copy, upload, target)
        saved[name] = target.stat().st_size
    return saved


async def save_chunk(data: dict[str, Any], upload: UploadFile, folder: Path) -> dict[str, int]:
    """One Dropzone chunk (`dzuuid`, `dzchunkindex`, `dztotalchunkcount`, `dzchunkbyteoffset`):
    written at its offset; the last one moves the file into `images/` under its filename."""
    key = str(data["dzuuid"])
    if not _DZUUID.match(key):
        raise ApiError.invalid("Invalid dzuuid")
    index = as_int(data.get("dzchunkindex", 0), "dzchunkindex")
    total = as_int(data.get("dztotalchunkcount", 1), "dztotalchunkcount")
    offset = as_int(data.get("dzchunkbyteoffset", 0), "dzchunkbyteoffset")
    if index < 0 or total < 1 or index >= total or offset < 0:
        raise ApiError.invalid("Invalid chunk")
    part = folder / "chunks" / key
    part.parent.mkdir(parents=True, exist_ok=True)
    await upload.seek(0)
    await asyncio.to_thread(_write_at, upload, part, offset)
    if index < total - 1:
        return {}
    name = safe_name(upload.filename or "file")
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    part.replace(images / name)
    return {name: (images / name).stat().st_size}


def _write_at(upload: UploadFile, part: Path, offset: int) -> None:
    with open(part, "r+b" if part.exists() else "wb") as out:
        out.seek(offset)
        shutil.copyfileobj(upload.file, out, 1 << 20)


def _copy(upload: UploadFile, target: Path) -> None:
    with open(target, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


async def _create(request: Request) -> Response:
    user = await require_user(request)
    project = await own_project(request, user)
    data, files = await _form(request)
    partial = as_bool(data["partial"], "partial") if "partial" in data else False
    fields = await writable_fields(request, data, user, from_form=not isinstance(data.get("options"), list))
    fields.pop("project_id", None)
    if not partial and len(files) < 2:
        raise ApiError.invalid("Cannot create task, you need at least 2 images")
    svc = service(request)
    # Partial until its files are in place, so that nothing starts it half-uploaded.
    task = await svc.records.add_task(project, {**fields, "partial": True, "images_count": len(files)})
    try:
        await save_files(files, svc.task_dir(task.id) / "images")
    except BaseException:
        # One step, as in WebODM: a failed upload leaves no task behind.
        await svc.records.delete_task(task.id)
        await asyncio.to_thread(svc.remove_task_dir, task.id)
        raise
    if not partial:
        task = await svc.records.update_task(task.id, partial=False) or task
        await kick(svc, task.id)
    return JSON(task_json(task, node_view(request)), status_code=201)


async def _upload(request: Request) -> Response:
    user = await require_user(request)
    _, task = await project_task(request, user)
    data, files = await _form(request)
    if not files:
        raise ApiError.invalid("No files uploaded")
    svc = service(request)
    if "dzuuid" in data:
        saved = await save_chunk(data, files[0], svc.task_dir(task.id))
    else:
        saved = await save_files(files, svc.task_dir(task.id) / "images")
    fields = await writable_fields(request, data, user, from_form=True)
    fields.pop("project_id", None)
    if fields:
        await svc.records.update_task(task.id, **fields)
    return JSON({"success": True, "uploaded": saved})


async def _commit(request: Request) -> Response:
    user = await require_user(request)
    _, task = await project_task(request, user)
    svc = service(request)
    count = count_files(svc.task_dir(task.id) / "images")
    if count == 0:
        raise ApiError.invalid("You need to upload at least 1 file before commit")
    updated = await svc.records.update_task(task.id, partial=False, images_count=count)
    if updated is None:
        raise ApiError.detail(404, "Not found.")
    await kick(svc, task.id)
    return JSON(task_json(updated, node_view(request)))


create = _create
upload = api({"POST": _upload})
commit = api({"POST": _commit})
