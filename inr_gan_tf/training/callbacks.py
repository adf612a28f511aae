"""What a training run does besides steps: its strategy, its summary line, its sample grids and
in-training SWD (callbacks the Trainer calls as `cb(step, writer, final=False)`)."""
import json
import os

import numpy as np
import tensorflow as tf
from absl import logging

from inr_gan_tf import animate, coords, sampling
from inr_gan_tf.cli import UsageError
from inr_gan_tf.model import complexity
from inr_gan_tf.model.discriminator import split_config


def make_strategy(kind: str):
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def local_replicas(kind: str) -> int:
    """The replicas make_strategy(kind) gives on this machine, without starting any device:
    MirroredStrategy takes every GPU (the CPU if there is none), the default strategy one."""
    return max(1, len(tf.config.list_physical_devices("GPU"))) if kind == "mirrored" else 1


def describe(config: dict) -> str:
    g = config["generator"]
    m, p = complexity.macs(g), complexity.params(g)
    lines = [json.dumps(config, indent=1, sort_keys=True),
             f"G MACs/image: {m['total'] / 1e9:.3f} G (hypernet {m['hypernet'] / 1e9:.3f} G, "
             f"INR {m['inr'] / 1e9:.3f} G; points per block {m['points_per_block']})",
             f"G params: {p['total'] / 1e6:.3f} M (hypernet {p['hypernet'] / 1e6:.3f} M, INR shared "
             f"{p['inr_shared'] / 1e6:.3f} M; {p['predicted']} predicted values per image)",
             # D runs on every real and fake view, forward and backward, in both steps: at small
             # G sizes its MACs, not G's, set the step time.
             f"D MACs/view: {complexity.discriminator_macs(config['discriminator']) / 1e9:.3f} G"]
    if "patch" in config:
        c = config["patch"]
        lines.append(f"patches: {patch_count(config)} of {config['batch_size']} views per batch, window side "
                     f"{c['min_scale']}..1 ({c['distribution']}), D scale conditioning "
                     f"{config['discriminator'].get('scale_conditioning', 'none')}"
                     + (" (patches to a second D of the same size)"
                        if split_config(config["discriminator"])[0] else ""))
    if config.get("jitter"):
        k = config["generator"].get("antialias", 1)
        lines.append(f"jittered pixels: each training pixel (real and fake) at one of its {k} x {k} points, so "
                     f"a training view costs 1/{k * k} of the finest block's MACs above; renders average all {k * k}")
    return "\n".join(lines)


def patch_count(config: dict) -> int:
    """Patches per global batch (0 without patch training)."""
    from inr_gan_tf.training.losses import Patches
    return Patches(**config["patch"]).count(config["batch_size"]) if "patch" in config else 0


def sample_callback(state, every: int, seeds=range(16)):
    """Fixed-seed grids from G_ema: training grid, 2x super-resolution and zoomed out."""
    out_dir = os.path.join(state.run_dir, "samples")
    os.makedirs(out_dir, exist_ok=True)
    R = state.G.resolution

    def cb(step, writer, final=False):
        if not every or (step % every == 0) == final:  # the final call only fills an off-period end
            return
        views = {"grid": (R, None), "superres2x": (2 * R, None), "zoomout": (R, (-0.3, -0.3, 1.3, 1.3))}
        with writer.as_default(step=step):
            for name, (size, bounds) in views.items():
                imgs = sampling.generate_images(state.G_ema, list(seeds), size, size,
                                                bounds or coords.UNIT_BOUNDS)
                g = animate.image_grid(imgs)
                animate.save_png(os.path.join(out_dir, f"{name}-{step:07d}.png"), g)
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
        raise UsageError(f"--profile_steps takes two step numbers A,B, got {','.join(values)}") from None
    if not 1 <= a <= b:
        raise UsageError(f"--profile_steps needs 1 <= A <= B, got {a},{b}")
    return a, b
