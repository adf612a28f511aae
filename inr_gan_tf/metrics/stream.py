"""Batches in, statistics out: the loops every metric shares (stylegan3's
`compute_feature_stats_for_dataset`), so memory does not grow with the number of images.

    for batch in real_batches(source, 256, num=50000, batch=32): ...   # uint8 [b, R, R, 3]
    sinks = drain(views.batches(), lambda key: FeatureSink(extract, key, moments=True),
                  total=num, label="fakes 256x256")   # {'inr': FeatureSink, ...}
    mu, sigma = sinks["inr"].stats.moments()

A sink is anything with `add(uint8 images)`: FeatureSink (Inception features -> running moments
and/or a bounded reservoir), swd.DescriptorSet, spectral.SpectrumStats. `drain` feeds every
variant of a batch ({'inr': ..., 'bicubic': ...}) to its own sink and shows one progress line
(count, images/s, ETA) when stdout is a terminal.
"""
from typing import Callable, Dict, Iterable, Iterator, Optional

import numpy as np

from inr_gan_tf.metrics import fid as fid_lib
from inr_gan_tf.progress import Progress

# float32 pixels per batch at most: at 1024^2 a batch of 32 is 400 MB as float32, and the data
# pipeline, the uint8 conversion and the extractor's resize each hold a copy or two of it.
BATCH_BYTES = 128 << 20


def batch_for(resolution: int, batch: int) -> int:
    """Images per batch at `resolution`: `batch`, fewer where BATCH_BYTES would be exceeded
    (10 at 1024^2; 32 stays 32 up to ~590^2)."""
    return max(1, min(int(batch), BATCH_BYTES // (int(resolution) ** 2 * 3 * 4)))


def real_batches(source, resolution: int, num: int, batch: int = 32, *, start: int = 0,
                 exact: bool = False) -> Iterator[np.ndarray]:
    """uint8 batches [b, R, R, 3] of images start .. num - 1 of a fixed random subset of
    `source` (a spec string or a data Source): a seeded shuffle (seed 0) of the whole source,
    as training sees it (centre crop + resize) but without flips.

    Random, not the first `num`: sources in file or code-point order are far from uniform (the
    first emoji are all keycaps). The shuffle acts on indices with a fixed seed, so image k is
    the same image at every resolution and for every `num` (real_vs_real's halves and the
    crops of patch_swd rely on it). With `exact`, a source that ends before `num` images is an
    error that says how many it has; otherwise the stream just ends.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from inr_gan_tf import data  # pylint: disable=import-outside-toplevel
    batch = max(1, min(int(batch), int(num)))
    ds = data.make_dataset(source, resolution, batch, seed=0, shuffle=True, flip=False, repeat=False)
    # seeds.to_uint8 (round half to even, both) inside the pipeline: only uint8 leaves it.
    ds = ds.take(-(-num // batch)).map(
        lambda b: tf.cast(tf.clip_by_value(tf.round((b + 1.0) * 127.5), 0.0, 255.0), tf.uint8))
    count = 0
    for b in ds:
        images = b.numpy()[:num - count]  # [b, R, R, 3]
        lo = max(0, start - count)
        count += len(images)
        if lo < len(images):
            yield images[lo:]
    if count == 0:
        raise ValueError(f"data source {_name(source)!r} yielded no images")
    if exact and count < num:
        raise ValueError(f"data source {_name(source)!r} has {count} images, fewer than the {num} "
                         f"asked for: pass num={count} or less")


def _name(source) -> str:
    return source if isinstance(source, str) else getattr(source, "name", repr(source))


class FeatureSink:
    """Images -> features (an extractor) -> running moments (FID) and/or a bounded reservoir
    (KID, precision/recall). A non-finite feature is an error naming the batch and images."""

    def __init__(self, extractor: Callable[[np.ndarray], np.ndarray], name: str, *,
                 moments: bool = False,          # keep FeatureStats (mean, covariance)
                 keep: Optional[int] = None,     # keep up to this many feature vectors
                 seed: int = 0):                 # reservoir sampling beyond `keep`
        self.extractor, self.name, self.batches, self.count = extractor, name, 0, 0
        self.stats = fid_lib.FeatureStats() if moments else None
        self.reservoir = fid_lib.FeatureReservoir(keep, seed) if keep else None

    def add(self, images) -> "FeatureSink":
        feats = np.asarray(self.extractor(images))
        where = (f"{self.name}: features of batch {self.batches} (images {self.count} .. "
                 f"{self.count + len(feats) - 1})")
        if not np.all(np.isfinite(feats)):
            bad = int(np.sum(~np.all(np.isfinite(feats), axis=1)))
            raise ValueError(f"{where}: {bad} contain NaN or inf (a broken extractor or images)")
        if self.stats is not None:
            self.stats.add(feats, where)
        if self.reservoir is not None:
            self.reservoir.add(feats, where)
        self.batches, self.count = self.batches + 1, self.count + len(feats)
        return self


def drain(batches: Iterable, make_sink: Callable[[str], object], *, total: int, label: str,
          progress: bool = False, name: str = "real") -> Dict[str, object]:
    """Feeds each batch ({key: uint8 images}, or one array, keyed `name`) to make_sink(key)'s
    sink, one per key; returns {key: sink}. Only the current batch is held."""
    sinks: Dict[str, object] = {}
    bar = Progress(total, label, progress)
    for batch in batches:
        batch = batch if isinstance(batch, dict) else {name: batch}
        for key, images in batch.items():
            if key not in sinks:
                sinks[key] = make_sink(key)
            sinks[key].add(images)
        bar.update(len(next(iter(batch.values()))))
    bar.close()
    if not sinks:
        raise ValueError(f"{label}: no images")
    return sinks
