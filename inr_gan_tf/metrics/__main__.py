"""Score a training run: `python -m inr_gan_tf.metrics --run_dir=runs/quickstart --metrics=swd`.

Restores G_ema of the run's latest checkpoint (or --checkpoint), computes each metric against the
run's data (config.json "data", or --data), prints a table, appends one line per metric to
<run_dir>/metric-<name>.jsonl and writes TensorBoard scalars metrics/<name>/<key> to
<run_dir>/logs/metrics (beside, not inside, the training events). `--list` shows the metrics.

`--superres=F` sets the factor of the metrics above the training grid (upsampled_*, patch_swd).
`--real_vs_real --data=procedural --resolution=32` scores real images in a model's place (the
second half of 2 x num reals against the first): the baseline table, printed, nothing written.

Every metric streams its images (memory does not grow with --num), shows a progress line per
pass when stdout is a terminal, and records its wall time and peak memory in the JSONL line.
"""
import argparse
import json
import os
import sys
from typing import List, Optional

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter


def _factor(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer factor >= 2, got {text!r}")
    return value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    # argparse, not absl flags: main() can run in-process (tests, notebooks) without clashing
    # with the global flags that the training and export CLIs define.
    p = argparse.ArgumentParser(prog="python -m inr_gan_tf.metrics", description=__doc__.split("\n")[0])
    p.add_argument("--run_dir", help="Training run (config.json + checkpoints/): scores its latest "
                   "checkpoint and receives metric-<name>.jsonl and logs/metrics.")
    p.add_argument("--checkpoint", help="One checkpoint prefix instead of the latest; config.json is "
                   "looked up beside it (results go to that run directory).")
    p.add_argument("--metrics", default="swd", help="Comma-separated metric names (default: swd, "
                   "which needs no weights); see --list.")
    p.add_argument("--data", help="Data source spec (default: config.json's \"data\").")
    p.add_argument("--num", type=int, help="Images per side, overriding each metric's default "
                   "(e.g. 50000 for fid50k); small values are for quick CPU checks.")
    p.add_argument("--inception", help="Inception network for FID/KID/PR: the standard FID graph "
                   "classify_image_graph_def.pb (published numbers; see the README), Keras' "
                   "InceptionV3 notop .h5, a SavedModel directory or a .keras model (default: "
                   "$INR_GAN_INCEPTION, then the cache, then a download of the Keras weights).")
    p.add_argument("--cache_dir", help="Cache for weights and real statistics (default: "
                   "$INR_GAN_CACHE or ~/.cache/inr_gan_tf).")
    p.add_argument("--batch_size", type=int, default=32, help="Images per generator/Inception batch.")
    p.add_argument("--seed", type=int, default=0, help="SWD patches and directions, KID subsets.")
    p.add_argument("--truncation", type=float, default=1.0, help="Truncation psi of the fakes.")
    p.add_argument("--superres", type=_factor, default=None, help="Factor F of the metrics above "
                   "the training grid: they score F x R renders (default: each metric's, 2 for "
                   "upsampled_swd/upsampled_fid, 4 for patch_swd/upsampled_spectral); the "
                   "others ignore it.")
    p.add_argument("--real_vs_real", action="store_true", help="No model: score the second half "
                   "of 2 x num real images of --data against the first, as if a generator trained "
                   "at --resolution had made them (the baseline a perfect model would score).")
    p.add_argument("--resolution", type=int, help="Training resolution R for --real_vs_real.")
    p.add_argument("--no_tensorboard", action="store_true", help="Skip the TensorBoard scalars.")
    p.add_argument("--list", action="store_true", help="List the metrics and exit.")
    return p.parse_args(argv)


def format_table(records) -> str:
    rows = [(r["metric"], key, f"{value:.4f}") for r in records for key, value in r["results"].items()]
    rows = [("metric", "key", "value")] + rows
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from inr_gan_tf.metrics import registry  # pylint: disable=import-outside-toplevel
    if args.list:
        described = registry.describe_metrics()
        width = max(map(len, described))
        for name, text in described.items():
            print(f"{name:{width}s}  {text}")
        return 0
    if args.real_vs_real:
        if args.run_dir or args.checkpoint:
            raise SystemExit("--real_vs_real scores no model: drop --run_dir/--checkpoint")
        if not args.data or not args.resolution or args.resolution < 1:
            raise SystemExit("--real_vs_real needs --data and --resolution (a positive integer)")
    elif bool(args.run_dir) == bool(args.checkpoint):
        raise SystemExit("give exactly one of --run_dir or --checkpoint")
    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    try:
        registry.check_metric_names(names)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    if not names:
        raise SystemExit(f"--metrics is empty; available: {', '.join(registry.list_metrics())}")
    if args.real_vs_real:
        return _real_vs_real(args, names)

    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from inr_gan_tf.export.checkpoint import restore_generator  # pylint: disable=import-outside-toplevel
    G, provenance = restore_generator(run_dir=args.run_dir, checkpoint=args.checkpoint)
    run_dir = os.path.dirname(provenance["config_json"])
    with open(provenance["config_json"]) as f:
        source = args.data or json.load(f).get("data")
    if not source:
        raise SystemExit(f"{provenance['config_json']} has no \"data\" entry; pass --data")
    writer = None if args.no_tensorboard else tf.summary.create_file_writer(
        os.path.join(run_dir, "logs", "metrics"))
    records = []
    for name in names:
        try:
            records.append(registry.calc_metric(
                name, G, source, run_dir=run_dir, num=args.num, feature_path=args.inception,
                cache=args.cache_dir, batch_size=args.batch_size, seed=args.seed,
                truncation=args.truncation, superres=args.superres, step=provenance["step"],
                snapshot=provenance["checkpoint"], writer=writer))
        except (ValueError, FileNotFoundError) as e:  # bad data, --num or weights: one line
            raise SystemExit(f"{name}: {e}") from None
        _progress(records[-1], "fakes")
    print(f"{provenance['checkpoint']} (step {provenance['step']}), data {source}")
    print(format_table(records))
    return 0


def _progress(r: dict, what: str) -> None:
    factor = f", superres {r['superres']}" if r.get("superres") else ""
    print(f"{r['metric']}: {r['num_images']} {what} vs {r['num_real']} reals at "
          f"{r['resolution']}x{r['resolution']}{factor} in {r['seconds']:.1f} s, peak memory "
          f"{r['peak_rss_mb']:.0f} MB", file=sys.stderr)


def _real_vs_real(args, names) -> int:
    from inr_gan_tf.metrics import registry  # pylint: disable=import-outside-toplevel
    records = []
    for name in names:
        try:
            records.append(registry.real_vs_real(
                name, args.data, args.resolution, num=args.num, superres=args.superres,
                feature_path=args.inception, cache=args.cache_dir, batch_size=args.batch_size,
                seed=args.seed))
        except (ValueError, FileNotFoundError) as e:
            raise SystemExit(f"{name}: {e}") from None
        _progress(records[-1], "reals (second half)")
    print(f"real vs real: data {args.data}, training resolution {args.resolution}")
    print(format_table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
