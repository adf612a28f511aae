"""Sampling: seeds -> images at any size, region and aspect ratio, in bounded memory.

Image k depends on seed k only (not on the batch it is rendered in): each seed draws its own
z from its own NumPy generator (seeds.py), and every op of G is per sample. Large renders go tile by tile
through `G.render`, so memory is bounded by one tile's activations plus the output array.
"""
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from inr_gan_tf import coords as coords_lib
from inr_gan_tf.progress import Progress
from inr_gan_tf.seeds import parse_seeds, seed_latents, to_uint8  # noqa: F401  (the sampling API)


def render_tiled(G, params, height: int, width: int,
                 bounds: Sequence[float] = coords_lib.UNIT_BOUNDS,
                 tile_size: int = 256) -> np.ndarray:
    """float32 [B, H, W, 3]: G.render_pixels on each tile of the H x W grid over `bounds`.

    A tile's memory is its points: with `antialias` k each pixel is k^2 points, so tiles are k
    times narrower in pixels, tile_size^2 points at most whatever k (k^2 if tile_size < k).
    Measured: the 4x metric passes of an antialias-4 model peaked at 19.7 GB with whole 128^2
    tiles, 7.3 GB with these."""
    if int(tile_size) < 1:  # before dividing: 0 or less would become 1-pixel tiles
        raise ValueError(f"tile_size must be >= 1, got {tile_size}")
    batch = int(tf.shape(next(iter(params.values())))[0])
    out = np.empty((batch, height, width, 3), np.float32)
    pixel = coords_lib.grid_pixel(height, width, np.asarray(coords_lib.check_bounds(bounds), np.float32))
    # Below k the tile is one pixel of k^2 points: the fewest a pixel can be.
    side = max(1, int(tile_size) // int(getattr(G, "antialias", 1)))
    for t in coords_lib.tiles(height, width, side, bounds):
        rgb = G.render_pixels(params, t.coords, pixel)  # [B, h*w, 3]
        out[:, t.row0:t.row1, t.col0:t.col1] = rgb.numpy().reshape(batch, t.row1 - t.row0, t.col1 - t.col0, -1)
    return out


def whole(G, height: int, width: int) -> int:
    """The tile_size of render_tiled that renders an H x W image in one piece."""
    return max(height, width) * int(getattr(G, "antialias", 1))


def generate_images(G, seeds: Sequence[int], height: Optional[int] = None,
                    width: Optional[int] = None,
                    bounds: Sequence[float] = coords_lib.UNIT_BOUNDS,
                    truncation: float = 1.0, batch_size: int = 8,
                    tile_size: int = 256, progress: Optional[bool] = False) -> np.ndarray:
    """uint8 [S, H, W, 3] images of `seeds` (default size: the training resolution);
    progress: a progress bar (None: when stdout is a terminal)."""
    height = height or G.resolution
    width = width or G.resolution
    bounds = coords_lib.check_bounds(bounds)
    seeds = list(seeds)
    out = np.empty((len(seeds), height, width, 3), np.uint8)
    bar = Progress(len(seeds), f"{len(seeds)} images at {height}x{width}", enabled=progress)
    for i in range(0, len(seeds), batch_size):
        z = tf.constant(seed_latents(seeds[i:i + batch_size], G.z_dim))
        params = G.params(z, truncation=truncation)
        out[i:i + len(z)] = to_uint8(render_tiled(G, params, height, width, bounds, tile_size))
        bar.update(len(z))
    bar.close()
    return out
