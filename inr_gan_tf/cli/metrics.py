"""Score a training run: `python -m inr_gan_tf.metrics --run_dir=runs/quickstart --metrics=swd`.

Restores G_ema of the run's latest checkpoint (or --checkpoint), computes each metric against the
run's data (config.json "data", or --data), prints a table, appends one line per metric to
<run_dir>/metric-<name>.jsonl and writes TensorBoard scalars metrics/<name>/<key> to
<run_dir>/logs/metrics (beside, not inside, the training events). `--list` shows the metrics.

`--superres=F` sets the factor of the metrics above the training grid (upsampled_*, patch_swd).
`--draws=K --num=N` scores K disjoint sets of N fakes (seeds 0 .. K x N - 1) against the same N
reals and records their mean with its standard error: how far one reading of N fakes can move.
`--real_vs_real --data=procedural --resolution=32` scores real images in a model's place (the
second half of 2 x num reals against the first): the baseline table, printed, nothing written.

Every metric streams its images (memory does not grow with --num), shows a progress line per
pass when stdout is a terminal, and records its wall time and peak memory in the JSONL line.
"""
import json
import os
import sys

from absl import flags

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402,F401 -- UsageError: in-process callers catch it


def define(fv: flags.FlagValues) -> None:
    common.define_model(fv)
    flags.DEFINE_string("metrics", "swd", "Comma-separated metric names (default: swd, which needs no "
                        "weights); see --list.", flag_values=fv)
    common.define(fv, "data", None, "Default: config.json's \"data\".")
    common.define(fv, "num", None, "Images per side, overriding each metric's default (e.g. 50000 for "
                  "fid50k); small values are for quick CPU checks.")
    flags.DEFINE_string("inception", None, "Inception network for FID/KID/PR: the standard FID graph "
                        "classify_image_graph_def.pb (published numbers; see the README), Keras' InceptionV3 "
                        "notop .h5, a SavedModel directory or a .keras model (default: $INR_GAN_INCEPTION, "
                        "then the cache, then a download of the Keras weights).", flag_values=fv)
    common.define(fv, "cache_dir", None, "Here: Inception weights and real statistics (default: $INR_GAN_CACHE "
                  "or ~/.cache/inr_gan_tf).")
    common.define(fv, "batch_size", 32, "Generator/Inception batches.")
    common.define(fv, "seed", 0, "Here: SWD patches and directions, KID subsets.")
    common.define(fv, "truncation", 1.0, "Of the fakes.")
    common.define(fv, "seeds", None, "Here: the fakes' (default 0 .. num-1; --num defaults to their count). "
                  "Disjoint sets are independent draws of one model: how far a reading moves with the sample. "
                  "Not for latent-space metrics (kpl), which draw from --seed.")
    common.define(fv, "superres", None, "Here an integer factor >= 2 of the metrics above the training grid: "
                  "they score K x R renders (default: each metric's, 2 for upsampled_swd/upsampled_fid, 4 for "
                  "patch_swd/upsampled_spectral); the others ignore it.")
    flags.DEFINE_integer("draws", 1, "Score each metric on this many disjoint draws of fakes of equal size "
                         "(--seeds split in order, or seeds 0 .. draws x num - 1) against the same reals: "
                         "one record whose results are the mean and results_se its standard error.",
                         flag_values=fv)
    flags.DEFINE_boolean("real_vs_real", False, "No model: score the second half of 2 x num real images of "
                         "--data against the first, as if a generator trained at --resolution had made them "
                         "(the baseline a perfect model would score).", flag_values=fv)
    common.define(fv, "resolution", None, "The training resolution R for --real_vs_real.")
    flags.DEFINE_boolean("tensorboard", True, "Write TensorBoard scalars to <run_dir>/logs/metrics "
                         "(--notensorboard: skip them).", flag_values=fv)
    flags.DEFINE_boolean("list", False, "List the metrics and exit.", flag_values=fv)


