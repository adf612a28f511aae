"""Readers of a training run: which checkpoint and config.json a --run_dir/--checkpoint names,
and G_ema rebuilt from them (checkpoint.py writes both and verifies checkpoints).

    G, provenance = restore_generator(run_dir="runs/quickstart")   # its newest intact checkpoint
    G, provenance = restore_generator(checkpoint="runs/x/checkpoints/ckpt-2000", antialias=2)

Every way a run can fail to load -- missing, damaged, a config.json that is not a run's or does
not describe the weights beside it -- is one ModelLoadError with a one-line message, so the
commands (cli/common.load_model) answer it with one line naming the flag.
"""
import datetime
import gc
import hashlib
import json
import os
from typing import NamedTuple, Optional, Tuple

import tensorflow as tf
from absl import logging

from inr_gan_tf.checkpoint import GENERATOR, CheckpointError, find_latest, first_line, verify


class ModelLoadError(ValueError):
    """A run or checkpoint that a reader (generate, metrics, export, ...) cannot load: missing,
    damaged, or a config.json that does not describe its weights. One line naming the file."""


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
    found = find_latest(ckpt_dir)
    if found.prefix is None:
        if found.skipped:
            raise CheckpointError(
                f"no intact checkpoint in {ckpt_dir}: "
                + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in found.skipped))
        raise FileNotFoundError(f"no checkpoint in {ckpt_dir}")
    for prefix, why in found.skipped:
        logging.warning("skipped checkpoint %s (%s); using %s", prefix, why, os.path.basename(found.prefix))
    return found.prefix


def resolve_checkpoint(run_dir: Optional[str] = None, checkpoint: Optional[str] = None):
    """(checkpoint prefix, config.json path) from a run directory (its newest intact checkpoint)
    or a prefix, which must be intact (CheckpointError names the damaged file)."""
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
        why = verify(checkpoint)
        if why is not None:
            raise CheckpointError(f"checkpoint {checkpoint} is damaged: {why}")
    return checkpoint, _find_config(checkpoint)


def _step(checkpoint: str) -> Optional[int]:
    reader = tf.train.load_checkpoint(checkpoint)
    key = "step/.ATTRIBUTES/VARIABLE_VALUE"  # the `step` of OBJECTS
    return int(reader.get_tensor(key)) if reader.has_tensor(key) else None


def read_run_config(config_path: str) -> Tuple[dict, bytes]:
    """(config.json as a dict with a "generator" object, its bytes); ModelLoadError if not."""
    try:
        with open(config_path, "rb") as f:
            raw = f.read()
        config = json.loads(raw)
    except (OSError, ValueError) as e:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise ModelLoadError(f"{config_path} is unreadable ({first_line(e)})") from None
    if not isinstance(config, dict) or not isinstance(config.get("generator"), dict):
        raise ModelLoadError(f"{config_path} has no 'generator' object: not a training run's config.json")
    return config, raw


def resolve_run(run_dir: Optional[str] = None, checkpoint: Optional[str] = None) -> Tuple[str, str]:
    """resolve_checkpoint for readers: every way it can fail is one ModelLoadError."""
    try:
        return resolve_checkpoint(run_dir, checkpoint)
    except (FileNotFoundError, NotADirectoryError, CheckpointError, tf.errors.OpError) as e:
        raise ModelLoadError(first_line(e)) from None


def restore_generator(run_dir: Optional[str] = None, checkpoint: Optional[str] = None, *,
                      antialias: Optional[int] = None) -> Restored:
    """G_ema of a run, with the provenance an export records. Raises ModelLoadError (one line)
    for a run it cannot load, before anything is built from it where it can tell.

    antialias: points per pixel side of the images G renders, instead of the run's (a render
    option: no weight depends on it). A model trained on point samples (noto_emoji:point)
    renders anti-aliased images so, as the area-sampled data it is compared with.
    """
    from inr_gan_tf.model.config import check_antialias  # pylint: disable=import-outside-toplevel
    if antialias is not None:
        antialias = check_antialias(antialias)  # before any file is read
    checkpoint, config_path = resolve_run(run_dir, checkpoint)
    config, raw = read_run_config(config_path)
    from inr_gan_tf.model import build_generator  # pylint: disable=import-outside-toplevel  (the model imports Keras)
    generator_config = dict(config["generator"])
    if antialias is not None:
        generator_config["antialias"] = antialias
    try:
        G = build_generator(generator_config)
    except (ValueError, TypeError, KeyError) as e:
        raise ModelLoadError(f"{config_path}: its generator cannot be built ({first_line(e)})") from None
    _restore_weights(G, checkpoint, config_path)
    provenance = {
        "checkpoint": os.path.abspath(checkpoint),
        "step": _step(checkpoint),
        "config_json": os.path.abspath(config_path),
        "config_sha256": hashlib.sha256(raw).hexdigest(),
        "weights": GENERATOR,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tensorflow": tf.__version__,
    }
    if antialias is not None:
        provenance["antialias"] = antialias  # config.json says the run's; this is the render's
    return Restored(G, provenance)


def _restore_weights(G, checkpoint: str, config_path: str) -> None:
    """G_ema's weights from `checkpoint` into G; ModelLoadError if they do not fit G's config."""
    error = None
    # A mismatch leaves a restore coordinator whose deletion logs one warning per unmatched
    # value (hundreds of lines): it is deleted here, with TensorFlow's warnings held back.
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel("ERROR")
    try:
        status = tf.train.Checkpoint(**{GENERATOR: G}).restore(checkpoint)
        status.expect_partial()  # G, D, optimizers and counters are not exported
        status.assert_existing_objects_matched()  # every G_ema weight must come from the checkpoint
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        error = first_line(e)
    finally:
        status = None
        gc.collect()
        tf_logger.setLevel(level)
    if error is not None:
        raise ModelLoadError(f"{checkpoint} does not fit the generator of {config_path} ({error})")
