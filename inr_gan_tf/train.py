"""Train an INR-GAN: `python -m inr_gan_tf.train --flagfile=configs/quickstart.flags`.

Running the same command again resumes from the run directory's newest intact checkpoint
(models, optimizers, step, images seen, latent RNG and data position); `--restart` starts the
run directory again at step 0 with its old checkpoints moved aside.

Every flag, the data source, the run directory and the model are checked before anything is
written (STYLE 16): a bad command exits 2 with one line `train: --flag ...` and leaves no trace.
"""
import json
import os
import sys
from typing import NamedTuple, Optional

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # hide TensorFlow's start-up chatter

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from inr_gan_tf import coords, sampling  # noqa: E402
from inr_gan_tf.data.decode import DEFAULT_MAX_PIXELS  # noqa: E402
from inr_gan_tf.model import complexity  # noqa: E402
from inr_gan_tf.training import options  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multiworker"],
                  "tf.distribute strategy: default (one device), mirrored (local devices), "
                  "multiworker (machines, from TF_CONFIG).")
flags.DEFINE_enum("xla", "auto", ["auto", "true", "false"],
                  "XLA-compile the per-replica step (auto: on with a GPU; it was slower on CPU here).")
flags.DEFINE_integer("ckpt_every", 200, "Save a checkpoint every N steps (also on exit and SIGTERM/SIGINT; "
                     "0: only then).")
flags.DEFINE_integer("log_every", 10, "Log losses and a progress line every N steps (0: never).")
flags.DEFINE_integer("sample_every", 500, "Write fixed-seed sample grids every N steps (0: never).")
flags.DEFINE_integer("swd_every", 500, "Log the multi-scale SWD of fixed-seed G_ema samples against real "
                     "images every N steps (0: never).")
flags.DEFINE_integer("swd_images", 512, "Images per side for the in-training SWD.")
flags.DEFINE_list("profile_steps", [], "A,B: write a profiler trace of steps A..B to run_dir/logs "
                  "(TensorBoard's profile tab; pip install -e \".[tb]\").")
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0: TensorFlow's default).")
flags.DEFINE_integer("max_pixels", DEFAULT_MAX_PIXELS, "Skip (and count) images above this many pixels, "
                     "read from the file header before decoding (a small PNG can decode to gigabytes).")
flags.DEFINE_boolean("restart", False, "Start --run_dir again at step 0: its checkpoints and config.json "
                     "move to checkpoints.aside-<time>/ (never deleted), so another configuration may "
                     "start there. Needed when none of its checkpoints is restorable.")

# This command's own flags (options.RUN_RULES checks the run config's); 0 = never for periods.
COMMAND_RULES = {"ckpt_every": options.at_least(0), "log_every": options.at_least(0),
                 "sample_every": options.at_least(0), "swd_every": options.at_least(0),
                 "swd_images": options.at_least(1), "threads": options.at_least(0),
                 "max_pixels": options.at_least(1)}
USAGE_EXIT = 2  # STYLE 15: a usage error exits 2 with one line naming the flag


def make_strategy(kind: str):
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def describe(config: dict) -> str:
    g = config["generator"]
    m, p = complexity.macs(g), complexity.params(g)
    lines = [json.dumps(config, indent=1, sort_keys=True),
             f"G MACs/image: {m['total'] / 1e9:.3f} G (hypernet {m['hypernet'] / 1e9:.3f} G, "
             f"INR {m['inr'] / 1e9:.3f} G; points per block {m['points_per_block']})",
             f"G params: {p['total'] / 1e6:.3f} M (hypernet {p['hypernet'] / 1e6:.3f} M, INR shared "
             f"{p['inr_shared'] / 1e6:.3f} M; {p['predicted']} predicted values per image)"]
    if "patch" in config:
        c = config["patch"]
        lines.append(f"patches: {patch_count(config)} of {config['batch_size']} views per batch, window side "
                     f"{c['min_scale']}..1 ({c['distribution']}), D scale conditioning "
                     f"{config['discriminator'].get('scale_conditioning', 'none')}")
    return "\n".join(lines)


def patch_count(config: dict) -> int:
    """Patches per global batch (0 without patch training)."""
    from inr_gan_tf.training.losses import Patches
    return Patches(**config["patch"]).count(config["batch_size"]) if "patch" in config else 0


