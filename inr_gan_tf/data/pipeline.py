"""`make_dataset`: the tf.data pipeline from a source to training batches.

    source (resolve_source) -> shard per input pipeline -> seeded shuffle -> decode
      -> [repeat] -> centre crop + resize to R -> random h-flip -> [-1, 1] -> batch -> prefetch

Exact sources (`Source.exact`: noto_emoji, procedural) produce each image at R itself, so the
crop + resize step passes it through unchanged. `make_views` is the same pipeline for windows:
real image k over a random window of the frame, at any density (patch training, fidelity
metrics), with the window's bounds beside each image.

Determinism: the shuffle is seeded and every map is order-preserving, and each flip is drawn
from a stateless seed (seed, pipeline, element counter), so the same seed gives the same
batches regardless of thread timing. Unreadable images are dropped and counted in
`source.stats` (see `DataStats`), never silently.
"""
import math
from typing import Callable, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from inr_gan_tf.coords import pick_dense
from inr_gan_tf.data.base import IndexedSource, Source, has_point_samples, note_raster_views
from inr_gan_tf.data.sources import resolve_source
from inr_gan_tf.data.transforms import (center_crop, center_crop_resize, random_flip,
                                        resample_window, to_unit_range)

# 2^40 images per pipeline before the per-element seeds of two pipelines could meet.
_STREAM_STRIDE = 1 << 40
# The largest start_batch: far past any run, and start_batch x batch fits tf.data's int64 counts.
_MAX_START = 1 << 40


