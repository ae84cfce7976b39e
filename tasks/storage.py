"""Sources and sinks through fsspec: `s3://bucket/prefix`, local folders, any fsspec URL.

A *batch* is a folder (or prefix) holding images, and optionally `geo.txt`,
`gcp_list.txt`, `image_groups.txt` and a `batch.json` with `name`, `options` and `node`.
Every batch publishes under `<output>/<batch>/`; the marker written there last tells a
finished batch from one still in flight, so discovery skips batches already done.

S3 endpoints other than AWS (MinIO, SeaweedFS, moto) come from the storage options
(`{"endpoint_url": ...}`) or from the `AWS_ENDPOINT_URL` variable, which botocore reads.
"""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec import AbstractFileSystem
from fsspec.core import OpenFile

from tasks.nodeodm import UploadFile

__all__ = [
    "Batch", "IMAGE_SUFFIXES", "MARKER", "EXTRAS", "StorageOptions", "discover_batches", "folder_batch", "filesystem",
    "join", "read_json", "write_json", "upload_sources",
]

StorageOptions = Mapping[str, Any]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff", ".png", ".dng", ".raw")
#: Files NodeODM takes beside the images, by their exact names.
EXTRAS = ("geo.txt", "gcp_list.txt", "image_groups.txt")
CONFIG = "batch.json"
MARKER = "_SUCCESS.json"


@dataclass(frozen=True)
class Batch:
    """One batch: where its files are, what it is called and how to process it."""

    name: str
    url: str
    images: tuple[str, ...]
    extras: tuple[str, ...] = ()
    sizes: Mapping[str, int] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    node: str | None = None

    @property
    def size(self) -> int:
        """Image count, what `maxImages` limits."""
        return len(self.images)

    @property
    def bytes(self) -> int:
        return sum(self.sizes.values())


def filesystem(url: str, storage_options: StorageOptions | None = None) -> tuple[AbstractFileSystem, str]:
    """The filesystem behind `url` and the path within it."""
    fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    return fs, path.rstrip("/")


def join(fs: AbstractFileSystem, *parts: str) -> str:
    return posixpath.join(*[p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts) if p])


def discover_batches(
    source: str, output: str, storage_options: StorageOptions | None = None,
    output_options: StorageOptions | None = None, names_from: str | None = None,
) -> list[Batch]:
    """Every batch under `source` whose marker is not yet under `output`, sorted by name.

    `source` may be one batch itself (images directly in it) or hold batches at any depth;
    a batch is named by its path relative to `names_from` (by default `source`), or by its
    folder name when it is that folder itself. Give `names_from` when ingesting one batch of
    a larger tree, so that it gets the name a run over the whole tree would give it.
    """
    fs, root = filesystem(source, storage_options)
    base = filesystem(names_from, storage_options)[1] if names_from else root
    out_fs, out_root = filesystem(output, output_options if output_options is not None else storage_options)
    # Results published inside the source must never come back as batches of their own.
    published = out_root + "/" if type(out_fs) is type(fs) and out_root != root else None
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for path, detail in fs.find(root, detail=True).items():
        rel = posixpath.relpath(path, root)
        if (published and path.startswith(published)) or any(p.startswith(".") for p in rel.split("/")):
            continue
        found[posixpath.dirname(path)][posixpath.basename(path)] = int(detail.get("size") or 0)
    batches = []
    for folder, files in sorted(found.items()):
        images = sorted(n for n in files if n.lower().endswith(IMAGE_SUFFIXES))
        if not images:
            continue
        rel = posixpath.relpath(folder, base) if folder != base else posixpath.basename(base)
        config = read_json(fs, join(fs, folder, CONFIG)) if CONFIG in files else {}
        name = str(config.get("name") or rel)
        if out_fs.exists(join(out_fs, out_root, name, MARKER)):
            continue
        batches.append(_batch(fs, folder, files, name, config))
    return batches


def folder_batch(url: str, name: str, storage_options: StorageOptions | None = None) -> Batch:
    """The batch of the files directly in `url`, named `name` whatever is published already."""
    fs, root = filesystem(url, storage_options)
    files = {posixpath.basename(p): int(d.get("size") or 0)
             for p, d in fs.find(root, maxdepth=1, detail=True).items()}
    config = read_json(fs, join(fs, root, CONFIG)) if CONFIG in files else {}
    return _batch(fs, root, files, name, config)


def _batch(fs: AbstractFileSystem, folder: str, files: Mapping[str, int], name: str,
           config: Mapping[str, Any]) -> Batch:
    images = sorted(n for n in files if n.lower().endswith(IMAGE_SUFFIXES))
    extras = tuple(n for n in EXTRAS if n in files)
    return Batch(
        name=name,
        url=_url(fs, folder),
        images=tuple(images),
        extras=extras,
        sizes={n: files[n] for n in (*images, *extras)},
        options=dict(config.get("options") or {}),
        node=config.get("node"),
    )


def upload_sources(batch: Batch, storage_options: StorageOptions | None = None) -> list[UploadFile]:
    """The batch's files as upload sources that stream from storage, one file open at a time."""
    fs, root = filesystem(batch.url, storage_options)
    return [UploadFile(OpenFile(fs, join(fs, root, n), mode="rb"), size=batch.sizes.get(n))
            for n in (*batch.images, *batch.extras)]


def read_json(fs: AbstractFileSystem, path: str) -> Any:
    with fs.open(path, "rb") as fh:
        return json.loads(fh.read())


def write_json(fs: AbstractFileSystem, path: str, data: Any) -> None:
    """Write JSON in one put; object stores make it visible whole or not at all."""
    fs.makedirs(posixpath.dirname(path), exist_ok=True)  # local folders need their parents
    fs.pipe_file(path, json.dumps(data, indent=2).encode())


def _url(fs: AbstractFileSystem, path: str) -> str:
    return fs.unstrip_protocol(path)
