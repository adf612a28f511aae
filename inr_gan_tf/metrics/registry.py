"""Metric registry with cached real statistics and JSONL results (StyleGAN2-ADA metric_main).

    calc_metric('fid50k', G, 'noto_emoji', run_dir='runs/x')   # appends runs/x/metric-fid50k.jsonl
    list_metrics()                     # ['fid50k', 'kid50k', 'pr50k3', 'swd', 'upsampled_fid', ...]

Each metric scores `num` fakes (seeds 0..num-1, image k from seed k) against up to `num` real
images of the data source (a seeded random subset, no flips, resized to the metric's
resolution as training does). The real side is cached on disk under
<cache>/stats/, keyed by (source, resolution, num, feature extractor sha256): uint8 images for
SWD, feature mean/covariance for FID, features for KID and precision/recall.

Upsampled metrics (paper Sec. 4.2, Fig. 10): G trained at r renders its INR at 2r; the same
samples rendered at r and resized to 2r by nearest, bilinear and bicubic interpolation are the
baselines. All four are scored against real images at 2r, so the data must hold them (e.g. the
64x64 emoji for a 32x32 model) or the real side is itself an upsampled image.
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
from inr_gan_tf.metrics.swd import SWDReference
from inr_gan_tf.seeds import seed_latents, to_uint8

UPSAMPLERS = ("nearest", "bilinear", "bicubic")  # tf.image.resize methods of the baselines
_STATS_VERSION = 2  # bump when what a cache file holds changes (2: seeded random subset)


@dataclasses.dataclass
class MetricOptions:
    """What a metric function sees; `info` collects record fields (num_real, resolution,
    features)."""
    G: object                    # the generator (G_ema weights)
    source: str                  # data source spec for inr_gan_tf.data.resolve_source
    num_gen: int                 # fakes to score
    num_real: int                # most real images to use
    feature_path: Optional[str]  # Inception weights (None: env var, cache, fetch)
    cache: str                   # cache root (real statistics)
    batch_size: int = 32         # images per generator / extractor batch
    seed: int = 0                # SWD directions and patches, KID subsets
    truncation: float = 1.0      # psi of the fakes (1: none, as in the paper's metrics)
    info: dict = dataclasses.field(default_factory=dict)

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


_METRICS: Dict[str, MetricSpec] = {}
_EXTRACTORS: Dict[tuple, features_lib.FeatureExtractor] = {}


def register_metric(name: str, *, num: int, description: str):
    """Decorator: adds fn(opts) -> {key: float} to the registry under `name`."""
    def decorate(fn):
        if name in _METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        _METRICS[name] = MetricSpec(fn, int(num), description)
        return fn
    return decorate


def list_metrics() -> List[str]:
    return sorted(_METRICS)


def describe_metrics() -> Dict[str, str]:
    return {k: f"{_METRICS[k].description} (default num {_METRICS[k].num})" for k in list_metrics()}


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


def load_real_images(source: str, resolution: int, num: int) -> np.ndarray:
    """uint8 [n <= num, R, R, 3]: a fixed random subset of `num` images (seeded shuffle of the
    whole source, seed 0), as training sees them (centre crop + resize) but without flips.

    Random, not the first `num`: sources in file or code-point order are far from uniform (the
    first emoji are all keycaps)."""
    from inr_gan_tf import data  # pylint: disable=import-outside-toplevel
    batch = min(64, num)
    ds = data.make_dataset(source, resolution, batch, seed=0, shuffle=True, flip=False, repeat=False)
    images = np.concatenate([to_uint8(b.numpy()) for b in ds.take(-(-num // batch))])[:num]
    if len(images) == 0:
        raise ValueError(f"data source {source!r} yielded no images")
    return images


def real_images(opts: MetricOptions, resolution: int) -> np.ndarray:
    key = {"source": _source_key(opts.source), "resolution": resolution, "num": opts.num_real}
    images = cached(opts.cache, "images", key,
                    lambda: {"images": load_real_images(opts.source, resolution, opts.num_real)})["images"]
    opts.info.update(num_real=len(images), resolution=resolution)
    return images


def compute_real_features(opts: MetricOptions, resolution: int) -> np.ndarray:
    return opts.extractor(real_images(opts, resolution)).astype(np.float32)


def real_features(opts: MetricOptions, resolution: int) -> np.ndarray:
    key = {"source": _source_key(opts.source), "resolution": resolution, "num": opts.num_real,
           "features": opts.extractor.identity}
    feats = cached(opts.cache, "features", key,
                   lambda: {"features": compute_real_features(opts, resolution)})["features"]
    opts.info.update(num_real=len(feats), resolution=resolution)
    return feats.astype(np.float64)


def real_moments(opts: MetricOptions, resolution: int):
    key = {"source": _source_key(opts.source), "resolution": resolution, "num": opts.num_real,
           "features": opts.extractor.identity}

    def compute():
        mu, sigma = fid_lib.feature_moments(compute_real_features(opts, resolution))
        return {"mu": mu, "sigma": sigma, "count": np.int64(opts.info["num_real"])}
    stats = cached(opts.cache, "moments", key, compute)
    opts.info.update(num_real=int(stats["count"]), resolution=resolution)
    return stats["mu"], stats["sigma"]


# ---- fakes ------------------------------------------------------------------------------------

def fake_images(opts: MetricOptions) -> np.ndarray:
    from inr_gan_tf.sampling import generate_images  # pylint: disable=import-outside-toplevel
    return generate_images(opts.G, range(opts.num_gen), truncation=opts.truncation,
                           batch_size=opts.batch_size)


def fake_features(opts: MetricOptions) -> np.ndarray:
    """Features of the fakes, generated and embedded batch by batch (bounded memory)."""
    from inr_gan_tf.sampling import generate_images  # pylint: disable=import-outside-toplevel
    seeds = list(range(opts.num_gen))
    return np.concatenate([
        opts.extractor(generate_images(opts.G, seeds[i:i + opts.batch_size], truncation=opts.truncation,
                                       batch_size=opts.batch_size))
        for i in range(0, len(seeds), opts.batch_size)])


def upsampled_batches(G, seeds, *, batch_size: int = 32, truncation: float = 1.0
                      ) -> Iterator[Dict[str, np.ndarray]]:
    """Per batch of seeds, uint8 [b, 2r, 2r, 3] images keyed 'inr' (the INR rendered on the 2r
    grid) and one per UPSAMPLERS method (the r render resized to 2r)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    r = G.resolution
    seeds = list(seeds)
    for i in range(0, len(seeds), batch_size):
        params = G.params(tf.constant(seed_latents(seeds[i:i + batch_size], G.z_dim)), truncation=truncation)
        low = G.render_grid(params, r, r)  # [b, r, r, 3] float in [-1, 1]
        out = {"inr": to_uint8(G.render_grid(params, 2 * r, 2 * r).numpy())}  # [b, 2r, 2r, 3]
        for method in UPSAMPLERS:
            # Both grids use pixel centres (coords.py) as tf.image.resize does: aligned baselines.
            out[method] = to_uint8(tf.image.resize(low, [2 * r, 2 * r], method=method).numpy())
        yield out


