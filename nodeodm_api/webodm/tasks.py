"""`/api/projects/{p}/tasks/`: task records, their actions, console and files.

ViewSet routes (list, retrieve, PATCH, actions, output) find a task by its id *and* the
URL's project; file routes by its id alone, as WebODM does. Hidden tasks answer 404.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import UnaryExpression
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from .auth import current_user, require_user, service
from .common import JSON, NO_PERMISSION, ApiError, api, as_bool, as_int, body, iso, not_found, tag_list
from .db import Project, Task, User
from .directory import OWN_NODE_ID
from .files import asset_file, download_name, inside, media_type
from .nodes import node_label, own_node, rerun_stages
from .projects import own_project, project_id
from .service import WebODM

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ORDER_FIELDS = ("created_at", "name", "status", "processing_time", "images_count", "size", "id")


class Status:
    QUEUED, RUNNING, FAILED, COMPLETED, CANCELED = 10, 20, 30, 40, 50


class Pending:
    CANCEL, REMOVE, RESTART, RESIZE, IMPORT, COMPACT = 1, 2, 3, 4, 5, 6


# The JSON of a task ---------------------------------------------------------------------
@dataclass
class NodeView:
    labels: dict[int, str]
    stages: list[str]


def node_view(request: Request) -> NodeView:
    labels = {i: service(request).directory.label(i) for i in service(request).directory.others()}
    return NodeView({OWN_NODE_ID: node_label(request), **labels}, rerun_stages(own_node(request)))


def extent(task: Task) -> list[float] | None:
    for kind in ("orthophoto", "dsm", "dtm"):
        if (task.extents or {}).get(kind):
            return list(task.extents[kind])
    return None


def task_json(task: Task, node: NodeView) -> dict[str, Any]:
    has_node = task.processing_node is not None
    return {
        "id": task.id,
        "project": task.project_id,
        "processing_node": task.processing_node,
        "processing_node_name": node.labels.get(task.processing_node) if task.processing_node is not None else None,
        "auto_processing_node": task.auto_processing_node,
        "uuid": task.uuid,
        "name": task.name,
        "processing_time": task.processing_time,
        "status": task.status,
        "last_error": task.last_error,
        "options": list(task.options or []),
        "available_assets": list(task.available_assets or []),
        "created_at": iso(task.created_at),
        "pending_action": task.pending_action,
        "public": task.public,
        "public_edit": task.public_edit,
        "resize_to": task.resize_to,
        "upload_progress": task.upload_progress,
        "resize_progress": task.resize_progress,
        "running_progress": task.running_progress,
        "import_url": task.import_url,
        "images_count": task.images_count,
        "partial": task.partial,
        "potree_scene": task.potree_scene or {},
        "epsg": task.epsg,
        "wkt": task.wkt,
        "tags": list(task.tags or []),
        "orthophoto_bands": list(task.orthophoto_bands or []),
        "size": task.size,
        "compacted": task.compacted,
        "crop": task.crop,
        "media": 0,
        "can_rerun_from": list(node.stages) if has_node else [],
        "statistics": task.statistics or {},
        "extent": extent(task),
        "srs": {"name": f"EPSG:{task.epsg}" if task.epsg else "", "units": "m"},
    }


# Finding tasks ----------------------------------------------------------------------------
def task_id(request: Request) -> str:
    value = str(request.path_params["task_id"])
    if not _UUID.match(value):
        raise not_found()
    return value.lower()


async def project_task(request: Request, user: User, console: bool = False) -> tuple[Project, Task]:
    """The task of the URL's project, for its owner (with its console only when asked)."""
    project = await own_project(request, user)
    task = await service(request).records.task(task_id(request), console=console)
    if task is None or task.project_id != project.id:
        raise not_found()
    return project, task


