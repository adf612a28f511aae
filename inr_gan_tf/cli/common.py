"""Flags that several commands share, defined once: one name, one meaning, one type.

`define(fv, name, default, detail)` declares a shared flag on a command's FlagValues with its
meaning below, plus what is particular to that command (`detail`). tests/test_cli.py checks
that every flag name used by two commands comes from here, so `--seed` cannot mean a latent in
one command and an optimiser's start in another.
"""
import contextlib
import math
from typing import Optional

from absl import flags

from inr_gan_tf.cli import Args, UsageError

# name -> (absl type, meaning). The meaning opens every command's help text of that flag.
SHARED = {
    "run_dir": ("string", "Training run folder (config.json + checkpoints/)."),
    "checkpoint": ("string", "One checkpoint prefix (e.g. runs/x/checkpoints/ckpt-2000) instead of --run_dir; "
                   "its config.json is the one beside checkpoints/."),
    "outdir": ("string", "Output folder (created if missing)."),
    "out": ("string", "Output file."),
    "antialias": ("integer", "Points per pixel side: an image pixel is the mean of antialias^2 points "
                  "over its area (1: the point at its centre)."),
    "data": ("string", "Image source: noto_emoji (noto_emoji:point: pixels sampled at their centres, "
             "no anti-aliasing), procedural, a folder, a .zip, TFRecord shards, tfds:NAME[:SPLIT] or lsun:PATH."),
    "seeds": ("string", "Latent seeds, e.g. 0-7,12: one image per seed, image k depends on seed k only."),
    "seed": ("integer", "Random seed of everything else this command draws (not a latent seed: see --seeds)."),
    "batch_size": ("integer", "Images per batch."),
    "superres": ("float", "Render at K x the training resolution (K < 1: a cheaper, smaller image)."),
    "resolution": ("integer", "Image side R in pixels."),
    "num": ("integer", "Number of images."),
    "truncation": ("float", "Truncation psi of the latents: w <- w_avg + psi (w - w_avg); 1 = none."),
    "dry_run": ("boolean", "Check the flags and print what would be done, then exit without writing anything."),
    "threads": ("integer", "TensorFlow intra-op threads (0: TensorFlow's default)."),
    "height": ("integer", "Output height in pixels."),
    "width": ("integer", "Output width in pixels."),
    "bounds": ("string", "Region x0,y0,x1,y1 of the image plane (the training frame is 0,0,1,1; y down). "
               "Write --bounds=-0.5,... when x0 is negative."),
    "max_points": ("integer", "Most points (batch x pixels) one request may render."),
    "version": ("integer", "Model version number under the model's folder."),
    "steps": ("integer", "Optimisation steps."),
    "lr": ("float", "Adam learning rate."),
    "log_every": ("integer", "Log a progress line every N steps (0: never)."),
    "repeats": ("integer", "Timed repetitions per measurement (the median is reported)."),
    "zoom": ("float", "Square region F times the training frame, centred: 1.6 is [-0.3, 1.3]^2 (paper Fig. 2)."),
    "space": ("string", "Projection space: z, w or theta (the INR parameters)."),
    "theta_init": ("string", "Start of --space=theta: w (a w-projection of --steps steps first; twice the time, "
                   "fits better) or w_avg (hypernet(w_avg))."),
    "resolutions": ("string", "Comma-separated image sides in pixels, e.g. 32,64,128."),
    "child": ("string", "Internal: the one measurement this process runs, as JSON (the tool's own subprocesses)."),
    "timeout": ("float", "Seconds to wait before giving up."),
    "cache_dir": ("string", "Cache folder: what is computed or downloaded once is kept there and reused."),
    "z_dim": ("integer", "Latent size (length of z)."),
    "max_pixels": ("integer", "Skip (and count) source images above this many pixels, read from the file header "
                   "before decoding (a small PNG can decode to gigabytes)."),
    "patch_ratio": ("float", "Share of each batch's views (D's reals and fakes, G's fakes) that are R x R patches "
                    "of random windows instead of full frames (0: full frames only, the paper)."),
    "preset": ("string", "A named generator of inr_gan_tf/model/config.py's PRESETS: paper128, paper256, paper1024 "
               "(App. A), small32 ... small256 (sized for CPUs), tiny16, tiny32 (tests)."),
    "name": ("string", "Model name: one folder name of letters, digits and ._- (its folder in the model "
             "repository, its name in models.config and TF Serving's URLs)."),
}

_DEFINE = {"string": flags.DEFINE_string, "integer": flags.DEFINE_integer, "float": flags.DEFINE_float,
           "boolean": flags.DEFINE_boolean}


def define(fv: flags.FlagValues, name: str, default, detail: str = "", **kwargs) -> None:
    """Declares shared flag `name` on fv: its one meaning, then this command's `detail`."""
    kind, meaning = SHARED[name]
    _DEFINE[kind](name, default, f"{meaning} {detail}".strip(), flag_values=fv, **kwargs)