# ---- the metrics ------------------------------------------------------------------------------

def _swd_results(result: dict) -> Dict[str, float]:
    return {"mean": result["mean"], **{str(res): v for res, v in result["levels"].items()}}


@register_metric("swd", num=4096, description="multi-scale sliced Wasserstein distance x1e3 "
                 "(ProGAN; it used 16384 images), no weights needed")
def _swd(opts: MetricOptions) -> Dict[str, float]:
    ref = SWDReference(real_images(opts, opts.G.resolution), seed=opts.seed)
    return _swd_results(ref(fake_images(opts)))


@register_metric("fid50k", num=50000, description="Frechet Inception distance")
def _fid(opts: MetricOptions) -> Dict[str, float]:
    mu, sigma = real_moments(opts, opts.G.resolution)
    return {"fid": fid_lib.fid_from_features(fake_features(opts), mu, sigma)}


@register_metric("kid50k", num=50000, description="kernel Inception distance x1e3 "
                 "(unbiased, 100 subsets of <= 1000)")
def _kid(opts: MetricOptions) -> Dict[str, float]:
    reals = real_features(opts, opts.G.resolution)
    return {"kid_x1e3": 1e3 * fid_lib.kid(reals, fake_features(opts), seed=opts.seed)}


@register_metric("pr50k3", num=50000, description="improved precision and recall, k=3, "
                 "on the Inception features (the paper's VGG16 features give other values)")
