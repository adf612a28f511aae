"""Generator throughput and memory on this machine, written as JSON.

    python tools/bench_generator.py --out=bench/generator.json [--repeats=3] [--quick]

Measures (medians over --repeats, after one warm-up):
  * images/s and ms/image at batch 16 for CPU-sized 32^2, 64^2, 128^2 and 256^2 generators
    (presets.small_generator);
  * the 256^2 generator rendered at 256, 128, 64, 32 (accelerated low-resolution inference)
    and at 512 and 1024 (super-resolution), with the MAC count of each;
  * one 4096^2 image rendered in 256^2 tiles, with the process's peak resident memory.
Every measurement runs in a fresh subprocess so that peak RSS belongs to that measurement alone.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # runs from a checkout without installing
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, common  # noqa: E402


def _rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def measure(train_res, render_res, batch, repeats, tile):
    """One measurement, in this process. Returns a dict."""
    import tensorflow as tf

    from inr_gan_tf import sampling
    from inr_gan_tf.model import build_generator, complexity, presets

    cfg = presets.small_generator(train_res)
    G = build_generator(cfg, seed=0)
    z = tf.random.normal([batch, G.z_dim])
    rss_model = _rss_mib()
    if tile:
        def run():
            return sampling.render_tiled(G, G.params(z), render_res, render_res, tile_size=tile)
    else:
        fn = tf.function(lambda z: G.render_grid(G.params(z), render_res, render_res))

        def run():
            return fn(z).numpy()
    run()  # warm-up: tracing, allocator growth
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return {"train_resolution": train_res, "render_resolution": render_res, "batch": batch,
            "tiled": bool(tile), "seconds_median": sec, "seconds_all": times,
            "ms_per_image": 1000 * sec / batch, "images_per_s": batch / sec,
            "gmacs_per_image": complexity.macs(cfg, render_res, render_res)["total"] / 1e9,
            "peak_rss_mib": _rss_mib(), "rss_after_model_mib": rss_model}


def _subprocess(args, threads):
    cmd = [sys.executable, os.path.abspath(__file__), f"--child={json.dumps(args)}", f"--threads={threads}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def define(fv: flags.FlagValues) -> None:
    common.define(fv, "out", "bench/generator.json", "The JSON report.")
    common.define(fv, "repeats", 3, "Timed runs after one warm-up (the 4096^2 render: 1).")
    flags.DEFINE_boolean("quick", False, "Smaller batches, no 4096^2 render.", flag_values=fv)
    common.define(fv, "threads", 1, "1 measured steadiest here.")
    common.define(fv, "child", None)


def check(a: Args) -> Args:
    common.at_least(a, "repeats", 1)
    common.at_least(a, "threads", 0)
    a.measurement = common.child_measurement(a)
    return a


def command_main(args: Args) -> int:
    check(args)
    if args.child is not None:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        print(json.dumps(measure(**args.measurement)))
        return 0

    b = 4 if args.quick else 16
    plan = [dict(train_res=r, render_res=r, batch=b, tile=0) for r in (32, 64, 128, 256)]
    plan += [dict(train_res=256, render_res=r, batch=b, tile=0) for r in (128, 64, 32)]
    plan += [dict(train_res=256, render_res=r, batch=2, tile=256) for r in (512, 1024)]
    if not args.quick:
        plan.append(dict(train_res=256, render_res=4096, batch=1, tile=256))
    results = []
    for p in plan:
        r = _subprocess(dict(p, repeats=args.repeats if p["render_res"] < 4096 else 1), args.threads)
        print(f"train {r['train_resolution']:4d} render {r['render_resolution']:5d} batch {r['batch']:2d}: "
              f"{r['ms_per_image']:9.1f} ms/image {r['images_per_s']:8.2f} img/s "
              f"{r['gmacs_per_image']:8.2f} GMACs  peak RSS {r['peak_rss_mib']:7.0f} MiB", flush=True)
        results.append(r)
    by = {(r["train_resolution"], r["render_resolution"]): r for r in results}
    full = by[(256, 256)]["ms_per_image"]
    summary = {f"256_model_at_{s}_time_fraction": by[(256, s)]["ms_per_image"] / full
               for s in (128, 64, 32)}
    if (256, 4096) in by:
        summary["render_4096_peak_rss_gib"] = by[(256, 4096)]["peak_rss_mib"] / 1024
    print(json.dumps(summary, indent=1))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"results": results, "summary": summary, "threads": args.threads}, f, indent=1)
    return 0


COMMAND = cli.Command("python tools/bench_generator.py", __doc__, define, command_main, aliases={"_one": "child"},
                      log_level="warning")


def main(argv=None) -> int:
    return cli.run(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
