"""A task's inputs and outputs in object storage (any fsspec URL: s3://, gs://, file://…).

The node reads a batch straight from a bucket and writes its results back, so images
already in object storage are never uploaded through the API. Credentials and the
endpoint come from the environment, as for any AWS tool (`AWS_ENDPOINT_URL`, keys).
"""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import Callable
from pathlib import Path

from tasks.outputs import ALL_ZIP, zip_entries
from tasks.storage import filesystem

CHUNK = 8 << 20


def _join(url: str, rel: str) -> str:
    return url.rstrip("/") + "/" + rel


def fetch_folder(url: str, dest: Path, log: Callable[[str], None] = print) -> list[Path]:
    """Copy the files directly under `url` into `dest`, streaming (no whole file in memory)."""
    fs, root = filesystem(url)
    if not fs.isdir(root):
        raise FileNotFoundError(f"No folder at {url}: check the URL and the node's storage credentials.")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for info in sorted(fs.ls(root, detail=True), key=lambda i: i["name"]):
        if info["type"] != "file":
            continue
        name = posixpath.basename(info["name"].rstrip("/"))
        if not name or name.startswith("."):
            continue
        target = dest / name
        with fs.open(info["name"], "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        written.append(target)
    log(f"Fetched {len(written)} files from {url}")
    return written


def publish_outputs(project: Path, url: str, outputs: list[str] | None = None) -> list[str]:
    """Write all.zip and every output file under `url`, keeping ODM's relative paths."""
    fs, root = filesystem(url)
    files = [(path, arc) for path, arc in zip_entries(project, outputs) if not arc.endswith("/")]
    if (project / ALL_ZIP).is_file():
        files.append((project / ALL_ZIP, ALL_ZIP))
    for path, arc in files:
        with open(path, "rb") as src, fs.open(posixpath.join(root, arc), "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    return [arc for _, arc in files]


def signed_url(url: str, rel: str, expires: int = 3600) -> str | None:
    """A pre-signed HTTP URL for `url/rel`, or None where the store cannot sign or lacks it."""
    fs, root = filesystem(_join(url, rel))
    try:
        if not fs.exists(root):
            return None
        signed: str = fs.sign(root, expiration=expires)
        return signed
    except NotImplementedError:
        return None
