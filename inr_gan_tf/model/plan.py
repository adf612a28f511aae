"""Where each block of a multi-scale INR runs, for any set of points (paper Sec. 3.3).

A multi-scale INR splits F into K blocks of growing resolution r_0 < r_1 < ... (cells per unit
of the frame). Coarse block k (k < K-1) runs at the centres of its r_k-cells, (i + 0.5) / r_k;
how a finer block reads it at another point is the `upsampling` rule:

  nearest  - the value at the centre of the cell that contains the point. The paper implements
             this on grids as nearest upsampling ("replicating low-resolution features").
  bilinear - the bilinear interpolation of the values at the four cell centres around the point
             (the authors' later "INR-GAN-bil" models), so no block's cell edges reach the image.
  local    - the same four cells and weights, but what is blended is the finer block's first
             layer run once per cell on that cell's values and the point's offset from the
             cell's centre (LIIF's local ensemble, Chen et al. 2021; inr.MultiScaleINR.local_ensemble).
             `local_diff`: the offset acts only through how each cell differs from the blend
             of the four, so cells that agree give the blend alone (no per-cell pattern).
             Both have the plan of bilinear; every statement below about bilinear holds for them.

Defined on points, both hold for super-resolution grids, zoom-outs outside [0, 1]^2 and
scattered points. The finest block runs at the points themselves, so an image stays a true
function of its coordinates.

Bilinear border rule. Within the frame the neighbours are clamped to the frame's cells, so on
the training grid the rule is exactly bilinear upsampling with half-pixel centres
(tf.image.resize): points within half a cell of the frame's edge read the edge cell alone.
Outside the frame the cells of the infinite lattice are used, because the INR is a function of
the whole plane (zoom-out, paper Fig. 2), and the last half cell before the edge cell's band
blends the outer cell into the edge cell, so the function stays continuous across the frame's
edge. Per axis, with u = p * r - 0.5 the position in cell units (cell i's centre at u = i):

    s(u) = u + relu(0.5 - |u + 0.5|) - relu(0.5 - |u - (r - 0.5)|)

is u except that [-0.5, 0] and [r - 1, r - 0.5] collapse onto the edge centres and [-1, -0.5],
[r - 0.5, r] stretch to a whole cell; the neighbours are floor(s) and ceil(s) with weight
s - floor(s). Every cell keeps its own value at its centre.

Block resolutions are fixed in frame units and do not follow the output resolution: every
render samples the same function F. On the training grid each cell holds exactly one pixel of
the coarser grid. Above it (super-resolution) the coarse blocks run at their training cells and
only the finest block sees the new points. Below it, with nearest, each point gets its own
coarse cell, so a 64^2 render of a 256^2 model runs every block at 64^2 points instead of
128^2 + 256^2: the accelerated low-resolution inference of Fig. 9. Bilinear needs the four
cells around each point, so there the coarse blocks save less (up to all their cells).

A plan lists, per coarse block, the distinct cells it must run at (each once) and how to gather
from the coarser block: one parent per cell (nearest; resolutions nest, r_{k+1} a multiple of
r_k, so a cell has one parent) or four neighbours and their weights (bilinear, built from the
finest block down: block k's cells are the neighbours of block k+1's cells). Distinct cells are
shared by the batch: for a point set per sample the coarse blocks run at the union of the
samples' cells, exact but more work than for a shared set.

`frame_plan` is the plan of patch training (training/losses.py): per-sample windows inside the
frame at densities R / s above the training grid. Its coarse blocks run at all their frame
cells, as on the training grid (same cost), and each point finds its cells by arithmetic, so it
needs no tf.unique and has static shapes (XLA). Only the finest block sees the points, so the
rule that the last block's resolution is R is enough for any density: the finest block is
trained at the points themselves (density R / s), the coarse blocks at their own cells, which
is how every render, at any density, evaluates them; rendering below R keeps its shortcut.
"""
import functools
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from inr_gan_tf import coords as coords_lib
from inr_gan_tf.model.config import (LOCAL_UPSAMPLINGS, UPSAMPLINGS, check_resolutions,  # noqa: F401 -- the rules' names
                                     check_upsampling)

_OFFSET = 2 ** 30  # cell indices are clipped to [-2^30, 2^30) and packed into one int64 key
_SPLIT = 4096      # parent indices travel as two float32 parts < 2^24: exact up to 2^36 points
_FAR = 2.0 ** 29   # |lattice position| clip of the bilinear rule: floor and ceil stay in the key range


