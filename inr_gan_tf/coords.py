"""Coordinate sets that an INR image is evaluated on.

Frame (paper Sec. 3.1): the training image covers the unit square [0, 1]^2, x to the right,
y downwards. Pixel-centre convention: pixel (row i, column j) of an H x W render over
`bounds = (x0, y0, x1, y1)` sits at

    x = x0 + (j + 0.5) * (x1 - x0) / W,     y = y0 + (i + 0.5) * (y1 - y0) / H.

So the training grid is `grid_np(R, R)`, 2x super-resolution is `grid_np(2R, 2R)`, a zoom-out is
`grid_np(R, R, bounds=(-0.3, -0.3, 1.3, 1.3))` (paper Fig. 2), and a 16:9 frame is
`grid_np(R, 16 * R // 9, bounds=(-0.39, 0, 1.39, 1))`. Points are laid out row-major as (x, y)
pairs, so `rgb[B, H*W, 3]` reshapes to an image `[B, H, W, 3]`. Any other point set is simply a
`[N, 2]` or `[B, N, 2]` float tensor.
"""
from typing import Iterator, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

Bounds = Tuple[float, float, float, float]
UNIT_BOUNDS: Bounds = (0.0, 0.0, 1.0, 1.0)


def check_bounds(bounds: Sequence[float]) -> Bounds:
    """Validates `(x0, y0, x1, y1)`: four finite numbers with x0 < x1 and y0 < y1."""
    if len(bounds) != 4:
        raise ValueError(f"bounds must be (x0, y0, x1, y1), got {bounds!r}")
    x0, y0, x1, y1 = (float(b) for b in bounds)
    if not all(np.isfinite([x0, y0, x1, y1])):
        raise ValueError(f"bounds must be finite, got {bounds!r}")
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"bounds need x0 < x1 and y0 < y1, got {bounds!r}")
    return x0, y0, x1, y1


def _check_size(height: int, width: int) -> None:
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"height and width must be >= 1, got {height}x{width}")


