"""Shared test fixtures' building blocks (tests/ is on sys.path under pytest's default import mode)."""
import json
import os

import tensorflow as tf


def write_run_dir(run, G, step: int, *, other_G=None, config_extra=None, max_to_keep: int = 1):
    """A training run as the trainer leaves it: config.json + checkpoints/ with G_ema (= `G`), the
    step, and optionally a different "G" that readers of G_ema must not pick up."""
    os.makedirs(run)
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump({"generator": G.get_config(), "seed": 0, **(config_extra or {})}, f)
    objects = {"G_ema": G, "step": tf.Variable(step, dtype=tf.int64)}
    if other_G is not None:
        objects["G"] = other_G
    tf.train.CheckpointManager(tf.train.Checkpoint(**objects), os.path.join(run, "checkpoints"),
                               max_to_keep=max_to_keep).save(checkpoint_number=step)
    return run
