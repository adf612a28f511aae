"""Metric registry with cached real statistics and JSONL results (StyleGAN2-ADA metric_main).

    calc_metric('fid50k', G, 'noto_emoji', run_dir='runs/x')   # appends runs/x/metric-fid50k.jsonl
    calc_metric('patch_swd', G, 'procedural', superres=4)       # factor of the metrics above R
    real_vs_real('spectral', 'procedural', 32, num=512)         # the same score, reals vs reals
    list_metrics()                     # ['fid50k', 'kid50k', 'patch_swd', 'pr50k3', 'spectral', ...]

Each metric scores `num` fakes (seeds 0..num-1, image k from seed k) against up to `num` real
images of the data source (a seeded random subset, no flips, resized to the metric's
resolution as training does). The real side is cached on disk under
<cache>/stats/, keyed by (source, resolution, num, feature extractor sha256): uint8 images for
SWD, feature mean/covariance for FID, features for KID and precision/recall, mean ring power
for the spectral metrics, R x R crops for patch_swd (keyed by factor and crop seed too).

The fake side is a "views" object (patches.py): G's samples (ModelViews), or for
`real_vs_real` a second half of the reals in G's place (RealViews), so every metric has a
real-vs-real baseline from the same code. Metrics above the training grid (upsampled_swd,
upsampled_fid, patch_swd, upsampled_spectral) live in patches.py and take the factor
`superres` (their default if None); the record keeps it.
"""
import dataclasses
import datetime
import hashlib
import json
import os
import re
import time
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np

from inr_gan_tf.metrics import features as features_lib
from inr_gan_tf.metrics import fid as fid_lib
from inr_gan_tf.metrics import spectral as spectral_lib
from inr_gan_tf.metrics.swd import SWDReference
from inr_gan_tf.seeds import to_uint8

_STATS_VERSION = 2  # bump when what a cache file holds changes (2: seeded random subset)


@dataclasses.dataclass
class MetricOptions:
    """What a metric function sees; `info` collects record fields (num_real, resolution,
    features)."""
    G: object                    # the generator (G_ema weights); None for real_vs_real
    source: str                  # data source spec for inr_gan_tf.data.resolve_source
    num_gen: int                 # fakes to score
    num_real: int                # most real images to load (real_vs_real: both halves)
    feature_path: Optional[str]  # Inception weights (None: env var, cache, fetch)
    cache: str                   # cache root (real statistics)
    batch_size: int = 32         # images per generator / extractor batch
    seed: int = 0                # SWD directions and patches, KID subsets
    truncation: float = 1.0      # psi of the fakes (1: none, as in the paper's metrics)
    superres: Optional[int] = None  # factor of the metrics above the training grid
    real_vs_real: bool = False   # first half of the reals is the reference, second the fakes
    fakes: object = None         # patches.ModelViews / RealViews: the images that get scored
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def resolution(self) -> int:
        """R, the training resolution (of G, or given to real_vs_real)."""
        return self.fakes.resolution

    @property
    def extractor(self) -> features_lib.FeatureExtractor:
        key = (self.feature_path, os.environ.get(features_lib.ENV_WEIGHTS), self.cache, self.batch_size)
        if key not in _EXTRACTORS:  # one Inception per process, not one per metric
            _EXTRACTORS[key] = features_lib.load_feature_extractor(
                self.feature_path, cache=self.cache, batch_size=self.batch_size)
        self.info["features"] = _EXTRACTORS[key].identity
        return _EXTRACTORS[key]


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    fn: Callable[[MetricOptions], Dict[str, float]]
    num: int            # default images per side
    description: str
    superres: Optional[int] = None  # default factor; None: the metric has none


_METRICS: Dict[str, MetricSpec] = {}
_EXTRACTORS: Dict[tuple, features_lib.FeatureExtractor] = {}


def register_metric(name: str, *, num: int, description: str, superres: Optional[int] = None):
    """Decorator: adds fn(opts) -> {key: float} to the registry under `name`; `superres` is
    the default factor of a metric above the training grid (opts.superres)."""
    def decorate(fn):
        if name in _METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        _METRICS[name] = MetricSpec(fn, int(num), description, superres)
        return fn
    return decorate


def list_metrics() -> List[str]:
    return sorted(_METRICS)


def describe_metrics() -> Dict[str, str]:
    def defaults(spec):
        return f"default num {spec.num}" + (f", superres {spec.superres}" if spec.superres else "")
    return {k: f"{_METRICS[k].description} ({defaults(_METRICS[k])})" for k in list_metrics()}


