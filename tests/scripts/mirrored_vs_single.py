"""Runs training steps on one device and on 2 logical CPUs; prints the max weight difference.

A separate process: logical devices must be configured before TensorFlow starts. Frames-only
configs train on random tensors; with patch training (a "patch" section) on the procedural
source through `training_data`, as train.py feeds it.
"""
import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from inr_gan_tf.training.loop import Trainer, training_data  # noqa: E402
from inr_gan_tf.training.state import TrainState  # noqa: E402


def run(cfg, run_dir, strategy, reals):
    state = TrainState(cfg, run_dir, strategy)
    trainer = Trainer(state)
    if "patch" in cfg:
        dist = strategy.distribute_datasets_from_function(lambda ctx: training_data(cfg, "procedural", 0, ctx))
    else:
        ds = tf.data.Dataset.from_tensor_slices(reals).batch(cfg["batch_size"], drop_remainder=True)
        dist = strategy.experimental_distribute_dataset(ds)
    trainer.fit(dist, total_kimg=len(reals) / 1000, ckpt_every=10 ** 6, log_every=10 ** 6)
    return [v.numpy() for v in state.G.weights + state.D.weights + state.G_ema.weights]


if __name__ == "__main__":
    cfg, out_dir = json.loads(sys.argv[1]), sys.argv[2]
    reals = np.random.RandomState(0).uniform(-1, 1, (2 * cfg["batch_size"], 16, 16, 3)).astype(np.float32)
    single = run(cfg, out_dir + "/single", tf.distribute.get_strategy(), reals)
    mirrored = run(cfg, out_dir + "/mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), reals)
    print(json.dumps({"max_abs_diff": float(max(np.abs(a - b).max() for a, b in zip(single, mirrored))),
                      "max_abs_change": float(max(np.abs(a).max() for a in single))}))
