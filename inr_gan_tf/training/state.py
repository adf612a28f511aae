"""Resumable training state: models, optimizers, counters and the latent RNG in one checkpoint.

Kept apart from exported models (STYLE 6): this is what `--run_dir` resumes from. Writes go
through tf.train.CheckpointManager, which writes a new checkpoint completely before it updates
the `checkpoint` index file, so a crash mid-write leaves the previous checkpoint current.
"""
import json
import os

import keras
import tensorflow as tf

from inr_gan_tf.model import Discriminator, build_generator
from inr_gan_tf.training.ema import clone_generator


def _adam(lr, betas):
    return keras.optimizers.Adam(learning_rate=lr, beta_1=betas[0], beta_2=betas[1], epsilon=1e-8)


class TrainState:
    """G, G_ema, D, three Adams (hypernet, INR shared params, D), step, images seen, z RNG."""

    def __init__(self, config: dict, run_dir: str, strategy=None, max_to_keep: int = 3):
        self.config, self.run_dir = config, run_dir
        self.strategy = strategy or tf.distribute.get_strategy()
        keras.utils.set_random_seed(config["seed"])
        # The policy is global in Keras: set it before any layer of this run is built.
        keras.mixed_precision.set_global_policy(config.get("precision", "float32"))
        optim = config["optim"]
        with self.strategy.scope():
            self.G = build_generator(config["generator"])
            self.G_ema = clone_generator(self.G)
            self.D = Discriminator(**config["discriminator"])
            self.hyper_vars = self.G.mapping.trainable_variables + self.G.hypernet.trainable_variables
            self.inr_vars = self.G.inr.trainable_variables
            self.opt_hyper = _adam(optim["lr_hypernet"], optim["betas"])
            self.opt_inr = _adam(optim["lr_inr"], optim["betas"])
            self.opt_d = _adam(optim["lr_d"], optim["betas"])
            # Optimizer slots exist before a restore, so a resumed run gets its Adam moments back.
            self.opt_hyper.build(self.hyper_vars)
            self.opt_inr.build(self.inr_vars)
            self.opt_d.build(self.D.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name="nimg")
        self.rng = tf.random.Generator.from_seed(config["seed"])
        self.checkpoint = tf.train.Checkpoint(
            G=self.G, G_ema=self.G_ema, D=self.D, opt_hyper=self.opt_hyper, opt_inr=self.opt_inr,
            opt_d=self.opt_d, step=self.step, nimg=self.nimg, rng=self.rng)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(run_dir, "checkpoints"), max_to_keep=max_to_keep)

    def restore_latest(self) -> bool:
        """Restores the newest checkpoint if there is one; returns whether it did."""
        path = self.manager.latest_checkpoint
        if path is None:
            return False
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return True

    def save(self) -> str:
        return self.manager.save(checkpoint_number=int(self.step.numpy()))


def write_config(run_dir: str, config: dict) -> None:
    """config.json beside the checkpoints; a resumed run must have been started with the same."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        new = json.loads(json.dumps(config))  # as it would read back (tuples become lists)
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise ValueError(f"{run_dir} holds a run with another configuration (differs in {changed}); "
                             "use a new --run_dir or the original flags")
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(config, f, indent=1, sort_keys=True)
    os.replace(tmp, path)  # atomic: never a half-written config
