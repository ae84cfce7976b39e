"""NodeODM client and wire models, shared by the flows and the forwarding engine.

    from tasks.nodeodm import NodeClient, NodeConnectionError, NodeServerError

    with NodeClient.from_url("http://node:3000?token=abc") as node:
        uuid = node.create_task(["a.jpg", "b.jpg"], options={"fast-orthophoto": True})
        info = raise_for_status(node.task_info(uuid))
        if info.status == StatusCode.COMPLETED:
            node.download(uuid, "all.zip")

`NodeConnectionError` and `NodeServerError` are transient; see `_exceptions` for the tree.
"""

from __future__ import annotations

from ._client import NodeClient
from ._download import Destination
from ._exceptions import (
    AssetNotReady,
    AuthenticationFailed,
    InvalidOptions,
    NodeConnectionError,
    NodeError,
    NodeResponseError,
    NodeServerError,
    TaskFailed,
    TaskNotFound,
    raise_for_status,
)
from ._files import FileSource, UploadFile
from ._upload import is_retryable
from ._utils import Options, ProgressCallback, options_to_json, parse_version
from .models import NodeInfo, Option, StatusCode, TaskInfo

__all__ = [
    "AssetNotReady",
    "AuthenticationFailed",
    "Destination",
    "FileSource",
    "InvalidOptions",
    "NodeClient",
    "NodeConnectionError",
    "NodeError",
    "NodeInfo",
    "NodeResponseError",
    "NodeServerError",
    "Option",
    "Options",
    "ProgressCallback",
    "StatusCode",
    "TaskFailed",
    "TaskInfo",
    "TaskNotFound",
    "UploadFile",
    "is_retryable",
    "options_to_json",
    "parse_version",
    "raise_for_status",
]
