"""A task's inputs: NodeODM's special files, zips of images, folders in object storage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tasks.archive import extract, extract_flat
from tasks.remote import fetch_folder

_ALIGN = {"align.las", "align.laz", "align.tif"}


def sort_special_files(project: Path) -> None:
    """GCP/geo/image-group text files and align files go to gcp/; seed.zip seeds the project."""
    images = project / "images"
    for path in sorted(images.iterdir()):
        lower = path.name.lower()
        if lower.endswith(".txt") or lower in _ALIGN:
            (project / "gcp").mkdir(exist_ok=True)
            path.replace(project / "gcp" / path.name)
        elif lower == "seed.zip":
            extract(path, project)
            path.unlink()
        elif lower.endswith(".zip"):
            path.unlink()


def image_count(project: Path) -> int:
    images = project / "images"
    return sum(1 for p in images.iterdir() if p.is_file()) if images.is_dir() else 0


def fetch_zip(url: str, project: Path) -> int:
    """Download a zip of images (NodeODM's zipurl) and unpack it, flattened, into images/."""
    archive = project / "zipurl.zip"
    with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
        response.raise_for_status()
        with open(archive, "wb") as fh:
            for chunk in response.iter_bytes(1 << 20):
                fh.write(chunk)
    try:
        extract_flat(archive, project / "images")
    finally:
        archive.unlink(missing_ok=True)
    sort_special_files(project)
    return image_count(project)


def fetch_url(url: str, project: Path, log: Callable[[str], None] = print) -> int:
    """Copy a batch folder from object storage into images/ (the `inputUrl` extension)."""
    fetch_folder(url, project / "images", log)
    sort_special_files(project)
    return image_count(project)