def grid_np(height: int, width: int, bounds: Sequence[float] = UNIT_BOUNDS,
            rows: Optional[Tuple[int, int]] = None,
            cols: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Pixel centres of an H x W render over `bounds`, as float32 [n_rows * n_cols, 2].

    `rows=(r0, r1)` / `cols=(c0, c1)` select a window of the full grid. The window is computed
    from the full grid's pixel indices, so a tile's points are bit-identical to the same
    points of the full grid (tiled renders then match untiled ones exactly).
    """
    _check_size(height, width)
    x0, y0, x1, y1 = check_bounds(bounds)
    r0, r1 = rows if rows is not None else (0, height)
    c0, c1 = cols if cols is not None else (0, width)
    if not (0 <= r0 < r1 <= height and 0 <= c0 < c1 <= width):
        raise ValueError(f"window rows={rows} cols={cols} is outside a {height}x{width} grid")
    # float64 then one rounding to float32: the same point always gets the same float32.
    xs = x0 + (np.arange(c0, c1, dtype=np.float64) + 0.5) * (x1 - x0) / width
    ys = y0 + (np.arange(r0, r1, dtype=np.float64) + 0.5) * (y1 - y0) / height
    gx, gy = np.meshgrid(xs, ys)  # [rows, cols] each, row-major
    return np.stack([gx.ravel(), gy.ravel()], axis=-1).astype(np.float32)


def grid_graph(height, width, bounds) -> tf.Tensor:
    """grid_np in graph ops, for sizes known only at run time (exported signatures) and for a
    batch of windows (patch training): bounds [4] -> [H*W, 2], bounds [B, 4] -> [B, H*W, 2].

    Same operation order as grid_np (float64, one rounding to float32): bit-identical points.
    """
    b = tf.cast(bounds, tf.float64)
    batched = b.shape.rank == 2
    b = tf.reshape(b, [-1, 4])                                                       # [B, 4]
    h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    xs = b[:, 0:1] + (tf.range(width, dtype=tf.float64) + 0.5)[None] * (b[:, 2:3] - b[:, 0:1]) / w   # [B, W]
    ys = b[:, 1:2] + (tf.range(height, dtype=tf.float64) + 0.5)[None] * (b[:, 3:4] - b[:, 1:2]) / h  # [B, H]
    shape = tf.stack([tf.shape(b)[0], tf.cast(height, tf.int32), tf.cast(width, tf.int32)])
    gx = tf.broadcast_to(xs[:, None, :], shape)                                      # [B, H, W], row-major
    gy = tf.broadcast_to(ys[:, :, None], shape)
    points = tf.cast(tf.reshape(tf.stack([gx, gy], -1), [tf.shape(b)[0], -1, 2]), tf.float32)
    return points if batched else points[0]


def subpixels(points, pixel, k: int) -> tf.Tensor:
    """Anti-aliasing: the k x k points at the centres of each pixel's k x k sub-cells.

    points [..., N, 2] pixel centres; pixel: the pixel's (width, height), shape [2] or [..., 1, 2]
    (per-sample windows) -> float32 [..., N * k * k, 2], point-major (pixel n's samples are
    rows n*k*k ... n*k*k + k*k - 1, row-major inside the pixel). On a grid they are the pixel
    centres of the k times denser grid (up to float rounding); k = 1 returns the centres.
    """
    points = tf.convert_to_tensor(points, tf.float32)
    if int(k) == 1:
        return points
    offsets = tf.constant(subpixel_offsets(k), tf.float32)                        # [k*k, 2]
    pixel = tf.cast(pixel, tf.float32)[..., None, :]                               # [..., 1, 1, 2]
    sub = points[..., :, None, :] + offsets * pixel                                # [..., N, k*k, 2]
    return tf.reshape(sub, tf.concat([tf.shape(points)[:-2], [-1, 2]], 0))


def subpixel_offsets(k: int) -> np.ndarray:
    """[k*k, 2] (x, y) offsets in pixels of the k x k sub-cell centres, row-major."""
    step = (np.arange(k, dtype=np.float64) + 0.5) / k - 0.5                     # [k] in (-0.5, 0.5)
    ox, oy = np.meshgrid(step, step)
    return np.stack([ox.ravel(), oy.ravel()], -1)


def pick_subpixels(points, pixel, k: int, index) -> tf.Tensor:
    """One of each pixel's k x k `subpixels`: jittered training pixels.

    points [..., N, 2] pixel centres, pixel as in `subpixels`, index int [..., N] in [0, k*k)
    (row-major inside the pixel, the order of `subpixels`) -> float32 [..., N, 2]: sub-point
    index[n] of pixel n, the same point `subpixels` lists at row n*k*k + index[n]. A pixel
    whose index is uniform is then a one-point estimate of its k x k mean.
    """
    points = tf.convert_to_tensor(points, tf.float32)
    offsets = tf.gather(tf.constant(subpixel_offsets(k), tf.float32), index)     # [..., N, 2]
    return points + offsets * tf.cast(pixel, tf.float32)


def pick_dense(image, k: int, index) -> tf.Tensor:
    """The image side of `pick_subpixels`: a point-sampled render [kH, kW, C] of a window,
    whose pixels are the sub-points of the H x W grid's pixels, and index int [H*W] ->
    [H, W, C], pixel n the dense pixel at its sub-point index[n]."""
    k = int(k)
    kh, kw, c = image.shape[-3], image.shape[-2], image.shape[-1]
    h, w = kh // k, kw // k
    cells = tf.transpose(tf.reshape(image, [h, k, w, k, c]), [0, 2, 1, 3, 4])     # [H, W, k, k, C]
    cells = tf.reshape(cells, [h * w, k * k, c])
    return tf.reshape(tf.gather(cells, index, batch_dims=1), [h, w, c])


def subpixel_grid_np(height: int, width: int, bounds: Sequence[float] = UNIT_BOUNDS, k: int = 1) -> np.ndarray:
    """`subpixels` of an H x W grid as NumPy (constant plans): float32 [H * W * k * k, 2], the
    points of the k times denser grid (grid_np) in pixel-major order."""
    dense = grid_np(k * height, k * width, bounds)
    return dense.reshape(height, k, width, k, 2).transpose(0, 2, 1, 3, 4).reshape(-1, 2)


def grid_pixel(height, width, bounds) -> tf.Tensor:
    """(width, height) of one pixel of an H x W grid over `bounds` ([4] -> [2], [B, 4] -> [B, 1, 2])."""
    b = tf.cast(bounds, tf.float32)
    size = tf.stack([(b[..., 2] - b[..., 0]) / tf.cast(width, tf.float32),
                     (b[..., 3] - b[..., 1]) / tf.cast(height, tf.float32)], -1)
    return size if b.shape.rank == 1 else size[:, None, :]


def pool_subpixels(rgb, k: int) -> tf.Tensor:
    """[B, N * k * k, C] renders of `subpixels` -> [B, N, C]: each pixel's mean."""
    if int(k) == 1:
        return rgb
    c = rgb.shape[-1]
    return tf.reduce_mean(tf.reshape(rgb, [tf.shape(rgb)[0], -1, int(k) * int(k), c]), axis=2)


class Tile(NamedTuple):
    """A window of a large grid: rows [row0, row1), columns [col0, col1)."""
    row0: int
    row1: int
    col0: int
    col1: int
    coords: np.ndarray  # [(row1 - row0) * (col1 - col0), 2]


def tiles(height: int, width: int, tile_size: int,
          bounds: Sequence[float] = UNIT_BOUNDS) -> Iterator[Tile]:
    """Splits an H x W grid into tiles of at most tile_size x tile_size pixels, row-major.

    Rendering tile by tile bounds peak memory by the tile, not the image: a 4096^2 render
    never holds more than one tile's activations.
    """
    if int(tile_size) < 1:
        raise ValueError(f"tile_size must be >= 1, got {tile_size}")
    for r0 in range(0, height, tile_size):
        for c0 in range(0, width, tile_size):
            r1, c1 = min(r0 + tile_size, height), min(c0 + tile_size, width)
            yield Tile(r0, r1, c0, c1, grid_np(height, width, bounds, (r0, r1), (c0, c1)))


def zoom_bounds(zoom: float, center: Tuple[float, float] = (0.5, 0.5)) -> Bounds:
    """Bounds of a view `zoom` times wider than the training frame (zoom > 1 zooms out).

    zoom=1.6 gives (-0.3, -0.3, 1.3, 1.3), the paper's Fig. 2.
    """
    if not zoom > 0:
        raise ValueError(f"zoom must be > 0, got {zoom}")
    cx, cy = center
    half = 0.5 * float(zoom)
    return check_bounds((cx - half, cy - half, cx + half, cy + half))


def as_points(coords) -> tf.Tensor:
    """Normalizes a point set to float32 [Bp, N, 2] with Bp = 1 for a set shared by the batch."""
    coords = tf.convert_to_tensor(coords, dtype=tf.float32)
    if coords.shape.rank == 2:
        coords = coords[None]
    if coords.shape.rank != 3 or coords.shape[-1] != 2:
        raise ValueError(f"coords must be [N, 2] or [B, N, 2], got shape {coords.shape}")
    return coords
