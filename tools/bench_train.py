"""Training throughput on this machine, written as JSON.

    python tools/bench_train.py --out=bench/train.json [--steps=20] [--warmup=3] [--patch_ratio=0.5]

For the quickstart configuration (32^2), earlier quickstarts and variants measured in
docs/quickstart.md, and a 64^2 one (the session-17 quickstart flags at 64^2 with three blocks),
each with XLA off/on and float32/mixed_bfloat16: steps/s, images/s and kimg/h from the mean
step time over --steps (rounded up to whole lazy-R1 intervals) after --warmup steps. Each
measurement runs in a fresh process.

Patch training: with --patch_ratio > 0 the same process also builds the same configuration with
`--patch_ratio`, and times the two trainers' steps interleaved (A, B, A, B, ...) on batches
fetched before timing, so machine noise and data loading hit both alike; the patch row reports
the ratio of the median step times (and of the means) to the frames-only row.

Against another configuration: with --against=NAME each configuration is timed interleaved with
NAME's, both as written (their own patch ratios; --patch_ratio is not applied), on batches of
their own data fetched before timing; the configuration's row reports the ratio of its step
times to NAME's (so a change of flagfile can be priced as a ratio on a machine of any speed).
"""
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # runs from a checkout without installing
    sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
QUICKSTART = ["--flagfile=configs/quickstart.flags"]
# Earlier quickstarts, kept so that the rows measured on them still time what they timed.
# Sessions 17-27: the one block with point pixels, FMM rank 10 and the INR at 5e-4, no ramp; every
# variant row below was measured on it.
SESSION17 = QUICKSTART + ["--rank=10", "--lr_inr=5e-4", "--antialias=1", "--nojitter", "--lr_rampdown_kimg=0"]
# Session 7: a 16^2 coarse block read by nearest cells.
NEAREST16 = SESSION17 + ["--g_blocks=16:128:2:32:3,32:128:2:32:3", "--upsampling=nearest"]
# Sessions 8-16: a 32^2 coarse block read bilinearly by the finest block.
TWO_BLOCKS = SESSION17 + ["--g_blocks=32:128:2:32:3,32:128:2:32:3", "--upsampling=bilinear"]
CONFIGS = {
    "quickstart_32": QUICKSTART,
    "quickstart_32_session17": SESSION17,
    "quickstart_32_two_blocks": TWO_BLOCKS,
    "quickstart_32_nearest16": NEAREST16,
    "quickstart_32_aa2": NEAREST16 + ["--antialias=2"],
    # Area-sampled pixels paid for by a narrower fine block (its 4x points at the INR MACs of the
    # two-block quickstart's, 51 M as the session-17 one's).
    "quickstart_32_aa2_w64": SESSION17 + ["--g_blocks=32:128:2:32:3,32:64:2:32:3", "--upsampling=bilinear",
                                          "--antialias=2"],
    "quickstart_32_aa2_w64d1": SESSION17 + ["--g_blocks=32:128:2:32:3,32:64:1:32:3", "--upsampling=bilinear",
                                            "--antialias=2"],
    "quickstart_32_local": NEAREST16 + ["--upsampling=local"],
    # D's local head (a logit per location of its 16^2 map) beside the global logit.
    "quickstart_32_dlocal": TWO_BLOCKS + ["--d_local=16"],
    # The quickstart with --cell and the render-consistency term (its extra points: 16 pixels x
    # 4 x 4 sub-pixels per frame and G step).
    "quickstart_32_cell_cons": SESSION17 + ["--cell", "--consistency=1"],
    # Narrower discriminators (feature maps min(base // r, 128) at r: 32 and 16 at 32^2 instead
    # of 64): D, not the INR, takes most of a quickstart step's MACs.
    "quickstart_32_d1024": SESSION17 + ["--d_channel_base=1024"],
    # A second D for patches; its frames-only row drops --patch_d (no patches to send it).
    "quickstart_32_patch_d": SESSION17 + ["--patch_d"],
    "quickstart_32_d512": SESSION17 + ["--d_channel_base=512"],
    # Jittered training pixels: one of 4 x 4 points per pixel, so the training points of the
    # quickstart (renders average all 16; the real views' point renders are the data pipeline's).
    "quickstart_32_jitter": SESSION17 + ["--antialias=4", "--jitter"],
    # Three blocks (16^2, 32^2, 64^2) read bilinearly.
    "cpu_64": SESSION17 + ["--resolution=64", "--g_blocks=16:128:2:32:3,32:128:2:32:3,64:64:2:16:3",
                           "--upsampling=bilinear"],
}
DISTINCT_BATCHES = 4  # batches fetched per trainer before timing, then reused in turn


