"""What the dataset stage knows about each image: size, camera, focal prior and position.

Positions come from EXIF GPS unless ODM's `geo.txt` overrides them; groups come from
`image_groups.txt`. The result is written as ODM's `images.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import exifread
import numpy as np
from PIL import Image
from pyproj import CRS, Transformer

from tasks.photogrammetry.sensors import focal_pixels

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
# FocalPlaneResolutionUnit: 2 = inch, 3 = cm, 4 = mm.
UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0}


@dataclass
class Shot:
    filename: str
    width: int
    height: int
    camera_make: str = ""
    camera_model: str = ""
    focal_px: float = 0.0
    focal_source: str = "default"
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    capture_time: float = 0.0  # epoch milliseconds, as ODM writes it
    group: str = ""

    @property
    def has_gps(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def focal_ratio(self) -> float:
        return self.focal_px / max(self.width, self.height)

    @property
    def camera_key(self) -> str:
        """OpenSfM's camera id, so cameras.json reads like ODM's."""
        make, model = self.camera_make.lower() or "unknown", self.camera_model.lower() or "unknown"
        return f"v2 {make} {model} {self.width} {self.height} brown {self.focal_ratio:.4f}"


def _ratio(value: object) -> float:
    v = value.values[0] if hasattr(value, "values") else value  # type: ignore[union-attr]
    return float(v.num) / float(v.den) if hasattr(v, "den") and v.den else float(v)


def _degrees(tag: object, ref: object) -> float:
    d, m, s = (float(v.num) / float(v.den) if v.den else 0.0 for v in tag.values)  # type: ignore[attr-defined]
    sign = -1.0 if str(ref).strip().upper() in ("S", "W") else 1.0
    return sign * (d + m / 60.0 + s / 3600.0)


def _epoch_ms(stamp: str) -> float:
    """EXIF's local 'YYYY:MM:DD HH:MM:SS' as epoch milliseconds (read as UTC, like ODM)."""
    try:
        when = datetime.strptime(stamp.strip(), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return when.timestamp() * 1000.0


def read_shot(path: Path) -> Shot:
    with Image.open(path) as img:
        width, height = img.size
    with path.open("rb") as f:
        tags = exifread.process_file(f, details=False)
    make = str(tags.get("Image Make", "")).strip()
    model = str(tags.get("Image Model", "")).strip()
    get = tags.get
    focal_mm = _ratio(get("EXIF FocalLength")) if get("EXIF FocalLength") else None
    focal_35 = _ratio(get("EXIF FocalLengthIn35mmFilm")) if get("EXIF FocalLengthIn35mmFilm") else None
    plane_res = None
    if get("EXIF FocalPlaneXResolution"):
        unit = int(str(get("EXIF FocalPlaneResolutionUnit", "2")).split()[0] or 2)
        plane_res = _ratio(get("EXIF FocalPlaneXResolution")) / UNIT_MM.get(unit, 25.4)
    focal, source = focal_pixels(width, height, make, model, focal_mm, focal_35 or None, plane_res)
    shot = Shot(path.name, width, height, make, model, focal, source)
    shot.capture_time = _epoch_ms(str(get("EXIF DateTimeOriginal", "")))
    if get("GPS GPSLatitude") and get("GPS GPSLongitude"):
        shot.latitude = _degrees(get("GPS GPSLatitude"), get("GPS GPSLatitudeRef", "N"))
        shot.longitude = _degrees(get("GPS GPSLongitude"), get("GPS GPSLongitudeRef", "E"))
        if get("GPS GPSAltitude"):
            below = str(get("GPS GPSAltitudeRef", "0")).strip() in ("1", "Below Sea Level")
            shot.altitude = _ratio(get("GPS GPSAltitude")) * (-1 if below else 1)
    return shot


def apply_geo_txt(shots: list[Shot], path: Path) -> int:
    """Override positions from ODM's geo.txt (CRS line, then `name x y [z] ...`)."""
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return 0
    to_wgs = Transformer.from_crs(CRS.from_user_input(lines[0]), 4326, always_xy=True)
    by_name = {s.filename: s for s in shots}
    count = 0
    for ln in lines[1:]:
        parts = ln.split()
        shot = by_name.get(parts[0])
        if shot is None or len(parts) < 3:
            continue
        lon, lat = to_wgs.transform(float(parts[1]), float(parts[2]))
        shot.latitude, shot.longitude = float(lat), float(lon)
        if len(parts) > 3:
            shot.altitude = float(parts[3])
        count += 1
    return count


def apply_groups(shots: list[Shot], path: Path) -> None:
    groups = dict(ln.split()[:2] for ln in path.read_text().splitlines() if len(ln.split()) >= 2)
    for shot in shots:
        shot.group = groups.get(shot.filename, "")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_dataset(images: Path, gcp: Path | None = None) -> list[Shot]:
    shots = [read_shot(p) for p in list_images(images)]
    for folder in (gcp, images.parent):
        if folder and (folder / "geo.txt").is_file():
            apply_geo_txt(shots, folder / "geo.txt")
            break
    for folder in (gcp, images.parent):
        if folder and (folder / "image_groups.txt").is_file():
            apply_groups(shots, folder / "image_groups.txt")
            break
    return shots


def write_images_json(shots: list[Shot], path: Path) -> None:
    rows = []
    for s in shots:
        row = asdict(s)
        row["focal_ratio"] = s.focal_ratio
        rows.append(row)
    path.write_text(json.dumps(rows, indent=1))


def read_images_json(path: Path) -> list[Shot]:
    fields = set(Shot.__dataclass_fields__)
    return [Shot(**{k: v for k, v in row.items() if k in fields}) for row in json.loads(path.read_text())]


def positions(shots: list[Shot]) -> np.ndarray:
    """(lat, lon, alt) rows; NaN where a shot has no GPS."""
    return np.array(
        [[s.latitude, s.longitude, s.altitude or 0.0] if s.has_gps else [np.nan, np.nan, np.nan] for s in shots],
        dtype=float,
    )
