"""Metric registry with cached real statistics and JSONL results (StyleGAN2-ADA metric_main).

    calc_metric('fid50k', G, 'noto_emoji', run_dir='runs/x')   # appends runs/x/metric-fid50k.jsonl
    calc_metric('patch_swd', G, 'procedural', superres=4)       # factor of the metrics above R
    calc_metric('patch_swd', G, 'procedural', num=64, draws=4)  # mean of 4 draws, results_se
    real_vs_real('spectral', 'procedural', 32, num=512)         # the same score, reals vs reals
    list_metrics()                     # ['fid50k', 'kid50k', 'patch_swd', 'pr50k3', 'spectral', ...]

Each metric scores `num` fakes (seeds 0..num-1 or those given, image k from seed k) against `num` real images
of the data source (a seeded random subset, no flips, resized to the metric's resolution as
training does; stream.real_batches). An explicit `num` above the source's size is an error
that says how many images it has; the metric's default `num` is a cap (StyleGAN2-ADA's
`max_real`): a smaller source is scored whole, and the record's num_real says how much.

Everything streams (stream.py): images arrive in batches and only what a metric needs stays in
memory, so it does not grow with `num`: FID keeps the running mean and covariance of the
features, KID and precision/recall at most MAX_FEATURES feature vectors per side, SWD the patch
descriptors (swd.DescriptorSet), the spectral metrics the mean ring power, upsampled_edges four
pixel counts. The real side (reals.py) is cached under <cache>/stats/ as exactly those
statistics, never images, keyed by (source, resolution, num, feature extractor sha256, ...); a
file written by another version, for another key, or truncated is rebuilt, not trusted.

The fake side is a "views" object (patches.py): G's samples (ModelViews), or for `real_vs_real`
the images after the first `num` reals (RealViews), so every metric has a real-vs-real baseline
from the same code. Metrics above the training grid (upsampled_swd, upsampled_fid, patch_swd,
upsampled_spectral, upsampled_edges) live in patches.py and take the factor `superres` (their
default if None); the record keeps it, with the wall time (`seconds`) and the process's peak
resident memory so far (`peak_rss_mb`, ru_maxrss: it includes whatever ran earlier in the same
process).
"""
import dataclasses
import datetime
import json
import math
import operator
import os
import resource
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from inr_gan_tf import progress
from inr_gan_tf.metrics import features as features_lib
from inr_gan_tf.metrics import fid as fid_lib
from inr_gan_tf.metrics import spectral as spectral_lib
from inr_gan_tf.metrics import stream
from inr_gan_tf.seeds import MAX_SEED, MAX_SEEDS, format_seeds, parse_seeds
# The real side (reals.py), named here too: the metrics above the grid (patches.py) call them so.
from inr_gan_tf.metrics.reals import (MAX_FEATURES, real_edges, real_features,  # noqa: F401
                                      real_moments, real_spectrum, real_swd, source_key)


@dataclasses.dataclass
class MetricOptions:
    """What a metric function sees; `info` collects record fields (num_real, resolution,
    features)."""
    G: object                    # the generator (G_ema weights); None for real_vs_real
    source: object               # data source: a spec for inr_gan_tf.data.resolve_source, or a Source
    num_gen: int                 # fakes to score
    num_real: int                # real images of the reference side
    feature_path: Optional[str]  # Inception weights (None: env var, cache, fetch)
    cache: str                   # cache root (real statistics)
    batch_size: int = 32         # images per generator / extractor / data batch
    seed: int = 0                # SWD directions and patches, KID subsets
    truncation: float = 1.0      # psi of the fakes (1: none, as in the paper's metrics)
    superres: Optional[int] = None  # factor of the metrics above the training grid
    real_vs_real: bool = False   # the images after the first num_real reals are the fakes
    exact_num: bool = False      # num was asked for: fewer real images is an error
    progress: Optional[bool] = None  # progress lines (None: when stdout is a terminal)
    fakes: object = None         # patches.ModelViews / RealViews: the images that get scored
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def resolution(self) -> int:
        """R, the training resolution (of G, or given to real_vs_real)."""
        return self.fakes.resolution

    @property
    def data(self):
        """The resolved data Source (resolved once: folder sources scan their files)."""
        if not hasattr(self, "_data"):
            from inr_gan_tf.data import resolve_source  # pylint: disable=import-outside-toplevel
            self._data = resolve_source(self.source) if isinstance(self.source, str) else self.source
        return self._data

    @property
    def show_progress(self) -> bool:
        return progress.on_terminal(self.progress)

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
    min_num: int = 2    # fewest images per side it can score
    needs_reals: bool = True


