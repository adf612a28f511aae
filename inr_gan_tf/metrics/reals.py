"""The real side of every metric: the reference images streamed once and cached under
<cache>/stats/ as the statistics a metric needs (moments, features, SWD descriptors, ring power,
edge counts), never as images (registry.py has the fake side and the metrics themselves).

Each statistic is keyed by (source, resolution, images loaded, and what else it depends on); a
cached file written by another version, for another key, or truncated is rebuilt, not trusted.
`opts` is a registry.MetricOptions.
"""
import os
from typing import Callable, Dict, Optional

import numpy as np

from inr_gan_tf.metrics import edges as edges_lib
from inr_gan_tf.metrics import spectral as spectral_lib
from inr_gan_tf.metrics import stream
from inr_gan_tf.metrics.cache import cached
from inr_gan_tf.metrics.swd import DescriptorSet, SWDReference

MAX_FEATURES = 50_000  # feature vectors kept per side for KID / PR (2048-d: 400 MB float32)


def source_key(source) -> str:
    if not isinstance(source, str):
        return getattr(source, "name", repr(source))
    return os.path.abspath(source) if os.path.exists(source) else source


def real_key(opts, resolution: int, **extra) -> dict:
    """Cache key of a real-side statistic: source, resolution, images loaded, plus `extra`."""
    return {"source": source_key(opts.source), "resolution": int(resolution),
            "num": opts.num_real, **extra}


def real_stream(opts, resolution: int, what: str):
    """(uint8 batches of the reference images at `resolution`, kwargs for stream.drain)."""
    batches = stream.real_batches(opts.data, resolution, opts.num_real,
                                  stream.batch_for(resolution, opts.batch_size), exact=opts.exact_num)
    label = f"reals {resolution}x{resolution} -> {what}"
    return batches, dict(total=opts.num_real, label=label, progress=opts.show_progress)


def _check_moments(arrays) -> None:
    d = arrays["mu"].shape[0]
    if arrays["sigma"].shape != (d, d) or int(arrays["count"]) < 2:
        raise ValueError("inconsistent moments")


def _check_features(arrays) -> None:
    if len(arrays["features"]) != min(int(arrays["count"]), MAX_FEATURES):
        raise ValueError("feature count does not match")


def note_reals(opts, count: int, resolution: int, spec_min: int = 2) -> None:
    if count < spec_min:
        raise ValueError(f"{source_key(opts.source)!r} gave {count} real images; this metric "
                         f"needs at least {spec_min}")
    opts.info.update(num_real=int(count), resolution=int(resolution))


def _feature_stats(opts, resolution: int) -> Dict[str, np.ndarray]:
    """One pass over the reals: moments (FID) and features (KID, PR); both get cached."""
    ext = opts.extractor
    batches, kw = real_stream(opts, resolution, f"features {ext.kind}")
    sink = stream.drain(batches, lambda key: stream.FeatureSink(
        ext, "reals", moments=True, keep=MAX_FEATURES, seed=opts.seed), **kw)["real"]
    mu, sigma = sink.stats.moments()
    moments = {"mu": mu, "sigma": sigma, "count": np.int64(sink.count)}
    cached(opts.cache, "moments", real_key(opts, resolution, features=ext.identity), lambda: moments,
           _check_moments)
    return {"features": sink.reservoir.features, "count": np.int64(sink.count)}


def real_moments(opts, resolution: int):
    """(mean, covariance) of the reference's features at `resolution`, cached."""
    ext = opts.extractor
    key = real_key(opts, resolution, features=ext.identity)

    def compute():
        batches, kw = real_stream(opts, resolution, f"moments {ext.kind}")
        sink = stream.drain(batches, lambda key: stream.FeatureSink(ext, "reals", moments=True), **kw)
        mu, sigma = sink["real"].stats.moments()
        return {"mu": mu, "sigma": sigma, "count": np.int64(sink["real"].count)}
    stats = cached(opts.cache, "moments", key, compute, _check_moments)
    note_reals(opts, int(stats["count"]), resolution)
    return stats["mu"], stats["sigma"]


def real_features(opts, resolution: int, min_num: int = 2) -> np.ndarray:
    """float64 [min(n, MAX_FEATURES), D] features of the reference (all of them, in order, up
    to MAX_FEATURES; a seeded uniform sample beyond), cached."""
    key = real_key(opts, resolution, features=opts.extractor.identity, keep=MAX_FEATURES,
                   keep_seed=opts.seed)
    out = cached(opts.cache, "features", key, lambda: _feature_stats(opts, resolution), _check_features)
    note_reals(opts, int(out["count"]), resolution, min_num)
    return out["features"].astype(np.float64)


def real_swd(opts, resolution: int, transform: Optional[Callable] = None,
             **extra) -> SWDReference:
    """SWDReference of the reference images at `resolution` (seed opts.seed), from cached raw
    descriptors. transform(images, first_index) -> images maps each batch first (patch crops;
    its parameters belong in `extra`, the cache key)."""
    key = real_key(opts, resolution, swd=[opts.seed, 128, 16], **extra)  # swd.py's defaults

    def compute():
        batches, kw = real_stream(opts, resolution, "SWD descriptors")
        if transform is not None:
            batches = _indexed(batches, transform)
        return stream.drain(batches, lambda key: DescriptorSet(seed=opts.seed, name="reals"),
                            **kw)["real"].state()
    # Descriptors are 75 KB per image and level (more than the pixels below ~350^2), but zeros
    # wherever the images are flat: compressed, 32^2 emoji take ~5x their pixels, not ~50x.
    state = cached(opts.cache, "descriptors", key, compute, DescriptorSet.from_state, compress=True)
    reals = DescriptorSet.from_state(state)
    note_reals(opts, reals.count, resolution)
    return SWDReference(reals)


def _indexed(batches, transform):
    k = 0
    for b in batches:
        yield transform(b, k)
        k += len(b)


def real_spectrum(opts, resolution: int) -> np.ndarray:
    """Mean ring power of the reference at `resolution` (spectral.py), cached."""
    def compute():
        batches, kw = real_stream(opts, resolution, "ring power")
        stats = stream.drain(batches, lambda key: spectral_lib.SpectrumStats(), **kw)["real"]
        return {"power": stats.mean_power, "count": np.int64(stats.count)}
    out = cached(opts.cache, "spectrum", real_key(opts, resolution), compute,
                 lambda a: (a["power"], int(a["count"])))
    note_reals(opts, int(out["count"]), resolution)
    return out["power"]


def real_edges(opts, resolution: int) -> np.ndarray:
    """EdgeStats counts of the reference at `resolution` (edges.py), cached."""
    def compute():
        batches, kw = real_stream(opts, resolution, "edge counts")
        return {"counts": stream.drain(batches, lambda key: edges_lib.EdgeStats(), **kw)["real"].counts()}
    key = real_key(opts, resolution, thresholds=[edges_lib.EDGE, edges_lib.STEEP])  # counts depend on them
    arrays = cached(opts.cache, "edges", key, compute, lambda a: edges_lib.check_counts(a["counts"]))
    note_reals(opts, int(arrays["counts"][0]), resolution)
    return arrays["counts"]