def check(a: Args) -> Args:
    """Checks the parsed flags together; bad values raise UsageError naming the flag."""
    from inr_gan_tf.metrics import registry  # pylint: disable=import-outside-toplevel
    if a.list:
        return a
    if a.real_vs_real:
        if a.run_dir or a.checkpoint:
            raise UsageError("--real_vs_real scores no model: drop --run_dir/--checkpoint")
        if not a.data or not a.resolution or a.resolution < 1:
            raise UsageError("--real_vs_real needs --data and --resolution (a positive integer)")
    else:
        common.one_model(a)
    common.output_path(a, "cache_dir", folder=True)
    common.integer_factor(a, "superres", 2)
    common.at_least(a, "num", 1)
    common.at_least(a, "batch_size", 1)
    common.at_least(a, "draws", 1)
    a.seed_list = None
    if a.seeds is not None:
        if a.real_vs_real:
            raise UsageError("--seeds chooses a model's fakes; --real_vs_real has no model")
        a.seed_list = common.seed_list(a)
    if a.draws > 1:
        if a.real_vs_real:
            raise UsageError("--draws splits a model's fakes; --real_vs_real has no model")
        if a.seed_list is None and a.num is None:
            raise UsageError("--draws needs --num (the fakes of one draw) or --seeds (split among the draws)")
    a.names = [n.strip() for n in a.metrics.split(",") if n.strip()]
    with common.flag_errors("--metrics"):
        registry.check_metric_names(a.names)
    if not a.names:
        raise UsageError(f"--metrics is empty; available: {', '.join(registry.list_metrics())}")
    for name in a.names:  # what calc_metric would refuse, refused before anything is written
        num = a.num  # each error names the flag it is about
        if a.seed_list is not None:
            with common.flag_errors("--seeds"):
                a.seed_list, num = registry.check_seeds(name, a.seed_list, None if a.draws > 1 else a.num)
        if a.draws > 1:
            with common.flag_errors("--draws"):
                num = len(registry.draw_seeds(name, a.seed_list, a.num, a.draws)[0])  # fakes per draw
        with common.flag_errors("--seeds" if a.seed_list is not None else "--num"):
            registry.check_args(name, num, a.superres)
    return a


def format_table(records) -> str:
    def cell(r, key, value):  # a mean of draws is read with its error, never alone
        se = r.get("results_se", {}).get(key)
        return f"{value:.4f}" + ("" if se is None else f" ± {se:.4f}")
    rows = [(r["metric"], key, cell(r, key, value)) for r in records for key, value in r["results"].items()]
    rows = [("metric", "key", "value")] + rows
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def score(args: Args) -> int:
    """Does what the checked flags ask: the list, real vs real, or the metrics of a model."""
    from inr_gan_tf.metrics import registry  # pylint: disable=import-outside-toplevel
    if args.list:
        described = registry.describe_metrics()
        width = max(map(len, described))
        for name, text in described.items():
            print(f"{name:{width}s}  {text}")
        return 0
    if args.real_vs_real:
        return _real_vs_real(args, args.names)

    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    G, provenance = common.load_model(args)
    if args.superres:
        common.image_side(f"--superres {args.superres} x {G.resolution}", args.superres * G.resolution)
    run_dir = os.path.dirname(provenance["config_json"])
    with open(provenance["config_json"]) as f:
        source = args.data or json.load(f).get("data")
    if not source:
        raise UsageError(f"{provenance['config_json']} has no \"data\" entry; pass --data")
    writer = None  # made with the first record: a metric that fails first leaves no event file
    # The records live in the run folder: a checkpoint path relative to it stays true when the
    # folder is moved or copied, and names no folder of the machine that scored it.
    snapshot = os.path.relpath(provenance["checkpoint"], run_dir)
    records = []
    for name in args.names:
        try:
            records.append(registry.calc_metric(
                name, G, source, run_dir=run_dir, num=args.num, feature_path=args.inception,
                cache=args.cache_dir, batch_size=args.batch_size, seed=args.seed,
                truncation=args.truncation, superres=args.superres, step=provenance["step"],
                snapshot=snapshot, seeds=args.seed_list, draws=args.draws))
        except (ValueError, FileNotFoundError) as e:  # bad data, --num or weights: one line
            raise UsageError(f"{name}: {cli.one_line(e)}") from None
        if args.tensorboard:
            writer = writer or tf.summary.create_file_writer(os.path.join(run_dir, "logs", "metrics"))
            registry.write_scalars(writer, name, results=records[-1]["results"], step=int(provenance["step"] or 0))
        _progress(records[-1], "fakes")
    print(f"{provenance['checkpoint']} (step {provenance['step']}), data {source}")
    print(format_table(records))
    return 0


def _progress(r: dict, what: str) -> None:
    factor = f", superres {r['superres']}" if r.get("superres") else ""
    what = f"{what} x {r['draws']} draws" if r.get("draws") else what
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


COMMAND = cli.Command("python -m inr_gan_tf.metrics", __doc__, define, score,
                      aliases={"no_tensorboard": "notensorboard"}, check=check)


# Entry points: parse_args (checked flags), main (in-process: the work's result), run (exit status).
parse_args, main, run = COMMAND.parse_args, COMMAND.call, COMMAND.run


if __name__ == "__main__":
    sys.exit(run())