class RenderPlan(NamedTuple):
    points: tf.Tensor                    # [Bp, N, 2]; Bp = 1 when shared by the batch
    centres: Tuple[tf.Tensor, ...]       # coarse block k: [U_k, 2] centres of its distinct cells
    parents: Tuple[tf.Tensor, ...]       # coarse block k >= 1: [U_k] parent cell in block k-1 (nearest)
                                         # or [U_k, 4] its neighbour cells (bilinear)
    point_parents: Optional[tf.Tensor]   # [Bp, N] (nearest) or [Bp, N, 4] (bilinear): cells of the
                                         # last coarse block that each point reads
    weights: Tuple[tf.Tensor, ...] = ()  # bilinear: [U_k, 4] weights of parents[k - 1]
    point_weights: Optional[tf.Tensor] = None  # bilinear: [Bp, N, 4] weights of point_parents


# Only ops that TFLite and ONNX run natively (exports render with this same plan): TFLite has no
# int64 floor-division to decode keys, and tf2onnx 1.17 fails on integer segment reductions with
# numpy 2. Hence float32 segment maxima over values that are equal within each segment.


def _segment_value(values, idx, num):
    """The value shared by all members of each segment (max of equal values)."""
    return tf.math.unsorted_segment_max(values, idx, num)


def _distinct(cell, resolution: int):
    """Distinct integer-valued cells [P, 2] -> (their centres [U, 2], index of each row [P])."""
    icell = tf.cast(cell, tf.int64)
    key = (icell[:, 0] + _OFFSET) * (2 * _OFFSET) + (icell[:, 1] + _OFFSET)  # [P]
    uniq, idx = tf.unique(key)  # first-occurrence order: deterministic for a given point set
    centres = _segment_value((cell + 0.5) / float(resolution), idx, tf.shape(uniq)[0])  # [U, 2]
    return centres, idx


def _cells(points_flat: tf.Tensor, resolution: int):
    cell = tf.clip_by_value(tf.floor(points_flat * float(resolution)), -_OFFSET, _OFFSET - 1)  # [P, 2]
    return _distinct(cell, resolution)


