"""The processing nodes WebODM tasks can run on: this node (id 1), then the configured
NodeODM nodes (ids 2, 3, …), in the order given."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

from tasks.nodeodm import NodeClient, NodeError, NodeInfo, TaskInfo
from tasks.nodes import NodeStatus

from ..node import Node
from ..node import NodeError as OwnNodeError
from ..routes import node_info

OWN_NODE_ID = 1


class Directory:
    def __init__(self, own: str | None, others: list[str] | None = None, ttl: float = 5.0,
                 node: Node | None = None, parallel_tasks: int = 1) -> None:
        #: This node's service, asked in process rather than over HTTP.
        self.node = node
        self.parallel_tasks = parallel_tasks
        self.nodes: dict[int, str] = {}
        if own:
            self.nodes[OWN_NODE_ID] = own
        for i, url in enumerate(others or [], start=OWN_NODE_ID + 1):
            self.nodes[i] = url
        self.ttl = ttl
        self._seen: dict[int, tuple[float, NodeStatus, list[dict[str, Any]]]] = {}

    def urls(self) -> list[str]:
        return list(self.nodes.values())

    def url(self, node_id: int) -> str | None:
        return self.nodes.get(node_id)

    def node_id(self, url: str) -> int | None:
        return next((i for i, u in self.nodes.items() if u == url), None)

    def label(self, node_id: int) -> str:
        """`host:port`, as WebODM names a node."""
        parts = urlsplit(self.nodes.get(node_id, ""))
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    def others(self) -> list[int]:
        return [i for i in self.nodes if i != OWN_NODE_ID]

    async def statuses(self) -> list[NodeStatus]:
        """Every node's `/info`, asked at once; one that does not answer is offline."""
        found = await asyncio.gather(*(self.status(i) for i in self.nodes))
        return [s for s, _ in found]

    async def task_info(self, node_id: int | None, uuid: str) -> TaskInfo | None:
        """What the node says of one of its tasks; None when it cannot say."""
        if node_id == OWN_NODE_ID and self.node is not None:
            try:
                return await self.node.info(uuid)
            except OwnNodeError:
                return None
        url = self.url(node_id) if node_id is not None else None
        return await asyncio.to_thread(_task_info, url, uuid) if url else None

    async def status(self, node_id: int) -> tuple[NodeStatus, list[dict[str, Any]]]:
        """A node's `/info` and `/options`, kept for a few seconds."""
        seen = self._seen.get(node_id)
        if seen is not None and time.monotonic() - seen[0] < self.ttl:
            return seen[1], seen[2]
        if node_id == OWN_NODE_ID and self.node is not None:
            info = NodeInfo.from_dict(await node_info(self.node, self.parallel_tasks))
            status, options = NodeStatus(self.nodes[node_id], info), list(self.node.schema)
        else:
            status, options = await asyncio.to_thread(_probe, self.nodes[node_id])
        self._seen[node_id] = (time.monotonic(), status, options)
        return status, options


def _probe(url: str) -> tuple[NodeStatus, list[dict[str, Any]]]:
    try:
        with NodeClient.from_url(url, timeout=10.0) as client:
            info: NodeInfo = client.info()
            options = [o.to_dict() for o in client.options()]
            return NodeStatus(url, info), options
    except NodeError:
        return NodeStatus(url, None), []


def _task_info(url: str, uuid: str) -> TaskInfo | None:
    try:
        with NodeClient.from_url(url, timeout=10.0) as client:
            return client.task_info(uuid)
    except NodeError:
        return None