def sample_callback(state, every: int, seeds=range(16)):
    """Fixed-seed grids from G_ema: training grid, 2x super-resolution and zoomed out."""
    out_dir = os.path.join(state.run_dir, "samples")
    os.makedirs(out_dir, exist_ok=True)
    R = state.G.resolution
    from PIL import Image

    def grid(images):
        n = int(np.ceil(np.sqrt(len(images))))
        pad = np.full((n * n - len(images),) + images.shape[1:], 255, np.uint8)
        images = np.concatenate([images, pad]).reshape(n, n, *images.shape[1:])
        return images.transpose(0, 2, 1, 3, 4).reshape(n * images.shape[2], n * images.shape[3], 3)

    def cb(step, writer, final=False):
        if not every or (step % every == 0) == final:  # the final call only fills an off-period end
            return
        views = {"grid": (R, None), "superres2x": (2 * R, None), "zoomout": (R, (-0.3, -0.3, 1.3, 1.3))}
        with writer.as_default(step=step):
            for name, (size, bounds) in views.items():
                imgs = sampling.generate_images(state.G_ema, list(seeds), size, size,
                                                bounds or coords.UNIT_BOUNDS)
                g = grid(imgs)
                Image.fromarray(g).save(os.path.join(out_dir, f"{name}-{step:07d}.png"))
                tf.summary.image(f"samples/{name}", g[None], max_outputs=1)
    return cb


