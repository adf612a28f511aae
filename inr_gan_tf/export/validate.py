"""Request validation for exported generators: numpy only, so serving clients need no TensorFlow.

The limits below are shared with the SavedModel signatures (modules.py), which run the same
checks in the graph before anything is allocated. TFLite and ONNX files have no guards (Assert
has no builtin there): validating a request here first is the documented way to guard them.

A render request is z [B, z_dim] and coords [B, N, 2] (or one shared [N, 2] set, broadcast to the
batch). A grid request is a height, width and bounds, checked before its B * H * W * k^2 points
exist (k: the model's antialias).
Every check fails with a `RequestError` that says which input is wrong and how.
"""
import re
from typing import Sequence, Tuple

import numpy as np

# Points (batch x points) one request may ask for: a 2048^2 image in one call. The SavedModel
# renders them DEFAULT_TILE_POINTS at a time, so its memory follows the tile, not the request;
# what grows with max_points is the grid, the output and their copies, about 40 bytes a point.
DEFAULT_MAX_POINTS = 2048 * 2048
# Points rendered at once inside the SavedModel (a 256^2 tile). A tile's activations take about
# 1.1 KB a point for the session-7 quickstart model, 1.9 KB for presets.small_generator(64) and 6.3 KB for
# the paper's 256^2 model (measured untiled at 512^2). A 2048^2 request then peaks 0.2-0.6 GB
# over the idle server (saved_models/README.md); 2^17 points took the paper model to 1.3 GB and were no faster.
DEFAULT_TILE_POINTS = 2 ** 16
# Latents per request. Bounds the `params` signature ([B, P] floats, plus the mapping's
# activations), which has no points to cap.
DEFAULT_MAX_BATCH = 64
# Height and width of a grid. Checked before B * H * W is formed, so the product (below 2^35 with
# these caps) cannot overflow, and a tiny H cannot smuggle a huge W past the point cap's product.
MAX_SIDE = 16384

_MODEL_NAME = re.compile(r"[A-Za-z0-9._-]+")


class RequestError(ValueError):
    """An input that an exported generator must not be asked to render."""


def check_model_name(name: str) -> str:
    """A model name that is one plain folder name (TF Serving's base_path/<name>, a URL segment)."""
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"model name must be letters, digits and ._- (not '.' or '..', no path "
                         f"separators), got {name!r}")
    return name


