"""G_ema from a training run: the model config lives beside the checkpoint (STYLE 5).

A run directory holds `config.json` (key "generator" = G.get_config()) and `checkpoints/`
with tf.train.Checkpoint(G=..., G_ema=..., D=..., step=...) files. Export rebuilds G from the
config with no flags and restores only G_ema's weights, from the newest checkpoint that
training/checkpoints.py verifies intact (a damaged newer one is skipped with a warning).
"""
import datetime
import hashlib
import json
import os
from typing import NamedTuple, Optional

import tensorflow as tf
from absl import logging

from inr_gan_tf.model import build_generator
from inr_gan_tf.training import checkpoints


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


def newest_intact(ckpt_dir: str) -> str:
    """The newest intact checkpoint prefix in a checkpoints/ folder; warns about skipped ones."""
    found = checkpoints.find_latest(ckpt_dir)
    if found.prefix is None:
        if found.skipped:
            raise checkpoints.CheckpointError(
                f"no intact checkpoint in {ckpt_dir}: "
                + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in found.skipped))
        raise FileNotFoundError(f"no checkpoint in {ckpt_dir}")
    for prefix, why in found.skipped:
        logging.warning("skipped checkpoint %s (%s); using %s", prefix, why, os.path.basename(found.prefix))
    return found.prefix


def resolve_checkpoint(run_dir: Optional[str] = None, checkpoint: Optional[str] = None):
    """(checkpoint prefix, config.json path) from a run directory (its newest intact checkpoint)
    or a prefix, which must be intact (checkpoints.CheckpointError names the damaged file)."""
    if bool(run_dir) == bool(checkpoint):
        raise ValueError("give exactly one of run_dir or checkpoint")
    if run_dir:
        config_path = os.path.join(run_dir, "config.json")
        if not os.path.exists(config_path):
            raise FileNotFoundError(f"{run_dir} has no config.json")
        return newest_intact(os.path.join(run_dir, "checkpoints")), config_path
    if os.path.isdir(checkpoint):  # a checkpoints/ folder: its newest intact one
        checkpoint = newest_intact(checkpoint)
    elif not tf.io.gfile.exists(checkpoint + ".index"):
        raise FileNotFoundError(f"{checkpoint} is not a checkpoint prefix (no {checkpoint}.index)")
    else:
        why = checkpoints.verify(checkpoint)
        if why is not None:
            raise checkpoints.CheckpointError(f"checkpoint {checkpoint} is damaged: {why}")
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
