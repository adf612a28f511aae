"""What every image source provides, and the bookkeeping of files it had to skip.

A source yields one pass over *its* images as RGB [h, w, 3] tensors (uint8, or float32 in
[0, 255]) at whatever size they are stored; `pipeline.make_dataset` crops, resizes, flips,
scales, repeats and batches. Sharding and the seeded shuffle happen in the source, because
only it knows the unit worth shuffling (an index, a file of records).

Real data at the resolution asked (`Source.view`, `pipeline.make_views`): image k over any
window `bounds` of the frame [0, 1]^2 (inr_gan_tf.coords) at any density. `exact` sources
compute it from their own definition (vector emoji render it, procedural evaluates it); raster
sources resample their stored pixels after the training pipeline's centre crop
(`transforms.resample_window`: area down, bicubic up), so above the stored size their "truth"
is a resize, which they say once in the log.
"""
import threading
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from inr_gan_tf.coords import UNIT_BOUNDS, check_bounds
from inr_gan_tf.data.transforms import center_crop, resample_window

_SHOW_BAD = 5  # bad paths named in one log line; all of them stay in DataStats.bad


class DataStats:
    """Counts what a source could not read; nothing it skips goes unreported.

    `num_examples` is the number of readable images found by the source's scan (None where a
    source cannot count up front). `bad` lists `(path, reason)` for every skipped file, both
    those found by the scan and those that failed to decode later; `skipped` is its length.
    Thread-safe: decoding runs in tf.data's parallel map threads.
    """

    def __init__(self, source: str, num_examples: Optional[int] = None):
        self.source = source
        self.num_examples = num_examples
        self.bad: List[Tuple[str, str]] = []
        self._seen = set()
        self._lock = threading.Lock()

    @property
    def skipped(self) -> int:
        return len(self.bad)

    @property
    def bad_paths(self) -> List[str]:
        return [path for path, _ in self.bad]

    def record_bad(self, path: str, reason: str, *, log: bool = True) -> None:
        """Records an unreadable file once, however many epochs it fails in."""
        with self._lock:
            if path in self._seen:
                return
            self._seen.add(path)
            self.bad.append((path, reason))
        if log:
            logging.warning('%s: skipping unreadable image %s (%s)', self.source, path, reason)

    def log_scan(self) -> None:
        """One log line with the scan's totals (and the first few bad files)."""
        if not self.bad:
            logging.info('%s: %s images, none skipped', self.source, self.num_examples)
            return
        shown = '; '.join(f'{p} ({r})' for p, r in self.bad[:_SHOW_BAD])
        more = f'; and {len(self.bad) - _SHOW_BAD} more' if len(self.bad) > _SHOW_BAD else ''
        logging.warning('%s: %s readable images, %d unreadable files skipped: %s%s',
                        self.source, self.num_examples, len(self.bad), shown, more)

    def __repr__(self) -> str:
        return (f'DataStats(source={self.source!r}, num_examples={self.num_examples}, '
                f'skipped={self.skipped})')


def shard(ds: tf.data.Dataset, input_context: Optional[tf.distribute.InputContext]):
    """Keeps this input pipeline's share (every n-th element); a no-op for one pipeline."""
    if input_context is None or input_context.num_input_pipelines <= 1:
        return ds
    return ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


class Source:
    """Base class. Subclasses set `name`, `stats` and implement `dataset` (IndexedSource:
    `load`, which its `dataset` and `images` read)."""

    name: str = 'source'
    stats: DataStats
    #: True where `view` computes any window at any density from the source's own definition
    #: (vector shapes, an analytic scene); False where it resamples stored pixels.
    exact: bool = False

    @property
    def num_examples(self) -> Optional[int]:
        """Readable images in the whole source (all pipelines), or None if unknown."""
        return self.stats.num_examples

    def dataset(self, resolution: int, *, shuffle: bool, seed: int,
                input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
        """One pass over this pipeline's share: RGB [h, w, 3], uint8 or float32 in [0, 255].

        `resolution` is a hint: sources that can produce any size (procedural) render at it,
        others ignore it.
        """
        raise NotImplementedError

    def view(self, index: int, height: int, width: int,
             bounds: Sequence[float] = UNIT_BOUNDS) -> Optional[np.ndarray]:
        """Image `index` over `bounds` at H x W: float32 [H, W, 3] in [0, 255].

        Pixel (i, j) is the cell centred at x0 + (j + .5)(x1 - x0)/W, y0 + (i + .5)(y1 - y0)/H
        (coords.py). Returns None if the image is unreadable (after `stats.record_bad`). Sources
        read in sequence (TFRecord, TFDS) have no random access: draw windows with
        `pipeline.make_views`, which works for every source.
        """
        raise NotImplementedError(f'{self.name}: no random access to image {index}; '
                                  'draw windows with inr_gan_tf.data.pipeline.make_views')

    #: True where `point_view` gives the image at points (jittered training pixels, --jitter).
    point_views: bool = False

    def point_view(self, index: int, height: int, width: int,
                   bounds: Sequence[float] = UNIT_BOUNDS) -> Optional[np.ndarray]:
        """`view`, each pixel the image's colour at its centre (no anti-aliasing), whatever
        the source's own sampling: the real side of a point-rendering INR. Exact sources only."""
        raise NotImplementedError(f'{self.name}: no point samples (needs an exact source: '
                                  'noto_emoji or procedural)')

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.name!r}, num_examples={self.num_examples})'


