"""Throughput of the vector noto_emoji data and the size of its render cache, written as JSON.

    python tools/bench_data.py --out=bench/data.json [--resolutions=32,64,128,256] [--sample=100]

Measures, per resolution R:
  * render throughput: images/s of `render_svg` (resvg + PNG decode) on --sample icons spread
    over the set, one thread (resvg holds the GIL, so threads would not add to it);
  * first use: seconds to render the whole set into an empty cache (a fresh temporary folder
    unless --cache_dir is given), and a cache hit: seconds for `load_noto_emoji(R)` again
    (sha256 check of the file + memory map);
  * the cache's size on disk (the .npy and its sidecar);
and the training pipeline on a cache hit: `make_dataset('noto_emoji', 32, 64)` images/s.
"""
import json
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # runs from a checkout without installing
    sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402


def parse_resolutions(text: str):
    """'32,64' -> [32, 64]; ValueError unless comma-separated integers >= 1."""
    try:
        values = [int(v) for v in text.split(',') if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise ValueError(f'expected comma-separated integers >= 1, got {text!r}')
    return values


def bench_resolution(R: int, sample: int, cache_dir: str) -> dict:
    from inr_gan_tf.data import noto_emoji
    from inr_gan_tf.data.noto_emoji.render import render_svg

    names, bodies = noto_emoji.load_icons()
    picks = [bodies[k] for k in range(0, len(bodies), max(1, len(bodies) // sample))][:sample]
    render_svg(picks[0], R, R)  # warm-up
    start = time.perf_counter()
    for body in picks:
        render_svg(body, R, R)
    sample_s = time.perf_counter() - start

    start = time.perf_counter()
    noto_emoji.load_noto_emoji(R, cache_dir=cache_dir)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    noto_emoji.load_noto_emoji(R, cache_dir=cache_dir)
    hit_s = time.perf_counter() - start
    files = [f for f in os.listdir(cache_dir) if f.startswith(f'noto_emoji-{R}x{R}-')]
    size = sum(os.path.getsize(os.path.join(cache_dir, f)) for f in files)
    return {'resolution': R, 'render_images_per_s': len(picks) / sample_s,
            'sample_icons': len(picks), 'first_use_full_set_s': first_s,
            'first_use_images_per_s': len(names) / first_s, 'cache_hit_load_s': hit_s,
            'cache_bytes': size, 'cache_mib': size / 2**20}


def bench_pipeline(cache_dir: str, batches: int = 100) -> dict:
    from inr_gan_tf.data import make_dataset
    from inr_gan_tf.data.noto_emoji.source import NotoEmojiSource

    src = NotoEmojiSource(cache_dir=cache_dir)
    it = iter(make_dataset(src, 32, 64, seed=0))
    next(it)  # warm-up: tracing, shuffle buffer
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    seconds = time.perf_counter() - start
    return {'resolution': 32, 'batch_size': 64, 'images_per_s': batches * 64 / seconds}


def define(fv: flags.FlagValues) -> None:
    common.define(fv, 'out', 'bench_data.json', 'The JSON report.')
    common.define(fv, 'resolutions', '32,64,128,256', 'Render sizes.')
    flags.DEFINE_integer('sample', 100, 'Icons timed per resolution for the render rate.', flag_values=fv)
    common.define(fv, 'cache_dir', None, 'The render cache to fill (default: a fresh temporary folder, so the '
                  'first-use time is a real first use).')


def check(a: Args) -> Args:
    try:
        a.resolution_list = parse_resolutions(a.resolutions)
    except ValueError as e:
        raise UsageError(f'--resolutions: {e}') from None
    common.at_least(a, 'sample', 1)
    return a


def command_main(args: Args) -> int:
    check(args)
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = args.cache_dir or tmp
        results = [bench_resolution(R, args.sample, cache_dir) for R in args.resolution_list]
        for r in results:
            print(f"{r['resolution']:4d}: render {r['render_images_per_s']:7.1f} images/s, "
                  f"full set {r['first_use_full_set_s']:6.1f} s, "
                  f"hit {r['cache_hit_load_s']:.2f} s, "
                  f"cache {r['cache_mib']:7.1f} MiB")
        pipeline = bench_pipeline(cache_dir) if 32 in args.resolution_list else None
    if pipeline:
        print(f"make_dataset('noto_emoji', 32, 64) on a cache hit: "
              f"{pipeline['images_per_s']:.0f} images/s")
    from importlib.metadata import version
    report = {'machine': {'cpu_count': os.cpu_count(), 'python': platform.python_version(),
                          'resvg_py': version('resvg-py')},
              'render': results, 'make_dataset': pipeline}
    from inr_gan_tf.paths import write_atomic
    write_atomic(args.out, json.dumps(report, indent=1))
    print(f'wrote {args.out}')
    return 0


# absl INFO lines (the cache's) stay hidden, as before this tool used absl's flags.
COMMAND = cli.Command('python tools/bench_data.py', __doc__, define, command_main, log_level='warning')


def main(argv=None) -> int:
    return cli.run(COMMAND, argv)


if __name__ == '__main__':
    sys.exit(main())
