"""`/api/projects/`: list, create, retrieve, update and delete a user's projects."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from sqlalchemy import UnaryExpression
from starlette.requests import Request
from starlette.responses import Response

from .auth import require_user, service
from .common import JSON, ApiError, api, as_bool, as_int, body, iso, not_found, tag_list, text_field
from .db import Project, User

PAGE_SIZE = 10
PERMISSIONS = ["add", "change", "delete", "view"]
_ORDER_FIELDS = ("id", "name", "description", "created_at")


def project_json(project: Project, task_ids: list[str], user: User | None) -> dict[str, Any]:
    owned = user is not None and project.owner_id == user.id
    return {
        "id": project.id,
        "tasks": task_ids,
        "owned": owned,
        "created_at": iso(project.created_at),
        "permissions": list(PERMISSIONS) if owned else ["view"],
        "tags": list(project.tags or []),
        "name": project.name,
        "description": project.description,
        "public": project.public,
        "public_edit": project.public_edit,
        "public_id": project.public_id,
    }


def project_id(request: Request, key: str = "project_id") -> int:
    try:
        return int(request.path_params[key])
    except ValueError:
        raise not_found() from None


async def own_project(request: Request, user: User) -> Project:
    project = await service(request).records.project(user, project_id(request))
    if project is None:
        raise not_found()
    return project


def _fields(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    name = text_field(data, "name", required=not partial)
    if name is not None:
        if not name.strip():
            raise ApiError.fields({"name": "This field may not be blank."})
        fields["name"] = name
    if "description" in data:
        fields["description"] = str(data["description"] or "")
    for flag in ("public", "public_edit"):
        if flag in data:
            fields[flag] = as_bool(data[flag], flag)
    if "tags" in data:
        fields["tags"] = tag_list(data["tags"])
    return fields


def _ordering(value: str | None) -> list[UnaryExpression[Any]]:
    order = []
    for key in (value or "").split(","):
        column = key.strip().lstrip("-")
        if column in _ORDER_FIELDS:
            attr = getattr(Project, column)
            order.append(attr.desc() if key.strip().startswith("-") else attr.asc())
    return order


async def _list(request: Request) -> Response:
    user = await require_user(request)
    q = request.query_params
    filters: dict[str, Any] = {}
    if q.get("id"):
        filters["id"] = as_int(q["id"], "id")
    for key in ("name", "description"):
        if key in q:
            filters[key] = q[key]
    records = service(request).records
    projects = await records.projects(user, filters, _ordering(q.get("ordering")))
    page = q.get("page")
    if page is None:
        tasks = await records.task_ids([p.id for p in projects])
        return JSON([project_json(p, tasks[p.id], user) for p in projects])
    pages = max(1, math.ceil(len(projects) / PAGE_SIZE))
    number = as_int(page, "page") if page != "last" else pages
    if number < 1 or number > pages:
        raise not_found("Invalid page.")
    chunk = projects[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    tasks = await records.task_ids([p.id for p in chunk])
    base = str(request.url.remove_query_params("page"))
    sep = "&" if "?" in base else "?"
    return JSON({
        "count": len(projects),
        "next": f"{base}{sep}page={number + 1}" if number < pages else None,
        "previous": (f"{base}{sep}page={number - 1}" if number > 2 else base) if number > 1 else None,
        "results": [project_json(p, tasks[p.id], user) for p in chunk],
    })


async def _create(request: Request) -> Response:
    user = await require_user(request)
    fields = _fields(await body(request), partial=False)
    project = await service(request).records.add_project(user, fields)
    return JSON(project_json(project, [], user), status_code=201)


async def _retrieve(request: Request) -> Response:
    user = await require_user(request)
    project = await own_project(request, user)
    tasks = await service(request).records.task_ids([project.id])
    return JSON(project_json(project, tasks[project.id], user))


async def _update(request: Request) -> Response:
    user = await require_user(request)
    project = await own_project(request, user)
    fields = _fields(await body(request), partial=request.method == "PATCH")
    records = service(request).records
    project = await records.update_project(project, fields)
    tasks = await records.task_ids([project.id])
    return JSON(project_json(project, tasks[project.id], user))


async def _delete(request: Request) -> Response:
    user = await require_user(request)
    project = await own_project(request, user)
    svc = service(request)
    tasks = await svc.records.tasks(project)
    await svc.records.delete_project(project)
    for task in tasks:
        if svc.processor is not None:  # runs stopped and node tasks removed, in the background
            svc.spawn(svc.processor.discard(task), f"discard {task.id}")
        else:
            await asyncio.to_thread(svc.remove_task_dir, task.id)
    return Response(status_code=204)


collection = api({"GET": _list, "POST": _create})
detail = api({"GET": _retrieve, "PATCH": _update, "PUT": _update, "DELETE": _delete})
