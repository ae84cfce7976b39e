"""Zip extraction that never writes outside its target folder."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath


class UnsafeArchive(ValueError):
    """An archive entry would land outside the folder it is unpacked into."""


def _safe_target(root: Path, name: str) -> Path:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
        raise UnsafeArchive(f"Refusing to unpack {name!r}: it points outside the task folder.")
    target = (root / Path(*parts)).resolve()
    if root.resolve() not in target.parents:
        raise UnsafeArchive(f"Refusing to unpack {name!r}: it points outside the task folder.")
    return target


def extract(archive: Path, dest: Path) -> list[Path]:
    """Unpack keeping folders (NodeODM's seed.zip); every entry is checked first."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        plan = [(info, _safe_target(dest, info.filename)) for info in zf.infolist()]
        written = []
        for info, target in plan:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            written.append(target)
    return written


def extract_flat(archive: Path, dest: Path) -> list[Path]:
    """Unpack every file straight into `dest`, dropping folders (NodeODM's zipurl)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            base = PurePosixPath(info.filename.replace("\\", "/")).name
            if info.is_dir() or not base or base in (".", ".."):
                continue
            target = dest / base
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            written.append(target)
    return written
