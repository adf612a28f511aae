"""G_ema from a training run: the model config lives beside the checkpoint (STYLE 5).

A run directory holds `config.json` (key "generator" = G.get_config()) and `checkpoints/`
written by tf.train.CheckpointManager from tf.train.Checkpoint(G=..., G_ema=..., D=..., step=...).
Export rebuilds G from the config with no flags and restores only G_ema's weights.
"""
import datetime
import hashlib
import json
import os
from typing import NamedTuple, Optional

import tensorflow as tf

from inr_gan_tf.model import build_generator


class Restored(NamedTuple):
    G: object              # the Generator with G_ema's weights
    provenance: dict       # checkpoint, step, sha256 of config.json, ...


def _find_config(checkpoint: str) -> str:
    """config.json of the run a checkpoint prefix belongs to (run_dir/checkpoints/ckpt-N)."""
    d = os.path.dirname(os.path.abspath(checkpoint))
    for _ in range(3):
        path = os.path.join(d, "config.json")
        if os.path.exists(path):
            return path
        d = os.path.dirname(d)
    raise FileNotFoundError(f"no config.json beside {checkpoint} or in the two folders above it")


def resolve_checkpoint(run_dir: Optional[str] = None, checkpoint: Optional[str] = None):
    """(checkpoint prefix, config.json path) from a run directory (latest checkpoint) or a prefix."""
    if bool(run_dir) == bool(checkpoint):
        raise ValueError("give exactly one of run_dir or checkpoint")
    if run_dir:
        ckpt_dir = os.path.join(run_dir, "checkpoints")
        checkpoint = tf.train.latest_checkpoint(ckpt_dir)
        if checkpoint is None:
            raise FileNotFoundError(f"no checkpoint in {ckpt_dir}")
        config_path = os.path.join(run_dir, "config.json")
        if not os.path.exists(config_path):
            raise FileNotFoundError(f"{run_dir} has no config.json")
        return checkpoint, config_path
    if os.path.isdir(checkpoint):  # a checkpoints/ folder: its latest
        latest = tf.train.latest_checkpoint(checkpoint)
        if latest is None:
            raise FileNotFoundError(f"no checkpoint in {checkpoint}")
        checkpoint = latest
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise FileNotFoundError(f"{checkpoint} is not a checkpoint prefix (no {checkpoint}.index)")
    return checkpoint, _find_config(checkpoint)


def _step(checkpoint: str) -> Optional[int]:
    reader = tf.train.load_checkpoint(checkpoint)
    key = "step/.ATTRIBUTES/VARIABLE_VALUE"
    return int(reader.get_tensor(key)) if reader.has_tensor(key) else None


def restore_generator(run_dir: Optional[str] = None, checkpoint: Optional[str] = None) -> Restored:
    """G_ema of a run, with the provenance an export records."""
    checkpoint, config_path = resolve_checkpoint(run_dir, checkpoint)
    with open(config_path, "rb") as f:
        raw = f.read()
    config = json.loads(raw)
    if "generator" not in config:
        raise KeyError(f"{config_path} has no 'generator' entry")
    G = build_generator(config["generator"])
    status = tf.train.Checkpoint(G_ema=G).restore(checkpoint)
    status.expect_partial()  # G, D, optimizers and counters are not exported
    status.assert_existing_objects_matched()  # every G_ema weight must come from the checkpoint
    provenance = {
        "checkpoint": os.path.abspath(checkpoint),
        "step": _step(checkpoint),
        "config_json": os.path.abspath(config_path),
        "config_sha256": hashlib.sha256(raw).hexdigest(),
        "weights": "G_ema",
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tensorflow": tf.__version__,
    }
    return Restored(G, provenance)
