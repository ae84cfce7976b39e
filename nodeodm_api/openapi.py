"""The Swagger 2.0 document NodeODM serves at `/swagger.json`.

It follows the NodeODM 2.2.1 API doc path by path. Where the doc cannot be valid
Swagger (several `in: body` fields on one operation), the fields are `formData`
and the description says a JSON body works too. Where the doc is wrong about
the wire (`/task/{uuid}/output` returns an array of lines, not a string), the
document says what the server does.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["openapi_document"]

TOKEN: dict[str, Any] = {
    "name": "token",
    "in": "query",
    "description": "Token required for authentication (when authentication is required).",
    "required": False,
    "type": "string",
}

SET_UUID: dict[str, Any] = {
    "name": "set-uuid",
    "in": "header",
    "description": (
        "An optional UUID string that will be used as UUID for this task instead of generating a random one."
    ),
    "required": False,
    "type": "string",
}

UUID_PATH: dict[str, Any] = {
    "name": "uuid",
    "in": "path",
    "description": "UUID of the task",
    "required": True,
    "type": "string",
}

FILES_DESCRIPTION = (
    "Images to process, plus optional files such as a GEO file (geo.txt), image groups file "
    "(image_groups.txt), GCP file (*.txt), seed file (seed.zip) or alignment files (align.las, "
    "align.laz, align.tif). If included, the GCP file should have .txt extension. If included, "
    "the seed archive pre-polulates the task directory with its contents."
)

OPTIONS_DESCRIPTION = (
    "Serialized JSON string of the options to use for processing, as an array of the format: "
    "[{name: option1, value: value1}, {name: option2, value: value2}, ...]. For example, "
    '[{"name":"cmvs-maxImages","value":"500"},{"name":"time","value":true}]. '
    "For a list of all options, call /options"
)

BODY_NOTE = " Fields may also be sent as a JSON body (application/json); multipart is not accepted."

ASSETS = (
    "all.zip",
    "orthophoto.tif",
    "dsm.tif",
    "dtm.tif",
    "georeferenced_model.laz",
    "textured_model.zip",
)


def _form(name: str, description: str, type_: str = "string", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "formData", "description": description, "required": required, "type": type_}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _object(properties: dict[str, dict[str, Any]], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _prop(type_: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "description": description, **extra}


def _ok(description: str, schema: dict[str, Any], error: bool = True) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": description, "schema": schema}}
    if error:
        responses["default"] = {"description": "Error", "schema": _ref("Error")}
    return responses


UUID_RESPONSE = _object({"uuid": _prop("string", "UUID of the newly created task")}, ["uuid"])

TASK_FIELDS = [
    _form("name", "An optional name to be associated with the task"),
    _form("options", OPTIONS_DESCRIPTION),
    _form("skipPostProcessing", "When set, skips generation of point cloud tiles.", "boolean"),
    _form("webhook", "Optional URL to call when processing has ended (either successfully or unsuccessfully)."),
    _form(
        "outputs",
        "An optional serialized JSON string of paths relative to the project directory that should be "
        "included in the all.zip result file, overriding the default behavior.",
    ),
    _form("dateCreated", "An optional timestamp overriding the default creation date of the task.", "integer"),
]


def _command(description: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    """cancel/remove/restart: urlencoded (or JSON) body, `Response` answer."""
    return {
        "description": description + BODY_NOTE,
        "tags": ["task"],
        "consumes": ["application/x-www-form-urlencoded", "application/json"],
        "parameters": [TOKEN, *fields],
        "responses": _ok("Command Received", _ref("Response"), error=False),
    }


def _credentials() -> list[dict[str, Any]]:
    return [_form("username", "Username", required=True), _form("password", "Password", required=True)]


def _paths() -> dict[str, Any]:
    uuid_field = _form("uuid", "UUID of the task", required=True)
    return {
        "/auth/info": {
            "get": {
                "description": "Retrieves login information for this node.",
                "tags": ["auth"],
                "responses": _ok(
                    "LoginInformation",
                    _object(
                        {
                            "message": _prop(
                                "string",
                                "Message to be displayed to the user prior to login/registration. This "
                                "might include instructions on how to register or login, or to "
                                "communicate that authentication is not available.",
                            ),
                            "loginUrl": _prop(
                                "string",
                                "URL (absolute or relative) where to make a POST request to obtain a "
                                "token, or null if login is disabled.",
                            ),
                            "registerUrl": _prop(
                                "string",
                                "URL (absolute or relative) where to make a POST request to register a "
                                "user, or null if registration is disabled.",
                            ),
                        },
                        ["message", "loginUrl", "registerUrl"],
                    ),
                    error=False,
                ),
            }
        },
        "/auth/login": {
            "post": {
                "description": "Retrieve a token from a username/password pair.",
                "tags": ["auth"],
                "consumes": ["application/x-www-form-urlencoded", "application/json"],
                "parameters": _credentials(),
                "responses": _ok(
                    "Login Succeeded",
                    _object(
                        {"token": _prop("string", "Token to be passed as a query parameter to other API calls.")},
                        ["token"],
                    ),
                ),
            }
        },
        "/auth/register": {
            "post": {
                "description": "Register a new username/password.",
                "tags": ["auth"],
                "consumes": ["application/x-www-form-urlencoded", "application/json"],
                "parameters": _credentials(),
                "responses": _ok("Response", _ref("Response"), error=False),
            }
        },
        "/info": {
            "get": {
                "description": "Retrieves information about this node",
                "tags": ["server"],
                "parameters": [TOKEN],
                "responses": _ok(
                    "Info",
                    _object(
                        {
                            "version": _prop("string", "Current API version"),
                            "taskQueueCount": _prop(
                                "integer", "Number of tasks currently being processed or waiting to be processed"
                            ),
                            "totalMemory": _prop("integer", "Amount of total RAM in the system in bytes"),
                            "availableMemory": _prop("integer", "Amount of RAM available in bytes"),
                            "cpuCores": _prop("integer", "Number of CPU cores (virtual)"),
                            "maxImages": _prop(
                                "integer",
                                "Maximum number of images allowed for new tasks or null if there's no limit.",
                            ),
                            "maxParallelTasks": _prop(
                                "integer", "Maximum number of tasks that can be processed simultaneously"
                            ),
                            "engineVersion": _prop("string", "Current version of processing engine"),
                            "engine": _prop("string", "Lowercase identifier of processing engine"),
                        },
                        ["version", "taskQueueCount", "maxImages", "engineVersion", "engine"],
                    ),
                    error=False,
                ),
            }
        },
        "/options": {
            "get": {
                "description": "Retrieves the command line options that can be passed to process a task",
                "tags": ["server"],
                "parameters": [TOKEN],
                "responses": _ok("Options", {"type": "array", "items": _ref("Option")}, error=False),
            }
        },
        "/task/new": {
            "post": {
                "description": (
                    "Creates a new task and places it at the end of the processing queue. For uploading "
                    "really large tasks, see /task/new/init instead."
                ),
                "tags": ["task"],
                "consumes": ["multipart/form-data"],
                "parameters": [
                    SET_UUID,
                    TOKEN,
                    _form("images", FILES_DESCRIPTION, "file"),
                    *TASK_FIELDS,
                    _form(
                        "zipurl",
                        "URL of the zip file containing the images to process, plus an optional GEO file "
                        "and/or an optional GCP file. If included, the GCP file should have .txt extension",
                    ),
                ],
                "responses": _ok("Success", UUID_RESPONSE),
            }
        },
        "/task/new/init": {
            "post": {
                "description": (
                    "Initialize the upload of a new task. If successful, a user can start uploading files "
                    "via /task/new/upload. The task will not start until /task/new/commit is called."
                ),
                "tags": ["task"],
                "consumes": ["multipart/form-data"],
                "parameters": [SET_UUID, TOKEN, *TASK_FIELDS],
                "responses": _ok("Success", UUID_RESPONSE),
            }
        },
        "/task/new/upload/{uuid}": {
            "post": {
                "description": (
                    "Adds one or more files to the task created via /task/new/init. It does not start the "
                    "task. To start the task, call /task/new/commit."
                ),
                "tags": ["task"],
                "consumes": ["multipart/form-data"],
                "parameters": [UUID_PATH, TOKEN, _form("images", FILES_DESCRIPTION, "file", required=True)],
                "responses": _ok("File Received", _ref("Response")),
            }
        },
        "/task/new/commit/{uuid}": {
            "post": {
                "description": "Creates a new task for which images have been uploaded via /task/new/upload.",
                "tags": ["task"],
                "parameters": [UUID_PATH, TOKEN],
                "responses": _ok("Success", UUID_RESPONSE),
            }
        },
        "/task/cancel": {
            "post": _command("Cancels a task (stops its execution, or prevents it from being executed).", [uuid_field])
        },
        "/task/remove": {"post": _command("Removes a task and deletes all of its assets.", [uuid_field])},
        "/task/restart": {
            "post": _command(
                "Restarts a task that was previously canceled, that had failed to process or that "
                "successfully completed.",
                [
                    uuid_field,
                    _form(
                        "options",
                        OPTIONS_DESCRIPTION + ". Overrides the previous options set for this task. "
                        "With a JSON body it may also be the array itself.",
                    ),
                ],
            )
        },
        "/task/list": {
            "get": {
                "description": "Gets the list of tasks available on this node.",
                "tags": ["task"],
                "parameters": [TOKEN],
                "responses": _ok(
                    "Task List",
                    {
                        "type": "array",
                        "items": _object({"uuid": _prop("string", "UUID")}, ["uuid"]),
                    },
                ),
            }
        },
        "/task/{uuid}/info": {
            "get": {
                "description": (
                    "Gets information about this task, such as name, creation date, processing time, status, "
                    "command line options and number of images being processed. See schema definition for a "
                    "full list."
                ),
                "tags": ["task"],
                "parameters": [
                    UUID_PATH,
                    TOKEN,
                    {
                        "name": "with_output",
                        "in": "query",
                        "description": (
                            "Optionally retrieve the console output for this task. The parameter specifies "
                            "the line number that the console output should be truncated from. For example, "
                            "passing a value of 100 will retrieve the console output starting from line 100. "
                            "By default no console output is added to the response."
                        ),
                        "required": False,
                        "type": "integer",
                        "default": 0,
                    },
                ],
                "responses": _ok("Task Information", _ref("TaskInfo")),
            }
        },
        "/task/{uuid}/output": {
            "get": {
                "description": (
                    "Retrieves the console output of the OpenDroneMap's process. Useful for monitoring "
                    "execution and to provide updates to the user. The answer is a JSON array of lines."
                ),
                "tags": ["task"],
                "parameters": [
                    UUID_PATH,
                    TOKEN,
                    {
                        "name": "line",
                        "in": "query",
                        "description": (
                            "Optional line number that the console output should be truncated from. For "
                            "example, passing a value of 100 will retrieve the console output starting from "
                            "line 100. Defaults to 0 (retrieve all console output). A negative value returns "
                            "that many lines from the end."
                        ),
                        "required": False,
                        "type": "integer",
                        "default": 0,
                    },
                ],
                "responses": _ok("Console Output", {"type": "array", "items": {"type": "string"}}),
            }
        },
        "/task/{uuid}/download/{asset}": {
            "get": {
                "description": (
                    "Retrieves an asset (the output of OpenDroneMap's processing) associated with a task. "
                    "Besides all.zip, single assets can be fetched by name (" + ", ".join(ASSETS[1:]) + ", "
                    "...). Downloads support HTTP Range requests (206 Partial Content)."
                ),
                "tags": ["task"],
                "produces": ["application/zip", "application/octet-stream", "image/tiff"],
                "parameters": [
                    {
                        "name": "asset",
                        "in": "path",
                        "description": (
                            'Type of asset to download. Use "all.zip" for zip file containing all assets, '
                            "or a single asset name such as " + ", ".join(ASSETS[1:]) + "."
                        ),
                        "required": True,
                        "type": "string",
                    },
                    UUID_PATH,
                    TOKEN,
                    {
                        "name": "Range",
                        "in": "header",
                        "description": "Optional byte range (RFC 9110), e.g. bytes=0-1023.",
                        "required": False,
                        "type": "string",
                    },
                ],
                "responses": {
                    "200": {"description": "Asset File", "schema": {"type": "string", "format": "binary"}},
                    "206": {
                        "description": "Partial Content (Range request)",
                        "schema": {"type": "string", "format": "binary"},
                    },
                    "default": {"description": "Error message", "schema": _ref("Error")},
                },
            }
        },
    }


def _definitions() -> dict[str, Any]:
    return {
        "TaskInfo": _object(
            {
                "uuid": _prop("string", "UUID"),
                "name": _prop("string", "Name"),
                "dateCreated": _prop("integer", "Timestamp"),
                "processingTime": _prop(
                    "integer", "Milliseconds that have elapsed since the task started being processed."
                ),
                "status": _object(
                    {
                        "code": _prop(
                            "integer",
                            "Status code (10 = QUEUED, 20 = RUNNING, 30 = FAILED, 40 = COMPLETED, 50 = CANCELED)",
                            enum=[10, 20, 30, 40, 50],
                        ),
                        "errorMessage": _prop("string", "Why the task failed, when known"),
                    },
                    ["code"],
                ),
                "options": {
                    "type": "array",
                    "description": "List of options used to process this task",
                    "items": _object(
                        {
                            "name": _prop("string", 'Option name (example: "odm_meshing-octreeDepth")'),
                            "value": {"description": "Value (example: 9), typed as the option is"},
                        },
                        ["name", "value"],
                    ),
                },
                "imagesCount": _prop("integer", "Number of images"),
                "progress": _prop("number", "Progress from 0 to 100"),
                "output": {
                    "type": "array",
                    "description": "Console output for the task (only if requested via ?with_output=)",
                    "items": {"type": "string"},
                },
            },
            ["uuid", "name", "dateCreated", "processingTime", "status", "options", "imagesCount"],
        ),
        "Option": _object(
            {
                "name": _prop(
                    "string",
                    "Command line option (exactly as it is passed to the OpenDroneMap process, minus the leading '--')",
                ),
                "type": _prop(
                    "string", "Datatype of the value of this option", enum=["int", "float", "string", "bool", "enum"]
                ),
                "value": _prop("string", "Default value of this option"),
                "domain": {
                    "description": (
                        'Valid range of values (for example, "positive integer" or "float > 0.0"); '
                        "an array of choices for enums"
                    ),
                },
                "help": _prop("string", "Description of what this option does"),
            },
            ["name", "type", "value", "domain", "help"],
        ),
        "Response": _object(
            {
                "success": _prop("boolean", "true if the command succeeded, false otherwise"),
                "error": _prop("string", "Error message if an error occured"),
            },
            ["success"],
        ),
        "Error": _object({"error": _prop("string", "Description of the error")}, ["error"]),
    }


def openapi_document(version: str = "2.2.1") -> dict[str, Any]:
    """A fresh Swagger 2.0 document; `version` goes into `info.version`."""
    # Deep-copied so callers may edit their copy without touching the shared parameter dicts.
    return copy.deepcopy(
        {
            "swagger": "2.0",
            "info": {
                "title": "NodeODM",
                "description": "REST API to access ODM",
                "version": version,
                "contact": {"name": "Piero Toffanin"},
                "license": {"name": "AGPL-3.0"},
            },
            "basePath": "/",
            "schemes": ["http"],
            "consumes": ["application/json"],
            "produces": ["application/json", "application/zip"],
            "tags": [
                {"name": "auth", "description": "Authentication"},
                {"name": "server", "description": "Node information"},
                {"name": "task", "description": "Task management"},
            ],
            "paths": _paths(),
            "definitions": _definitions(),
        }
    )
