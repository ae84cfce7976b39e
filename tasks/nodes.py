"""Choosing a node for a batch, the way ClusterODM's `findBestAvailableNode` does.

Online nodes whose `maxImages` admits the batch compete; the smallest sufficient
`maxImages` wins (best fit, so big nodes stay free for big batches), then the most free
slots, then the shortest queue. Tasks this run has already handed to a node count
towards its queue, so batches submitted together spread out before the node reports them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tasks.nodeodm import NodeClient, NodeError, NodeInfo

__all__ = ["NodeStatus", "NoNodeAvailable", "best_node", "probe", "accepts_urls"]


class NoNodeAvailable(RuntimeError):
    """No online node can take a batch of this size."""


@dataclass(frozen=True)
class NodeStatus:
    """What the choice needs to know about one node; `info` is None when it is offline."""

    url: str
    info: NodeInfo | None

    @property
    def online(self) -> bool:
        return self.info is not None

    @property
    def max_images(self) -> float:
        limit = self.info.maxImages if self.info else None
        return math.inf if limit is None or limit <= 0 else float(limit)

    def queue(self, assigned: int = 0) -> int:
        return (self.info.taskQueueCount if self.info else 0) + assigned

    def free_slots(self, assigned: int = 0) -> int:
        slots = (self.info.maxParallelTasks or 1) if self.info else 0
        return slots - self.queue(assigned)


def best_node(
    nodes: Iterable[NodeStatus], images: int, assigned: Mapping[str, int] | None = None,
    exclude: Iterable[str] = (),
) -> NodeStatus:
    """The node for a batch of `images` images; raise `NoNodeAvailable` when none fits."""
    taken = dict(assigned or {})
    skip = set(exclude)
    nodes = list(nodes)
    fit = [n for n in nodes if n.online and n.url not in skip and n.max_images >= images]
    if not fit:
        tried = ", ".join(n.url.split("?", 1)[0] for n in nodes)  # never a token in a message
        raise NoNodeAvailable(f"No online node takes {images} images (tried: {tried}).")
    # A stable sort keeps the caller's order as the last tie-breaker, as ClusterODM's round-robin turn.
    return sorted(fit, key=lambda n: (n.max_images, -n.free_slots(taken.get(n.url, 0)),
                                      n.queue(taken.get(n.url, 0))))[0]


def probe(url: str, timeout: float = 10.0) -> NodeStatus:
    """Ask a node for `/info`; a node that cannot answer is offline, not an error."""
    try:
        with NodeClient.from_url(url, timeout=timeout) as client:
            return NodeStatus(url, client.info())
    except NodeError:
        return NodeStatus(url, None)


def accepts_urls(status: NodeStatus) -> bool:
    """Whether the node reads inputs from, and writes outputs to, storage URLs itself (odmflow's extension)."""
    extension = status.info.extra_fields.get("odmflow") if status.info else None
    return isinstance(extension, dict) and extension.get("inputUrls") is True
