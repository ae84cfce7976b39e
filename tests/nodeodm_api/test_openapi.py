from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate

from nodeodm_api.openapi import openapi_document

# Every operation of the NodeODM 2.2.1 API doc.
SEED_OPERATIONS = [
    ("get", "/auth/info"),
    ("post", "/auth/login"),
    ("post", "/auth/register"),
    ("get", "/info"),
    ("get", "/options"),
    ("post", "/task/new"),
    ("post", "/task/new/init"),
    ("post", "/task/new/upload/{uuid}"),
    ("post", "/task/new/commit/{uuid}"),
    ("post", "/task/cancel"),
    ("post", "/task/remove"),
    ("post", "/task/restart"),
    ("get", "/task/list"),
    ("get", "/task/{uuid}/info"),
    ("get", "/task/{uuid}/output"),
    ("get", "/task/{uuid}/download/{asset}"),
]

AUTHENTICATED = [op for op in SEED_OPERATIONS if not op[1].startswith("/auth/")]


def params(method: str, path: str) -> dict[tuple[str, str], dict]:
    op = openapi_document()["paths"][path][method]
    return {(p["in"], p["name"]): p for p in op.get("parameters", [])}


def test_valid_swagger_2() -> None:
    doc = openapi_document()
    assert doc["swagger"] == "2.0"
    validate(doc)


def test_serialises_to_json() -> None:
    doc = openapi_document()
    assert json.loads(json.dumps(doc)) == doc


@pytest.mark.parametrize(("method", "path"), SEED_OPERATIONS)
def test_seed_operation_present(method: str, path: str) -> None:
    op = openapi_document()["paths"][path][method]
    assert op["description"]
    assert "200" in op["responses"]


def test_no_operations_beyond_seed() -> None:
    paths = openapi_document()["paths"]
    found = {(m, p) for p, ops in paths.items() for m in ops}
    assert found == set(SEED_OPERATIONS)


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
def test_token_query_parameter(method: str, path: str) -> None:
    token = params(method, path)[("query", "token")]
    assert token["required"] is False and token["type"] == "string"


@pytest.mark.parametrize(("method", "path"), SEED_OPERATIONS)
def test_path_parameters_declared(method: str, path: str) -> None:
    declared = {name for (where, name) in params(method, path) if where == "path"}
    assert declared == set(re.findall(r"{(\w+)}", path))


def test_task_new_fields() -> None:
    p = params("post", "/task/new")
    assert ("header", "set-uuid") in p
    assert p[("formData", "images")]["type"] == "file"
    for name in ("name", "options", "skipPostProcessing", "webhook", "outputs", "dateCreated", "zipurl"):
        assert ("formData", name) in p
    assert p[("formData", "dateCreated")]["type"] == "integer"
    assert p[("formData", "skipPostProcessing")]["type"] == "boolean"
    assert openapi_document()["paths"]["/task/new"]["post"]["consumes"] == ["multipart/form-data"]


def test_task_new_init_has_no_files() -> None:
    p = params("post", "/task/new/init")
    assert ("header", "set-uuid") in p
    assert ("formData", "images") not in p
    assert ("formData", "zipurl") not in p
    assert ("formData", "options") in p


def test_upload_requires_images() -> None:
    assert params("post", "/task/new/upload/{uuid}")[("formData", "images")]["required"] is True


@pytest.mark.parametrize("path", ["/task/cancel", "/task/remove", "/task/restart"])
def test_commands_take_uuid(path: str) -> None:
    p = params("post", path)
    assert p[("formData", "uuid")]["required"] is True
    op = openapi_document()["paths"][path]["post"]
    assert op["responses"]["200"]["schema"] == {"$ref": "#/definitions/Response"}
    assert "multipart/form-data" not in op["consumes"]


def test_restart_takes_options() -> None:
    assert params("post", "/task/restart")[("formData", "options")]["required"] is False


def test_info_and_output_query_parameters() -> None:
    assert params("get", "/task/{uuid}/info")[("query", "with_output")]["type"] == "integer"
    assert params("get", "/task/{uuid}/output")[("query", "line")]["type"] == "integer"
    output = openapi_document()["paths"]["/task/{uuid}/output"]["get"]["responses"]["200"]["schema"]
    assert output == {"type": "array", "items": {"type": "string"}}


def test_download_extensions_documented() -> None:
    op = openapi_document()["paths"]["/task/{uuid}/download/{asset}"]["get"]
    asset = params("get", "/task/{uuid}/download/{asset}")[("path", "asset")]
    for name in ("all.zip", "orthophoto.tif", "dsm.tif", "georeferenced_model.laz"):
        assert name in asset["description"]
    assert "Range" in op["description"]
    assert "application/zip" in op["produces"]
    assert "206" in op["responses"]


def test_definitions() -> None:
    defs = openapi_document()["definitions"]
    assert set(defs) >= {"TaskInfo", "Option", "Response", "Error"}
    assert defs["Error"]["required"] == ["error"]
    assert defs["Response"]["required"] == ["success"]
    assert set(defs["Option"]["required"]) == {"name", "type", "value", "domain", "help"}
    task = defs["TaskInfo"]["properties"]
    for key in ("uuid", "name", "dateCreated", "processingTime", "status", "options", "imagesCount", "output"):
        assert key in task
    assert task["status"]["properties"]["code"]["enum"] == [10, 20, 30, 40, 50]


def test_refs_resolve() -> None:
    doc = openapi_document()
    refs = set(re.findall(r'"#/definitions/(\w+)"', json.dumps(doc)))
    assert refs and refs <= set(doc["definitions"])


def test_version_and_fresh_copies() -> None:
    doc = openapi_document("9.9.9")
    assert doc["info"]["version"] == "9.9.9"
    assert openapi_document()["info"]["version"] == "2.2.1"
    doc["paths"]["/info"]["get"]["parameters"][0]["name"] = "changed"
    assert params("get", "/options")[("query", "token")]["name"] == "token"
