"""NodeODM's HTTP surface: parse the request, call the node, answer as NodeODM answers."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import psutil
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from .node import Node, NodeError
from .openapi import openapi_document
from .uploads import UploadError, receive

API_VERSION = "2.2.4"  # what NodeODM 2.2.x reports; PyODM uses chunked uploads from 1.4 on
BODY_LIMIT = 100 * 1024  # Express's default body limit for cancel/remove/restart
TEXT_FIELDS = ("name", "options", "skipPostProcessing", "webhook", "outputs", "dateCreated", "zipurl",
               "inputUrl", "outputUrl", "readS3Path", "writeS3Path")
#: What /info adds under "odmflow", so clients can detect our extensions.
EXTENSIONS = {"inputUrls": True, "assetDownloads": True, "ranges": True}

Endpoint = Callable[[Request], Awaitable[Response]]


class JSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def error(message: str, **extra: Any) -> JSON:
    return JSON({"error": message, **extra})


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def guarded(endpoint: Endpoint) -> Endpoint:
    """Token check (query string only, as NodeODM), and NodeError → `{"error": ...}`."""

    async def wrapper(request: Request) -> Response:
        token = request.app.state.token
        if token and request.query_params.get("token") != token:
            return error("Invalid authentication token: token does not match.")
        try:
            return await endpoint(request)
        except NodeError as exc:
            return error(str(exc), **exc.extra)

    wrapper.__name__ = endpoint.__name__
    return wrapper


# Server ------------------------------------------------------------------------------------
async def auth_info(request: Request) -> Response:
    return JSON({"message": "Authentication not available on this node", "loginUrl": None, "registerUrl": None})


async def auth_unavailable(request: Request) -> Response:
    return error("Not available")


@guarded
async def info(request: Request) -> Response:
    return JSON(await node_info(node_of(request), request.app.state.parallel_tasks))


async def node_info(node: Node, parallel_tasks: int) -> dict[str, Any]:
    """`GET /info`'s answer; WebODM's face asks for it in process."""
    memory = psutil.virtual_memory()
    return {
        "version": API_VERSION,
        "taskQueueCount": await node.runs.queue_count(),
        "totalMemory": memory.total,
        "availableMemory": memory.available,
        "cpuCores": os.cpu_count(),
        "maxImages": node.limits.max_images,
        "maxParallelTasks": parallel_tasks,
        "engineVersion": node.engine.version(),
        "engine": node.engine.name,
        "odmflow": EXTENSIONS,
    }


@guarded
async def options(request: Request) -> Response:
    return JSON(node_of(request).schema)


async def swagger(request: Request) -> Response:
    return JSON(openapi_document())


# Creating tasks ----------------------------------------------------------------------------
async def _fields(request: Request, node: Node, uuid: str, files: bool) -> dict[str, Any]:
    folder = node.store.upload_dir(uuid) / "images" if files else None
    try:
        form = await receive(request, folder)
    except UploadError as exc:
        raise NodeError(str(exc)) from None
    if form.unexpected is not None:
        for path in form.files:
            path.unlink(missing_ok=True)
        raise NodeError("Unexpected field")
    fields: dict[str, Any] = {k: v for k, v in form.fields.items() if k in TEXT_FIELDS}
    fields["_files"] = len(form.files)
    return fields


@guarded
async def task_new_init(request: Request) -> Response:
    node = node_of(request)
    uuid = node.new_uuid(request.headers.get("set-uuid"))
    fields = await _fields(request, node, uuid, files=False)
    node.check_options(fields.get("options"))
    fields.pop("_files")
    node.store.begin(uuid, fields)
    return JSON({"uuid": uuid})


@guarded
async def task_new_upload(request: Request) -> Response:
    node = node_of(request)
    uuid = request.path_params["uuid"]
    if node.store.pending(uuid) is None:
        return error("Invalid uuid (not found)")
    before = {p.name for p in (node.store.upload_dir(uuid) / "images").iterdir()}
    fields = await _fields(request, node, uuid, files=True)
    if not fields["_files"]:
        return error("Need at least 1 file.", noRetry=True)
    try:
        node.check_count(uuid)
    except NodeError:
        for path in (node.store.upload_dir(uuid) / "images").iterdir():
            if path.name not in before:
                path.unlink()  # refuse this request's files, keep what was stored before
        raise
    return JSON({"success": True})


@guarded
async def task_new_commit(request: Request) -> Response:
    node = node_of(request)
    uuid = request.path_params["uuid"]
    fields = node.store.pending(uuid)
    if fields is None:
        if node.store.exists(uuid):
            return JSON({"uuid": uuid})  # a retried commit after a lost answer
        return error("Invalid uuid (not found)")
    return JSON({"uuid": await node.commit(uuid, fields)})


@guarded
async def task_new(request: Request) -> Response:
    node = node_of(request)
    uuid = node.new_uuid(request.headers.get("set-uuid"))
    node.store.begin(uuid, {})
    try:
        fields = await _fields(request, node, uuid, files=True)
        if not fields.pop("_files") and not any(fields.get(k) for k in ("zipurl", "inputUrl", "readS3Path")):
            raise NodeError("Need at least 1 file or a zip file url.")
        return JSON({"uuid": await node.commit(uuid, fields)})
    except BaseException:
        node.store.discard(uuid)
        raise


# Task operations ---------------------------------------------------------------------------
async def _body(request: Request) -> dict[str, Any]:
    """cancel/remove/restart take urlencoded or JSON bodies (never multipart), up to 100 kB."""
    raw = await request.body()
    if len(raw) > BODY_LIMIT:
        raise NodeError("request entity too large")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise NodeError(f"Invalid JSON body: {exc}") from None
        return data if isinstance(data, dict) else {}
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return {}


def _operation(action: Callable[[Node, str, dict[str, Any]], Awaitable[None]]) -> Endpoint:
    @guarded
    async def endpoint(request: Request) -> Response:
        body = await _body(request)
        uuid = body.get("uuid")
        if not uuid:
            return error("uuid param missing.")
        node = node_of(request)
        if node.store.record(str(uuid)) is None:
            return JSON({"success": False, "error": f"{uuid} not found"})
        await action(node, str(uuid), body)
        return JSON({"success": True})

    return endpoint


task_cancel = _operation(lambda node, uuid, body: node.cancel(uuid))
task_remove = _operation(lambda node, uuid, body: node.remove(uuid))
task_restart = _operation(lambda node, uuid, body: node.restart(uuid, body.get("options")))


@guarded
async def task_list(request: Request) -> Response:
    return JSON([{"uuid": uuid} for uuid in await node_of(request).task_list()])


@guarded
async def task_info(request: Request) -> Response:
    with_output = request.query_params.get("with_output")
    info = await node_of(request).info(request.path_params["uuid"], with_output)
    return JSON(info.to_dict())


@guarded
async def task_output(request: Request) -> Response:
    from .node import output_slice

    node = node_of(request)
    record = node.record(request.path_params["uuid"])
    return JSON(output_slice(await node.output_lines(record), request.query_params.get("line")))


@guarded
async def task_download(request: Request) -> Response:
    asset = request.path_params["asset"]
    node = node_of(request)
    path = await node.asset(request.path_params["uuid"], asset)
    signed = node.signed_asset(request.path_params["uuid"], asset)
    if signed:
        return RedirectResponse(signed, status_code=302)  # the bytes come straight from the bucket
    media = "application/zip" if asset.endswith(".zip") else None
    # FileResponse streams with Content-Length and answers Range requests with 206.
    return FileResponse(path, media_type=media, filename=asset, content_disposition_type="attachment")
