"""Train an INR-GAN: `python -m inr_gan_tf.train --flagfile=configs/quickstart.flags`.

Running the same command again resumes from the run directory's last checkpoint (models,
optimizers, step, images seen, latent RNG and data position).
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # hide TensorFlow's start-up chatter

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from inr_gan_tf import coords, sampling  # noqa: E402
from inr_gan_tf.model import complexity  # noqa: E402
from inr_gan_tf.training import options  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multiworker"],
                  "tf.distribute strategy: default (one device), mirrored (local devices), "
                  "multiworker (machines, from TF_CONFIG).")
flags.DEFINE_enum("xla", "auto", ["auto", "true", "false"],
                  "XLA-compile the per-replica step (auto: on with a GPU; it was slower on CPU here).")
flags.DEFINE_integer("ckpt_every", 200, "Save a checkpoint every N steps (also on exit and SIGTERM/SIGINT).")
flags.DEFINE_integer("log_every", 10, "Log losses and a progress line every N steps.")
flags.DEFINE_integer("sample_every", 500, "Write fixed-seed sample grids every N steps (0: never).")
flags.DEFINE_integer("swd_every", 500, "Log the multi-scale SWD of fixed-seed G_ema samples against real "
                     "images every N steps (0: never).")
flags.DEFINE_integer("swd_images", 512, "Images per side for the in-training SWD.")
flags.DEFINE_list("profile_steps", [], "A,B: write a profiler trace of steps A..B to run_dir/logs "
                  "(TensorBoard's profile tab; pip install -e \".[tb]\").")
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0: TensorFlow's default).")


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
    return "\n".join(lines)


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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = options.run_config()
    except ValueError as e:  # inconsistent flags: a usage error, not a traceback
        raise app.UsageError(str(e)) from None
    profile_steps(FLAGS.profile_steps)  # fail before any work
    if FLAGS.dry_run:
        print(describe(config))
        return 0
    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    from inr_gan_tf import data
    from inr_gan_tf.training.loop import Trainer
    from inr_gan_tf.training.state import TrainState, write_config

    write_config(FLAGS.run_dir, config)
    strategy = make_strategy(FLAGS.strategy)
    if config["batch_size"] % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size {config['batch_size']} is not divisible by "
                         f"{strategy.num_replicas_in_sync} replicas")
    state = TrainState(config, FLAGS.run_dir, strategy)
    resumed = state.restore_latest()
    logging.info("%s at step %d", "resumed" if resumed else "starting", int(state.step.numpy()))
    logging.info("%s", describe(config))

    source = data.resolve_source(config["data"])
    start = int(state.step.numpy())

    def dataset_fn(ctx):
        # Same seed + skipping the batches already used = the data position of the checkpoint.
        return data.make_dataset(source, config["generator"]["resolution"], config["batch_size"],
                                 seed=config["seed"], input_context=ctx).skip(start)
    ds = strategy.distribute_datasets_from_function(dataset_fn)
    xla = FLAGS.xla == "true" or (FLAGS.xla == "auto" and bool(tf.config.list_physical_devices("GPU")))
    trainer = Trainer(state, xla=xla)
    trainer.fit(ds, config["total_kimg"], ckpt_every=FLAGS.ckpt_every, log_every=FLAGS.log_every,
                profile_steps=profile_steps(FLAGS.profile_steps),
                callbacks=[sample_callback(state, FLAGS.sample_every),
                           swd_callback(state, source, FLAGS.swd_every, FLAGS.swd_images)])
    logging.info("done at step %d (%.2f kimg); data: %s", int(state.step.numpy()),
                 int(state.nimg.numpy()) / 1000, source.stats)
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    sys.exit(run())
