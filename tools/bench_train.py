"""Training throughput on this machine, written as JSON.

    python tools/bench_train.py --out bench/train.json [--steps 20] [--warmup 3]

For the quickstart configuration (32^2) and a 64^2 one (the quickstart flags at 64^2 with a
third block), each with XLA off/on and float32/mixed_bfloat16: steps/s, images/s and kimg/h
from the mean step time over --steps (rounded up to whole lazy-R1 intervals) after --warmup
steps. Each measurement runs in a fresh process.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    "quickstart_32": ["--flagfile=configs/quickstart.flags"],
    "cpu_64": ["--flagfile=configs/quickstart.flags", "--resolution=64",
               "--g_blocks=16:128:2:32:3,32:128:2:32:3,64:64:2:16:3"],
}


def measure(name, xla, precision, steps, warmup, threads):
    import tensorflow as tf
    from absl import flags

    from inr_gan_tf import data, train  # noqa: F401  (train defines the run flags)
    from inr_gan_tf.training import options
    from inr_gan_tf.training.loop import Trainer
    from inr_gan_tf.training.state import TrainState

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    os.chdir(ROOT)
    flags.FLAGS(["bench", *CONFIGS[name], f"--precision={precision}"])
    cfg = options.run_config()
    state = TrainState(cfg, tempfile.mkdtemp())
    trainer = Trainer(state, xla=xla)
    it = iter(data.make_dataset(cfg["data"], cfg["generator"]["resolution"], cfg["batch_size"], seed=0))
    # With lazy R1 one step in `interval` also pays for R1: time whole intervals and report the
    # mean, which is what a run's images/s is; the median alone would leave R1 out.
    interval = cfg["loss"]["r1_interval"]
    steps = -(-steps // interval) * interval
    times = []
    for i in range(warmup + steps):
        reals = next(it)
        t0 = time.perf_counter()
        trainer.step(reals)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    sec = statistics.mean(times)
    b = cfg["batch_size"]
    return {"config": name, "xla": xla, "precision": precision, "batch_size": b,
            "resolution": cfg["generator"]["resolution"], "r1_interval": interval, "steps_timed": steps,
            "step_seconds_mean": sec, "step_seconds_median": statistics.median(times),
            "steps_per_s": 1 / sec, "images_per_s": b / sec, "kimg_per_hour": b / sec * 3.6}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/train.json", help="JSON file to write")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per measurement (rounded up to whole R1 intervals)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing, XLA compile)")
    ap.add_argument("--threads", type=int, default=1, help="TF intra-op threads (1 measured steadiest here)")
    ap.add_argument("--_one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._one:
        print(json.dumps(measure(**json.loads(args._one), steps=args.steps, warmup=args.warmup,
                                 threads=args.threads)))
        return 0
    results = []
    for name in CONFIGS:
        for precision in ("float32", "mixed_bfloat16"):
            for xla in (False, True):
                one = json.dumps({"name": name, "xla": xla, "precision": precision})
                cmd = [sys.executable, os.path.abspath(__file__), "--_one", one, "--steps", str(args.steps),
                       "--warmup", str(args.warmup), "--threads", str(args.threads)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode:
                    r = {"config": name, "xla": xla, "precision": precision,
                         "error": proc.stderr.strip().splitlines()[-1][:500]}
                else:
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(json.dumps(r), flush=True)
                results.append(r)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"results": results, "threads": args.threads}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
