"""Peak memory and throughput of the streaming metrics, written as JSON.

    python tools/bench_metrics.py --out=bench/metrics.json [--sizes=1000,4000,16000] [--resolution=256]

Each size runs in its own subprocess, so ru_maxrss is that run's peak: `fid50k` (or --metric)
of `num` fakes against `num` reals through the registry (registry.evaluate, cache in a fresh
temporary folder) with cheap stand-ins, so the run measures the metric machinery (data
pipeline, resize, extractor calls, streamed statistics), not Inception or a generator:
  * reals: uniform noise images made by tf.data, through the training pipeline
    (make_dataset: crop/resize, batching, prefetch), as stream.real_batches reads any source;
  * fakes: uniform noise from NumPy, in batches of --batch_size, in place of G's samples;
  * features: features.save_standin, random weights with 2048 outputs like pool_3, so the FID
    state (2048^2 float64 moments) is the real size; --extractor inception_v3 uses Keras'
    InceptionV3 with random weights instead (weights=None: nothing is downloaded), for the
    cost of a real-size network.
Per size: peak RSS, RSS before the metric (TF, extractor), wall seconds, images/s (reals +
fakes, excluding the one Frechet distance, timed on its own); over the sizes: the least-squares
slope of peak RSS in MB per 10k images (per side), which streaming should keep near 0.
"""
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # runs from a checkout without installing
    sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402

METRICS = ("fid50k", "kid50k", "pr50k3", "swd", "spectral")  # those at the training resolution


