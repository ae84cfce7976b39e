"""An in-memory NodeODM that answers through `httpx.MockTransport`, as NodeODM 2.2.x does.

Errors come back as HTTP 200 `{"error": ...}` bodies. Knobs let a test make uploads fail,
turn Range support off, or redirect downloads to a second host, `storage.example`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

STORAGE_HOST = "storage.example"


@dataclass
class Call:
    method: str
    host: str
    path: str
    params: dict[str, str]
    headers: httpx.Headers
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field, filename, content)


def parse_multipart(request: httpx.Request) -> tuple[dict[str, str], list[tuple[str, str, bytes]]]:
    match = re.search(r"boundary=([^;]+)", request.headers.get("Content-Type", ""))
    assert match, "expected a multipart body"
    boundary = b"--" + match.group(1).encode()
    fields: dict[str, str] = {}
    files: list[tuple[str, str, bytes]] = []
    for part in request.content.split(boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, body = part[2:].partition(b"\r\n\r\n")
        body = body[:-2]  # the CRLF before the next boundary
        disposition = head.decode().split("\r\n")[0]
        name = re.search(r' name="([^"]*)"', disposition)
        filename = re.search(r' filename="([^"]*)"', disposition)
        assert name
        if filename:
            files.append((name.group(1), filename.group(1), body))
        else:
            fields[name.group(1)] = body.decode()
    return fields, files


class FakeNode:
    def __init__(self, version: str = "2.2.4", token: str | None = None) -> None:
        self.version = version
        self.token = token
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}  # init'd, not committed
        self.files: dict[str, list[tuple[str, bytes]]] = {}
        self.assets: dict[str, bytes] = {}
        self.task_extra: dict[str, Any] = {}
        self.output = [f"line {i}" for i in range(10)]
        self.fail_uploads = 0  # answer HTTP 500 to this many uploads
        self.drop_uploads = 0  # drop the connection on this many uploads
        self.upload_error: dict[str, Any] | None = None
        self.ranges = True
        self.redirect = False
        self.transport = httpx.MockTransport(self.handle)

    # Set-up and inspection, for tests

    def add_task(self, code: int = 40, asset: bytes | None = None, task_uuid: str | None = None,
                 **extra: Any) -> str:
        task_uuid = task_uuid or str(uuidlib.uuid4())
        self.tasks[task_uuid] = {"uuid": task_uuid, "name": "t", "dateCreated": 1, "processingTime": -1,
                                 "status": {"code": code}, "options": [], "imagesCount": 0, "progress": 0}
        self.tasks[task_uuid].update(extra)
        if asset is not None:
            self.assets[task_uuid] = asset
        return task_uuid

    def paths(self, host: str | None = None) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.calls if host is None or c.host == host]

    # Transport

    def handle(self, request: httpx.Request) -> httpx.Response:
        params = dict(parse_qsl(request.url.query.decode()))
        call = Call(request.method, request.url.host, request.url.path, params, request.headers)
        if request.headers.get("Content-Type", "").startswith("multipart/form-data"):
            call.fields, call.files = parse_multipart(request)
        elif request.method == "POST":
            call.fields = dict(parse_qsl(request.content.decode()))
        with self.lock:
            self.calls.append(call)
            if request.url.host == STORAGE_HOST:
                return self.serve(self.assets[request.url.path.rsplit("/", 1)[-1]], request)
            if self.token and params.get("token") != self.token:
                return self.error("Invalid authentication token: token does not match.")
            return self.route(call, request)

    def route(self, call: Call, request: httpx.Request) -> httpx.Response:
        path, m = call.path, None
        if path == "/info":
            return httpx.Response(200, json={"version": self.version, "taskQueueCount": 0, "maxImages": None,
                                             "engineVersion": "?", "engine": "odm"})
        if path == "/options":
            return httpx.Response(200, json=[{"name": "dsm", "type": "bool", "value": "false", "domain": "",
                                              "help": "Build a DSM"}])
        if path == "/task/list":
            return httpx.Response(200, json=[{"uuid": u} for u in self.tasks])
        if path in ("/task/new", "/task/new/init"):
            return self.new_task(call, commit=path == "/task/new")
        if m := re.fullmatch(r"/task/new/upload/(.+)", path):
            return self.upload(m.group(1), call)
        if m := re.fullmatch(r"/task/new/commit/(.+)", path):
            if m.group(1) not in self.pending:
                return self.error("Invalid uuid (not found)")
            self.commit(m.group(1), self.pending.pop(m.group(1)))
            return httpx.Response(200, json={"uuid": m.group(1)})
        if m := re.fullmatch(r"/task/([^/]+)/(info|output|download/all\.zip)", path):
            task = self.tasks.get(m.group(1))
            if task is None:
                return self.error(f"{m.group(1)} not found")
            if m.group(2) == "info":
                body = {**task, **self.task_extra}
                if "with_output" in call.params:
                    body["output"] = self.output[int(call.params["with_output"] or 0):]
                return httpx.Response(200, json=body)
            if m.group(2) == "output":
                return httpx.Response(200, json=self.output[int(call.params.get("line", 0)):])
            if m.group(1) not in self.assets:
                return self.error("Asset not ready")
            if self.redirect:
                return httpx.Response(302, headers={"Location": f"http://{STORAGE_HOST}/b/{m.group(1)}?sig=x"})
            return self.serve(self.assets[m.group(1)], request)
        if m := re.fullmatch(r"/task/(cancel|remove|restart)", path):
            task = self.tasks.get(call.fields.get("uuid", ""))
            if task is None:
                return httpx.Response(200, json={"success": False, "error": f"{call.fields.get('uuid')} not found"})
            if m.group(1) == "restart" and task["status"]["code"] in (10, 20):
                return httpx.Response(200, json={"success": False, "error": "Task cannot be restarted"})
            if "options" in call.fields:
                task["options"] = json.loads(call.fields["options"])
            task["status"] = {"code": {"cancel": 50, "restart": 10}.get(m.group(1), 50)}
            if m.group(1) == "remove":
                del self.tasks[task["uuid"]]
            return httpx.Response(200, json={"success": True})
        return httpx.Response(404, text=f"Cannot {call.method} {path}", headers={"Content-Type": "text/html"})

    def new_task(self, call: Call, *, commit: bool) -> httpx.Response:
        options = json.loads(call.fields.get("options", "[]"))
        bad = [{"name": o["name"], "error": f"Invalid value {o['value']} (out of range)"}
               for o in options if o["name"] == "mesh-size" and not str(o["value"]).isdigit()]
        if bad:
            return self.error(json.dumps(bad))
        task_uuid = call.headers.get("set-uuid") or str(uuidlib.uuid4())
        body = {"fields": call.fields, "files": [(n, c) for f, n, c in call.files if f == "images"]}
        if commit:
            self.commit(task_uuid, body)
        else:
            self.pending[task_uuid] = body
        return httpx.Response(200, json={"uuid": task_uuid})

    def upload(self, task_uuid: str, call: Call) -> httpx.Response:
        if self.drop_uploads:
            self.drop_uploads -= 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if self.fail_uploads:
            self.fail_uploads -= 1
            return httpx.Response(500, text="Internal Server Error")
        if self.upload_error is not None:
            return httpx.Response(200, json=self.upload_error)
        if task_uuid not in self.pending:
            return self.error("Invalid uuid (not found)")
        if any(f != "images" for f, _, _ in call.files):
            return self.error("Unexpected field")
        self.pending[task_uuid]["files"] += [(n, c) for _, n, c in call.files]
        return httpx.Response(200, json={"success": True})

    def commit(self, task_uuid: str, body: dict[str, Any]) -> None:
        self.files[task_uuid] = body["files"]
        self.add_task(code=20, task_uuid=task_uuid, name=body["fields"].get("name"),
                      imagesCount=len(body["files"]))

    def serve(self, data: bytes, request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "application/zip"}
        spec = request.headers.get("Range")
        if self.ranges:
            headers["Accept-Ranges"] = "bytes"
            if spec and (m := re.fullmatch(r"bytes=(\d+)-(\d*)", spec)):
                first = int(m.group(1))
                last = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
                headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
                return httpx.Response(206, content=data[first : last + 1], headers=headers)
        return httpx.Response(200, content=data, headers=headers)

    @staticmethod
    def error(message: str) -> httpx.Response:
        return httpx.Response(200, json={"error": message})
