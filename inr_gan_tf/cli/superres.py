"""Super-resolution by the INR prior, scored against ground truth (paper Sec. 4.2, Fig. 3, 10).

    python -m inr_gan_tf.superres --run_dir=runs/quickstart --data=procedural --num=32 --superres=2

N images with ground truth at r (G's training resolution) and at K x r (--superres): each r
image is projected into G, rendered at K x r by `G.render_grid`, and scored by PSNR and SSIM
against the truth beside nearest / bilinear / bicubic upsampling of the same r image. Writes the
report JSON (--out) and a comparison grid beside it; `--sample_grid` adds the paper's Fig. 3 for
G's own samples. Space: theta (default) measures the INR prior; w is the GAN-style evaluation
for a model trained on the data itself. Method, ground truth and metrics:
inr_gan_tf/projection/superres.py.
"""
import json
import os
import sys

from absl import flags

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402,F401 -- UsageError: in-process callers catch it
from inr_gan_tf.projection.superres import (  # noqa: E402
    DEFAULT_STEPS, comparison_grid, evaluate, load_pairs, sample_figure)


# -- CLI ---------------------------------------------------------------------------------------
def define(fv: flags.FlagValues) -> None:
    common.define_model(fv)
    common.define(fv, "data", "procedural", "Here: procedural or noto_emoji (exact truth) or any other source "
                  "(truth = the dataset resized to K x r).")
    common.define(fv, "num", 32, "To evaluate (0: only --sample_grid).", lower_bound=0)
    flags.DEFINE_integer("first", 0, "Dataset index of the first image evaluated.", lower_bound=0, flag_values=fv)
    common.define(fv, "superres", 2.0, "Here an integer factor >= 2: the ground truth and the INR render are at "
                  "K x r.")
    common.define(fv, "space", "theta", "theta measures the INR prior (see Space above).")
    common.define(fv, "theta_init", "w")
    common.define(fv, "steps", DEFAULT_STEPS, "Of each projection.", lower_bound=1)
    common.define(fv, "lr", None, "Peak of the projection's schedule (default: per space, projection.DEFAULT_LR).")
    common.define(fv, "seed", 0, "Here: the projection noise.")
    common.define(fv, "batch_size", 32, "Images projected together (each has its own latent).", lower_bound=1)
    common.define(fv, "out", "superres.json", "The report JSON; the comparison grid goes beside it as "
                  "<name>_compare.png.")
    flags.DEFINE_integer("grid_images", 8, "Columns of the comparison grid.", lower_bound=1, flag_values=fv)
    flags.DEFINE_boolean("sample_grid", False, "Also write superres_grid.png beside --out (paper Fig. 3): G's own "
                         "samples (--seeds) at r upsampled by the baselines vs INR 2x and 4x.", flag_values=fv)
    common.define(fv, "seeds", "0-7", "Of the --sample_grid samples.")
    flags.DEFINE_boolean("reference_rows", False, "--sample_grid also shows as many real images of --data: at r, "
                         "bicubic to 4 x r and the truth at 4 x r.", flag_values=fv)
    common.define(fv, "threads", 0, lower_bound=0)


def check(a: Args) -> Args:
    """Checks the parsed flags together; bad values raise UsageError naming the flag."""
    from inr_gan_tf.projection import SPACES
    common.one_model(a)
    common.output_path(a, "out", folder=False)
    if not a.num and not a.sample_grid:
        raise UsageError("--num=0 without --sample_grid leaves nothing to do")
    if a.reference_rows and not a.sample_grid:
        raise UsageError("--reference_rows belongs to --sample_grid, which is off")
    common.integer_factor(a, "superres", 2)
    if a.space not in SPACES:
        raise UsageError(f"--space must be one of {', '.join(SPACES)}, got {a.space!r}")
    if a.theta_init not in ("w", "w_avg"):
        raise UsageError(f"--theta_init must be w or w_avg, got {a.theta_init!r}")
    common.at_least(a, "lr", 0)
    a.seed_list = common.seed_list(a)
    return a


def superres_main(a: Args) -> dict:
    """Evaluates as the checked flags ask; returns the report ({} with --num=0)."""
    import tensorflow as tf

    if a.threads:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    from inr_gan_tf.animate import save_png
    from inr_gan_tf.paths import write_atomic
    G, provenance = common.load_model(a)

    def pairs_of(*args, **kwargs):  # --data read before anything is written
        try:
            return load_pairs(a.data, *args, **kwargs)
        except (ValueError, FileNotFoundError) as e:
            raise UsageError(f"--data={a.data}: {cli.one_line(e)}") from None
    # Real images of --data beside G's samples when it has exact renders (the vector emoji).
    reference = pairs_of(len(a.seed_list), G.resolution, 4) if a.sample_grid and a.reference_rows else None
    pairs = pairs_of(a.num, G.resolution, a.superres, a.first) if a.num else None
    out_dir = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(out_dir, exist_ok=True)
    if a.sample_grid:
        path = os.path.join(out_dir, "superres_grid.png")
        save_png(path, sample_figure(G, a.seed_list, reference=reference))
        print(f"wrote {path}")
    if pairs is None:
        return {}
    kwargs = {} if a.lr is None else {"lr": a.lr}
    report, images = evaluate(G, pairs.low, pairs.high, a.space, a.steps, a.seed, a.batch_size, a.theta_init,
                              **kwargs)
    report = {"data": a.data, "first": a.first, "exact_ground_truth": pairs.exact, "generator": provenance,
              **report}
    write_atomic(a.out, json.dumps(report, indent=1).encode())
    grid = os.path.splitext(os.path.abspath(a.out))[0] + "_compare.png"
    save_png(grid, comparison_grid(images, a.superres, a.grid_images))
    print(f"{'method':10s} {'PSNR dB':>15s} {'SSIM':>15s}")
    for m, v in report["methods"].items():
        print(f"{m:10s} {v['psnr']['mean']:7.2f} +- {v['psnr']['std']:5.2f} "
              f"{v['ssim']['mean']:7.4f} +- {v['ssim']['std']:.4f}")
    fit = report["fit_at_r"]["psnr"]
    print(f"fit at {G.resolution}^2: {fit['mean']:.2f} +- {fit['std']:.2f} dB; "
          f"{report['projection_seconds']:.0f} s for {a.steps} steps; wrote {a.out}, {grid}")
    return report


COMMAND = cli.Command("python -m inr_gan_tf.superres", __doc__, define, superres_main,
                      aliases={"factor": "superres", "figure": "sample_grid", "figure_seeds": "seeds"}, check=check)


# Entry points: parse_args (checked flags), main (in-process: the work's result), run (exit status).
parse_args, main, run = COMMAND.parse_args, COMMAND.call, COMMAND.run


if __name__ == "__main__":
    sys.exit(run())
