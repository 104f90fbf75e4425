"""A big synthetic fluorescence image, generated lazily and deterministically, tile by tile, at every level.

Each pyramid level is rendered directly (not reduced from level 0), so the overview of a 65536 x 65536 image
costs one 512 x 512 tile and the image costs nothing until it is looked at. Nuclei sit on a jittered grid
inside a tissue-shaped region; each is drawn as an impulse holding its total intensity, blurred to its size at
that level, so every level is the faithful average of level 0 (up to its own noise).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

SIZE = 65536
TILE = 512
CELL = 40  # level-0 pixels between nucleus sites
NUCLEUS_SIGMA = 5.0  # level-0 pixels
BACKGROUND = 100.0
MEAN_BRIGHTNESS = 2750.0
CONTRAST_LIMITS = (95.0, 1000.0)


def _hash_uniform(rows: np.ndarray, cols: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) numbers from integer grid positions: a splitmix64 mix, the same on every machine."""
    with np.errstate(over="ignore"):
        z = rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + cols.astype(np.uint64) * np.uint64(
            0xC2B2AE3D27D4EB4F
        ) + np.uint64(salt * 0x165667B19E3779F9)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def tissue_density(y: np.ndarray, x: np.ndarray, size: int = SIZE) -> np.ndarray:
    """How densely nuclei sit at level-0 position (y, x): a rounded tissue section with lobes, 0 outside."""
    u, v = y / size - 0.5, x / size - 0.5
    lobes = 0.55 + 0.25 * np.sin(2 * np.pi * (1.3 * u + 0.7 * v)) + 0.2 * np.cos(2 * np.pi * (2.1 * u - 1.7 * v))
    lobes = lobes - 0.45 * np.clip(np.sin(2 * np.pi * 11 * u) * np.sin(2 * np.pi * 9 * (v + 0.3 * u)), 0.3, 1.0)
    radius = np.hypot(u, v * 1.15)
    edge = np.clip((0.46 - radius) / 0.04, 0.0, 1.0)
    return np.clip(lobes, 0.0, 1.0) * edge


def render_tile(level: int, row0: int, col0: int, shape: tuple[int, int], size: int = SIZE) -> np.ndarray:
    """The uint16 pixels of level ``level`` from (row0, col0), ``shape`` big."""
    factor = 2**level
    y = (np.arange(row0, row0 + shape[0]) + 0.5) * factor
    x = (np.arange(col0, col0 + shape[1]) + 0.5) * factor
    density = tissue_density(y[:, None], x[None, :], size)
    if factor >= CELL:
        # A pixel spans more than one nucleus site: draw the expected intensity instead of every nucleus.
        nuclei = density * MEAN_BRIGHTNESS * 2 * np.pi * NUCLEUS_SIGMA**2 / CELL**2
    else:
        nuclei = _nuclei(factor, row0, col0, shape, size)
    signal = BACKGROUND + 60.0 * density + nuclei
    # Photon noise, averaged down with the pixel area at coarser levels.
    rng = np.random.default_rng([level, row0, col0])
    noisy = signal + rng.standard_normal(signal.shape) * np.sqrt(signal) / factor
    return np.clip(np.rint(noisy), 0, 65535).astype(np.uint16)


def _nuclei(factor: int, row0: int, col0: int, shape: tuple[int, int], size: int) -> np.ndarray:
    sigma = NUCLEUS_SIGMA / factor
    halo = int(np.ceil(4 * sigma)) + 1
    height, width = shape[0] + 2 * halo, shape[1] + 2 * halo
    top, left = (row0 - halo) * factor, (col0 - halo) * factor  # level-0 corner of the padded tile
    rows = np.arange(top // CELL, (top + height * factor) // CELL + 1)
    cols = np.arange(left // CELL, (left + width * factor) // CELL + 1)
    grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
    centre_y = (grid_rows + 0.2 + 0.6 * _hash_uniform(grid_rows, grid_cols, 1)) * CELL
    centre_x = (grid_cols + 0.2 + 0.6 * _hash_uniform(grid_rows, grid_cols, 2)) * CELL
    present = _hash_uniform(grid_rows, grid_cols, 3) < tissue_density(centre_y, centre_x, size)
    brightness = MEAN_BRIGHTNESS + 1250.0 * (2 * _hash_uniform(grid_rows, grid_cols, 4) - 1)
    # Each nucleus's total intensity, spread over the level's pixel area, then blurred to its level size.
    total = (brightness * 2 * np.pi * NUCLEUS_SIGMA**2 / factor**2)[present]
    py = np.floor(centre_y[present] / factor).astype(np.int64) - (row0 - halo)
    px = np.floor(centre_x[present] / factor).astype(np.int64) - (col0 - halo)
    inside = (py >= 0) & (py < height) & (px >= 0) & (px < width)
    flat = np.bincount(py[inside] * width + px[inside], weights=total[inside], minlength=height * width)
    impulses = flat.reshape(height, width)
    return ndi.gaussian_filter(impulses, sigma, mode="constant", truncate=4.0)[halo:-halo, halo:-halo]


def _block(block_id=None, *, level: int, size: int, grid: tuple) -> np.ndarray:
    row, col = block_id
    shape = (grid[0][row], grid[1][col])
    return render_tile(level, row * TILE, col * TILE, shape, size)


def synthetic_pyramid(size: int = SIZE, coarsest: int = TILE) -> list[da.Array]:
    """Every level of the synthetic image, finest first, as lazy dask arrays of 512 x 512 tiles."""
    levels = []
    level = 0
    while True:
        edge = -(-size // 2**level)
        chunks = da.core.normalize_chunks((TILE, TILE), (edge, edge))
        levels.append(
            da.map_blocks(_block, level=level, size=size, grid=chunks, chunks=chunks, dtype=np.uint16, meta=np.empty((0, 0), np.uint16))
        )
        if edge <= coarsest:
            return levels
        level += 1