def _pr(opts: MetricOptions) -> Dict[str, float]:
    reals = real_features(opts, opts.G.resolution)
    return fid_lib.precision_recall(reals, fake_features(opts), k=3)


@register_metric("upsampled_swd", num=4096, description="SWD at 2x the training resolution: "
                 "INR render vs nearest/bilinear/bicubic upsampling (paper Fig. 10)")
def _upsampled_swd(opts: MetricOptions) -> Dict[str, float]:
    ref = SWDReference(real_images(opts, 2 * opts.G.resolution), seed=opts.seed)
    batches = list(upsampled_batches(opts.G, range(opts.num_gen), batch_size=opts.batch_size,
                                     truncation=opts.truncation))
    scores = {k: ref(np.concatenate([b[k] for b in batches])) for k in ("inr",) + UPSAMPLERS}
    # Means first, then per level: interpolation artefacts live mostly in the finest band.
    return {**{k: s["mean"] for k, s in scores.items()},
            **{f"{k}_{res}": v for k, s in scores.items() for res, v in s["levels"].items()}}


@register_metric("upsampled_fid", num=50000, description="FID at 2x the training resolution: "
                 "INR render vs nearest/bilinear/bicubic upsampling (paper Fig. 10)")
def _upsampled_fid(opts: MetricOptions) -> Dict[str, float]:
    mu, sigma = real_moments(opts, 2 * opts.G.resolution)
    feats = {k: [] for k in ("inr",) + UPSAMPLERS}
    for batch in upsampled_batches(opts.G, range(opts.num_gen), batch_size=opts.batch_size,
                                   truncation=opts.truncation):
        for k, images in batch.items():
            feats[k].append(opts.extractor(images))
    return {k: fid_lib.fid_from_features(np.concatenate(v), mu, sigma) for k, v in feats.items()}


@register_metric("kpl", num=10000, description="keypoint prediction loss (paper Table 2): linear "
                 "regression from z and w to face keypoints; needs MediaPipe (see kpl.py)")
def _kpl(opts: MetricOptions) -> Dict[str, float]:
    from inr_gan_tf.metrics import kpl as kpl_lib  # pylint: disable=import-outside-toplevel
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


def calc_metric(name: str, G, source: str, *, run_dir: Optional[str] = None,
                num: Optional[int] = None, feature_path: Optional[str] = None,
                cache: Optional[str] = None, batch_size: int = 32, seed: int = 0,
                truncation: float = 1.0, step: Optional[int] = None,
                snapshot: Optional[str] = None, writer=None) -> dict:
    """Computes metric `name` of G against `source` and returns its record.

    num:          images per side (default: the metric's, e.g. 50000 for fid50k).
    feature_path: Inception weights for FID/KID/PR (see features.py for the fallbacks).
    cache:        cache root for real statistics (default $INR_GAN_CACHE or ~/.cache/inr_gan_tf).
    run_dir:      if given, the record is appended to <run_dir>/metric-<name>.jsonl.
    step, snapshot: the training step and checkpoint the record refers to.
    writer:       a tf.summary writer: scalars metrics/<name>/<key> at `step` (or 0).
    """
    spec = _METRICS[check_metric_names([name])[0]]
    num = spec.num if num is None else int(num)
    if num < 2:
        raise ValueError(f"num must be >= 2, got {num}")
    opts = MetricOptions(G=G, source=source, num_gen=num, num_real=num, feature_path=feature_path,
                         cache=features_lib.cache_dir(cache), batch_size=int(batch_size),
                         seed=int(seed), truncation=float(truncation))
    start = time.time()
    results = {k: float(v) for k, v in spec.fn(opts).items()}
    record = {
        "metric": name, "results": results, "num_images": num,
        "num_real": opts.info.get("num_real"), "resolution": opts.info.get("resolution"),
        "data": source, "seconds": round(time.time() - start, 3), "step": step,
        "snapshot": snapshot,
        "features": opts.info.get("features"),  # the extractor's sha256, for FID-type metrics
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if run_dir:
        with open(os.path.join(run_dir, f"metric-{name}.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
    if writer is not None:
        write_scalars(writer, name, results, 0 if step is None else int(step))
    return record