async def readable_task(request: Request, message: str = "Not found.") -> Task:
    """A task by id alone: its owner's, or a public one (anonymous callers included)."""
    user = await current_user(request)
    records = service(request).records
    task = await records.task(task_id(request), console=False)
    if task is None:
        raise not_found(message)
    if await records.project(user, task.project_id) is not None:
        return task
    if task.public or await records.public_project(task.project_id) is not None:
        return task
    raise not_found(message)


# Fields a client may write ----------------------------------------------------------------
def parse_options(value: Any, from_form: bool) -> list[dict[str, Any]]:
    if from_form or isinstance(value, (str, bytes)):
        try:
            value = json.loads(value) if value not in ("", None) else []
        except (TypeError, ValueError):
            raise ApiError.fields({"options": "Value must be valid JSON."}) from None
    if isinstance(value, dict) and not value:
        return []
    if not isinstance(value, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) and o["name"] and "value" in o for o in value
    ):
        raise ApiError.fields({"options": "Invalid options"})
    return [{"name": o["name"], "value": o["value"]} for o in value]


async def writable_fields(request: Request, data: dict[str, Any], user: User, from_form: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "name" in data:
        fields["name"] = None if data["name"] is None else str(data["name"])[:255]
    if "options" in data:
        fields["options"] = parse_options(data["options"], from_form)
    if "processing_node" in data:
        node = data["processing_node"]
        if node in (None, ""):
            raise ApiError.fields({"processing_node": "This field may not be null."})
        node_id = as_int(node, "processing_node")
        if node_id != OWN_NODE_ID and service(request).directory.url(node_id) is None:
            raise ApiError.fields({"processing_node": f'Invalid pk "{node}" - object does not exist.'})
        fields["processing_node"] = node_id
    for flag in ("auto_processing_node", "public", "public_edit"):
        if flag in data:
            fields[flag] = as_bool(data[flag], flag)
    if "uuid" in data:
        fields["uuid"] = str(data["uuid"] or "")
    if "resize_to" in data:
        fields["resize_to"] = as_int(data["resize_to"], "resize_to")
    if "tags" in data:
        fields["tags"] = tag_list(data["tags"])
    if "project" in data:
        target = as_int(data["project"], "project")
        records = service(request).records
        if await records.project(user, target) is None:
            if not await records.project_exists(target):
                raise ApiError.fields({"project": f'Invalid pk "{target}" - object does not exist.'})
            raise ApiError.detail(403, NO_PERMISSION)
        fields["project_id"] = target
    return fields


def _form_request(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json"


def _ordering(value: str | None) -> list[UnaryExpression[Any]]:
    order = []
    for key in (value or "").split(","):
        column = key.strip().lstrip("-")
        if column in _ORDER_FIELDS:
            attr = getattr(Task, column)
            order.append(attr.desc() if key.strip().startswith("-") else attr.asc())
    return order


# Endpoints ------------------------------------------------------------------------------
async def list_tasks(request: Request) -> Response:
    user = await require_user(request)
    project = await own_project(request, user)
    q = request.query_params
    status = None
    if q.get("status"):
        try:
            status = int(q["status"])
        except ValueError:
            raise ApiError.invalid("Invalid status parameter") from None
    tasks = await service(request).records.tasks(project, status, _ordering(q.get("ordering")))
    if q.get("available_assets"):
        wanted = set(q["available_assets"].split(","))
        tasks = [t for t in tasks if wanted <= set(t.available_assets or [])]
    view = node_view(request)
    return JSON([task_json(t, view) for t in tasks])


async def _retrieve(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        task = await readable_task(request)
        if task.project_id != project_id(request):
            raise not_found()
    else:
        _, task = await project_task(request, user)
    return JSON(task_json(task, node_view(request)))


async def _update(request: Request) -> Response:
    user = await require_user(request)
    _, task = await project_task(request, user)
    fields = await writable_fields(request, await body(request), user, _form_request(request))
    svc = service(request)
    updated = await svc.records.update_task(task.id, **fields)
    if updated is None:
        raise not_found()
    await kick(svc, updated.id)
    return JSON(task_json(updated, node_view(request)))


async def kick(svc: WebODM, task_id: str) -> None:
    """Hand a task to the processing seam, when one is installed."""
    if svc.processor is not None:
        await svc.processor.kick(task_id)


async def _cancel(request: Request) -> Response:
    user = await require_user(request)
    _, task = await project_task(request, user)
    svc = service(request)
    if svc.processor is not None:
        await svc.records.update_task(task.id, pending_action=Pending.CANCEL, partial=False, last_error=None)
        await kick(svc, task.id)
    else:
        # No processing here (an app without a node URL): nothing runs, so it is cancelled on the spot.
        await svc.records.update_task(task.id, status=Status.CANCELED, pending_action=None, partial=False,
                                      last_error=None)
    return JSON({"success": True})


async def _restart(request: Request) -> Response:
    user = await require_user(request)
    _, task = await project_task(request, user)
    svc = service(request)
    if task.processing_node is None or svc.processor is None:
        await svc.records.update_task(task.id, status=Status.FAILED, pending_action=None, partial=False,
                                      last_error="Cannot restart a task that has no processing node")
    else:
        await svc.records.update_task(task.id, pending_action=Pending.RESTART, partial=False, last_error=None)
        await kick(svc, task.id)
    return JSON({"success": True})


async def _remove(request: Request) -> Response:
    user = await require_user(request)
    _, task = await project_task(request, user)
    svc = service(request)
    if svc.processor is not None:
        await svc.records.update_task(task.id, pending_action=Pending.REMOVE)
        await kick(svc, task.id)
    else:
        await svc.records.delete_task(task.id)
        await asyncio.to_thread(svc.remove_task_dir, task.id)
    return JSON({"success": True})


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError.invalid("Invalid parameter") from None


async def _output(request: Request) -> Response:
    user = await require_user(request)
    _, task = await project_task(request, user, console=True)
    line = max(0, _int_param(request, "line", 0) or 0)
    limit = _int_param(request, "limit", None)
    fmt = request.query_params.get("f", "text")
    if fmt not in ("text", "raw", "json"):
        raise ApiError.invalid("Invalid parameter")
    lines = (task.console or "").rstrip().split("\n")
    count = len(lines)
    chosen = lines[line:]
    if limit is not None and limit > 0:
        chosen = chosen[:limit]
    elif limit is not None and limit < 0:
        chosen = lines[max(line, count + limit):]
    if fmt == "json":
        return JSON({"lines": chosen, "count": count})
    text = "\n".join(chosen)
    if fmt == "raw":
        return Response(text, media_type="text/plain; charset=utf-8")
    return JSON(text)


async def _download(request: Request) -> Response:
    task = await readable_task(request, "Asset does not exist")
    svc = service(request)
    asset = str(request.path_params["asset"])
    path = await asyncio.to_thread(asset_file, svc.assets_dir(task.id), svc.task_dir(task.id) / "cache", asset)
    if path is None:
        raise not_found("Asset does not exist")
    inline = request.query_params.get("inline") in ("1", "true")
    filename = request.query_params.get("filename") or download_name(task.name, asset)
    return FileResponse(path, media_type=media_type(asset), filename=filename,
                        content_disposition_type="inline" if inline else "attachment")


async def _asset(request: Request) -> Response:
    task = await readable_task(request, "Asset does not exist")
    path = inside(service(request).assets_dir(task.id), str(request.path_params["path"]))
    if path is None:
        raise not_found("Asset does not exist")
    return FileResponse(path, media_type=media_type(path.name), filename=path.name, content_disposition_type="inline")


detail = api({"GET": _retrieve, "PATCH": _update})
cancel = api({"POST": _cancel})
restart = api({"POST": _restart})
remove = api({"POST": _remove})
output = api({"GET": _output})
download = api({"GET": _download})
asset = api({"GET": _asset})
