"""What every WebODM endpoint shares: DRF's error shapes, request bodies, method dispatch."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("odmflow.webodm")

Endpoint = Callable[[Request], Awaitable[Response]]

NOT_FOUND = "Not found."
NO_PERMISSION = "You do not have permission to perform this action."


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


class ApiError(Exception):
    """An answer in DRF's shape: `{"detail": ...}`, a field dict or a bare list."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body

    @classmethod
    def detail(cls, status: int, message: str) -> ApiError:
        return cls(status, {"detail": message})

    @classmethod
    def invalid(cls, *messages: str) -> ApiError:
        """A hand-written view's ValidationError: 400 with a bare list."""
        return cls(400, list(messages))

    @classmethod
    def fields(cls, errors: dict[str, str]) -> ApiError:
        return cls(400, {k: [v] for k, v in errors.items()})


def not_found(message: str = NOT_FOUND) -> ApiError:
    return ApiError.detail(404, message)


def api(handlers: dict[str, Endpoint]) -> Endpoint:
    """One URL's methods; others get DRF's 405, and ApiError becomes its JSON answer."""

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None and request.method == "HEAD":
            handler = handlers.get("GET")
        try:
            if handler is None:
                if request.method == "OPTIONS":
                    return Response(status_code=200, headers={"Allow": ", ".join(handlers)})
                raise ApiError.detail(405, f'Method "{request.method}" not allowed.')
            return await handler(request)
        except ApiError as exc:
            return JSON(exc.body, status_code=exc.status)
        except Exception:
            # The node's own last-resort handler answers NodeODM's 200; WebODM clients expect a 500.
            log.exception("Unhandled error on %s %s", request.method, request.url.path)
            return JSON({"detail": "A server error occurred."}, status_code=500)

    return endpoint


def iso(value: datetime | None) -> str | None:
    """UTC with six fractional digits and a Z, which strict WebODM clients parse."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def body(request: Request) -> dict[str, Any]:
    """A JSON, form-urlencoded or multipart body as a dict (file parts left out)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ApiError.detail(400, f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):
            raise ApiError.detail(400, "Invalid data. Expected a dictionary, but got list.")
        return data
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return {k: v for k, v in form.multi_items() if not isinstance(v, UploadFile)}
    if not ctype and not await request.body():
        return {}
    raise ApiError.detail(415, f'Unsupported media type "{ctype}" in request.')


def as_bool(value: Any, field: str) -> bool:
    """DRF's BooleanField parsing."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on", "t", "y"):
        return True
    if text in ("false", "0", "no", "off", "f", "n", ""):
        return False
    raise ApiError.fields({field: "Must be a valid boolean."})


def as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ApiError.fields({field: "A valid integer is required."})
    try:
        return int(str(value).strip())
    except ValueError:
        raise ApiError.fields({field: "A valid integer is required."}) from None


def text_field(data: dict[str, Any], field: str, *, required: bool, max_length: int = 255) -> str | None:
    if field not in data:
        if required:
            raise ApiError.fields({field: "This field is required."})
        return None
    value = data[field]
    if value is None:
        raise ApiError.fields({field: "This field may not be null."})
    text = str(value)
    if required and not text.strip():
        raise ApiError.fields({field: "This field may not be blank."})
    if len(text) > max_length:
        raise ApiError.fields({field: f"Ensure this field has no more than {max_length} characters."})
    return text


def tag_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(t) for t in value if str(t).strip()]
    return [t for t in str(value or "").split(" ") if t]
