"""Quality report: stats.json, shots.geojson and a one-page HTML with a coverage map."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import cv2
import laspy
import numpy as np
import pycolmap
import rasterio

from tasks.photogrammetry import exif
from tasks.photogrammetry.geo import Frame
from tasks.photogrammetry.georeferencing import Alignment
from tasks.photogrammetry.layout import Layout


def write_shots(rec: pycolmap.Reconstruction, frame: Frame, path: Path) -> None:
    """ODM's shots.geojson: one point per registered image with its pose."""
    features = []
    for image in sorted(rec.images.values(), key=lambda im: im.name):
        centre = image.projection_center()
        lon, lat, alt = frame.to_wgs84(centre[None])[0]
        pose = image.cam_from_world()
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat, alt]},
                "properties": {
                    "filename": image.name,
                    "focal": image.camera.mean_focal_length() / max(image.camera.width, image.camera.height),
                    "width": image.camera.width,
                    "height": image.camera.height,
                    "translation": (centre + frame.offset).tolist(),
                    "rotation": cv2.Rodrigues(pose.rotation.matrix())[0].ravel().tolist(),
                },
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def _raster_info(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with rasterio.open(path) as src:
        return {
            "width": src.width,
            "height": src.height,
            "resolution_m": abs(src.transform.a),
            "crs": src.crs.to_string() if src.crs else None,
        }


def _cloud_points(path: Path) -> int | None:
    if not path.is_file():
        return None
    with laspy.open(str(path)) as reader:
        return int(reader.header.point_count)


def stats(layout: Layout) -> dict[str, Any]:
    shots = exif.read_images_json(layout.images_json)
    rec = pycolmap.Reconstruction(layout.georef)
    alignment = Alignment.read(layout.alignment)
    errors = [p.error for p in rec.points3D.values()]
    h, v = alignment.rmse
    centres = np.array([im.projection_center()[:2] for im in rec.images.values()])
    return {
        "images": {
            "count": len(shots),
            "registered": rec.num_reg_images(),
            "unregistered": sorted({s.filename for s in shots} - {im.name for im in rec.images.values()}),
        },
        "reconstruction": {
            "points": rec.num_points3D(),
            "mean_reprojection_error_px": float(np.mean(errors)) if errors else None,
            "mean_track_length": rec.compute_mean_track_length(),
            "cameras": {
                str(c.camera_id): {"model": c.model_name, "params": list(map(float, c.params))}
                for c in rec.cameras.values()
            },
        },
        "georeferencing": {
            "source": alignment.source,
            "scale": alignment.scale,
            "rmse_horizontal_m": h,
            "rmse_vertical_m": v,
            "residuals": alignment.residuals,
            "crs": f"EPSG:{Frame.read(layout.coords).epsg}",
        },
        "point_cloud": {"points": _cloud_points(layout.cloud)},
        "gsd_cm": alignment.gsd * 100,
        "camera_spread_m": (centres.max(0) - centres.min(0)).tolist() if len(centres) else None,
        "reprojection_histogram": np.histogram(errors, bins=10, range=(0, 2))[0].tolist() if errors else [],
        "outputs": {
            "orthophoto": _raster_info(layout.orthophoto),
            "dsm": _raster_info(layout.dsm),
            "dtm": _raster_info(layout.dtm),
        },
    }


def _coverage(layout: Layout, size: int = 640) -> str:
    """The orthophoto preview with camera positions, as an inline SVG over a PNG."""
    png = layout.orthophoto.with_suffix(".png")
    if not png.is_file():
        return "<p>No orthophoto.</p>"
    img = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    scale = size / max(img.shape[:2])
    img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    data = base64.b64encode(cv2.imencode(".png", img)[1].tobytes()).decode()
    with rasterio.open(layout.orthophoto) as src:
        t = src.transform
    frame = Frame.read(layout.coords)
    shots = json.loads(layout.shots.read_text())["features"]
    dots = []
    for f in shots:
        x, y = f["properties"]["translation"][:2]
        col, row = (x - t.c) / t.a * scale, (y - t.f) / t.e * scale
        dots.append(
            f'<circle cx="{col:.1f}" cy="{row:.1f}" r="4" fill="#e33" stroke="#fff">'
            f"<title>{html.escape(f['properties']['filename'])}</title></circle>"
        )
    h, w = img.shape[:2]
    return (
        f'<svg width="{w}" height="{h}"><image href="data:image/png;base64,{data}" width="{w}" '
        f'height="{h}"/>{"".join(dots)}</svg><p>EPSG:{frame.epsg}; red dots: camera positions.</p>'
    )


def _residual_plot(residuals: dict[str, list[float]]) -> str:
    """Horizontal and vertical alignment residual per image (or GCP), as SVG bars."""
    names = sorted(residuals)
    if not names:
        return ""
    r = np.array([residuals[n] for n in names])
    hz, vt = np.hypot(r[:, 0], r[:, 1]), np.abs(r[:, 2])
    top = max(float(max(hz.max(), vt.max())), 1e-3)
    bw, height = max(6, 600 // (2 * len(names))), 160
    bars = []
    for i, n in enumerate(names):
        x = 40 + i * 2 * bw
        for j, (val, color) in enumerate(((hz[i], "#36c"), (vt[i], "#c63"))):
            bh = val / top * height
            bars.append(
                f'<rect x="{x + j * bw}" y="{20 + height - bh:.1f}" width="{bw - 1}" height="{bh:.1f}" '
                f'fill="{color}"><title>{html.escape(n)}: {val:.3f} m</title></rect>'
            )
    width = 60 + len(names) * 2 * bw
    return (
        f'<svg width="{width}" height="{height + 40}"><text x="0" y="14" font-size="11">{top:.2f} m</text>'
        f'<line x1="38" y1="{20 + height}" x2="{width}" y2="{20 + height}" stroke="#333"/>{"".join(bars)}</svg>'
        "<p>Blue: horizontal residual; orange: vertical residual (m).</p>"
    )


def write_html(layout: Layout, data: dict[str, Any]) -> Path:
    geo = data["georeferencing"]
    rows = [
        ("Images registered", f"{data['images']['registered']} / {data['images']['count']}"),
        ("Tie points / point cloud", f"{data['reconstruction']['points']} / {data['point_cloud']['points']}"),
        ("Mean reprojection error", f"{data['reconstruction']['mean_reprojection_error_px'] or 0:.3f} px"),
        ("Georeferencing", f"{geo['source'].upper()}, {geo['crs']}"),
        ("Residual RMSE", f"{geo['rmse_horizontal_m']:.3f} m horizontal, {geo['rmse_vertical_m']:.3f} m vertical"),
        ("Ground sampling distance", f"{data['gsd_cm']:.2f} cm"),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Processing report</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}th{{text-align:left;padding-right:2em}}</style>
</head><body><h1>Processing report</h1><table>{table}</table>
<h2>Coverage</h2>{_coverage(layout)}<h2>Georeferencing residuals</h2>{_residual_plot(geo["residuals"])}
</body></html>"""
    out = layout.report_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