def _parents(prev_idx, idx, num):
    """Parent cell of each cell: all points of a level-k cell share one level-(k-1) cell."""
    hi = _segment_value(tf.cast(prev_idx // _SPLIT, tf.float32), idx, num)
    lo = _segment_value(tf.cast(prev_idx % _SPLIT, tf.float32), idx, num)
    return tf.cast(hi, tf.int32) * _SPLIT + tf.cast(lo, tf.int32)  # [U]


def lattice_position(points_flat: tf.Tensor, resolution: int) -> tf.Tensor:
    """s [P, 2]: the bilinear rule's position in cell units (cell i's centre at s = i), border rule applied."""
    r = float(resolution)
    u = tf.clip_by_value(points_flat * r - 0.5, -_FAR, _FAR)  # [P, 2]
    return u + tf.nn.relu(0.5 - tf.abs(u + 0.5)) - tf.nn.relu(0.5 - tf.abs(u - (r - 0.5)))


def _neighbours(query: tf.Tensor, resolution: int):
    """The 4 cells around each query point [Q, 2] ([Q * 4, 2], row-major per point) and weights [Q, 4]."""
    s = lattice_position(query, resolution)
    lo, hi = tf.floor(s), tf.math.ceil(s)  # hi == lo at a centre: no weight-0 cell is run
    t = s - lo  # [Q, 2]
    x0, y0, x1, y1 = lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]
    cells = tf.stack([tf.stack([x0, y0], -1), tf.stack([x1, y0], -1),
                      tf.stack([x0, y1], -1), tf.stack([x1, y1], -1)], 1)  # [Q, 4, 2]
    tx, ty = t[:, 0], t[:, 1]
    weights = tf.stack([(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty], 1)  # [Q, 4]
    return tf.reshape(cells, [-1, 2]), weights


def _nearest_plan(points, coarse_resolutions) -> RenderPlan:
    flat = tf.reshape(points, [-1, 2])
    centres, parents, prev_idx = [], [], None
    for k, res in enumerate(coarse_resolutions):
        c, idx = _cells(flat, res)
        if k > 0:
            parents.append(_parents(prev_idx, idx, tf.shape(c)[0]))
        centres.append(c)
        prev_idx = idx
    point_parents = None
    if prev_idx is not None:
        point_parents = tf.reshape(prev_idx, tf.shape(points)[:2])
    return RenderPlan(points, tuple(centres), tuple(parents), point_parents)


def _bilinear_plan(points, coarse_resolutions) -> RenderPlan:
    if not coarse_resolutions:
        return RenderPlan(points, (), (), None)
    query = tf.reshape(points, [-1, 2])  # the points, then each block's cell centres
    centres, parents, weights = [], [], []
    for res in reversed(coarse_resolutions):  # finest coarse block first: its cells are the points' neighbours
        cells, w = _neighbours(query, res)
        c, idx = _distinct(cells, res)
        centres.insert(0, c)
        parents.insert(0, tf.reshape(idx, [-1, 4]))  # [Q, 4] rows of c
        weights.insert(0, w)
        query = c
    shape = tf.concat([tf.shape(points)[:2], [4]], 0)
    return RenderPlan(points, tuple(centres), tuple(parents[:-1]), tf.reshape(parents[-1], shape),
                      tuple(weights[:-1]), tf.reshape(weights[-1], shape))


def make_plan(coords, coarse_resolutions: Sequence[int], upsampling: str = "nearest") -> RenderPlan:
    """Builds the plan with TF ops (works inside tf.function and in exported graphs)."""
    check_upsampling(upsampling)
    points = coords_lib.as_points(coords)  # [Bp, N, 2]
    if upsampling != "nearest":  # bilinear and local read the same four cells
        return _bilinear_plan(points, list(coarse_resolutions))
    return _nearest_plan(points, coarse_resolutions)


def static_plan(coords, coarse_resolutions: Sequence[int], upsampling: str = "nearest") -> RenderPlan:
    """The plan of a fixed point set (e.g. the training grid), computed once, eagerly.

    Inside a tf.function the result is captured as constants, so the training step has static
    shapes and no Unique op, which XLA needs.
    """
    with tf.init_scope():
        return make_plan(coords, coarse_resolutions, upsampling)


def _row(cell: np.ndarray, res: int) -> np.ndarray:
    """Integer-valued cells [..., 2] -> their row in a block's row-major cell list (iy * r + ix)."""
    cell = np.clip(cell, 0, res - 1).astype(np.int32)
    return cell[..., 1] * res + cell[..., 0]


@functools.lru_cache(maxsize=None)
def _frame_cells(coarse_resolutions: Tuple[int, ...], upsampling: str):
    """The coarse part of a frame plan, as numpy: every cell of every coarse block, row-major,
    with each cell's parent(s) in the block before (and the bilinear weights)."""
    centres, parents, weights = [], [], []
    with tf.init_scope():  # eager even when first called while tracing: the results are constants
        for k, res in enumerate(coarse_resolutions):
            # (i + 0.5) / r in float32, as make_plan computes its centres: the same points exactly.
            c = (np.arange(res, dtype=np.float32) + np.float32(0.5)) / np.float32(res)
            gx, gy = np.meshgrid(c, c)
            centre = np.stack([gx.ravel(), gy.ravel()], -1)  # [r_k^2, 2]
            if k > 0:
                prev = coarse_resolutions[k - 1]
                if upsampling == "nearest":
                    parents.append(_row(np.floor(centre * np.float32(prev)), prev))  # [r_k^2]
                else:
                    cells, w = _neighbours(tf.constant(centre), prev)
                    parents.append(_row(np.reshape(cells.numpy(), [-1, 4, 2]), prev))  # [r_k^2, 4]
                    weights.append(w.numpy())
            centres.append(centre)
    return tuple(centres), tuple(parents), tuple(weights)


def frame_plan(points, coarse_resolutions: Sequence[int], upsampling: str = "nearest") -> RenderPlan:
    """The plan of points inside the frame [0, 1]^2 ([N, 2] or [B, N, 2]), without tf.unique.

    Equal to make_plan's render for such points (tests/test_patch_training.py); outside the
    frame the cells are clamped to the frame's, which make_plan does not do. See the module
    docstring: coarse blocks run at all their cells, points read them by floor (nearest) or by
    the bilinear rule's four neighbours.
    """
    check_upsampling(upsampling)
    points = coords_lib.as_points(points)  # [Bp, N, 2]
    coarse = tuple(int(r) for r in coarse_resolutions)
    if not coarse:
        return RenderPlan(points, (), (), None)
    centres, parents, weights = (tuple(tf.constant(a) for a in part)
                                 for part in _frame_cells(coarse, upsampling))
    res = coarse[-1]
    flat = tf.reshape(points, [-1, 2])  # [P, 2]

    def index(cell):  # float cells [..., 2] -> int32 rows of the last coarse block
        cell = tf.cast(tf.clip_by_value(cell, 0.0, res - 1.0), tf.int32)
        return cell[..., 1] * res + cell[..., 0]

    if upsampling == "nearest":
        point_parents = tf.reshape(index(tf.floor(flat * float(res))), tf.shape(points)[:2])  # [Bp, N]
        return RenderPlan(points, centres, parents, point_parents)
    cells, w = _neighbours(flat, res)  # [P * 4, 2], [P, 4]
    shape = tf.concat([tf.shape(points)[:2], [4]], 0)
    point_parents = tf.reshape(index(cells), shape)  # [Bp, N, 4]
    return RenderPlan(points, centres, parents, point_parents, weights, tf.reshape(w, shape))