def _is_integer(v) -> bool:
    """A Python or numpy integer; not a bool, which Python counts as one."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_limits(max_points: int, max_batch: int) -> Tuple[int, int]:
    """The limits an export is built with: integers >= 1 (no "unlimited": the guards stay on)."""
    for name, v in (("max_points", max_points), ("max_batch", max_batch)):
        if not _is_integer(v) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    return int(max_points), int(max_batch)


def _float_array(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise RequestError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    # float64 (e.g. from JSON) -> float32 is what the model computes in (1e39 becomes inf, and is
    # refused below as the server would refuse it); integers are exact points.
    with np.errstate(over="ignore"):
        return arr.astype(np.float32)


def _check_finite(name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise RequestError(f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf), "
                           f"the first at index {first}")


def _check_batch(name: str, batch: int, max_batch: int) -> None:
    if not 1 <= batch <= max_batch:
        raise RequestError(f"{name} has batch {batch}; it must be >= 1 and <= max_batch={max_batch}")


def _check_points(total: int, what: str, max_points: int, detail: str = "") -> None:
    if total > max_points:  # Python integers: no overflow
        raise RequestError(f"{what} has {total} points{detail}, more than the maximum of {max_points} "
                           f"(max_points); render in tiles")


def validate_truncation(truncation) -> float:
    """Truncation psi as a float that is finite in float32."""
    try:
        t = float(truncation)
    except (TypeError, ValueError):
        raise RequestError(f"truncation must be a number, got {truncation!r}") from None
    with np.errstate(over="ignore"):
        finite = np.isfinite(np.float32(t))
    if not finite:
        raise RequestError(f"truncation must be finite, got {truncation!r}")
    return t


def validate_latents(z, z_dim: int, max_batch: int = DEFAULT_MAX_BATCH) -> np.ndarray:
    """z as float32 [B, z_dim], 1 <= B <= max_batch, all finite."""
    z = _float_array("z", z)
    if z.ndim != 2 or z.shape[1] != z_dim or z.shape[0] < 1:
        raise RequestError(f"z must have shape [B, {z_dim}] with B >= 1, got {list(z.shape)}")
    _check_batch("z", z.shape[0], max_batch)
    _check_finite("z", z)
    return z


def validate_params_request(z, truncation, z_dim: int,
                            max_batch: int = DEFAULT_MAX_BATCH) -> Tuple[np.ndarray, float]:
    """(z, truncation) of the `params` signature."""
    return validate_latents(z, z_dim, max_batch), validate_truncation(truncation)


def _validate_coords(coords, batch: int, max_points: int) -> np.ndarray:
    coords = _float_array("coords", coords)
    if coords.ndim == 2:
        coords = np.broadcast_to(coords[None], (batch,) + coords.shape)
    if coords.ndim != 3 or coords.shape[2] != 2:
        raise RequestError(f"coords must have shape [B, N, 2] or [N, 2], got {list(coords.shape)}")
    if coords.shape[0] != batch:
        raise RequestError(f"coords has batch {coords.shape[0]} but z has batch {batch}")
    if coords.shape[1] < 1:
        raise RequestError("coords must hold at least one point")
    _check_points(batch * coords.shape[1], "request", max_points, f" (batch {batch} x {coords.shape[1]})")
    _check_finite("coords", coords)
    return np.ascontiguousarray(coords)


def validate_render_request(z, coords, z_dim: int, max_points: int = DEFAULT_MAX_POINTS,
                            max_batch: int = DEFAULT_MAX_BATCH) -> Tuple[np.ndarray, np.ndarray]:
    """(z [B, z_dim], coords [B, N, 2]) as float32 (`render` signature), or a RequestError.

    `coords` may be one [N, 2] set for the whole batch. `max_points` bounds B * N, the number of
    points rendered.
    """
    z = validate_latents(z, z_dim, max_batch)
    return z, _validate_coords(coords, z.shape[0], max_points)


def validate_render_params_request(params, coords, param_size: int, max_points: int = DEFAULT_MAX_POINTS,
                                   max_batch: int = DEFAULT_MAX_BATCH) -> Tuple[np.ndarray, np.ndarray]:
    """(params [B, P], coords [B, N, 2]) of the `render_params` signature."""
    params = _float_array("params", params)
    if params.ndim != 2 or params.shape[1] != param_size or params.shape[0] < 1:
        raise RequestError(f"params must have shape [B, {param_size}] with B >= 1, got {list(params.shape)}")
    _check_batch("params", params.shape[0], max_batch)
    _check_finite("params", params)
    return params, _validate_coords(coords, params.shape[0], max_points)


def validate_image_request(coords, max_points: int = DEFAULT_MAX_POINTS) -> np.ndarray:
    """coords [N, 2] of a one-image export (`--seed`; its `render` signature)."""
    coords = _float_array("coords", coords)
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] < 1:
        raise RequestError(f"coords must have shape [N, 2] with N >= 1, got {list(coords.shape)}")
    _check_points(coords.shape[0], "request", max_points)
    _check_finite("coords", coords)
    return np.ascontiguousarray(coords)


def validate_grid_request(batch: int, height: int, width: int,
                          bounds: Sequence[float] = (0.0, 0.0, 1.0, 1.0),
                          truncation: float = 1.0,
                          max_points: int = DEFAULT_MAX_POINTS,
                          max_batch: int = DEFAULT_MAX_BATCH,
                          antialias: int = 1) -> Tuple[int, int, np.ndarray, float]:
    """(height, width, bounds float32 [4], truncation) of an H x W render over bounds (`render_grid`).

    antialias: k of the model, whose pixels are the mean of k x k points each (the `pixel_points`
    signature's offsets), so the request is B x H x W x k^2 points, as render_grid counts them.
    """
    _check_batch("z", int(batch), max_batch)
    for name, v in (("height", height), ("width", width)):
        if not _is_integer(v) or not 1 <= v <= MAX_SIDE:
            raise RequestError(f"{name} must be an integer >= 1 and <= {MAX_SIDE}, got {v!r}")
    if not _is_integer(antialias) or antialias < 1:
        raise RequestError(f"antialias must be an integer >= 1, got {antialias!r}")
    k = int(antialias)
    _check_points(int(batch) * int(height) * int(width) * k * k, f"a {batch} x {height} x {width} render",
                  max_points, f" ({k} x {k} a pixel)" if k > 1 else "")
    b = _float_array("bounds", bounds)
    if b.shape != (4,):
        raise RequestError(f"bounds must be (x0, y0, x1, y1), got shape {list(b.shape)}")
    _check_finite("bounds", b)
    if not (b[0] < b[2] and b[1] < b[3]):
        raise RequestError(f"bounds need x0 < x1 and y0 < y1, got {b.tolist()}")
    return int(height), int(width), b, validate_truncation(truncation)