def has_point_samples(source: Source) -> bool:
    """Whether `source.point_view` gives exact point samples (what --jitter's reals need)."""
    return bool(source.exact and source.point_views)


def note_raster_views(source: Source) -> None:
    """Says once per source that its views resample stored pixels (not exact ground truth)."""
    if not getattr(source, '_noted_raster_views', False):
        source._noted_raster_views = True  # pylint: disable=protected-access
        logging.warning('%s: views resample the stored pixels (area down, bicubic up); above '
                        'the stored size the ground truth is a resize, not new detail',
                        source.name)


def check_raster_view(height: int, width: int, bounds: Sequence[float]):
    """Validated (H, W, bounds) for a raster view: stored pixels end at the frame's edge."""
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f'view needs height and width >= 1, got {height}x{width}')
    x0, y0, x1, y1 = check_bounds(bounds)
    if min(x0, y0) < 0.0 or max(x1, y1) > 1.0:
        raise ValueError(f'a raster source has no pixels outside the frame [0, 1]^2; got '
                         f'bounds {tuple(bounds)}')
    return int(height), int(width), (x0, y0, x1, y1)


class IndexedSource(Source):
    """A source with random access to images 0..N-1: sharding and shuffling act on indices.

    Shuffling indices (not decoded images) is a full uniform shuffle for the price of an int64
    per image, and costs no decode for the images that go to other pipelines.
    """

    def load(self, index: int, resolution: int) -> Optional[np.ndarray]:
        """Image `index` as RGB [h, w, 3] uint8/float32, or None if unreadable (after
        `self.stats.record_bad`). Runs in a tf.numpy_function, in parallel threads."""
        raise NotImplementedError

    #: dtype that `load` returns; float32 sources skip a quantisation to uint8.
    load_dtype = tf.uint8

    def indices(self, *, shuffle: bool, seed: int,
                input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
        """One pass over this pipeline's share of the indices (int64), seeded shuffle."""
        n = self.num_examples
        if not n:
            raise ValueError(f'{self.name}: no readable images (skipped {self.stats.skipped})')
        ds = shard(tf.data.Dataset.range(n), input_context)
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        return ds

    #: Every index `usable` keeps loads: unreadable images were found before training (a scan
    #: of every file, a renderer's refusals), so a resumed pipeline may skip indices without
    #: decoding them and still count the stream's images as an uninterrupted one does.
    #: False where they are found while training (LSUN: too many images to scan).
    skips_undecoded: bool = True

    def usable(self, indices: tf.data.Dataset, resolution: int) -> tf.data.Dataset:
        """The indices of images known to load at `resolution` (all, unless a subclass knows
        better), before any is decoded."""
        del resolution
        return indices

    def images(self, pairs: tf.data.Dataset, resolution: int) -> tf.data.Dataset:
        """(counter, index) pairs -> (counter, image), in order; images that do not load are
        left out (recorded in `stats`). Decoding after the pairs are made lets a resumed
        pipeline skip pairs without decoding the images it leaves out (pipeline.py)."""
        load = self._tf_loader(resolution)
        ds = pairs.map(lambda counter, index: (counter, *load(index)),
                       num_parallel_calls=tf.data.AUTOTUNE)
        return ds.filter(_is_ok).map(_drop_ok)

    def dataset(self, resolution, *, shuffle, seed, input_context=None):
        ds = self.indices(shuffle=shuffle, seed=seed, input_context=input_context)
        return self.images(self.usable(ds, resolution).enumerate(), resolution).map(_image)

    def view(self, index, height, width, bounds=UNIT_BOUNDS):
        """Raster fallback: the stored image after the training pipeline's centre crop,
        resampled over the window (`transforms.resample_window`). Exact sources override it."""
        height, width, bounds = check_raster_view(height, width, bounds)
        image = self.load(int(index), max(height, width))
        if image is None:
            return None
        note_raster_views(self)
        square = center_crop(tf.convert_to_tensor(image))
        return resample_window(square, height, width, bounds).numpy()

    def _tf_loader(self, resolution: int) -> Callable:
        np_dtype = self.load_dtype.as_numpy_dtype

        def load_np(index):
            image = self.load(int(index), resolution)
            if image is None:
                # Skipped (and already recorded); the filter after the map drops it.
                return np.zeros((1, 1, 3), np_dtype), False
            return image.astype(np_dtype, copy=False), True

        def load_tf(index):
            image, ok = tf.numpy_function(load_np, [index], [self.load_dtype, tf.bool],
                                          stateful=False)
            return tf.ensure_shape(image, [None, None, 3]), tf.ensure_shape(ok, [])

        return load_tf


# Named, not lambdas: autograph cannot tell apart two lambdas of one signature on one line.
def _is_ok(counter, image, ok):
    del counter, image
    return ok


def _drop_ok(counter, image, ok):
    del ok
    return counter, image


def _image(counter, image):
    del counter
    return image
