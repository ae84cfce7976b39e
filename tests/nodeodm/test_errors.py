"""How node answers and transport failures map onto the exception tree."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tasks.nodeodm import (
    AssetNotReady,
    AuthenticationFailed,
    InvalidOptions,
    NodeClient,
    NodeConnectionError,
    NodeError,
    NodeResponseError,
    NodeServerError,
    StatusCode,
    TaskFailed,
    TaskInfo,
    TaskNotFound,
    is_retryable,
    parse_version,
    raise_for_status,
)

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler) -> NodeClient:
    return NodeClient("http://node.example:3000", transport=httpx.MockTransport(handler))


def answer(status: int = 200, **kwargs: object) -> Handler:
    return lambda request: httpx.Response(status, **kwargs)  # type: ignore[arg-type]


def fail(error: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error
    return handler


OPTION_ERRORS = '[{"name":"mesh-size","error":"Invalid value NaN (out of range)"}]'


@pytest.mark.parametrize(
    ("handler", "expected", "transient"),
    [
        (answer(json={"error": "abc not found"}), TaskNotFound, False),
        (answer(json={"error": "Invalid uuid (not found)"}), TaskNotFound, False),
        (answer(json={"error": "Asset not ready"}), AssetNotReady, False),
        (answer(json={"error": OPTION_ERRORS}), InvalidOptions, False),
        (answer(json={"error": "Invalid authentication token: token does not match."}),
         AuthenticationFailed, False),
        (answer(401), AuthenticationFailed, False),
        (answer(json={"error": "Invalid asset"}), NodeResponseError, False),
        (answer(403, json={"error": "Quota exceeded"}), NodeResponseError, False),
        (answer(502, text="Bad Gateway"), NodeServerError, True),
        (answer(500, json={"error": "crashed"}), NodeServerError, True),
        (answer(404, text="Cannot GET /x", headers={"Content-Type": "text/html"}), NodeServerError, True),
        (answer(200, text="<html>proxy login</html>"), NodeServerError, True),
        (fail(httpx.ConnectError("refused")), NodeConnectionError, True),
        (fail(httpx.ReadTimeout("slow")), NodeConnectionError, True),
        (fail(httpx.RemoteProtocolError("dropped")), NodeConnectionError, True),
    ],
)
def test_answers_map_to_exception_classes(handler: Handler, expected: type[NodeError], transient: bool) -> None:
    with pytest.raises(expected) as caught:
        client_for(handler).task_info("abc")
    assert type(caught.value) is expected
    assert isinstance(caught.value, (NodeConnectionError, NodeServerError)) is transient
    assert caught.value.url is not None and caught.value.url.startswith("http://node.example:3000/")


def test_server_error_keeps_the_status_code() -> None:
    with pytest.raises(NodeServerError, match="HTTP 503") as caught:
        client_for(answer(503, text="Service Unavailable")).info()
    assert caught.value.status_code == 503


def test_invalid_options_lists_every_rejected_option() -> None:
    with pytest.raises(InvalidOptions, match="mesh-size: Invalid value NaN") as caught:
        client_for(answer(json={"error": OPTION_ERRORS})).restart("abc", {"mesh-size": "x"})
    assert caught.value.errors == [{"name": "mesh-size", "error": "Invalid value NaN (out of range)"}]


def test_messages_never_show_the_token() -> None:
    client = NodeClient("http://node.example:3000", "secret",
                        transport=httpx.MockTransport(fail(httpx.ConnectError("refused"))))
    with pytest.raises(NodeConnectionError) as caught:
        client.info()
    assert "secret" not in str(caught.value)
    assert "node.example:3000/info" in str(caught.value)


def info(code: StatusCode, message: str | None = None) -> TaskInfo:
    return TaskInfo(uuid="u1", dateCreated=0, status=code, errorMessage=message)


def test_raise_for_status_passes_unfinished_and_completed_tasks() -> None:
    for code in (StatusCode.QUEUED, StatusCode.RUNNING, StatusCode.COMPLETED):
        assert raise_for_status(info(code)).status == code


def test_raise_for_status_raises_task_failed_with_the_error_message() -> None:
    with pytest.raises(TaskFailed, match="u1 failed: Not enough memory") as caught:
        raise_for_status(info(StatusCode.FAILED, "Not enough memory"))
    assert (caught.value.uuid, caught.value.error_message) == ("u1", "Not enough memory")
    with pytest.raises(TaskFailed, match="was canceled") as canceled:
        raise_for_status(info(StatusCode.CANCELED))
    assert canceled.value.status == StatusCode.CANCELED


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (NodeConnectionError("x"), True),
        (NodeServerError("x", status_code=500), True),
        (NodeResponseError("x"), True),
        (NodeResponseError("x", no_retry=True), False),
        (TaskNotFound("x"), False),
        (AuthenticationFailed("x"), False),
        (TaskFailed(info(StatusCode.FAILED)), False),
    ],
)
def test_upload_retry_policy(error: NodeError, retryable: bool) -> None:
    assert is_retryable(error) is retryable


@pytest.mark.parametrize(
    ("version", "parsed"),
    [("2.2.4", (2, 2, 4)), ("1.4", (1, 4, 0)), ("v1.5.3-beta", (1, 5, 3)), ("10", (10, 0, 0)),
     ("?", (0, 0, 0)), ("", (0, 0, 0))],
)
def test_parse_version(version: str, parsed: tuple[int, ...]) -> None:
    assert parse_version(version) == parsed


def test_malformed_task_info_is_a_server_error() -> None:
    with pytest.raises(NodeServerError, match="unexpected shape"):
        client_for(answer(json={"uuid": "u1", "status": {"code": 99}})).task_info("u1")
