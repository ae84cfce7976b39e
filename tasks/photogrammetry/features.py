"""SIFT features into a COLMAP database, one camera per make/model/size with a fixed prior."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pycolmap

from tasks.photogrammetry.exif import Shot

# ODM's feature-quality: the share of the image's long side that features are computed at.
QUALITY_SCALE = {"ultra": 1.0, "high": 0.5, "medium": 0.25, "low": 0.125, "lowest": 0.0675}
# Below this size SIFT loses too many tie points on the small images that tests and demos use.
MIN_PROCESS_SIZE = 1024

# camera-lens to COLMAP camera models (parameters after f/cx/cy are distortion, zero at start).
LENS_MODELS = {
    "auto": ("RADIAL", 2),
    "perspective": ("RADIAL", 2),
    "brown": ("OPENCV", 4),
    "fisheye": ("OPENCV_FISHEYE", 4),
}


def process_size(width: int, height: int, quality: str) -> int:
    longest = max(width, height)
    return min(longest, max(MIN_PROCESS_SIZE, round(longest * QUALITY_SCALE.get(quality, 0.5))))


def camera_params(shot: Shot, lens: str) -> tuple[str, str]:
    model, n_extra = LENS_MODELS[lens]
    if model in ("OPENCV", "OPENCV_FISHEYE"):
        head = f"{shot.focal_px},{shot.focal_px},{shot.width / 2},{shot.height / 2}"
    else:
        head = f"{shot.focal_px},{shot.width / 2},{shot.height / 2}"
    return model, ",".join([head] + ["0"] * n_extra)


def extract(
    database: Path,
    images: Path,
    shots: list[Shot],
    quality: str = "high",
    max_features: int = 10000,
    threads: int = -1,
    lens: str = "auto",
) -> dict[str, int]:
    """Extract features for every shot; returns keypoints per image."""
    if database.exists():
        database.unlink()
    database.parent.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[Shot]] = defaultdict(list)
    for shot in shots:
        groups[shot.camera_key].append(shot)
    for members in groups.values():
        first = members[0]
        model, params = camera_params(first, lens)
        reader = pycolmap.ImageReaderOptions(camera_model=model, camera_params=params)
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = threads
        extraction.max_image_size = process_size(first.width, first.height, quality)
        extraction.sift.max_num_features = max_features
        # first_octave=-1 upsamples 2x and costs ~10x the time for no gain on aerial images.
        extraction.sift.first_octave = 0
        pycolmap.extract_features(
            database,
            images,
            image_names=[s.filename for s in members],
            camera_mode=pycolmap.CameraMode.SINGLE,
            reader_options=reader,
            extraction_options=extraction,
            device=pycolmap.Device.cpu,
        )
    db = pycolmap.Database.open(database)
    try:
        return {img.name: db.num_keypoints_for_image(img.image_id) for img in db.read_all_images()}
    finally:
        db.close()
