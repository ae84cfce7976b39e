"""`/api/processingnodes/`: the nodes WebODM tasks can run on, this node first (id 1).

The node's `/info` and `/options` are read from the in-process `Node`, which answers them
for NodeODM clients too, so the list costs no HTTP round trip to ourselves.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..node import Node
from .auth import require_user
from .common import JSON, api, iso, not_found

log = logging.getLogger("odmflow.webodm")

OWN_NODE_ID = 1
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


async def _list(request: Request) -> Response:
    await require_user(request)
    nodes = [await node_json(request)]
    q = request.query_params
    if "id" in q:
        nodes = [n for n in nodes if str(n["id"]) == q["id"]]
    if "has_available_options" in q:
        wanted = q["has_available_options"].lower() == "true"
        nodes = [n for n in nodes if bool(n["available_options"]) == wanted]
    return JSON(nodes)


async def _retrieve(request: Request) -> Response:
    await require_user(request)
    if request.path_params["node_id"] != str(OWN_NODE_ID):
        raise not_found()
    return JSON(await node_json(request))


async def _options(request: Request) -> Response:
    await require_user(request)
    node = await node_json(request)
    return JSON(node["available_options"] if node["online"] else [])


collection = api({"GET": _list})
detail = api({"GET": _retrieve})
options = api({"GET": _options})
