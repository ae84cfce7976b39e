"""Errors raised by `NodeClient`.

The hierarchy:

    NodeError
    ├── NodeConnectionError     transient: connect/read failure, timeout, dropped connection
    ├── NodeServerError         transient: 5xx, or an HTTP status or body NodeODM never sends
    ├── NodeResponseError       the node answered `{"error": ...}`; `.no_retry` mirrors `noRetry`
    │   ├── TaskNotFound        "<uuid> not found" / "Invalid uuid (not found)"
    │   ├── InvalidOptions      the node rejected processing options; `.errors` lists them
    │   ├── AssetNotReady       the asset is not built yet (task queued, running or failed)
    │   └── AuthenticationFailed  missing or wrong token
    └── TaskFailed              a task ended FAILED or CANCELED (see `raise_for_status`)

Callers tell transient from permanent errors by class: `NodeConnectionError` and
`NodeServerError` are worth retrying as they are; a `NodeResponseError` needs a change
first (other options, another uuid, a token, or simply waiting for `AssetNotReady`).
"""

from __future__ import annotations

import json
from typing import Any

from .models import StatusCode, TaskInfo

__all__ = [
    "AssetNotReady",
    "AuthenticationFailed",
    "InvalidOptions",
    "NodeConnectionError",
    "NodeError",
    "NodeResponseError",
    "NodeServerError",
    "TaskFailed",
    "TaskNotFound",
    "raise_for_status",
]


class NodeError(Exception):
    """Base class of every error raised by the NodeODM client."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class NodeConnectionError(NodeError):
    """The node could not be reached, or the connection broke or timed out mid-call."""


class NodeServerError(NodeError):
    """The node answered with a 5xx or another HTTP status or body the protocol does not use."""

    def __init__(self, message: str, *, url: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code


class NodeResponseError(NodeError):
    """The node refused the call with an `{"error": ...}` body (NodeODM sends these with HTTP 200)."""

    def __init__(
        self, message: str, *, url: str | None = None, no_retry: bool = False, status_code: int = 200
    ) -> None:
        super().__init__(message, url=url)
        self.no_retry = no_retry
        self.status_code = status_code


class TaskNotFound(NodeResponseError):
    """The node does not know the task: removed, cleaned up after its retention, or never committed."""


class InvalidOptions(NodeResponseError):
    """The node rejected the processing options. `.errors` holds `{"name", "error"}` items."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors = errors


class AssetNotReady(NodeResponseError):
    """The asset does not exist yet; wait for the task to complete, then download again."""


class AuthenticationFailed(NodeResponseError):
    """The node wants a token, or a different one."""


class TaskFailed(NodeError):
    """A task ended FAILED or CANCELED; `.info` is its last `TaskInfo`."""

    def __init__(self, info: TaskInfo, *, url: str | None = None) -> None:
        self.info = info
        self.uuid = info.uuid
        self.status = info.status
        self.error_message = info.errorMessage
        outcome = "was canceled" if info.status == StatusCode.CANCELED else "failed"
        reason = f": {info.errorMessage}" if info.errorMessage else ""
        hint = (
            "" if info.status == StatusCode.CANCELED
            else " Read its console output (task_output) and restart it with other options."
        )
        super().__init__(f"Task {info.uuid} {outcome}{reason}.{hint}", url=url)


def raise_for_status(info: TaskInfo) -> TaskInfo:
    """Return `info` unchanged, or raise `TaskFailed` if the task ended FAILED or CANCELED."""
    if info.status in (StatusCode.FAILED, StatusCode.CANCELED):
        raise TaskFailed(info)
    return info


def error_from_body(body: dict[str, Any], *, url: str, status_code: int = 200) -> NodeResponseError:
    """Map an `{"error": ...}` body to the most specific exception class."""
    text = str(body.get("error") or "the node refused the request without saying why")
    kwargs: dict[str, Any] = {"url": url, "no_retry": bool(body.get("noRetry")), "status_code": status_code}
    if text.endswith(" not found") or text == "Invalid uuid (not found)":
        return TaskNotFound(
            f"{text} (on {_origin(url)}). The task was removed, cleaned up after the node's retention "
            "period, or never committed; submit it again.",
            **kwargs,
        )
    if text == "Asset not ready":
        return AssetNotReady(
            f"Asset not ready (on {_origin(url)}). Wait until the task is COMPLETED, then download again.",
            **kwargs,
        )
    if text.startswith("Invalid authentication") or status_code == 401:
        kwargs["no_retry"] = True
        return AuthenticationFailed(
            f"{text} (on {_origin(url)}). Pass the node's token: NodeClient(url, token=...) "
            "or '?token=...' in the node URL.",
            **kwargs,
        )
    errors = _option_errors(text)
    if errors is not None:
        listing = "; ".join(f"{e.get('name')}: {e.get('error')}" for e in errors)
        return InvalidOptions(
            f"The node rejected these options: {listing}. Check them against the node's /options.",
            errors=errors,
            **kwargs,
        )
    return NodeResponseError(f"{text} (on {_origin(url)})", **kwargs)


def _option_errors(text: str) -> list[dict[str, Any]] | None:
    # NodeODM reports every invalid option at once, as a JSON array serialised into the message.
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, list) and parsed and all(isinstance(e, dict) and "name" in e for e in parsed):
        return parsed
    return None


def _origin(url: str) -> str:
    # The query string may hold the token; keep it out of messages and logs.
    return url.split("?", 1)[0]