_METRICS: Dict[str, MetricSpec] = {}
_EXTRACTORS: Dict[tuple, features_lib.FeatureExtractor] = {}


def register_metric(name: str, *, num: int, description: str, superres: Optional[int] = None,
                    min_num: int = 2, needs_reals: bool = True):
    """Decorator: adds fn(opts) -> {key: float} to the registry under `name`; `superres` is
    the default factor of a metric above the training grid (opts.superres), `min_num` the
    fewest images per side it can score."""
    def decorate(fn):
        if name in _METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        _METRICS[name] = MetricSpec(fn, int(num), description, superres, int(min_num), needs_reals)
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


def _spec(name: str) -> MetricSpec:
    """The registered spec of metric `name`; ValueError listing the metrics if it is unknown."""
    return _METRICS[check_metric_names([name])[0]]


# ---- the fake side: streamed, never cached -----------------------------------------------------

def fake_sinks(opts: MetricOptions, make_sink: Callable[[str], object], what: str,
               factor: int = 1, patch_seed: Optional[int] = None) -> Dict[str, object]:
    """{variant: sink} after streaming every batch of opts.fakes (see patches.py)."""
    size = factor * opts.resolution if patch_seed is None else opts.resolution
    label = f"{opts.fakes.name} {size}x{size}" + (f" (x{factor})" if factor > 1 else "") + f" -> {what}"
    return stream.drain(opts.fakes.batches(factor=factor, patch_seed=patch_seed), make_sink,
                        total=opts.fakes.num, label=label, progress=opts.show_progress)


def fake_feature_sinks(opts: MetricOptions, *, moments: bool = False, keep: bool = False,
                       factor: int = 1) -> Dict[str, stream.FeatureSink]:
    ext = opts.extractor
    return fake_sinks(opts, lambda key: stream.FeatureSink(
        ext, f"fakes '{key}'", moments=moments, keep=MAX_FEATURES if keep else None,
        seed=opts.seed), f"features {ext.kind}", factor=factor)


# ---- the metrics at the training resolution ---------------------------------------------------
# (above it: patches.py, registered on import at the end of this file)

def swd_results(result: dict, prefix: str = "") -> Dict[str, float]:
    """SWD dict -> record keys: the mean as `prefix` (or 'mean'), levels as `prefix_<res>`."""
    if not prefix:
        return {"mean": result["mean"], **{str(res): v for res, v in result["levels"].items()}}
    return {prefix: result["mean"], **{f"{prefix}_{res}": v for res, v in result["levels"].items()}}


@register_metric("swd", num=4096, description="multi-scale sliced Wasserstein distance x1e3 "
                 "(ProGAN; it used 16384 images), no weights needed", min_num=1)
def _swd(opts: MetricOptions) -> Dict[str, float]:
    ref = real_swd(opts, opts.resolution)
    (fakes,) = fake_sinks(opts, ref.new_side, "SWD descriptors").values()
    return swd_results(ref(fakes))


@register_metric("fid50k", num=50000, description="Frechet Inception distance")
def _fid(opts: MetricOptions) -> Dict[str, float]:
    mu, sigma = real_moments(opts, opts.resolution)
    (fakes,) = fake_feature_sinks(opts, moments=True).values()
    return {"fid": fid_lib.frechet_distance(*fakes.stats.moments(), mu, sigma)}


@register_metric("kid50k", num=50000, description="kernel Inception distance x1e3 "
                 "(unbiased, 100 subsets of <= 1000)")
def _kid(opts: MetricOptions) -> Dict[str, float]:
    reals = real_features(opts, opts.resolution)
    (fakes,) = fake_feature_sinks(opts, keep=True).values()
    return {"kid_x1e3": 1e3 * fid_lib.kid(reals, fakes.reservoir.features, seed=opts.seed)}


@register_metric("pr50k3", num=50000, description="improved precision and recall, k=3, "
                 "on the Inception features (the paper's VGG16 features give other values)",
                 min_num=4)
def _pr(opts: MetricOptions) -> Dict[str, float]:
    reals = real_features(opts, opts.resolution, min_num=4)  # k=3 neighbours besides itself
    (fakes,) = fake_feature_sinks(opts, keep=True).values()
    return fid_lib.precision_recall(reals, fakes.reservoir.features, k=3)