def check_metric_names(names) -> List[str]:
    unknown = [n for n in names if n not in _METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; available: {', '.join(list_metrics())}")
    return list(names)


# ---- real-data statistics, cached on disk -----------------------------------------------------

def _cache_path(cache: str, kind: str, key: dict) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(str(key["source"]).rstrip("/\\")))
    return os.path.join(cache, "stats", f"{kind}-{slug}-{key['resolution']}-{key['num']}-{digest}.npz")


def cached(cache: str, kind: str, key: dict, compute: Callable[[], Dict[str, np.ndarray]]
           ) -> Dict[str, np.ndarray]:
    """compute() once per (kind, key); later calls read the .npz. Writes are atomic, so an
    interrupted run leaves no half file that a later run would trust."""
    key = dict(key, kind=kind, version=_STATS_VERSION)
    path = _cache_path(cache, kind, key)
    if os.path.exists(path):
        with np.load(path) as f:
            return {k: f[k] for k in f.files if k != "key"}
    arrays = compute()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.npz"
    np.savez(tmp, key=json.dumps(key, sort_keys=True), **arrays)
    os.replace(tmp, path)
    return arrays


def _source_key(source: str) -> str:
    return os.path.abspath(source) if os.path.exists(source) else source


def real_key(opts: MetricOptions, resolution: int, **extra) -> dict:
    """Cache key of a real-side statistic: source, resolution, images loaded, plus `extra`."""
    return {"source": _source_key(opts.source), "resolution": int(resolution),
            "num": opts.num_real, **extra}


