"""`/api/processingnodes/`: the nodes WebODM tasks can run on, this node first (id 1),
then the configured ones (`odmflow serve --node URL`).

This node's `/info` and `/options` are read from the in-process `Node`, which answers them
for NodeODM clients too, so the list costs no HTTP round trip to ourselves; the others
are asked over HTTP, and their answers kept for a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ..node import Node
from .auth import require_user, service
from .common import JSON, api, iso, not_found
from .directory import OWN_NODE_ID

log = logging.getLogger("odmflow.webodm")

API_VERSION = "2.2.4"


def own_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def node_label(request: Request) -> str:
    return f"{request.url.hostname or 'localhost'}:{request.url.port or 80}"


def rerun_stages(node: Node) -> list[str]:
    for option in node.schema:
        if option.get("name") == "rerun-from":
            return [str(s) for s in option.get("domain") or []]
    return []


async def node_json(request: Request) -> dict[str, Any]:
    node = own_node(request)
    try:
        queue: int | None = await node.runs.queue_count()
        online = True
    except Exception:  # Prefect unreachable: the node cannot take tasks now
        log.warning("Cannot read the queue of the local node", exc_info=True)
        queue, online = 0, False
    host = request.url.hostname or "localhost"
    return {
        "id": OWN_NODE_ID,
        "online": online,
        "label": node_label(request),
        "hostname": host,
        "port": request.url.port or 80,
        "api_version": API_VERSION,
        "last_refreshed": iso(datetime.now(UTC)),
        "queue_count": queue,
        "max_images": node.limits.max_images,
        "available_options": node.schema,
        # WebODM shows the node's own access token to every viewer; this one stays private.
        "token": "",
        "engine_version": node.engine.version(),
        "engine": node.engine.name,
        "cpu_cores": os.cpu_count(),
    }


async def other_json(request: Request, node_id: int) -> dict[str, Any]:
    """A configured NodeODM node, as WebODM lists it."""
    directory = service(request).directory
    status, options = await directory.status(node_id)
    label = directory.label(node_id)
    info = status.info
    return {
        "id": node_id,
        "online": info is not None,
        "label": label,
        "hostname": urlsplit(status.url).hostname,
        "port": int(label.rsplit(":", 1)[1]),
        "api_version": info.version if info else "",
        "last_refreshed": iso(datetime.now(UTC)),
        "queue_count": info.taskQueueCount if info else 0,
        "max_images": info.maxImages if info else None,
        "available_options": options,
        "token": "",
        "engine_version": info.engineVersion if info else "",
        "engine": info.engine if info else "",
        "cpu_cores": info.cpuCores if info else None,
    }


async def all_nodes(request: Request) -> list[dict[str, Any]]:
    others = service(request).directory.others()
    return [await node_json(request), *await asyncio.gather(*(other_json(request, i) for i in others))]


async def _list(request: Request) -> Response:
    await require_user(request)
    nodes = await all_nodes(request)
    q = request.query_params
    if "id" in q:
        nodes = [n for n in nodes if str(n["id"]) == q["id"]]
    if "has_available_options" in q:
        wanted = q["has_available_options"].lower() == "true"
        nodes = [n for n in nodes if bool(n["available_options"]) == wanted]
    return JSON(nodes)


async def _retrieve(request: Request) -> Response:
    await require_user(request)
    node_id = str(request.path_params["node_id"])
    if node_id == str(OWN_NODE_ID):
        return JSON(await node_json(request))
    if node_id.isdigit() and int(node_id) in service(request).directory.others():
        return JSON(await other_json(request, int(node_id)))
    raise not_found()


async def _options(request: Request) -> Response:
    await require_user(request)
    # WebODM answers the options every online node has, each with its first node's definition.
    online = [n for n in await all_nodes(request) if n["online"]]
    if not online:
        return JSON([])
    common = set.intersection(*({o["name"] for o in n["available_options"]} for n in online))
    return JSON([o for o in online[0]["available_options"] if o["name"] in common])


collection = api({"GET": _list})
detail = api({"GET": _retrieve})
options = api({"GET": _options})