def define_model(fv: flags.FlagValues) -> None:
    """--run_dir and --checkpoint: where a command that reads a trained model finds it."""
    define(fv, "run_dir", None, "Its newest intact checkpoint is used.")
    define(fv, "checkpoint", None)
    define(fv, "antialias", None, "Here: of the images this command renders, instead of the run's "
           "(config.json; a render option, no weight depends on it). E.g. 2 or 4 for a model trained "
           "on point samples (--data=noto_emoji:point), to render anti-aliased pixels.")


def one_model(args: Args) -> None:
    """Exactly one of --run_dir or --checkpoint, as define_model declared."""
    if bool(args.run_dir) == bool(args.checkpoint):
        raise UsageError("give exactly one of --run_dir or --checkpoint")
    at_least(args, "antialias", 1)


@contextlib.contextmanager
def flag_errors(flag: str):
    """Inside it, a ValueError is a UsageError naming `flag` (the flag whose value it is about)."""
    try:
        yield
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None


@contextlib.contextmanager
def model_errors(args: Args):
    """Inside it, a run that cannot be loaded (restore.ModelLoadError) is a UsageError naming
    --run_dir or --checkpoint, whichever the command line gave."""
    from inr_gan_tf.restore import ModelLoadError
    try:
        yield
    except ModelLoadError as e:
        raise UsageError(f"{'--run_dir' if args.run_dir else '--checkpoint'}: {e}") from None


def load_model(args: Args):
    """The model --run_dir/--checkpoint names (restore.Restored: G, provenance), rendering
    with --antialias where given; see model_errors."""
    from inr_gan_tf.restore import restore_generator
    with model_errors(args):
        return restore_generator(args.run_dir, args.checkpoint, antialias=args.antialias)


def model_config(args: Args):
    """(checkpoint prefix, config.json dict) of --run_dir/--checkpoint, without building the
    model (dry runs); see model_errors."""
    from inr_gan_tf.restore import read_run_config, resolve_run
    with model_errors(args):
        checkpoint, config_path = resolve_run(args.run_dir, args.checkpoint)
        return checkpoint, read_run_config(config_path)[0]


def image_side(what: str, side: int) -> None:
    """UsageError if an image side (`what` says which flags made it) is above the exports'
    MAX_SIDE: refused before anything is allocated or rendered."""
    from inr_gan_tf.export.validate import MAX_SIDE
    if side > MAX_SIDE:
        raise UsageError(f"{what} gives {side} pixels a side, more than the {MAX_SIDE} an image may have")


def output_path(args: Args, name: str, folder: bool) -> None:
    """--NAME can be written as a folder (folder=True) or a file: nothing in the way is a file
    where a folder must be, or a folder where the file must be. Checked before any work."""
    from inr_gan_tf.paths import check_writable
    value = getattr(args, name)
    if value:
        with flag_errors(f"--{name}"):
            check_writable(value, folder)


def at_least(args: Args, name: str, low: float) -> None:
    value = getattr(args, name)
    if value is not None and not value >= low:
        raise UsageError(f"--{name} must be >= {low}, got {value}")


def integer_factor(a: Args, name: str, low: int) -> None:
    """A float flag that must hold an integer >= low here; stored back as int."""
    value = getattr(a, name)
    if value is None:
        return
    if not (math.isfinite(value) and value == int(value) and value >= low):
        raise UsageError(f"--{name} must be an integer >= {low} here, got {value:g}")
    setattr(a, name, int(value))


def positive(args: Args, name: str, value: Optional[float] = None) -> None:
    value = getattr(args, name) if value is None else value
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UsageError(f"--{name} must be finite and > 0, got {value}")


def child_measurement(args: Args) -> Optional[dict]:
    """--child's JSON object: the one measurement a tool's parent process asked for (None: parent)."""
    if args.child is None:
        return None
    import json
    with flag_errors("--child"):
        measurement = json.loads(args.child)
    if not isinstance(measurement, dict):
        raise UsageError(f"--child: expected a JSON object, got {args.child!r}")
    return measurement


def seed_list(args: Args) -> list:
    """--seeds parsed ('0-7,12' -> [0, ..., 7, 12]); a bad spec is a usage error naming it."""
    from inr_gan_tf.seeds import parse_seeds
    with flag_errors("--seeds"):
        return parse_seeds(args.seeds)


def one_seed(args: Args, why: str) -> int:
    """--seeds holding exactly one seed (`why`: what makes it one, for the message)."""
    seeds = seed_list(args)
    if len(seeds) != 1:
        raise UsageError(f"--seeds: one seed ({why}), got {len(seeds)}: {args.seeds!r}")
    return seeds[0]