def measure(name, xla, precision, steps, warmup, threads, patch_ratio=0.0, against=None):
    import tensorflow as tf

    from inr_gan_tf import data
    from inr_gan_tf.cli import train
    from inr_gan_tf.training import options
    from inr_gan_tf.training.loop import Trainer, training_data
    from inr_gan_tf.training.state import TrainState

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    os.chdir(ROOT)
    if against:  # (config, flags) pairs as written: the baseline first, it is the ratios' 1.0
        variants = [(against, CONFIGS[against]), (name, CONFIGS[name])]
    else:
        # The train command's own flags, as `python -m inr_gan_tf.train` would read them.
        variants = [(name, [*(f for f in CONFIGS[name] if ratio or f != "--patch_d"), f"--patch_ratio={ratio}"])
                    for ratio in ([0.0, patch_ratio] if patch_ratio else [0.0])]
    runs = []
    for label, flags_ in variants:
        cfg = options.run_config(cli.parse(train.COMMAND, [*flags_, f"--precision={precision}"]))
        trainer = Trainer(TrainState(cfg, tempfile.mkdtemp()), xla=xla)
        batches = list(training_data(cfg, data.resolve_source(cfg["data"])).take(DISTINCT_BATCHES))
        runs.append((label, cfg, trainer, batches))
    # With lazy R1 one step in `interval` also pays for R1: time whole intervals and report the
    # mean, which is what a run's images/s is; the median alone would leave R1 out.
    # Two configurations may space R1 apart differently: whole intervals of both.
    interval = math.lcm(*(cfg["loss"]["r1_interval"] for _, cfg, _, _ in runs))
    steps = -(-steps // interval) * interval
    times = [[] for _ in runs]
    for i in range(warmup + steps):
        for (_, _, trainer, batches), t in zip(runs, times):  # interleaved: A, B, A, B, ...
            t0 = time.perf_counter()
            trainer.step(batches[i % len(batches)])
            if i >= warmup:
                t.append(time.perf_counter() - t0)
    rows = []
    for (label, cfg, _, _), t in zip(runs, times):
        sec, b = statistics.mean(t), cfg["batch_size"]
        rows.append({"config": label, "xla": xla, "precision": precision,
                     "patch_ratio": cfg.get("patch", {}).get("ratio", 0.0),
                     "batch_size": b, "resolution": cfg["generator"]["resolution"],
                     "r1_interval": cfg["loss"]["r1_interval"],
                     "steps_timed": steps, "step_seconds_mean": sec, "step_seconds_median": statistics.median(t),
                     "steps_per_s": 1 / sec, "images_per_s": b / sec, "kimg_per_hour": b / sec * 3.6})
    for row in rows[1:]:
        row["step_time_ratio_median"] = row["step_seconds_median"] / rows[0]["step_seconds_median"]
        row["step_time_ratio_mean"] = row["step_seconds_mean"] / rows[0]["step_seconds_mean"]
    return rows


def define(fv: flags.FlagValues) -> None:
    common.define(fv, "out", "bench/train.json", "The JSON report.")
    common.define(fv, "steps", 20, "Timed training steps per measurement (rounded up to whole lazy-R1 intervals).")
    flags.DEFINE_integer("warmup", 3, "Untimed steps first (tracing, XLA compile).", flag_values=fv)
    common.define(fv, "threads", 1, "1 measured steadiest here.")
    common.define(fv, "patch_ratio", 0.5, "Here: also time this ratio, interleaved with the frames-only run "
                  "(0: frames only).")
    flags.DEFINE_list("configs", list(CONFIGS), "Configurations to time, any of " + ", ".join(CONFIGS) + ".",
                      flag_values=fv)
    flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Keras dtype policies to time, any of "
                      + ", ".join(PRECISIONS) + ".", flag_values=fv)
    flags.DEFINE_list("xla_modes", ["false", "true"], "XLA off and/or on: false, true (each is a train --xla).",
                      flag_values=fv)
    flags.DEFINE_string("against", None, "Time each configuration interleaved with this one (any of "
                        + ", ".join(CONFIGS) + "), both with their own patch ratios, and report the "
                        "ratio of step times.", flag_values=fv)
    common.define(fv, "child", None)


def check(a: Args) -> Args:
    common.at_least(a, "steps", 1)
    common.at_least(a, "warmup", 0)
    common.at_least(a, "threads", 0)
    if not 0 <= a.patch_ratio < 1:
        raise UsageError(f"--patch_ratio must be in [0, 1), got {a.patch_ratio}")
    for name, allowed in (("configs", CONFIGS), ("precisions", PRECISIONS), ("xla_modes", ("false", "true"))):
        bad = [v for v in getattr(a, name) if v not in allowed]
        if bad or not getattr(a, name):
            raise UsageError(f"--{name}: expected a comma-separated subset of {','.join(allowed)}, "
                             f"got {','.join(getattr(a, name))!r}")
    if a.against is not None and a.against not in CONFIGS:
        raise UsageError(f"--against: expected one of {','.join(CONFIGS)}, got {a.against!r}")
    a.measurement = common.child_measurement(a)
    return a


def command_main(args: Args) -> int:
    check(args)
    if args.child is not None:
        print(json.dumps(measure(**args.measurement, steps=args.steps, warmup=args.warmup,
                                 threads=args.threads, patch_ratio=args.patch_ratio, against=args.against)))
        return 0
    results = []
    for name in args.configs:
        if name == args.against:  # its own baseline: nothing to time
            continue
        for precision in args.precisions:
            for xla in (v == "true" for v in args.xla_modes):
                one = json.dumps({"name": name, "xla": xla, "precision": precision})
                cmd = [sys.executable, os.path.abspath(__file__), f"--child={one}", f"--steps={args.steps}",
                       f"--warmup={args.warmup}", f"--threads={args.threads}", f"--patch_ratio={args.patch_ratio}"]
                if args.against:
                    cmd.append(f"--against={args.against}")
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode:
                    rows = [{"config": name, "xla": xla, "precision": precision,
                             "error": proc.stderr.strip().splitlines()[-1][:500]}]
                else:
                    rows = json.loads(proc.stdout.strip().splitlines()[-1])
                for r in rows:
                    print(json.dumps(r), flush=True)
                results += rows
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"results": results, "threads": args.threads, "against": args.against}, f, indent=1)
    return 0


COMMAND = cli.Command("python tools/bench_train.py", __doc__, define, command_main,
                      aliases={"xla": "xla_modes", "_one": "child"}, log_level="warning")


def main(argv=None) -> int:
    return cli.run(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
