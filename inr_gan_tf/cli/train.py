"""Train an INR-GAN: `python -m inr_gan_tf.train --flagfile=configs/quickstart.flags`.

Running the same command again resumes from the run directory's newest intact checkpoint
(models, optimizers, step, images seen, latent RNG and data position); `--restart` starts the
run directory again at step 0 with its old checkpoints moved aside.

Every flag, the data source, the run directory and the model are checked before anything is
written (STYLE 16): a bad command exits 2 with one line `train: --flag ...` and leaves no trace.
"""
import os
import sys
from typing import NamedTuple, Optional

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # hide TensorFlow's start-up chatter

from absl import flags, logging  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402
from inr_gan_tf.data.decode import DEFAULT_MAX_PIXELS  # noqa: E402
from inr_gan_tf.training import callbacks, options  # noqa: E402

WHAT_TO_RUN = ("give a run, e.g. --flagfile=configs/quickstart.flags (the README's CPU quickstart) or "
               "--flagfile=configs/ffhq_256.flags (the paper's); --help lists every flag")


def define(fv: flags.FlagValues) -> None:
    options.define(fv)
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multiworker"],
                      "tf.distribute strategy: default (one device), mirrored (local devices), "
                      "multiworker (machines, from TF_CONFIG).", flag_values=fv)
    flags.DEFINE_enum("xla", "auto", ["auto", "true", "false"],
                      "XLA-compile the per-replica step (auto: on with a GPU; it was slower on CPU here).",
                      flag_values=fv)
    flags.DEFINE_integer("ckpt_every", 200, "Save a checkpoint every N steps (also on exit and SIGTERM/SIGINT; "
                         "0: only then).", flag_values=fv)
    common.define(fv, "log_every", 10, "Losses, images/s and ETA.")
    flags.DEFINE_integer("sample_every", 500, "Write fixed-seed sample grids every N steps (0: never).",
                         flag_values=fv)
    flags.DEFINE_integer("swd_every", 500, "Log the multi-scale SWD of fixed-seed G_ema samples against real "
                         "images every N steps (0: never).", flag_values=fv)
    flags.DEFINE_integer("swd_images", 512, "Images per side for the in-training SWD.", flag_values=fv)
    flags.DEFINE_list("profile_steps", [], "A,B: write a profiler trace of steps A..B to run_dir/logs "
                      "(TensorBoard's profile tab; pip install -e \".[tb]\").", flag_values=fv)
    common.define(fv, "threads", 0)
    common.define(fv, "max_pixels", DEFAULT_MAX_PIXELS)
    flags.DEFINE_boolean("restart", False, "Start --run_dir again at step 0: its checkpoints and config.json "
                         "move to checkpoints.aside-<time>/ (never deleted), so another configuration may "
                         "start there. Needed when none of its checkpoints is restorable.", flag_values=fv)


# This command's own flags (options.RUN_RULES checks the run config's); 0 = never for periods.
COMMAND_RULES = {"ckpt_every": options.at_least(0), "log_every": options.at_least(0),
                 "sample_every": options.at_least(0), "swd_every": options.at_least(0),
                 "swd_images": options.at_least(1), "threads": options.at_least(0),
                 "max_pixels": options.at_least(1)}


class Checked(NamedTuple):
    config: dict
    state: object            # TrainState, built (nothing written)
    source: object           # the resolved data source
    found: object            # checkpoints.Found of the run directory, None with --restart
    profile: Optional[tuple]


