"""Streaming multipart uploads: parts go straight to files in the task's folder.

Nothing is held whole in memory and nothing is written twice: each `images` part is
written as it arrives, then renamed to its final, sanitised name.
"""

from __future__ import annotations

import filecmp
import os
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

FILE_FIELD = "images"


class UploadError(Exception):
    """A multipart body NodeODM would refuse; `str()` is NodeODM's message."""


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    unexpected: str | None = None


def safe_name(filename: str) -> str:
    """The base name only, as NodeODM's parser keeps it: `../../x.jpg` becomes `x.jpg`."""
    base = filename.replace("\\", "/").split("/")[-1].replace("\x00", "").strip()
    return base if base not in ("", ".", "..") else "file"


def unique_name(folder: Path, name: str, taken_now: set[str], upload: Path | None = None) -> str:
    """NodeODM's duplicate rule across requests: a.jpg, a_.jpg, a__.jpg; within one request
    a later part overwrites. A retried upload of identical bytes lands on its earlier copy
    instead of adding a duplicate image, so resending a chunk is always safe."""
    if name in taken_now:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate = name
    while (folder / candidate).exists():
        if upload is not None and filecmp.cmp(folder / candidate, upload, shallow=False):
            return candidate
        stem += "_"
        candidate = f"{stem}.{ext}" if dot else stem
    return candidate


class _Sink:
    """python-multipart callbacks that write file parts into `folder`."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.form = Form()
        self._header_field = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._filename: str | None = None
        self._value = bytearray()
        self._fh: IO[bytes] | None = None
        self._tmp: Path | None = None
        self._taken: set[str] = set()

    def on_part_begin(self) -> None:
        self._headers, self._value, self._filename = {}, bytearray(), None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        key = self._header_field.lower()
        self._headers[key] = self._headers.get(key, b"") + data[start:end]

    def on_header_end(self) -> None:
        self._header_field = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        raw = params.get(b"filename")
        self._filename = raw.decode("utf-8", "replace") if raw is not None else None
        if self._filename is None:
            return
        if self._name != FILE_FIELD or self.folder is None:
            self.form.unexpected = self.form.unexpected or self._name
            return
        self._tmp = self.folder / f".part-{uuidlib.uuid4().hex}"
        self._fh = open(self._tmp, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._fh is not None:
            self._fh.write(memoryview(data)[start:end])
        elif self._filename is None:
            self._value += data[start:end]

    def on_part_end(self) -> None:
        if self._fh is not None and self._tmp is not None and self.folder is not None:
            self._fh.close()
            self._fh = None
            name = unique_name(self.folder, safe_name(self._filename or ""), self._taken, self._tmp)
            os.replace(self._tmp, self.folder / name)
            self._taken.add(name)
            if self.folder / name not in self.form.files:
                self.form.files.append(self.folder / name)
            self._tmp = None
        elif self._filename is None and self._name:
            self.form.fields.setdefault(self._name, self._value.decode("utf-8", "replace"))

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


async def receive(request: Request, folder: Path | None) -> Form:
    """Parse a multipart body, writing `images` parts into `folder` (None: no files allowed)."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        return Form()  # NodeODM ignores other encodings: no fields, no files
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    sink = _Sink(folder)
    callbacks = {name: getattr(sink, name) for name in (
        "on_part_begin", "on_part_data", "on_part_end", "on_header_field",
        "on_header_value", "on_header_end", "on_headers_finished",
    )}
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except Exception as exc:
        sink.abort()
        raise UploadError(f"Malformed multipart body: {exc}") from exc
    return sink.form
