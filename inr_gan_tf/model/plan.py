"""Where each block of a multi-scale INR runs, for any set of points (paper Sec. 3.3).

A multi-scale INR splits F into K blocks of growing resolution r_0 < r_1 < ... (cells per unit
of the frame). Coarse block k (k < K-1) is quantized: its feature at a point p is its value at
the centre of the r_k-cell that contains p. The paper implements this on grids as nearest
upsampling; defined this way it holds for any points, including super-resolution grids,
zoom-outs outside [0, 1]^2 and scattered points. The finest block runs at the points
themselves, so an image stays a true function of its coordinates.

Block resolutions are fixed in frame units and do not follow the output resolution: every
render samples the same function F. On the training grid each cell holds exactly one pixel of
the coarser grid (the paper's nearest upsampling). Above it (super-resolution) the coarse
blocks run at their training cells and only the finest block sees the new points. Below it
each point gets its own coarse cell, so a 64^2 render of a 256^2 model runs every block at
64^2 points instead of 128^2 + 256^2: the accelerated low-resolution inference of Fig. 9.

A plan lists, per coarse block, the distinct cells it must run at (each once) and how to gather
from the coarser block; resolutions must nest (r_{k+1} a multiple of r_k) so that a cell has
one parent. Distinct cells are shared by the batch: for a point set per sample the coarse
blocks run at the union of the samples' cells, exact but more work than for a shared set.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import tensorflow as tf

from inr_gan_tf import coords as coords_lib

_OFFSET = 2 ** 30  # cell indices are clipped to [-2^30, 2^30) and packed into one int64 key
_SPLIT = 4096      # parent indices travel as two float32 parts < 2^24: exact up to 2^36 points


class RenderPlan(NamedTuple):
    points: tf.Tensor                    # [Bp, N, 2]; Bp = 1 when shared by the batch
    centres: Tuple[tf.Tensor, ...]       # coarse block k: [U_k, 2] centres of its distinct cells
    parents: Tuple[tf.Tensor, ...]       # coarse block k >= 1: [U_k] parent cell in block k-1
    point_parents: Optional[tf.Tensor]   # [Bp, N] cell of each point in the last coarse block


# Only ops that TFLite and ONNX run natively (exports render with this same plan): TFLite has no
# int64 floor-division to decode keys, and tf2onnx 1.17 fails on integer segment reductions with
# numpy 2. Hence float32 segment maxima over values that are equal within each segment.


def _segment_value(values, idx, num):
    """The value shared by all members of each segment (max of equal values)."""
    return tf.math.unsorted_segment_max(values, idx, num)


def _cells(points_flat: tf.Tensor, resolution: int):
    cell = tf.clip_by_value(tf.floor(points_flat * float(resolution)), -_OFFSET, _OFFSET - 1)  # [P, 2]
    icell = tf.cast(cell, tf.int64)
    key = (icell[:, 0] + _OFFSET) * (2 * _OFFSET) + (icell[:, 1] + _OFFSET)  # [P]
    uniq, idx = tf.unique(key)  # first-occurrence order: deterministic for a given point set
    centres = _segment_value((cell + 0.5) / float(resolution), idx, tf.shape(uniq)[0])  # [U, 2]
    return centres, idx


def _parents(prev_idx, idx, num):
    """Parent cell of each cell: all points of a level-k cell share one level-(k-1) cell."""
    hi = _segment_value(tf.cast(prev_idx // _SPLIT, tf.float32), idx, num)
    lo = _segment_value(tf.cast(prev_idx % _SPLIT, tf.float32), idx, num)
    return tf.cast(hi, tf.int32) * _SPLIT + tf.cast(lo, tf.int32)  # [U]


def make_plan(coords, coarse_resolutions: Sequence[int]) -> RenderPlan:
    """Builds the plan with TF ops (works inside tf.function and in exported graphs)."""
    points = coords_lib.as_points(coords)  # [Bp, N, 2]
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


def static_plan(coords, coarse_resolutions: Sequence[int]) -> RenderPlan:
    """The plan of a fixed point set (e.g. the training grid), computed once, eagerly.

    Inside a tf.function the result is captured as constants, so the training step has static
    shapes and no Unique op, which XLA needs.
    """
    with tf.init_scope():
        return make_plan(coords, coarse_resolutions)


def check_resolutions(resolutions: Sequence[int]) -> None:
    for r in resolutions:
        if int(r) < 1:
            raise ValueError(f"block resolutions must be >= 1, got {list(resolutions)}")
    for a, b in zip(resolutions[:-1], resolutions[1:]):
        if b <= a or b % a:
            raise ValueError("block resolutions must increase and each must divide the next "
                             f"(so that every cell has one parent), got {list(resolutions)}")
