"""Request validation for exported generators: numpy only, so serving clients need no TensorFlow.

A render request is z [B, z_dim] and coords [B, N, 2] (or one shared [N, 2] set, broadcast to the
batch). A grid request is a height, width and bounds, checked before the B * H * W points exist.
Every check fails with a `RequestError` that says which input is wrong and how.
"""
from typing import Sequence, Tuple

import numpy as np

# 2048^2 points per request: a 2048^2 image in one call. Larger renders go tile by tile.
DEFAULT_MAX_POINTS = 2048 * 2048


class RequestError(ValueError):
    """An input that an exported generator must not be asked to render."""


def _float_array(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise RequestError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    # float64 (e.g. from JSON) -> float32 is what the model computes in; integers are exact points.
    return arr.astype(np.float32)


def _check_finite(name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise RequestError(f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf), "
                           f"the first at index {first}")


def validate_latents(z, z_dim: int) -> np.ndarray:
    """z as float32 [B, z_dim], B >= 1, all finite."""
    z = _float_array("z", z)
    if z.ndim != 2 or z.shape[1] != z_dim or z.shape[0] < 1:
        raise RequestError(f"z must have shape [B, {z_dim}] with B >= 1, got {list(z.shape)}")
    _check_finite("z", z)
    return z


def validate_render_request(z, coords, z_dim: int,
                            max_points: int = DEFAULT_MAX_POINTS) -> Tuple[np.ndarray, np.ndarray]:
    """(z [B, z_dim], coords [B, N, 2]) as float32, or a RequestError.

    `coords` may be one [N, 2] set for the whole batch. `max_points` bounds B * N, the number of
    points rendered (memory grows with it).
    """
    z = validate_latents(z, z_dim)
    coords = _float_array("coords", coords)
    if coords.ndim == 2:
        coords = np.broadcast_to(coords[None], (z.shape[0],) + coords.shape)
    if coords.ndim != 3 or coords.shape[2] != 2:
        raise RequestError(f"coords must have shape [B, N, 2] or [N, 2], got {list(coords.shape)}")
    if coords.shape[0] != z.shape[0]:
        raise RequestError(f"coords has batch {coords.shape[0]} but z has batch {z.shape[0]}")
    if coords.shape[1] < 1:
        raise RequestError("coords must hold at least one point")
    total = coords.shape[0] * coords.shape[1]
    if total > max_points:
        raise RequestError(f"request has {total} points (batch {coords.shape[0]} x {coords.shape[1]}), "
                           f"more than the maximum of {max_points}; render in tiles")
    _check_finite("coords", coords)
    return z, np.ascontiguousarray(coords)


def validate_grid_request(batch: int, height: int, width: int,
                          bounds: Sequence[float] = (0.0, 0.0, 1.0, 1.0),
                          truncation: float = 1.0,
                          max_points: int = DEFAULT_MAX_POINTS) -> Tuple[int, int, np.ndarray, float]:
    """(height, width, bounds float32 [4], truncation) of an H x W render over bounds."""
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise RequestError(f"{name} must be an integer >= 1, got {v!r}")
    total = int(batch) * int(height) * int(width)
    if total > max_points:
        raise RequestError(f"a {batch} x {height} x {width} render has {total} points, more than the "
                           f"maximum of {max_points}; render in tiles")
    b = _float_array("bounds", bounds)
    if b.shape != (4,):
        raise RequestError(f"bounds must be (x0, y0, x1, y1), got shape {list(b.shape)}")
    _check_finite("bounds", b)
    if not (b[0] < b[2] and b[1] < b[3]):
        raise RequestError(f"bounds need x0 < x1 and y0 < y1, got {b.tolist()}")
    t = float(truncation)
    if not np.isfinite(t):
        raise RequestError(f"truncation must be finite, got {truncation!r}")
    return int(height), int(width), b, t