def parse_sizes(text: str):
    """'1000,4000' -> [1000, 4000]; ValueError unless comma-separated integers >= 2."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 2:
        raise ValueError(f"expected comma-separated integers >= 2, got {text!r}")
    return values


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 10  # KiB on Linux


def noise_source(num: int, size: int):
    """A data Source of `num` uniform-noise images at size x size (tf.data, stateless RNG)."""
    import tensorflow as tf
    from inr_gan_tf.data.base import DataStats, Source

    class NoiseSource(Source):
        name = f"noise:{num}"
        exact = True

        def __init__(self):
            self.stats = DataStats(self.name, num)

        def dataset(self, resolution, *, shuffle, seed, input_context=None):
            del resolution, shuffle, seed, input_context  # noise: every order is the same

            def make(i):
                x = tf.random.stateless_uniform([size, size, 3], seed=tf.stack([i, 1]), maxval=256,
                                                dtype=tf.int32)
                return tf.cast(x, tf.uint8)
            return tf.data.Dataset.range(num).map(make, num_parallel_calls=tf.data.AUTOTUNE)
    return NoiseSource()


class NoiseViews:
    """The fake side in G's place: uniform noise batches (patches.ModelViews' interface)."""
    name = "inr"

    def __init__(self, num: int, resolution: int, batch_size: int):
        import numpy as np
        self.num, self.resolution, self.batch_size = num, resolution, batch_size
        self._rng = np.random.default_rng(0)

    def batches(self, factor: int = 1, patch_seed=None):
        assert factor == 1 and patch_seed is None, "metrics above the grid are not benchmarked"
        for i in range(0, self.num, self.batch_size):
            n = min(self.batch_size, self.num - i)
            yield {"inr": self._rng.integers(0, 256, (n, self.resolution, self.resolution, 3),
                                             dtype="uint8")}


def save_extractor(kind: str, folder: str) -> str:
    from inr_gan_tf.metrics import features
    if kind == "standin":
        return features.save_standin(os.path.join(folder, "standin.keras"), dim=2048)
    import keras
    model = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None,
                                           input_shape=(features.FID_SIZE, features.FID_SIZE, 3))
    path = os.path.join(folder, "inception_v3_random.keras")
    model.save(path)
    return path


def child(args) -> dict:
    """One run in this process: the record of --metric on --child images per side."""
    import numpy as np
    from inr_gan_tf.metrics import fid as fid_lib
    from inr_gan_tf.metrics import registry
    num, R = args.child_num, args.resolution
    with tempfile.TemporaryDirectory() as tmp:
        needs_features = args.metric not in ("swd", "spectral")
        opts = registry.MetricOptions(
            G=None, source=noise_source(num, R), num_gen=num, num_real=num,
            feature_path=save_extractor(args.extractor, tmp) if needs_features else None,
            cache=tmp, batch_size=args.batch_size, seed=0, exact_num=True, progress=False)
        opts.fakes = NoiseViews(num, R, args.batch_size)
        if opts.feature_path:
            opts.extractor(np.zeros((1, 8, 8, 3), np.uint8))  # load and trace before measuring
        frechet = fid_lib.frechet_distance
        frechet_s = 0.0

        def timed(*a, **k):  # sqrtm of 2048^2 takes tens of seconds here, once per metric
            nonlocal frechet_s
            start = time.perf_counter()
            try:
                return frechet(*a, **k)
            finally:
                frechet_s += time.perf_counter() - start
        fid_lib.frechet_distance = timed
        before = _rss_mb()
        record = registry.evaluate(args.metric, opts)
    streamed_s = max(record["seconds"] - frechet_s, 1e-9)
    return {"num": num, "peak_rss_mb": round(_rss_mb(), 1), "rss_before_metric_mb": round(before, 1),
            "seconds": record["seconds"], "frechet_s": round(frechet_s, 2),
            "images_per_s": round(2 * num / streamed_s, 1), "results": record["results"]}


def slope_per_10k(runs):
    """Least-squares slope of peak RSS (MB) over images per side, per 10k images (None for
    a single size)."""
    import numpy as np
    if len({r["num"] for r in runs}) < 2:
        return None
    x = np.array([r["num"] for r in runs], float)
    y = np.array([r["peak_rss_mb"] for r in runs], float)
    return float(np.polyfit(x, y, 1)[0] * 1e4)


def define(fv: flags.FlagValues) -> None:
    common.define(fv, "out", None, "The JSON report (default: print only).")
    flags.DEFINE_string("sizes", "1000,4000,16000", "Images per side, comma-separated, one subprocess each.",
                        flag_values=fv)
    common.define(fv, "resolution", 256, "At least 16.")
    flags.DEFINE_enum("metric", "fid50k", METRICS, "Metric to run.", flag_values=fv)
    flags.DEFINE_enum("extractor", "standin", ["standin", "inception_v3"], "Random-weight feature network "
                      "(default: the cheap 2048-d stand-in).", flag_values=fv)
    common.define(fv, "batch_size", 32)
    common.define(fv, "timeout", 3600.0, "Per run (one subprocess).")
    common.define(fv, "child", None, "Here: the images per side of the one run.")


def check(a: Args) -> Args:
    try:
        a.size_list = parse_sizes(a.sizes)
    except ValueError as e:
        raise UsageError(f"--sizes: {e}") from None
    common.at_least(a, "resolution", 16)
    common.at_least(a, "batch_size", 1)
    common.positive(a, "timeout")
    if a.out and not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        raise UsageError(f"--out: folder {os.path.dirname(os.path.abspath(a.out))} does not exist")
    if a.child is not None:
        try:
            a.child_num = parse_sizes(a.child)[0]
        except ValueError as e:
            raise UsageError(f"--child: {e}") from None
    return a


def command_main(args: Args) -> int:
    check(args)
    if args.child is not None:
        print(json.dumps(child(args)))
        return 0

    runs = []
    for num in args.size_list:
        cmd = [sys.executable, os.path.abspath(__file__), f"--child={json.dumps(num)}", f"--metric={args.metric}",
               f"--resolution={args.resolution}", f"--extractor={args.extractor}",
               f"--batch_size={args.batch_size}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
        if done.returncode:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"run with {num} images failed (exit {done.returncode})")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
    import tensorflow as tf
    slope = slope_per_10k(runs)
    report = {
        "metric": args.metric, "resolution": args.resolution, "extractor": args.extractor,
        "batch_size": args.batch_size, "runs": runs,
        "peak_rss_slope_mb_per_10k_images": None if slope is None else round(slope, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "tensorflow": tf.__version__},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        from inr_gan_tf.paths import write_atomic
        write_atomic(args.out, text + "\n")
    return 0


COMMAND = cli.Command("python tools/bench_metrics.py", __doc__, define, command_main, log_level="warning")


def main(argv=None) -> int:
    return cli.run(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
