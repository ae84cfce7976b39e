"""The focal length prior in pixels, from EXIF and a table of sensor widths.

The 35 mm equivalent is read with OpenSfM's rule (36 mm along the long side), not the
diagonal rule: on the DJI FC300S's 16:9 frames the diagonal rule gives 2121 px, the width
rule 2222 px, and ODM's own reconstruction of Brighton Beach agrees with the latter
(the nominal 6.17 mm sensor width gives 2340 px and puts the ground 1.7 m too low).
Sensor widths serve cameras that do not write a 35 mm equivalent.
"""

from __future__ import annotations

# Sensor width in millimetres, keyed by lower-case "make model".
SENSOR_WIDTH_MM: dict[str, float] = {
    "dji fc300s": 6.17,
    "dji fc300x": 6.17,
    "dji fc300c": 6.17,
    "dji fc330": 6.17,
    "dji fc350": 6.17,
    "dji fc220": 6.17,
    "dji fc2103": 6.17,
    "dji fc7203": 6.3,
    "dji fc3170": 6.4,
    "dji fc3411": 13.2,
    "dji fc3582": 9.7,
    "dji fc6310": 13.2,
    "dji fc6310s": 13.2,
    "dji fc6510": 13.2,
    "dji fc6520": 17.3,
    "dji l1d-20c": 13.2,
    "dji zenmuse p1": 35.9,
    "dji m3e": 17.3,
    "gopro hero4 black": 6.17,
    "parrot anafi": 6.17,
    "sony dsc-rx100m2": 13.2,
    "sony ilce-6000": 23.5,
    "canon canon powershot s110": 7.44,
}


def sensor_width(make: str, model: str) -> float | None:
    """The sensor width in mm for a camera, or None when unknown."""
    key = f"{make} {model}".strip().lower()
    return SENSOR_WIDTH_MM.get(key) or SENSOR_WIDTH_MM.get(model.strip().lower())


def focal_pixels(
    width: int,
    height: int,
    make: str,
    model: str,
    focal_mm: float | None,
    focal_35mm: float | None,
    plane_res: float | None,
) -> tuple[float, str]:
    """The focal length in pixels and where it came from, best source first.

    `plane_res` is EXIF FocalPlaneXResolution converted to pixels per millimetre.
    """
    longest = max(width, height)
    if focal_35mm:
        return focal_35mm / 36.0 * longest, "35 mm equivalent"
    sensor = sensor_width(make, model)
    if focal_mm and sensor:
        return focal_mm / sensor * longest, "sensor table"
    if focal_mm and plane_res:
        return focal_mm * plane_res * longest / width, "focal plane resolution"
    return 0.85 * longest, "default"