def swd_callback(state, source, every: int, num: int):
    """In-training quality signal with no download: SWD (ProGAN) of G_ema vs real images.

    Appends {"step", "kimg", "swd": {...}} to metric-swd.jsonl in the run directory.
    """
    if not every:
        return lambda step, writer, final=False: None
    from inr_gan_tf import data
    from inr_gan_tf.metrics import SWDReference
    R = state.G.resolution
    # A seeded random subset: the first images of a source in file order are rarely typical.
    reals = data.make_dataset(source, R, 64, seed=0, shuffle=True, flip=False, repeat=False)
    reals = np.concatenate([b.numpy() for b in reals.take(-(-num // 64))])[:num]
    ref = SWDReference(reals, seed=0)
    path = os.path.join(state.run_dir, "metric-swd.jsonl")

    def cb(step, writer, final=False):
        if (step % every == 0) == final:  # the final call only fills an off-period end
            return
        fakes = sampling.generate_images(state.G_ema, range(len(reals)), batch_size=64)
        result = ref(fakes)
        with writer.as_default(step=step):
            tf.summary.scalar("metrics/swd_mean", result["mean"])
            for res, v in result["levels"].items():
                tf.summary.scalar(f"metrics/swd_{res}", v)
        with open(path, "a") as f:
            f.write(json.dumps({"step": step, "kimg": int(state.nimg.numpy()) / 1000,
                                "swd": {"mean": result["mean"],
                                        "levels": {str(k): v for k, v in result["levels"].items()}}}) + "\n")
        logging.info("SWD x1e3 at step %d: %.2f %s", step, result["mean"], result["levels"])
    return cb


def profile_steps(values):
    """--profile_steps A,B -> (A, B) with 1 <= A <= B; empty -> None."""
    if not values:
        return None
    try:
        a, b = (int(v) for v in values)
    except ValueError:
        raise app.UsageError(f"--profile_steps takes two step numbers A,B, got {','.join(values)}") from None
    if not 1 <= a <= b:
        raise app.UsageError(f"--profile_steps needs 1 <= A <= B, got {a},{b}")
    return a, b


class Checked(NamedTuple):
    config: dict
    state: object            # TrainState, built (nothing written)
    source: object           # the resolved data source
    found: object            # checkpoints.Found of the run directory, None with --restart
    profile: Optional[tuple]


def check_command(argv) -> Optional[Checked]:
    """Everything a run needs, checked in order -- flags, data, run directory, model -- with
    nothing written; raises app.UsageError naming the flag. None after a --dry_run printout."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = options.run_config()
        options.check_ranges(COMMAND_RULES)
    except ValueError as e:  # out of range or inconsistent flags
        raise app.UsageError(str(e)) from None
    profile = profile_steps(FLAGS.profile_steps)
    if not FLAGS.run_dir or (os.path.exists(FLAGS.run_dir) and not os.path.isdir(FLAGS.run_dir)):
        raise app.UsageError(f"--run_dir must name a folder, got {FLAGS.run_dir!r}")
    if FLAGS.dry_run:
        print(describe(config))
        return None
    if FLAGS.threads:  # before the TensorFlow runtime starts (the strategy below starts it)
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    strategy = make_strategy(FLAGS.strategy)
    if config["batch_size"] % strategy.num_replicas_in_sync:
        raise app.UsageError(f"--batch_size {config['batch_size']} is not divisible by "
                             f"{strategy.num_replicas_in_sync} replicas")
    n_patches = patch_count(config)
    if n_patches % strategy.num_replicas_in_sync:  # every replica holds frames then patches
        raise app.UsageError(f"--patch_ratio {FLAGS.patch_ratio} gives {n_patches} patches per batch, "
                             f"not divisible by {strategy.num_replicas_in_sync} replicas")
    from inr_gan_tf import data
    from inr_gan_tf.training import checkpoints
    from inr_gan_tf.training.state import TrainState, check_config
    try:
        source = data.resolve_source(config["data"], max_pixels=FLAGS.max_pixels)
    except Exception as e:  # noqa: BLE001 -- each source kind fails its own way
        raise app.UsageError(f"--data={config['data']}: {_one_line(e)}") from None
    found = None
    if not FLAGS.restart:
        try:
            check_config(FLAGS.run_dir, config)
        except ValueError as e:
            raise app.UsageError(f"--run_dir={FLAGS.run_dir}: {e}") from None
        ckpt_dir = os.path.join(FLAGS.run_dir, "checkpoints")
        found = checkpoints.find_latest(ckpt_dir)
        if found.prefix is None and found.skipped:
            raise app.UsageError(f"--run_dir={FLAGS.run_dir}: {checkpoints.nothing_restorable(ckpt_dir, found)}")
    try:
        state = TrainState(config, FLAGS.run_dir, strategy)
    except (ValueError, TypeError, ZeroDivisionError, tf.errors.OpError) as e:
        raise app.UsageError(f"the model cannot be built from these flags ({_one_line(e)})") from None
    return Checked(config, state, source, found, profile)


def train(c: Checked) -> int:
    """The write phase: set the old run aside (--restart), record the config, resume, train."""
    from inr_gan_tf.training import checkpoints
    from inr_gan_tf.training.loop import Trainer, training_data
    from inr_gan_tf.training.state import write_config

    config, state, source, strategy = c.config, c.state, c.source, c.state.strategy
    if state.is_chief:  # other workers read the chief's files and write only their scratch folder
        if FLAGS.restart:
            aside = checkpoints.set_aside(FLAGS.run_dir)
            logging.info("--restart: %s", f"moved the old checkpoints and config.json to {aside}"
                         if aside else "nothing to move aside")
        write_config(FLAGS.run_dir, config)
    resumed = not FLAGS.restart and state.restore_latest(c.found)
    logging.info("%s at step %d", "resumed" if resumed else "starting", int(state.step.numpy()))
    logging.info("%s", describe(config))
    start = int(state.step.numpy())

    def dataset_fn(ctx):
        # Same seed + skipping the batches already used = the data position of the checkpoint.
        return training_data(config, source, start, input_context=ctx)
    ds = strategy.distribute_datasets_from_function(dataset_fn)
    xla = FLAGS.xla == "true" or (FLAGS.xla == "auto" and bool(tf.config.list_physical_devices("GPU")))
    trainer = Trainer(state, xla=xla)
    trainer.fit(ds, config["total_kimg"], ckpt_every=FLAGS.ckpt_every, log_every=FLAGS.log_every,
                profile_steps=c.profile,
                callbacks=[sample_callback(state, FLAGS.sample_every),
                           swd_callback(state, source, FLAGS.swd_every, FLAGS.swd_images)])
    logging.info("done at step %d (%.2f kimg); data: %s", int(state.step.numpy()),
                 int(state.nimg.numpy()) / 1000, source.stats)
    return 0


def main(argv):
    from inr_gan_tf.training.checkpoints import CheckpointError
    try:
        checked = check_command(argv)
    except app.UsageError as e:
        return _fail(str(e), USAGE_EXIT)
    if checked is None:
        return 0
    try:
        return train(checked)
    except CheckpointError as e:  # a failed save or no restorable state: the message says what to do
        return _fail(str(e), 1)


def _fail(message: str, code: int) -> int:
    print(f"train: {message}", file=sys.stderr)
    return code


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return "; ".join(line.strip() for line in lines) or type(e).__name__


def parse_flags(argv):
    """absl's parser, but a bad flag value exits 2 with one line, like every other usage error."""
    try:
        return FLAGS(argv)
    except flags.Error as e:
        sys.exit(_fail(_one_line(e), USAGE_EXIT))


def run():
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    sys.exit(run())