def make_dataset(source: Union[str, Source], resolution: int, batch_size: int, *, seed: int,
                 shuffle: bool = True, flip: bool = True, repeat: bool = True, start_batch: int = 0,
                 input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Batches of float32 images [B, R, R, 3] in [-1, 1].

    source:        a spec string for `resolve_source`, or a source it returned (keep the
                   source to read `source.stats`: count and skipped files).
    resolution:    R, the training resolution (images are centre-cropped, then resized).
    batch_size:    the global batch. With `input_context` each pipeline yields its replicas'
                   share, `input_context.get_per_replica_batch_size(batch_size)`, as
                   `strategy.distribute_datasets_from_function` expects.
    seed:          shuffle order and flips; same seed, same stream.
    shuffle, flip: off for evaluation / dataset statistics.
    repeat:        endless stream with full batches (static batch dimension); if False, one
                   pass that keeps the last partial batch, so every image is seen once.
    start_batch:   the stream from this batch on (a checkpoint's data position): the same
                   batches as `.skip(start_batch)`; folders, zips and exact sources leave out
                   the images before it without decoding them (`_counted_images`).
    input_context: from tf.distribute; pipeline k of n reads a disjoint 1/n of the data.
    """
    start = _check_start(start_batch)
    if isinstance(source, str):
        source = resolve_source(source)
    R, batch_size, seed = int(resolution), int(batch_size), int(seed)
    if R < 1 or batch_size < 1:
        raise ValueError(f'need resolution >= 1 and batch_size >= 1, got {R}, {batch_size}')
    pipeline_id = 0
    if input_context is not None:
        pipeline_id = input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)

    stream = tf.constant(pipeline_id * _STREAM_STRIDE, tf.int64)

    def process(i, image):
        image = center_crop_resize(image, R)  # [R, R, 3] float32 in [0, 255]
        if flip:
            image = random_flip(image, tf.stack([tf.constant(seed, tf.int64), stream + i]))
        return to_unit_range(image)

    ds = _counted_images(source, R, shuffle=shuffle, seed=seed, repeat=repeat,
                         skip=start * batch_size, input_context=input_context)
    ds = ds.map(process, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=repeat)
    return ds.prefetch(tf.data.AUTOTUNE)


def window_from_uniforms(u, scale: Sequence[float] = (0.25, 1.0), distribution: str = 'uniform') -> tf.Tensor:
    """Uniforms [..., 3] in [0, 1) -> square windows [..., 4] float32 (x0, y0, x1, y1) inside the frame.

    Side from u[0]: uniform in [scale[0], scale[1]], or with distribution 'log' log-uniform (as
    many windows per octave); position uniform over where the window fits. Computed in float64
    and rounded once: rounding a value <= 1 to float32 stays <= 1, so the window stays inside.
    """
    u = tf.cast(u, tf.float64)
    lo, hi = (float(v) for v in scale)
    if distribution == 'log':
        side = tf.exp(math.log(hi) + (math.log(lo) - math.log(hi)) * (1.0 - u[..., 0]))
    elif distribution == 'uniform':
        side = lo + (hi - lo) * u[..., 0]
    else:
        raise ValueError(f"window distribution must be 'uniform' or 'log', got {distribution!r}")
    x0, y0 = (1.0 - side) * u[..., 1], (1.0 - side) * u[..., 2]
    return tf.cast(tf.stack([x0, y0, x0 + side, y0 + side], -1), tf.float32)


def random_window(seed: tf.Tensor, scale: Sequence[float] = (0.25, 1.0)) -> tf.Tensor:
    """A square window inside the frame, from a stateless `seed` [2]: float32 [4] (x0, y0, x1, y1).

    Side ~ U(scale[0], scale[1]) in frame units, position uniform over where it fits.
    """
    return window_from_uniforms(tf.random.stateless_uniform([3], seed=seed, dtype=tf.float64), scale)


def make_views(source: Union[str, Source], size: int, batch_size: int, *, seed: int,
               scale: Sequence[float] = (0.25, 1.0),
               bounds_fn: Optional[Callable[[tf.Tensor], tf.Tensor]] = None,
               shuffle: bool = True, repeat: bool = True, jitter: int = 1, flip: bool = False,
               start_batch: int = 0,
               input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Batches of (images float32 [B, S, S, 3] in [-1, 1], bounds float32 [B, 4]): real images
    over random windows of the frame, at S x S.

    Image b is its source image over `bounds[b]` = (x0, y0, x1, y1) in the frame of
    inr_gan_tf.coords (pixel centres as in `coords.grid_np(S, S, bounds[b])`), so a generator
    rendered on that grid is comparable pixel for pixel. Exact sources compute each window
    (`source.view` in a tf.numpy_function: vector emoji are rendered, procedural evaluated);
    raster sources resample the images their `dataset()` yields, in graph
    (`transforms.resample_window` after the training centre crop), and say in the log that
    this is a resize above their stored size. Bounds are windows of the image as stored, or
    with `flip` of the mirrored image where it was mirrored.

    size:         S, the output side in pixels.
    batch_size, shuffle, repeat, input_context: as in `make_dataset`.
    seed:         image order and windows; the window of element i is drawn from the stateless
                  seed (seed, pipeline * 2^40 + i), so the stream is deterministic and resumable
                  (skip(n) gives the same elements) whatever the thread timing.
    scale:        (min, max) window side in frame units, for the default `random_window`.
    bounds_fn:    seed [2] int64 -> bounds float32 [4], replacing `random_window` (raster
                  windows must lie inside [0, 1]^2).
    jitter:       k > 1: each pixel is the image at one of its k x k sub-points
                  (coords.pick_subpixels), drawn uniformly per pixel: `source.point_view` of
                  the window at kS x kS, then coords.pick_dense. Exact sources with point views
                  only (ValueError otherwise). 1: the source's own pixels.
    flip:         mirror half of the images left-right (stateless, per element), as
                  make_dataset's frames: the view of the mirrored image over the same window.
    start_batch:  the stream from this batch on (a checkpoint's data position): the same batches
                  as `.skip(start_batch)`, without rendering the views left out (a resume would
                  otherwise render every view the run has used). The views before it are left out
                  as (counter, index) pairs, before rendering: exact while every view of them
                  renders (an exact source's refused views, which the full stream drops, would
                  make the resumed stream start that many views earlier). Raster sources skip
                  as make_dataset does (`_counted_images`).
    """
    if isinstance(source, str):
        source = resolve_source(source)
    S, batch_size, seed = int(size), int(batch_size), int(seed)
    if S < 1 or batch_size < 1:
        raise ValueError(f'need size >= 1 and batch_size >= 1, got {S}, {batch_size}')
    start = _check_start(start_batch)
    lo, hi = (float(v) for v in scale)
    if bounds_fn is None and not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f'scale must be (min, max) with 0 < min <= max <= 1, got {tuple(scale)}')
    draw = bounds_fn or (lambda s: random_window(s, (lo, hi)))
    jitter = int(jitter)
    if jitter < 1:
        raise ValueError(f'jitter must be an integer >= 1, got {jitter}')
    if jitter > 1 and not has_point_samples(source):
        raise ValueError(f'{source.name}: jittered pixels need point samples of an exact source '
                         '(noto_emoji, procedural)')
    pipeline_id = 0
    if input_context is not None:
        pipeline_id = input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    stream = tf.constant(pipeline_id * _STREAM_STRIDE, tf.int64)

    def window(i):
        bounds = draw(tf.stack([tf.constant(seed, tf.int64), stream + i]))
        return tf.ensure_shape(tf.cast(bounds, tf.float32), [4])

    if source.exact:
        if not isinstance(source, IndexedSource):
            raise TypeError(f'{source.name}: an exact source must be indexed to give views')
        # Skipped before the map, counters kept: a resume renders none of the views it leaves
        # out. Not `usable`: which views render depends on the window; refusals drop below.
        ds = _counted_indices(source, shuffle=shuffle, seed=seed, repeat=repeat,
                              skip=start * batch_size, input_context=input_context)
        ds = ds.map(_exact_view(source, S, window, seed, stream, jitter, flip),
                    num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.filter(_view_ok).map(_drop_view_ok)
    else:
        note_raster_views(source)

        def crop(i, image):
            bounds = window(i)
            image = center_crop(image)
            if flip:
                image = random_flip(image, _element_seed(seed, stream + i, _FLIP))
            return to_unit_range(resample_window(image, S, S, bounds)), bounds

        ds = _counted_images(source, S, shuffle=shuffle, seed=seed, repeat=repeat,
                             skip=start * batch_size, input_context=input_context)
        ds = ds.map(crop, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=repeat)
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_start(start_batch) -> int:
    if isinstance(start_batch, bool) or not isinstance(start_batch, (int, np.integer)) or start_batch < 0:
        raise ValueError(f'start_batch must be an integer >= 0, got {start_batch!r}')
    if start_batch >= _MAX_START:
        raise ValueError(f'start_batch must be below 2^40, got {start_batch}')
    return int(start_batch)


def _counted_images(source: Source, resolution: int, *, shuffle: bool, seed: int, repeat: bool,
                    skip: int, input_context) -> tf.data.Dataset:
    """(counter, image) of the source's stream from element `skip` on, counters as in the full
    stream. Indexed sources whose unreadable images are known before training (folders and
    zips, scanned; the exact ones) skip indices before decoding, a microsecond or two per image
    left out; LSUN, TFRecord and TFDS decode what they skip (unreadable LSUN values are met
    while training; the other two shuffle decoded images). Exact as long as a file that passed
    the scan still decodes (one changed on disk since shifts the counters after it)."""
    if isinstance(source, IndexedSource) and source.skips_undecoded:
        pairs = _counted_indices(source, shuffle=shuffle, seed=seed, repeat=repeat, skip=skip,
                                 input_context=input_context, usable_at=resolution)
        return source.images(pairs, resolution)
    ds = source.dataset(resolution, shuffle=shuffle, seed=seed, input_context=input_context)
    if repeat:
        ds = ds.repeat()
    return ds.enumerate().skip(skip)


def _counted_indices(source: IndexedSource, *, shuffle: bool, seed: int, repeat: bool, skip: int,
                     input_context, usable_at: Optional[int] = None) -> tf.data.Dataset:
    """(counter, index) of the source's index stream from element `skip` on, nothing decoded;
    with `usable_at`, only the indices `source.usable` keeps at that resolution."""
    ds = source.indices(shuffle=shuffle, seed=seed, input_context=input_context)
    if usable_at is not None:
        ds = source.usable(ds, usable_at)
    if repeat:
        ds = ds.repeat()
    return ds.enumerate().skip(skip)


# Stateless streams of an element beside its window's (seed, counter): flips, jitter.
_FLIP, _JITTER = 1, 2


def _element_seed(seed: int, counter, stream: int) -> tf.Tensor:
    base = tf.stack([tf.constant(seed, tf.int64), tf.cast(counter, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, stream)


def _exact_view(source: IndexedSource, size: int, window: Callable, seed: int, stream,
                jitter: int = 1, flip: bool = False) -> Callable:
    """(i, index) -> (image [S, S, 3] in [-1, 1], bounds [4], ok) through `source.view` (or,
    jittered, `source.point_view` at k times the density, then one sub-point per pixel)."""
    dense = size * jitter
    render = source.view if jitter == 1 else source.point_view

    def view_np(index, bounds):
        image = render(int(index), dense, dense, tuple(float(b) for b in bounds))
        if image is None:  # unreadable, recorded in source.stats; filtered out next
            return np.zeros((dense, dense, 3), np.float32), False
        return np.asarray(image, np.float32), True

    def view_tf(i, index):
        bounds = window(i)
        mirror = flip and tf.random.stateless_uniform([], _element_seed(seed, stream + i, _FLIP)) < 0.5
        # The mirrored image over `bounds` is the image over the mirrored window, reversed.
        seen = tf.where(mirror, tf.stack([1.0 - bounds[2], bounds[1], 1.0 - bounds[0], bounds[3]]),
                        bounds) if flip else bounds
        image, ok = tf.numpy_function(view_np, [index, seen], [tf.float32, tf.bool], stateful=False)
        image = tf.ensure_shape(image, [dense, dense, 3])
        if flip:
            image = tf.where(mirror, tf.reverse(image, [1]), image)
        if jitter > 1:
            index = tf.random.stateless_uniform([size * size], _element_seed(seed, stream + i, _JITTER),
                                                0, jitter * jitter, tf.int32)
            image = pick_dense(image, jitter, index)
        return to_unit_range(image), bounds, tf.ensure_shape(ok, [])

    return view_tf


def _view_ok(image, bounds, ok):
    del image, bounds
    return ok


def _drop_view_ok(image, bounds, ok):
    del ok
    return image, bounds