@register_metric("spectral", num=4096, description="log10 radial power spectrum distance "
                 "(Durall et al. 2020) at the training resolution, per band low/mid/high and "
                 "signed *_diff (fake - real), no weights needed", min_num=1)
def _spectral(opts: MetricOptions) -> Dict[str, float]:
    real = real_spectrum(opts, opts.resolution)
    (fake,) = fake_sinks(opts, lambda key: spectral_lib.SpectrumStats(), "ring power").values()
    return spectral_lib.compare_spectra(real, fake.mean_power, opts.resolution, fake.image_power)


@register_metric("kpl", num=10000, description="keypoint prediction loss (paper Table 2): linear "
                 "regression from z and w to face keypoints; needs MediaPipe (see kpl.py)",
                 needs_reals=False)
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


def check_args(name: str, num: Optional[int], superres: Optional[int]) -> tuple:
    """(spec, num, factor) after validation, before any work."""
    spec = _spec(name)
    num = spec.num if num is None else int(num)
    if num < max(2, spec.min_num):
        raise ValueError(f"{name} needs num >= {max(2, spec.min_num)}, got {num}")
    if superres is not None and (int(superres) != superres or int(superres) < 2):
        raise ValueError(f"superres must be an integer factor >= 2, got {superres}")
    factor = None if spec.superres is None else int(superres or spec.superres)
    return spec, num, factor


def _fit_reals(opts: MetricOptions, name: str, spec: MetricSpec, need: int, explicit: bool,
               hint: str) -> int:
    """How many reals to read: `need`, or all of a smaller source when num was the default;
    an explicit num the source cannot serve is an error (where the source knows its size;
    otherwise stream.real_batches says so when it runs out)."""
    have = opts.data.num_examples
    if have == 0:
        raise ValueError(f"data source {source_key(opts.source)!r} has no readable images")
    if have is None or have >= need:
        return need
    if explicit:
        raise ValueError(f"data source {source_key(opts.source)!r} has {have} images, fewer than "
                         f"the {need} {hint}")
    if have < spec.min_num:
        raise ValueError(f"{name} needs at least {spec.min_num} real images; data source "
                         f"{source_key(opts.source)!r} has {have}")
    return have


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10), 1)


def evaluate(name: str, opts: MetricOptions) -> dict:
    """Runs metric `name` on prepared options (opts.fakes set): its record without the
    run-specific fields. calc_metric and real_vs_real prepare the options; benchmarks may
    pass their own views and sources."""
    spec = _spec(name)
    start = time.time()
    results = {k: float(v) for k, v in spec.fn(opts).items()}
    return {
        "metric": name, "results": results, "num_images": opts.num_gen,
        "num_real": opts.info.get("num_real"), "resolution": opts.info.get("resolution"),
        "superres": opts.superres,  # factor of a metric above the training grid, else None
        "data": source_key(opts.source), "seconds": round(time.time() - start, 3),
        "peak_rss_mb": _peak_rss_mb(),
    }


