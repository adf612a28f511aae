"""One training process of a MultiWorkerMirroredStrategy cluster on loopback, or the one-device reference.

    multiworker.py CFG_JSON RUN_DIR OUT_NPZ single
    multiworker.py CFG_JSON RUN_DIR OUT_NPZ worker INDEX PORT0,PORT1 [SIGNAL_STEP | fail:STEP]

Both modes train on the same two global batches; each worker's input pipeline takes its
contiguous slice of a global batch, as the trainer splits the latents, so the cluster sees the
same global batch as one device. TF_CONFIG must be set before TensorFlow starts. With
SIGNAL_STEP, worker 1 alone gets SIGTERM after that step of four (a preemption notice that
reaches one machine). With fail:STEP, the chief's callback raises after that step of four.
"""
import json
import os
import signal
import sys

cfg, run_dir, out, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
if mode == "worker":
    index, ports = int(sys.argv[5]), sys.argv[6].split(",")
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                          "task": {"type": "worker", "index": index}})

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from inr_gan_tf.training.loop import Trainer  # noqa: E402
from inr_gan_tf.training.state import TrainState  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy() if mode == "worker" else tf.distribute.get_strategy()
batch, workers = cfg["batch_size"], strategy.num_replicas_in_sync
event = sys.argv[7] if len(sys.argv) > 7 else None
fail_step = int(event.split(":")[1]) if event and event.startswith("fail:") else None
signal_step = int(event) if event and fail_step is None else None
reals = np.random.RandomState(0).uniform(-1, 1, ((2 if event is None else 4) * batch, 16, 16, 3))
reals = reals.astype(np.float32)


def dataset_fn(ctx):
    per = batch // workers
    i = ctx.input_pipeline_id
    ds = tf.data.Dataset.from_tensor_slices(reals).batch(batch, drop_remainder=True)
    return ds.map(lambda x: x[i * per:(i + 1) * per])


state = TrainState(cfg, run_dir, strategy)
trainer = Trainer(state)
if signal_step is not None and not state.is_chief:
    step_fn = trainer.step

    def step_then_signal(batch_reals):
        stats = step_fn(batch_reals)
        if int(state.step.numpy()) == signal_step:
            os.kill(os.getpid(), signal.SIGTERM)
        return stats
    trainer.step = step_then_signal


def failing_callback(step, writer, final=False):
    if step == fail_step:
        raise OSError(f"callback failed at step {step}")


trainer.fit(strategy.distribute_datasets_from_function(dataset_fn), total_kimg=len(reals) / 1000,
            ckpt_every=1, log_every=1, callbacks=[failing_callback] if fail_step is not None else ())
weights = [v.numpy() for v in state.G.weights + state.D.weights + state.G_ema.weights]
np.savez(out, *weights)
print(json.dumps({"replicas": workers, "chief": state.is_chief, "step": int(state.step.numpy()),
                  "stopped_by": trainer.stopped_by}))
