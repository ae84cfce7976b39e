"""A task's results as Markdown, for the Prefect UI: assets with links and sizes, and a thumbnail."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from tasks.outputs import ALL_ZIP, ASSETS, available_assets

THUMBNAIL = 320


def thumbnail(png: Path, size: int = THUMBNAIL) -> str | None:
    """A small JPEG of the orthophoto preview as a data URI (no server needed to show it)."""
    if not png.is_file():
        return None
    with Image.open(png) as image:
        image.thumbnail((size, size))
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A") if "A" in image.getbands() else None)
        buffer = io.BytesIO()
        flat.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def size_text(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


def markdown(project: Path, title: str, download: str | None = None) -> str:
    """`download` is the URL prefix of the node's asset downloads (…/task/<uuid>/download/)."""
    lines = [f"# {title}", ""]
    thumb = thumbnail(project / ASSETS["orthophoto.png"])
    if thumb:
        lines += [f"![orthophoto]({thumb})", ""]
    lines += ["| asset | size |", "|---|---|"]
    for name in available_assets(project):
        path = project / (ALL_ZIP if name == ALL_ZIP else ASSETS.get(name, ""))
        if not path.is_file():
            continue
        label = f"[{name}]({download}{name})" if download else name
        lines.append(f"| {label} | {size_text(path.stat().st_size)} |")
    lines += ["", f"Folder: `{project}`"]
    return "\n".join(lines)
