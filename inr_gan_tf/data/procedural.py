"""Procedural images whose ground truth exists at every resolution and over any region.

Each index defines a continuous image on the plane: a background colour (white or a random
colour) painted over by 2-6 shapes (discs, rings, rotated rectangles, triangles) in random
colours, in order. The scene is analytic (point-in-shape tests), so it can be evaluated
anywhere, in the same frame as `inr_gan_tf.coords`: the training image is the unit square
[0, 1]^2, x to the right, y downwards, and pixel (i, j) of an H x W render over
`bounds = (x0, y0, x1, y1)` covers the cell centred on

    x = x0 + (j + 0.5) * (x1 - x0) / W,     y = y0 + (i + 0.5) * (y1 - y0) / H.

Pixel value = the area average of the scene over that cell, approximated by supersampling:
the mean of s x s point samples on a regular sub-grid of the cell. The sub-grid of an
H x W render with supersample s is exactly the point grid of an sH x sW render, so a 2x2 box
downsample of the (2H, 2W, s) render equals the (H, W, 2s) render up to float rounding, and
approximates the (H, W, s) render up to the supersampling error on shape edges. That makes
`render_procedural(k, 2R, 2R)` the ground truth for 2x super-resolution of training image k.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from inr_gan_tf.coords import UNIT_BOUNDS, check_bounds
from inr_gan_tf.data.base import DataStats, IndexedSource

# Fixed: image k is the same on every machine and in every run.
PROCEDURAL_SEED = 20_231_116
DEFAULT_NUM_EXAMPLES = 10_000
_MAX_POINTS = 1 << 20  # sample points evaluated at once, bounds memory at ~100 MB

Shape = Tuple[str, np.ndarray, tuple]  # (kind, rgb [3], geometry)


def scene(index: int) -> Tuple[np.ndarray, List[Shape]]:
    """The analytic description of image `index`: (background rgb [3], shapes in paint order)."""
    if int(index) < 0:
        raise ValueError(f'procedural index must be >= 0, got {index}')
    rng = np.random.default_rng([PROCEDURAL_SEED, int(index)])
    background = np.ones(3) if rng.random() < 0.5 else rng.uniform(0.2, 1.0, 3)
    shapes = []
    for _ in range(int(rng.integers(2, 7))):
        kind = ('disc', 'ring', 'rect', 'triangle')[int(rng.integers(4))]
        color = rng.uniform(0.0, 1.0, 3)
        center = rng.uniform(0.15, 0.85, 2)
        if kind == 'disc':
            geometry = (center, rng.uniform(0.08, 0.35))
        elif kind == 'ring':
            r_out = rng.uniform(0.12, 0.4)
            geometry = (center, r_out * rng.uniform(0.4, 0.8), r_out)
        elif kind == 'rect':
            geometry = (center, rng.uniform(0.08, 0.3, 2), rng.uniform(0.0, np.pi))
        else:
            # Vertices roughly 120 degrees apart: no needle-thin triangles.
            angles = rng.uniform(0.0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3 \
                + rng.uniform(-0.5, 0.5, 3)
            radii = rng.uniform(0.15, 0.4, 3)
            geometry = (center + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], -1),)
        shapes.append((kind, color, geometry))
    return background, shapes


def _inside(kind: str, geometry: tuple, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of the points (x, y) inside one shape (closed sets)."""
    if kind in ('disc', 'ring'):
        c = geometry[0]
        d2 = (x - c[0]) ** 2 + (y - c[1]) ** 2
        if kind == 'disc':
            return d2 <= geometry[1] ** 2
        return (d2 >= geometry[1] ** 2) & (d2 <= geometry[2] ** 2)
    if kind == 'rect':
        c, half, theta = geometry
        dx, dy = x - c[0], y - c[1]
        u = dx * np.cos(theta) + dy * np.sin(theta)
        v = -dx * np.sin(theta) + dy * np.cos(theta)
        return (np.abs(u) <= half[0]) & (np.abs(v) <= half[1])
    (v,) = geometry  # triangle vertices [3, 2]
    # Edge functions (cross products); inside = all three of one sign, for either winding.
    s = [(v[(k + 1) % 3, 0] - v[k, 0]) * (y - v[k, 1]) - (v[(k + 1) % 3, 1] - v[k, 1]) * (x - v[k, 0])
         for k in range(3)]
    return ((s[0] >= 0) & (s[1] >= 0) & (s[2] >= 0)) | ((s[0] <= 0) & (s[1] <= 0) & (s[2] <= 0))