def calc_metric(name: str, G, source, *, run_dir: Optional[str] = None,
                num: Optional[int] = None, feature_path: Optional[str] = None,
                cache: Optional[str] = None, batch_size: int = 32, seed: int = 0,
                truncation: float = 1.0, superres: Optional[int] = None,
                step: Optional[int] = None, snapshot: Optional[str] = None, writer=None,
                progress: Optional[bool] = None, seeds: Optional[Sequence[int]] = None,
                draws: int = 1) -> dict:
    """Computes metric `name` of G against `source` and returns its record.

    num:          images per side (default: the metric's, e.g. 50000 for fid50k, which is then
                  also the most reals read; an explicit num must not exceed the source).
    feature_path: Inception weights for FID/KID/PR (see features.py for the fallbacks).
    cache:        cache root for real statistics (default $INR_GAN_CACHE or ~/.cache/inr_gan_tf).
    superres:     factor of the metrics above the training grid (default: the metric's; the
                  others ignore it and record None).
    run_dir:      if given, the record is appended to <run_dir>/metric-<name>.jsonl.
    step, snapshot: the training step and checkpoint the record refers to (the CLI writes the
                  checkpoint relative to run_dir).
    writer:       a tf.summary writer: scalars metrics/<name>/<key> at `step` (or 0).
    progress:     progress lines (default: when stdout is a terminal).
    seeds:        the fakes' latent seeds (default 0 .. num - 1; num defaults to their count):
                  another set is another draw of the same model, so two disjoint sets show how
                  far a reading moves with the sample. Recorded as "seeds".
    draws:        > 1: that many disjoint draws of equal size against the same reals, each with
                  its own seeds (`seeds` split in order, or 0 .. draws * num - 1), recorded as one
                  line (summarize_draws): results is their mean, results_se its standard error.
    """
    if draws != 1:
        blocks = draw_seeds(name, seeds, num, draws)
        record = summarize_draws([calc_metric(
            name, G, source, num=len(block), feature_path=feature_path, cache=cache, batch_size=batch_size,
            seed=seed, truncation=truncation, superres=superres, step=step, snapshot=snapshot,
            progress=progress, seeds=block) for block in blocks])
        return _publish(name, record, run_dir, writer, step)
    if seeds is not None:
        seeds, num = check_seeds(name, seeds, num)
    explicit = num is not None
    spec, num, factor = check_args(name, num, superres)
    opts = MetricOptions(G=G, source=source, num_gen=num, num_real=num, feature_path=feature_path,
                         cache=features_lib.cache_dir(cache), batch_size=int(batch_size),
                         seed=int(seed), truncation=float(truncation), superres=factor,
                         exact_num=explicit, progress=progress)
    if spec.needs_reals:
        opts.num_real = _fit_reals(opts, name, spec, num, explicit,
                                   f"asked for: name {opts.data.num_examples} seeds or fewer" if seeds is not None
                                   else f"asked for: pass num={opts.data.num_examples} or less, or leave "
                                   f"num unset to score {spec.num} fakes against all of them")
    opts.fakes = patches.ModelViews(G, num, batch_size=opts.batch_size, truncation=opts.truncation,
                                    seeds=seeds)
    record = evaluate(name, opts)
    record.update({
        "seeds": format_seeds(opts.fakes.seeds) if spec.needs_reals else None,  # latents of the fakes
        "step": step, "snapshot": snapshot,
        "features": opts.info.get("features"),  # the extractor's sha256, for FID-type metrics
        "antialias": getattr(G, "antialias", None),  # points per pixel side of the fakes' renders
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    return _publish(name, record, run_dir, writer, step)


def _publish(name: str, record: dict, run_dir: Optional[str], writer, step: Optional[int]) -> dict:
    if run_dir:
        with open(os.path.join(run_dir, f"metric-{name}.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
    if writer is not None:  # with draws, the mean and its standard error beside it
        scalars = {**record["results"], **{f"{k}_draws_se": v for k, v in record.get("results_se", {}).items()}}
        write_scalars(writer, name, results=scalars, step=0 if step is None else int(step))
    return record


def draw_seeds(name: str, seeds: Optional[Sequence[int]], num: Optional[int], draws: int) -> List[List[int]]:
    """The fakes' seeds of `draws` disjoint draws of equal size: `seeds` split in order, or
    0 .. draws * num - 1; ValueError naming what is wrong, before any work."""
    try:
        draws = operator.index(draws)
    except TypeError:
        raise ValueError(f"draws must be a whole number, got {draws!r}") from None
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    if seeds is None:
        if num is None:
            raise ValueError("draws need num (the fakes of one draw) or seeds (split among the draws)")
        if draws * int(num) > MAX_SEEDS:  # refused before the list is made
            raise ValueError(f"draws x num = {draws * int(num)} fakes, more than {MAX_SEEDS}")
        seeds = range(draws * int(num))
    seeds, total = check_seeds(name, seeds, None)
    if total % draws:
        raise ValueError(f"{total} seeds do not split into {draws} draws of equal size")
    per = total // draws
    if num is not None and int(num) != per:
        raise ValueError(f"num={num} but {total} seeds make {draws} draws of {per}: leave num unset or "
                         f"make them agree")
    return [seeds[i * per:(i + 1) * per] for i in range(draws)]


def summarize_draws(records: Sequence[dict]) -> dict:
    """One record for several draws of one model (calc_metric's records, in order): results is
    the mean per key, results_se its standard error (sample sd / sqrt(draws)), draw_results each
    draw's results; seeds are all of them, seconds add up, peak memory is the largest. Only the
    fakes differ between draws, so the spread is the sampling noise of a reading of num fakes.
    A key `<k>_se` that a metric already reports (a bootstrap error of <k>) becomes the error of
    the mean of independent draws, sqrt(sum se^2) / draws, and gets no results_se of its own."""
    if len(records) < 2:
        raise ValueError(f"summarize_draws needs at least 2 draws, got {len(records)}")
    n = len(records)
    values = {k: [float(r["results"][k]) for r in records] for k in records[0]["results"]}
    own_se = {k for k in values if k.endswith("_se") and k[:-3] in values}
    # By hand, not statistics or fsum: a non-finite draw gives NaN here, not an exception after
    # all the draws were scored.
    mean = {k: sum(v) / n for k, v in values.items()}
    se = {k: math.sqrt(sum((x - mean[k]) ** 2 for x in v) / (n - 1) / n)
          for k, v in values.items() if k not in own_se}
    mean.update({k: math.sqrt(sum(x * x for x in values[k])) / n for k in own_se})
    out = dict(records[0])
    out.update(results=mean, results_se=se, draws=n, draw_results=[r["results"] for r in records],
               seeds=format_seeds(parse_seeds(",".join(r["seeds"] for r in records))),
               seconds=round(sum(r["seconds"] for r in records), 3),
               peak_rss_mb=max(r["peak_rss_mb"] for r in records), timestamp=records[-1]["timestamp"])
    return out


def check_seeds(name: str, seeds: Sequence[int], num: Optional[int]) -> Tuple[List[int], int]:
    """(the seeds as ints, num) for calc_metric's seeds; ValueError naming what is wrong, before
    any work."""
    if not _spec(name).needs_reals:
        raise ValueError(f"{name} draws its own latents (from seed); seeds choose the fakes of the "
                         f"metrics that score images")
    try:
        seeds = [operator.index(s) for s in seeds]  # 1.5 is not a seed; numpy integers are
    except TypeError:
        raise ValueError("seeds must be whole numbers") from None
    if not seeds:
        raise ValueError("seeds is empty")
    if not all(0 <= s <= MAX_SEED for s in seeds):
        raise ValueError(f"seeds must be in 0..{MAX_SEED}, got {min(seeds)}..{max(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds repeat ({len(seeds) - len(set(seeds))} duplicates): each fake must be "
                         f"another sample")
    if num is not None and int(num) != len(seeds):
        raise ValueError(f"num={num} but {len(seeds)} seeds: leave num unset or make them agree")
    return seeds, len(seeds)


def real_vs_real(name: str, source, resolution: int, num: Optional[int] = None, *,
                 superres: Optional[int] = None, feature_path: Optional[str] = None,
                 cache: Optional[str] = None, batch_size: int = 32, seed: int = 0,
                 progress: Optional[bool] = None) -> dict:
    """Metric `name` with real images in G's place: the baseline a perfect model would score.

    Reads 2 * num reals of the seeded subset (all of a smaller source when num is the
    default): the first half is the reference, the same images and cache as calc_metric with
    that num; the second half is scored in G's place at `resolution` R (and superres * R for the
    metrics above the grid). The fake-side key 'inr' is 'real' here, and the upsampler keys
    upsample the second half's R images, i.e. what each interpolation scores on perfect R images.
    """
    explicit = num is not None
    spec, num, factor = check_args(name, num, superres)
    if int(resolution) < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    if not spec.needs_reals:
        raise ValueError(f"{name} scores a generator's latent space; it has no real-vs-real form")
    opts = MetricOptions(G=None, source=source, num_gen=num, num_real=num,
                         feature_path=feature_path, cache=features_lib.cache_dir(cache),
                         batch_size=int(batch_size), seed=int(seed), superres=factor,
                         real_vs_real=True, exact_num=True, progress=progress)
    total = _fit_reals(opts, name, spec, 2 * num, explicit,
                       f"that real_vs_real with num={num} reads (2 x num): pass num="
                       f"{(opts.data.num_examples or 0) // 2} or less")
    opts.num_real = total // 2
    opts.fakes = patches.RealViews(opts, int(resolution), start=opts.num_real, stop=total)
    opts.num_gen = opts.fakes.num
    return {**evaluate(name, opts), "real_vs_real": True}


# Metrics above the training grid register themselves on import; patches.py uses this module's
# names at call time only, so importing it here (after they are all defined) is safe.
from inr_gan_tf.metrics import patches  # noqa: E402  pylint: disable=wrong-import-position,cyclic-import