def iter_real_images(source: str, resolution: int, num: int, batch: int = 64
                     ) -> Iterator[np.ndarray]:
    """uint8 batches [b, R, R, 3] of a fixed random subset of `num` images (seeded shuffle of
    the whole source, seed 0), as training sees them (centre crop + resize) but without flips.

    Random, not the first `num`: sources in file or code-point order are far from uniform (the
    first emoji are all keycaps). The shuffle acts on indices with a fixed seed, so image k is
    the same image at every resolution (real_vs_real relies on it: its halves stay disjoint).
    """
    from inr_gan_tf import data  # pylint: disable=import-outside-toplevel
    batch = min(batch, num)
    ds = data.make_dataset(source, resolution, batch, seed=0, shuffle=True, flip=False, repeat=False)
    count = 0
    for b in ds.take(-(-num // batch)):
        images = to_uint8(b.numpy())[:num - count]
        count += len(images)
        yield images
    if count == 0:
        raise ValueError(f"data source {source!r} yielded no images")


def load_real_images(source: str, resolution: int, num: int) -> np.ndarray:
    """uint8 [n <= num, R, R, 3]: iter_real_images in one array."""
    return np.concatenate(list(iter_real_images(source, resolution, num)))


def loaded_real_images(opts: MetricOptions, resolution: int) -> np.ndarray:
    """uint8 [num_real, R, R, 3]: all loaded reals at `resolution`, cached."""
    return cached(opts.cache, "images", real_key(opts, resolution),
                  lambda: {"images": load_real_images(opts.source, resolution, opts.num_real)})["images"]


def real_images(opts: MetricOptions, resolution: int) -> np.ndarray:
    """loaded_real_images, noted in the record as the metric's real side; metrics score
    against reference(opts, ...) of it."""
    images = loaded_real_images(opts, resolution)
    opts.info.update(num_real=len(reference(opts, images)), resolution=resolution)
    return images


def reference(opts: MetricOptions, loaded: np.ndarray) -> np.ndarray:
    """The reference side of loaded real data (images, crops, features): all of it, or for
    real_vs_real its first half (RealViews scores the second half as the fakes)."""
    return loaded[:len(loaded) // 2] if opts.real_vs_real else loaded


def compute_real_features(opts: MetricOptions, resolution: int) -> np.ndarray:
    return opts.extractor(real_images(opts, resolution)).astype(np.float32)


def real_features(opts: MetricOptions, resolution: int) -> np.ndarray:
    key = real_key(opts, resolution, features=opts.extractor.identity)
    feats = cached(opts.cache, "features", key,
                   lambda: {"features": compute_real_features(opts, resolution)})["features"]
    feats = reference(opts, feats)
    opts.info.update(num_real=len(feats), resolution=resolution)
    return feats.astype(np.float64)


def real_moments(opts: MetricOptions, resolution: int):
    if opts.real_vs_real:  # moments of one half: derived from the cached features, not cached
        return fid_lib.feature_moments(real_features(opts, resolution))
    key = real_key(opts, resolution, features=opts.extractor.identity)

    def compute():
        mu, sigma = fid_lib.feature_moments(compute_real_features(opts, resolution))
        return {"mu": mu, "sigma": sigma, "count": np.int64(opts.info["num_real"])}
    stats = cached(opts.cache, "moments", key, compute)
    opts.info.update(num_real=int(stats["count"]), resolution=resolution)
    return stats["mu"], stats["sigma"]


def real_spectrum(opts: MetricOptions, resolution: int) -> np.ndarray:
    """Mean ring power of the reference at `resolution` (spectral.py): only the ring powers
    are cached, computed from streamed images (none of them cached)."""
    if opts.real_vs_real:  # the halves come from the cached images anyway
        return spectral_lib.mean_power(reference(opts, real_images(opts, resolution)))

    def compute():
        stats = spectral_lib.SpectrumStats()
        for batch in iter_real_images(opts.source, resolution, opts.num_real):
            stats.add(batch)
        return {"power": stats.mean_power, "count": np.int64(stats.count)}
    out = cached(opts.cache, "spectrum", real_key(opts, resolution), compute)
    opts.info.update(num_real=int(out["count"]), resolution=resolution)
    return out["power"]


# ---- fakes ------------------------------------------------------------------------------------

def fake_images(opts: MetricOptions) -> np.ndarray:
    """uint8 [num_gen, R, R, 3] fakes at the training resolution."""
    return np.concatenate([b[opts.fakes.name] for b in opts.fakes.batches()])


def fake_features(opts: MetricOptions) -> np.ndarray:
    """Features of the fakes, generated and embedded batch by batch (bounded memory)."""
    return np.concatenate([opts.extractor(b[opts.fakes.name]) for b in opts.fakes.batches()])


# ---- the metrics at the training resolution ---------------------------------------------------
# (above it: patches.py, registered on import at the end of this file)

def swd_results(result: dict, prefix: str = "") -> Dict[str, float]:
    """SWD dict -> record keys: the mean as `prefix` (or 'mean'), levels as `prefix_<res>`."""
    if not prefix:
        return {"mean": result["mean"], **{str(res): v for res, v in result["levels"].items()}}
    return {prefix: result["mean"], **{f"{prefix}_{res}": v for res, v in result["levels"].items()}}


@register_metric("swd", num=4096, description="multi-scale sliced Wasserstein distance x1e3 "
                 "(ProGAN; it used 16384 images), no weights needed")
def _swd(opts: MetricOptions) -> Dict[str, float]:
    ref = SWDReference(reference(opts, real_images(opts, opts.resolution)), seed=opts.seed)
    return swd_results(ref(fake_images(opts)))


@register_metric("fid50k", num=50000, description="Frechet Inception distance")
def _fid(opts: MetricOptions) -> Dict[str, float]:
    mu, sigma = real_moments(opts, opts.resolution)
    return {"fid": fid_lib.fid_from_features(fake_features(opts), mu, sigma)}


@register_metric("kid50k", num=50000, description="kernel Inception distance x1e3 "
                 "(unbiased, 100 subsets of <= 1000)")
def _kid(opts: MetricOptions) -> Dict[str, float]:
    reals = real_features(opts, opts.resolution)
    return {"kid_x1e3": 1e3 * fid_lib.kid(reals, fake_features(opts), seed=opts.seed)}


@register_metric("pr50k3", num=50000, description="improved precision and recall, k=3, "
                 "on the Inception features (the paper's VGG16 features give other values)")
def _pr(opts: MetricOptions) -> Dict[str, float]:
    reals = real_features(opts, opts.resolution)
    return fid_lib.precision_recall(reals, fake_features(opts), k=3)


@register_metric("spectral", num=4096, description="log10 radial power spectrum distance "
                 "(Durall et al. 2020) at the training resolution, per band low/mid/high and "
                 "signed *_diff (fake - real), no weights needed")
def _spectral(opts: MetricOptions) -> Dict[str, float]:
    real = real_spectrum(opts, opts.resolution)
    fake = spectral_lib.mean_power(b[opts.fakes.name] for b in opts.fakes.batches())
    return spectral_lib.compare_spectra(real, fake, opts.resolution)


@register_metric("kpl", num=10000, description="keypoint prediction loss (paper Table 2): linear "
                 "regression from z and w to face keypoints; needs MediaPipe (see kpl.py)")
def _kpl(opts: MetricOptions) -> Dict[str, float]:
    from inr_gan_tf.metrics import kpl as kpl_lib  # pylint: disable=import-outside-toplevel
    if opts.G is None:
        raise ValueError("kpl scores a generator's latent space; it has no real-vs-real form")
    # The detector sees faces at 256^2 whatever the training resolution: the INR renders there.
    result = kpl_lib.kpl(opts.G, num=opts.num_gen, seed=opts.seed, batch=opts.batch_size,
                         resolution=max(256, opts.G.resolution), truncation=opts.truncation)
    opts.info.update(num_real=0, resolution=max(256, opts.G.resolution))
    return {k: v for k, v in result.items() if isinstance(v, (int, float))}


# ---- running one ------------------------------------------------------------------------------

def write_scalars(writer, name: str, results: Dict[str, float], step: int) -> None:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    with writer.as_default(step=step):
        for key, value in results.items():
            tf.summary.scalar(f"metrics/{name}/{key}", value)
    writer.flush()


def _check_args(name: str, num: Optional[int], superres: Optional[int]) -> tuple:
    """(spec, num, factor) after validation, before any work."""
    spec = _METRICS[check_metric_names([name])[0]]
    num = spec.num if num is None else int(num)
    if num < 2:
        raise ValueError(f"num must be >= 2, got {num}")
    if superres is not None and (int(superres) != superres or int(superres) < 2):
        raise ValueError(f"superres must be an integer factor >= 2, got {superres}")
    factor = None if spec.superres is None else int(superres or spec.superres)
    return spec, num, factor


def _evaluate(name: str, spec: MetricSpec, opts: MetricOptions, data: str) -> dict:
    start = time.time()
    results = {k: float(v) for k, v in spec.fn(opts).items()}
    return {
        "metric": name, "results": results, "num_images": opts.num_gen,
        "num_real": opts.info.get("num_real"), "resolution": opts.info.get("resolution"),
        "superres": opts.superres,  # factor of a metric above the training grid, else None
        "data": data, "seconds": round(time.time() - start, 3),
    }


def calc_metric(name: str, G, source: str, *, run_dir: Optional[str] = None,
                num: Optional[int] = None, feature_path: Optional[str] = None,
                cache: Optional[str] = None, batch_size: int = 32, seed: int = 0,
                truncation: float = 1.0, superres: Optional[int] = None,
                step: Optional[int] = None, snapshot: Optional[str] = None, writer=None) -> dict:
    """Computes metric `name` of G against `source` and returns its record.

    num:          images per side (default: the metric's, e.g. 50000 for fid50k).
    feature_path: Inception weights for FID/KID/PR (see features.py for the fallbacks).
    cache:        cache root for real statistics (default $INR_GAN_CACHE or ~/.cache/inr_gan_tf).
    superres:     factor of the metrics above the training grid (default: the metric's; the
                  others ignore it and record None).
    run_dir:      if given, the record is appended to <run_dir>/metric-<name>.jsonl.
    step, snapshot: the training step and checkpoint the record refers to.
    writer:       a tf.summary writer: scalars metrics/<name>/<key> at `step` (or 0).
    """
    spec, num, factor = _check_args(name, num, superres)
    opts = MetricOptions(G=G, source=source, num_gen=num, num_real=num, feature_path=feature_path,
                         cache=features_lib.cache_dir(cache), batch_size=int(batch_size),
                         seed=int(seed), truncation=float(truncation), superres=factor)
    opts.fakes = patches.ModelViews(G, num, batch_size=opts.batch_size, truncation=opts.truncation)
    record = _evaluate(name, spec, opts, source)
    record.update({
        "step": step, "snapshot": snapshot,
        "features": opts.info.get("features"),  # the extractor's sha256, for FID-type metrics
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    if run_dir:
        with open(os.path.join(run_dir, f"metric-{name}.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
    if writer is not None:
        write_scalars(writer, name, results=record["results"], step=0 if step is None else int(step))
    return record


def real_vs_real(name: str, source: str, resolution: int, num: Optional[int] = None, *,
                 superres: Optional[int] = None, feature_path: Optional[str] = None,
                 cache: Optional[str] = None, batch_size: int = 32, seed: int = 0) -> dict:
    """Metric `name` with real images in G's place: the baseline a perfect model would score.

    Loads 2 * num reals (same subset and cache as calc_metric with that many), scores the
    second half against the first at `resolution` R (and superres * R for the metrics above the
    grid); the fake-side key 'inr' is 'real' here, and the upsampler keys upsample the second
    half's R images, i.e. what each interpolation scores on perfect R images.
    """
    spec, num, factor = _check_args(name, num, superres)
    if int(resolution) < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    opts = MetricOptions(G=None, source=source, num_gen=num, num_real=2 * num,
                         feature_path=feature_path, cache=features_lib.cache_dir(cache),
                         batch_size=int(batch_size), seed=int(seed), superres=factor,
                         real_vs_real=True)
    opts.fakes = patches.RealViews(opts, int(resolution))
    opts.num_gen = opts.fakes.num
    return {**_evaluate(name, spec, opts, source), "real_vs_real": True}


# Metrics above the training grid register themselves on import; patches.py uses this module's
# names at call time only, so importing it here (after they are all defined) is safe.
from inr_gan_tf.metrics import patches  # noqa: E402  pylint: disable=wrong-import-position,cyclic-import
