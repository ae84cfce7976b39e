"""Node and task calls: URLs, tokens, models and the task commands."""

from __future__ import annotations

import json

import pytest

from tasks.nodeodm import (
    AuthenticationFailed,
    NodeClient,
    NodeResponseError,
    NodeServerError,
    StatusCode,
    TaskNotFound,
)

from .fakenode import FakeNode


def test_from_url_takes_the_token_from_the_query_string() -> None:
    node = FakeNode(token="abc")
    with NodeClient.from_url("http://node.example:3000/?token=abc", transport=node.transport) as client:
        assert client.url == "http://node.example:3000"
        assert client.token == "abc"
        assert client.info().version == "2.2.4"
    assert node.calls[0].params == {"token": "abc"}
    assert "abc" not in repr(client)


def test_from_url_keeps_a_path_prefix() -> None:
    node = FakeNode()
    client = NodeClient.from_url("https://host.example/nodeodm?token=t", transport=node.transport)
    assert client.url == "https://host.example/nodeodm"
    with pytest.raises(NodeServerError) as caught:
        client.info()  # the fake node serves no /nodeodm prefix, so it answers 404
    assert caught.value.status_code == 404
    assert (node.calls[0].path, node.calls[0].params) == ("/nodeodm/info", {"token": "t"})


def test_explicit_token_wins_over_the_url() -> None:
    client = NodeClient("http://h:3000?token=old", "new")
    assert (client.url, client.token) == ("http://h:3000", "new")


def test_wrong_token_raises_authentication_failed() -> None:
    node = FakeNode(token="abc")
    client = NodeClient("http://node.example:3000", "nope", transport=node.transport)
    with pytest.raises(AuthenticationFailed, match="token") as caught:
        client.task_list()
    assert caught.value.no_retry is True


def test_info_and_options_are_typed(client: NodeClient) -> None:
    info = client.info()
    assert (info.version, info.maxImages, info.engine) == ("2.2.4", None, "odm")
    [option] = client.options()
    assert (option.name, option.type, option.value) == ("dsm", "bool", "false")


def test_task_info_keeps_unknown_keys(client: NodeClient, node: FakeNode) -> None:
    task = node.add_task(code=30, status={"code": 30, "errorMessage": "Cannot process dataset"})
    node.task_extra = {"images": ["a.jpg"], "clusterNode": {"host": "n1"}}
    info = client.task_info(task, with_output=8)
    assert info.status == StatusCode.FAILED
    assert info.errorMessage == "Cannot process dataset"
    assert info.extra_fields == {"images": ["a.jpg"], "clusterNode": {"host": "n1"}}
    assert info.output == ["line 8", "line 9"]
    assert info.to_dict()["clusterNode"] == {"host": "n1"}
    assert node.calls[-1].params == {"with_output": "8"}


def test_task_info_without_output_asks_for_none(client: NodeClient, node: FakeNode) -> None:
    info = client.task_info(node.add_task())
    assert info.output is None
    assert "with_output" not in node.calls[-1].params


def test_task_output_and_list(client: NodeClient, node: FakeNode) -> None:
    first, second = node.add_task(), node.add_task()
    assert client.task_list() == [first, second]
    assert client.task_output(first, line=7) == ["line 7", "line 8", "line 9"]


def test_unknown_task_raises_task_not_found(client: NodeClient) -> None:
    with pytest.raises(TaskNotFound, match="submit it again"):
        client.task_info("0000")
    with pytest.raises(TaskNotFound):
        client.cancel("0000")


def test_cancel_and_remove(client: NodeClient, node: FakeNode) -> None:
    task = node.add_task(code=20)
    client.cancel(task)
    assert node.tasks[task]["status"]["code"] == 50
    assert node.calls[-1].fields == {"uuid": task}
    client.remove(task)
    assert task not in node.tasks


@pytest.mark.parametrize("options", [{"dsm": True, "mesh-size": 100},
                                     [{"name": "dsm", "value": True}, {"name": "mesh-size", "value": 100}]])
def test_restart_sends_options_as_a_json_array(client: NodeClient, node: FakeNode, options: object) -> None:
    task = node.add_task(code=30)
    client.restart(task, options=options)  # type: ignore[arg-type]
    sent = node.calls[-1]
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(sent.fields["options"]) == [{"name": "dsm", "value": True},
                                                  {"name": "mesh-size", "value": 100}]
    assert node.tasks[task]["status"]["code"] == 10


def test_restart_refusal_raises(client: NodeClient, node: FakeNode) -> None:
    with pytest.raises(NodeResponseError, match="cannot be restarted"):
        client.restart(node.add_task(code=20))


def test_options_must_be_a_dict_or_a_list(client: NodeClient, node: FakeNode) -> None:
    with pytest.raises(TypeError):
        client.restart(node.add_task(), options='[{"name": "dsm"}]')  # type: ignore[arg-type]
