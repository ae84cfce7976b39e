"""`NodeClient`: a synchronous, typed client for NodeODM-compatible nodes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import httpx

from ._base import BaseClient
from ._download import Destination, download_asset
from ._exceptions import NodeServerError
from ._files import FileSource, UploadFile
from ._upload import upload_in_parallel
from ._utils import Options, Progress, ProgressCallback, options_to_json, parse_version
from .models import NodeInfo, Option, TaskInfo

__all__ = ["NodeClient"]

CHUNKED_UPLOAD_VERSION = (1, 4, 0)
_FormParts = list[tuple[str, tuple[str | None, Any, str | None]]]


class NodeClient(BaseClient):
    """One NodeODM-compatible node: NodeODM, ClusterODM, webodm.net or odmflow's own.

    Every method makes one attempt and raises a `NodeError` subclass on failure, except the
    upload step of `create_task`/`upload_files`, which retries as PyODM does. The client is
    thread-safe; close it (or use it as a context manager) to release its connections.
    """

    _chunked: bool | None = None

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float | httpx.Timeout = 30.0, transport: httpx.BaseTransport | None = None
    ) -> NodeClient:
        """`NodeClient.from_url("http://host:3000?token=abc")`, as PyODM's `Node.from_url`."""
        return cls(url, timeout=timeout, transport=transport)

    # Node

    def info(self) -> NodeInfo:
        return self._parse(NodeInfo.from_dict, self._call("GET", "/info"), "/info")

    def options(self) -> list[Option]:
        body = self._call("GET", "/options")
        return self._parse(lambda b: [Option.from_dict(o) for o in b], body, "/options")

    def supports_chunked_upload(self) -> bool:
        """Whether the node has `/task/new/init` (NodeODM ≥ 1.4.0); asked once, then remembered."""
        if self._chunked is None:
            self._chunked = parse_version(self.info().version) >= CHUNKED_UPLOAD_VERSION
        return self._chunked

    # Tasks

    def task_list(self) -> list[str]:
        body = self._call("GET", "/task/list")
        return self._parse(lambda b: [str(item["uuid"]) for item in b], body, "/task/list")

    def task_info(self, uuid: str, with_output: int | None = None) -> TaskInfo:
        params = {} if with_output is None else {"with_output": with_output}
        body = self._call("GET", f"/task/{uuid}/info", params=params)
        return self._parse(TaskInfo.from_dict, body, "task info")

    def task_output(self, uuid: str, line: int = 0) -> list[str]:
        """Console lines from `line` on; a negative `line` gives the last `-line` lines."""
        output = self._call("GET", f"/task/{uuid}/output", params={"line": line})
        return output.splitlines() if isinstance(output, str) else list(output)

    def cancel(self, uuid: str) -> None:
        self._command("/task/cancel", {"uuid": uuid})

    def remove(self, uuid: str) -> None:
        self._command("/task/remove", {"uuid": uuid})

    def restart(self, uuid: str, options: Options | None = None) -> None:
        """Restart a FAILED, COMPLETED or CANCELED task; `options` replace the previous ones."""
        data = {"uuid": uuid}
        if options is not None:
            data["options"] = options_to_json(options)
        self._command("/task/restart", data)

    def create_task(
        self,
        files: Iterable[FileSource],
        *,
        options: Options | None = None,
        name: str | None = None,
        webhook: str | None = None,
        outputs: Sequence[str] | None = None,
        skip_post_processing: bool = False,
        task_uuid: str | None = None,
        chunk_files: int = 1,
        parallel_uploads: int = 8,
        max_retries: int = 5,
        retry_delay: float = 2.0,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Create a task from `files` and return its uuid.

        Uses init/upload/commit, sending `chunk_files` files per request over
        `parallel_uploads` threads, or one `/task/new` request on nodes older than 1.4.0.
        `progress(bytes_sent, bytes_total)` is called from the upload threads.
        """
        sources = [f if isinstance(f, UploadFile) else UploadFile(f) for f in files]
        if not sources:
            raise ValueError("A task needs at least one file.")
        if not self.supports_chunked_upload():
            parts = _form_fields(options, name, webhook, outputs, skip_post_processing)
            return self._create_task_legacy(sources, parts, task_uuid, progress)
        uuid = self.init_task(options=options, name=name, webhook=webhook, outputs=outputs,
                              skip_post_processing=skip_post_processing, task_uuid=task_uuid)
        self.upload_files(uuid, sources, chunk_files=chunk_files, parallel_uploads=parallel_uploads,
                          max_retries=max_retries, retry_delay=retry_delay, progress=progress)
        return self.commit_task(uuid)

    def init_task(
        self,
        *,
        options: Options | None = None,
        name: str | None = None,
        webhook: str | None = None,
        outputs: Sequence[str] | None = None,
        skip_post_processing: bool = False,
        task_uuid: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> str:
        """`POST /task/new/init`: validate options and open an upload; nothing runs until commit.

        `fields` adds form fields the node may understand beyond NodeODM's own, such as
        odmflow's `inputUrl` and `outputUrl`; a node that does not know them ignores them.
        """
        parts = _form_fields(options, name, webhook, outputs, skip_post_processing)
        parts += [(k, (None, v.encode(), None)) for k, v in (fields or {}).items()]
        body = self._call("POST", "/task/new/init", files=parts, headers=_uuid_header(task_uuid))
        return self._uuid_from(body, "/task/new/init")

    def upload_files(
        self,
        uuid: str,
        files: Iterable[FileSource],
        *,
        chunk_files: int = 1,
        parallel_uploads: int = 8,
        max_retries: int = 5,
        retry_delay: float = 2.0,
        progress: ProgressCallback | None = None,
    ) -> None:
        """`POST /task/new/upload/{uuid}` for every file, retrying unless the node says `noRetry`."""
        sources = [f if isinstance(f, UploadFile) else UploadFile(f) for f in files]
        sizes = [f.size for f in sources]
        total = None if None in sizes else sum(s for s in sizes if s is not None)

        def send(batch: Sequence[UploadFile], on_read: Any) -> None:
            with ExitStack() as stack:
                parts = [("images", (f.name, stack.enter_context(f.open(on_read)), f.content_type))
                         for f in batch]
                body = self._call("POST", f"/task/new/upload/{uuid}", files=parts)
            if not (isinstance(body, dict) and body.get("success") is True):
                raise NodeServerError(f"Unexpected answer to an upload: {body!r}", url=self.url)

        upload_in_parallel(send, sources, chunk_files=chunk_files, parallel=parallel_uploads,
                           max_retries=max_retries, retry_delay=retry_delay,
                           progress=Progress(progress, total))

    def commit_task(self, uuid: str) -> str:
        """`POST /task/new/commit/{uuid}`: queue the task whose files were uploaded."""
        return self._uuid_from(self._call("POST", f"/task/new/commit/{uuid}"), "/task/new/commit")

    def download(
        self,
        uuid: str,
        dest: Destination,
        *,
        asset: str = "all.zip",
        parallel: int = 8,
        chunk_size: int = 16 * 1024 * 1024,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Download `asset` to a path (written atomically) or a binary file; return its size.

        Fetches `parallel` Range chunks of `chunk_size` at once where the server honours
        ranges, and streams otherwise. Raises `AssetNotReady` until the task has completed.
        """
        return download_asset(self, f"/task/{uuid}/download/{asset}", dest, parallel=parallel,
                              chunk_size=chunk_size, progress=Progress(progress, None))

    def _create_task_legacy(
        self, sources: list[UploadFile], parts: _FormParts, task_uuid: str | None,
        progress: ProgressCallback | None,
    ) -> str:
        sizes = [f.size for f in sources]
        counter = Progress(progress, None if None in sizes else sum(s for s in sizes if s is not None))
        with ExitStack() as stack:
            images = [("images", (f.name, stack.enter_context(f.open(counter.add)), f.content_type))
                      for f in sources]
            body = self._call("POST", "/task/new", files=parts + images, headers=_uuid_header(task_uuid))
        return self._uuid_from(body, "/task/new")


def _form_fields(
    options: Options | None, name: str | None, webhook: str | None,
    outputs: Sequence[str] | None, skip_post_processing: bool,
) -> _FormParts:
    # Text-only parts given as files without a filename: httpx would otherwise send a
    # urlencoded body, which NodeODM's /task/new/init silently ignores.
    fields: dict[str, str] = {"options": options_to_json(options)}
    if name is not None:
        fields["name"] = name
    if webhook is not None:
        fields["webhook"] = webhook
    if outputs:
        fields["outputs"] = json.dumps(list(outputs))
    if skip_post_processing:
        fields["skipPostProcessing"] = "true"
    return [(k, (None, v.encode(), None)) for k, v in fields.items()]


def _uuid_header(task_uuid: str | None) -> dict[str, str]:
    return {"set-uuid": task_uuid} if task_uuid else {}
