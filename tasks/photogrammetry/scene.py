"""The ground of a synthetic survey: a smooth terrain and a landscape-like texture."""

from __future__ import annotations

import cv2
import numpy as np


def noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    small = rng.random((max(2, shape[0] // cell + 2), max(2, shape[1] // cell + 2))).astype(np.float32)
    big = cv2.resize(small, (shape[1] + 2 * cell, shape[0] + 2 * cell), interpolation=cv2.INTER_CUBIC)
    return big[cell : cell + shape[0], cell : cell + shape[1]]


def texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Fields, soil, trees, roofs and tracks, with fine grain so SIFT finds features everywhere."""
    palette = np.array([[86, 128, 58], [150, 122, 82], [192, 172, 122], [60, 96, 48]], np.float32)
    mix = np.stack([noise(rng, shape, 500) + 0.6 * noise(rng, shape, 90) for _ in palette], axis=-1)
    weights = np.exp(12 * (mix - mix.max(axis=-1, keepdims=True)))
    img = (weights @ palette) / weights.sum(axis=-1, keepdims=True)
    grain = sum(w * (noise(rng, shape, cell) - 0.5) for cell, w in ((30, 0.5), (6, 0.6), (2, 0.4)))
    img *= (1.0 + 0.9 * grain)[..., None]
    n_shapes = shape[0] * shape[1] // 15000
    for _ in range(n_shapes):
        x, y = int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0]))
        kind = rng.integers(0, 4)
        if kind == 0:  # tree crown
            shade = float(rng.uniform(0.5, 1.0))
            cv2.circle(img, (x, y), int(rng.integers(6, 30)), (40 * shade, 80 * shade, 35 * shade), -1, cv2.LINE_AA)
        elif kind == 1:  # roof
            color = tuple(float(v) for v in rng.choice([[170, 70, 60], [120, 120, 125], [200, 200, 195]]))
            box = cv2.boxPoints(((x, y), tuple(float(v) for v in rng.integers(12, 60, 2)), float(rng.uniform(0, 90))))
            cv2.fillPoly(img, [box.astype(np.int32)], color, cv2.LINE_AA)
        elif kind == 2:  # track
            end = (x + int(rng.integers(-150, 150)), y + int(rng.integers(-150, 150)))
            cv2.line(img, (x, y), end, (155, 145, 130), int(rng.integers(2, 8)), cv2.LINE_AA)
        else:  # stone or shrub
            color = tuple(float(v) for v in rng.integers(30, 230, 3))
            cv2.circle(img, (x, y), int(rng.integers(2, 6)), color, -1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def terrain(rng: np.random.Generator, shape: tuple[int, int], relief: float, base: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    z = np.full(shape, base) + 0.01 * xx - 0.008 * yy
    for _ in range(6):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        sigma = rng.uniform(15, 45)
        amp = rng.uniform(-1, 1) * relief
        z += amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    return z