def render_points(index: int, points: np.ndarray) -> np.ndarray:
    """Point samples of image `index` at `points` [..., 2] (x, y) -> float32 rgb [..., 3] in [0, 1]."""
    background, shapes = scene(index)
    points = np.asarray(points, dtype=np.float64)
    x, y = points[..., 0], points[..., 1]
    out = np.broadcast_to(background, x.shape + (3,)).copy()
    for kind, color, geometry in shapes:
        out[_inside(kind, geometry, x, y)] = color
    return out.astype(np.float32)


def render_procedural(index: int, height: int, width: int,
                      bounds: Sequence[float] = (0.0, 0.0, 1.0, 1.0),
                      supersample: int = 4) -> np.ndarray:
    """Image `index` rendered at H x W over `bounds` -> float32 [H, W, 3] in [0, 1].

    Each pixel is the mean of `supersample`^2 point samples on a regular grid inside its cell
    (see the module docstring for why this makes renders at different resolutions agree).
    Deterministic per index.
    """
    height, width, s = int(height), int(width), int(supersample)
    if height < 1 or width < 1 or s < 1:
        raise ValueError(f'need height, width, supersample >= 1, got {height}, {width}, {s}')
    x0, y0, x1, y1 = check_bounds(bounds)
    # Sub-sample (a, b) of pixel (i, j) is point (i * s + a, j * s + b) of an sH x sW grid.
    xs = x0 + (np.arange(width * s) + 0.5) * (x1 - x0) / (width * s)
    out = np.empty((height, width, 3), np.float32)
    rows = max(1, _MAX_POINTS // (width * s * s))  # pixel rows per chunk
    for r0 in range(0, height, rows):
        r1 = min(height, r0 + rows)
        ys = y0 + (np.arange(r0 * s, r1 * s) + 0.5) * (y1 - y0) / (height * s)
        gx, gy = np.meshgrid(xs, ys)  # [(r1 - r0) * s, W * s]
        samples = render_points(index, np.stack([gx, gy], -1)).astype(np.float64)
        out[r0:r1] = samples.reshape(r1 - r0, s, width, s, 3).mean(axis=(1, 3))
    return out


class ProceduralSource(IndexedSource):
    """`num_examples` procedural images, rendered directly at the training resolution.

    Rendering at the requested resolution (rather than resizing a fixed-size render) keeps the
    training images exact area averages, the same quantity the ground truth at 2R measures.
    """

    load_dtype = tf.float32
    exact = True

    def __init__(self, num_examples: int = DEFAULT_NUM_EXAMPLES, *, supersample: int = 4,
                 name: Optional[str] = None):
        if num_examples < 1:
            raise ValueError(f'procedural dataset needs num_examples >= 1, got {num_examples}')
        self.supersample = int(supersample)
        self.name = name or f'procedural:{num_examples}'
        self.stats = DataStats(self.name, int(num_examples))

    def load(self, index, resolution):
        return render_procedural(index, resolution, resolution, supersample=self.supersample) * 255.0

    def view(self, index, height, width, bounds=UNIT_BOUNDS):
        """The scene itself over any window, inside or outside the frame (exact)."""
        return self._view(index, height, width, bounds, self.supersample)

    point_views = True

    def point_view(self, index, height, width, bounds=UNIT_BOUNDS):
        """The scene at the pixel centres (supersample 1)."""
        return self._view(index, height, width, bounds, 1)

    def _view(self, index, height, width, bounds, supersample):
        if not 0 <= int(index) < self.num_examples:
            raise IndexError(f'{self.name}: index {index} out of range [0, {self.num_examples})')
        return render_procedural(index, height, width, bounds, supersample=supersample) * 255.0
