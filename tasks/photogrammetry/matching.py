"""Which image pairs to match, and the matching itself.

With GPS, each image is matched with its nearest neighbours (`matcher-neighbors`), which
keeps the cost linear in the number of images. Without GPS, small sets are matched
exhaustively and larger ones sequentially.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap
from scipy.spatial import cKDTree

DEFAULT_NEIGHBORS = 12
EXHAUSTIVE_LIMIT = 40


def spatial_pairs(names: list[str], xy: np.ndarray, neighbors: int) -> list[tuple[str, str]]:
    """Each image with its `neighbors` nearest (in the horizontal plane), deduplicated."""
    k = min(neighbors + 1, len(names))
    _, idx = cKDTree(xy).query(xy, k=k)
    pairs = {tuple(sorted((names[i], names[j]))) for i, row in enumerate(idx) for j in row[1:] if i != j}
    return sorted(pairs)  # type: ignore[arg-type]


def write_pairs(pairs: list[tuple[str, str]], path: Path) -> None:
    path.write_text("".join(f"{a} {b}\n" for a, b in pairs))


def _options(threads: int) -> pycolmap.FeatureMatchingOptions:
    options = pycolmap.FeatureMatchingOptions()
    options.num_threads = threads
    return options


def match(
    database: Path,
    pairs_path: Path,
    names: list[str],
    xy: np.ndarray | None,
    neighbors: int = 0,
    threads: int = -1,
) -> tuple[str, int]:
    """Match and verify; returns the strategy used and the number of verified pairs."""
    db = pycolmap.Database.open(database)
    db.clear_matches()
    db.clear_two_view_geometries()
    db.close()
    options = _options(threads)
    device = pycolmap.Device.cpu
    if xy is not None and np.isfinite(xy).all():
        pairs = spatial_pairs(names, xy, neighbors or DEFAULT_NEIGHBORS)
        write_pairs(pairs, pairs_path)
        pairing = pycolmap.ImportedPairingOptions(match_list_path=pairs_path)
        pycolmap.match_image_pairs(database, options, pairing, device=device)
        strategy = f"spatial ({neighbors or DEFAULT_NEIGHBORS} neighbours, {len(pairs)} pairs)"
    elif len(names) <= EXHAUSTIVE_LIMIT:
        pycolmap.match_exhaustive(database, options, device=device)
        strategy = "exhaustive"
    else:
        pairing = pycolmap.SequentialPairingOptions(overlap=10, quadratic_overlap=True)
        pycolmap.match_sequential(database, options, pairing, device=device)
        strategy = "sequential"
    db = pycolmap.Database.open(database)
    try:
        return strategy, db.num_verified_image_pairs()
    finally:
        db.close()
