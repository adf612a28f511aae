"""Resumable training state: models, optimizers, counters and the latent RNG in one checkpoint.

Kept apart from exported models (STYLE 6): this is what `--run_dir` resumes from. The format
and its store are inr_gan_tf/checkpoint.py: saving and restoring go through CheckpointStore: the newest intact checkpoint is restored, a
new one is verified before older ones are let go, and nothing restorable is ever deleted.
"""
import os

import keras
import tensorflow as tf

from inr_gan_tf.model import build_discriminator, build_generator
from inr_gan_tf import checkpoint as checkpoints
from inr_gan_tf.training.ema import clone_generator
from inr_gan_tf.training.precision import DynamicLossScale


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
            self.D = build_discriminator(config["discriminator"])
            self.hyper_vars, self.inr_vars = self.G.variable_groups()
            self.opt_hyper = _adam(optim["lr_hypernet"], optim["betas"])
            self.opt_inr = _adam(optim["lr_inr"], optim["betas"])
            self.opt_d = _adam(optim["lr_d"], optim["betas"])
            # Optimizer slots exist before a restore, so a resumed run gets its Adam moments back.
            self.opt_hyper.build(self.hyper_vars)
            self.opt_inr.build(self.inr_vars)
            self.opt_d.build(self.D.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name="nimg")
            # float16 needs loss scaling; one scale per loss (precision.py says why).
            fp16 = config.get("precision") == "mixed_float16"
            self.g_scale = DynamicLossScale(name="g_loss_scale") if fp16 else None
            self.d_scale = DynamicLossScale(name="d_loss_scale") if fp16 else None
        self.rng = tf.random.Generator.from_seed(config["seed"])
        self.checkpoint = checkpoints.training_checkpoint(
            G=self.G, G_ema=self.G_ema, D=self.D, opt_hyper=self.opt_hyper, opt_inr=self.opt_inr,
            opt_d=self.opt_d, step=self.step, nimg=self.nimg, rng=self.rng,
            **({"g_scale": self.g_scale, "d_scale": self.d_scale} if self.g_scale else {}))
        # Every worker of a MultiWorkerMirroredStrategy must call save (TensorFlow's rule); only the
        # chief's go to the run's checkpoints/, the others' to a scratch folder of their own, and
        # every worker restores from the chief's (the run directory is on a shared filesystem).
        self.is_chief, worker = _chief_and_worker(self.strategy)
        self.cluster_size = _cluster_size(self.strategy)  # processes training together (1: this one)
        self.ckpt_dir = os.path.join(run_dir, "checkpoints")
        own_dir = self.ckpt_dir if self.is_chief else os.path.join(run_dir, "workers", worker, "checkpoints")
        self.store = checkpoints.CheckpointStore(self.checkpoint, own_dir, self.ckpt_dir,
                                                 max_to_keep=max_to_keep if self.is_chief else 1)

    def restore_latest(self, found: "checkpoints.Found" = None) -> bool:
        """Restores the newest intact checkpoint of the run (or `found`, from
        checkpoints.find_latest); returns whether there was one. Raises checkpoints.CheckpointError
        if the run has checkpoint files but none is intact."""
        return self.store.restore(found) is not None

    def save(self) -> str:
        """ckpt-<step>, verified; raises checkpoints.CheckpointError if it could not be written."""
        return self.store.save(int(self.step.numpy()))


def _cluster_spec(strategy) -> dict:
    """The strategy's cluster (TF_CONFIG) as {task type: [addresses]}; {} for one process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver.cluster_spec().as_dict() if resolver is not None else {}


def _chief_and_worker(strategy):
    """(is this the chief, worker name) from the strategy's cluster (TF_CONFIG); one process: chief."""
    spec = _cluster_spec(strategy)
    if not spec:
        return True, "chief"
    task_type, task_id = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in spec)
    return chief, f"{task_type}-{task_id}"


def _cluster_size(strategy) -> int:
    """How many worker processes train together (TF_CONFIG's cluster); one process: 1."""
    spec = _cluster_spec(strategy)
    return max(1, sum(len(spec.get(kind, ())) for kind in ("chief", "worker")))