def check_command(a: Args) -> Optional[Checked]:
    """Everything a run needs, checked in order -- flags, data, run directory, model -- with
    nothing written; raises UsageError naming the flag. None after a --dry_run printout."""
    if not a._present:  # noqa: SLF001 -- defaults alone are a mixture of the paper and the quickstart
        raise UsageError(WHAT_TO_RUN)
    try:
        config = options.run_config(a)
        options.check_ranges(a, COMMAND_RULES)
    except ValueError as e:  # out of range or inconsistent flags
        raise UsageError(str(e)) from None
    g = config["generator"]
    points = config["batch_size"] * g["resolution"] ** 2 * g.get("antialias", 1) ** 2
    if points >= 2 ** 31:  # TensorFlow's int32 indices; far beyond any machine's memory anyway
        raise UsageError(f"--batch_size {config['batch_size']} at {g['resolution']}^2 renders {points:.3g} "
                         "points a step, more than the 2^31 one step can index")
    profile = callbacks.profile_steps(a.profile_steps)
    if not a.run_dir or (os.path.exists(a.run_dir) and not os.path.isdir(a.run_dir)):
        raise UsageError(f"--run_dir must name a folder, got {a.run_dir!r}")
    import tensorflow as tf
    if a.threads:  # before the TensorFlow runtime starts (a data source may start it)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        except RuntimeError:  # already started in this process (a caller's, e.g. a test's): keep its pool
            logging.warning("--threads=%d ignored: TensorFlow's runtime is already running", a.threads)
    # Data and run directory before the dry-run printout: a spec or an old run that cannot work
    # must fail the dry run, not the run.
    from inr_gan_tf import checkpoint, data
    try:
        source = data.resolve_source(config["data"], max_pixels=a.max_pixels)
    except Exception as e:  # noqa: BLE001 -- each source kind fails its own way
        raise UsageError(f"--data={config['data']}: {cli.one_line(e)}") from None
    if config.get("jitter") and not data.has_point_samples(source):
        raise UsageError(f"--jitter needs point samples of an exact source (noto_emoji, procedural), "
                         f"not --data={config['data']}: pass --nojitter (and --antialias=1 for point pixels)")
    found = None
    if not a.restart:
        with common.flag_errors(f"--run_dir={a.run_dir}"):
            checkpoint.check_config(a.run_dir, config)
        ckpt_dir = os.path.join(a.run_dir, "checkpoints")
        found = checkpoint.find_latest(ckpt_dir)
        if found.prefix is None and found.skipped:
            raise UsageError(f"--run_dir={a.run_dir}: {checkpoint.nothing_restorable(ckpt_dir, found)}")
    if a.dry_run:
        # Counted, not created: a strategy would start TensorFlow on every GPU (reserving their
        # memory on a shared node) and a cluster's would wait for its peers; the cluster's
        # count is checked when the run starts.
        if a.strategy != "multiworker":
            check_replicas(a, config, callbacks.local_replicas(a.strategy))
        print(callbacks.describe(config))
        return None
    strategy = callbacks.make_strategy(a.strategy)
    check_replicas(a, config, strategy.num_replicas_in_sync)
    from inr_gan_tf.training.state import TrainState
    try:
        state = TrainState(config, a.run_dir, strategy)
    except (ValueError, TypeError, ZeroDivisionError, tf.errors.OpError) as e:
        raise UsageError(f"the model cannot be built from these flags ({cli.one_line(e)})") from None
    return Checked(config, state, source, found, profile)


def check_replicas(a: Args, config: dict, replicas: int) -> None:
    """The global batch, and its patches, split evenly over the replicas; UsageError otherwise."""
    if config["batch_size"] % replicas:
        raise UsageError(f"--batch_size {config['batch_size']} is not divisible by {replicas} replicas")
    n_patches = callbacks.patch_count(config)
    if n_patches % replicas:  # every replica holds frames then patches
        raise UsageError(f"--patch_ratio {a.patch_ratio} gives {n_patches} patches per batch, "
                         f"not divisible by {replicas} replicas")


def train(a: Args, c: Checked) -> int:
    """The write phase: set the old run aside (--restart), record the config, resume, train."""
    import tensorflow as tf

    from inr_gan_tf import checkpoint
    from inr_gan_tf.training.loop import Trainer, training_data

    config, state, source, strategy = c.config, c.state, c.source, c.state.strategy
    if state.is_chief:  # other workers read the chief's files and write only their scratch folder
        if a.restart:
            aside = checkpoint.set_aside(a.run_dir)
            logging.info("--restart: %s", f"moved the old checkpoints and config.json to {aside}"
                         if aside else "nothing to move aside")
        checkpoint.write_config(a.run_dir, config)
    resumed = not a.restart and state.restore_latest(c.found)
    logging.info("%s at step %d", "resumed" if resumed else "starting", int(state.step.numpy()))
    logging.info("%s", callbacks.describe(config))
    start = int(state.step.numpy())

    def dataset_fn(ctx):
        # Same seed + skipping the batches already used = the data position of the checkpoint.
        return training_data(config, source, start, input_context=ctx)
    ds = strategy.distribute_datasets_from_function(dataset_fn)
    xla = a.xla == "true" or (a.xla == "auto" and bool(tf.config.list_physical_devices("GPU")))
    trainer = Trainer(state, xla=xla)
    trainer.fit(ds, config["total_kimg"], ckpt_every=a.ckpt_every, log_every=a.log_every,
                profile_steps=c.profile,
                callbacks=[callbacks.sample_callback(state, a.sample_every),
                           callbacks.swd_callback(state, source, a.swd_every, a.swd_images)])
    if trainer.stopped_by is not None:  # saved, not finished: a scheduler must be able to tell
        logging.warning("stopped by signal %d at step %d (%.2f kimg), checkpoint saved; the same command "
                        "resumes", trainer.stopped_by, int(state.step.numpy()), int(state.nimg.numpy()) / 1000)
        return 128 + trainer.stopped_by
    logging.info("done at step %d (%.2f kimg); data: %s", int(state.step.numpy()),
                 int(state.nimg.numpy()) / 1000, source.stats)
    return 0


def command_main(a: Args) -> int:
    from inr_gan_tf.checkpoint import CheckpointError
    checked = check_command(a)
    if checked is None:
        return 0
    try:
        return train(a, checked)
    except CheckpointError as e:  # a failed save or no restorable state: the message says what to do
        return cli.fail(COMMAND, str(e), 1)


COMMAND = cli.Command("python -m inr_gan_tf.train", __doc__, define, command_main)


run = COMMAND.run


if __name__ == "__main__":
    sys.exit(run())
