"""Shared test fixtures' building blocks (tests/ is on sys.path under pytest's default import mode)."""
import functools
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_tool(name: str):
    """tools/NAME.py as a module (tools/ is not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_config(*argv) -> dict:
    """The run config `python -m inr_gan_tf.train ARGV` would train (flags parsed, nothing built)."""
    from inr_gan_tf import cli
    from inr_gan_tf.cli import train
    from inr_gan_tf.training import options
    return options.run_config(cli.parse(train.COMMAND, list(argv)))


def tiny_train_config(data="procedural") -> dict:
    """A run config small enough to train a few steps in seconds (16^2, batch 4)."""
    from inr_gan_tf.model import presets
    return {"generator": presets.tiny_generator(16),
            "discriminator": {"resolution": 16, "channel_base": 128, "channel_max": 16},
            "data": data, "batch_size": 4, "total_kimg": 0.016, "seed": 3,
            "optim": {"lr_hypernet": 1e-4, "lr_inr": 5e-4, "lr_d": 2e-3, "betas": [0.0, 0.99]},
            "loss": {"r1_gamma": 10.0, "r1_interval": 1}, "ema": {"ema_kimg": 0.01, "ema_rampup": 0.05}}


def trainer_for(cfg: dict, run_dir: str):
    """(Trainer, TrainState, its training data from the restored step) of a run config, as the
    train command builds them (config.json written, newest checkpoint restored)."""
    from inr_gan_tf.checkpoint import write_config
    from inr_gan_tf.training.loop import Trainer, training_data
    from inr_gan_tf.training.state import TrainState
    write_config(run_dir, cfg)
    state = TrainState(cfg, run_dir)
    state.restore_latest()
    return Trainer(state), state, training_data(cfg, cfg["data"], int(state.step.numpy()))


def assert_xla_step_is_finite(cfg: dict, run_dir: str) -> dict:
    """One XLA-compiled training step of a run config; its stats, all finite. A config's
    `precision` sets Keras' process-wide policy: float32 is restored afterwards."""
    import keras
    from inr_gan_tf.training.loop import Trainer
    try:
        _, state, ds = trainer_for(cfg, run_dir)
        stats = Trainer(state, xla=True).step(next(iter(ds)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(np.isfinite(v) for v in stats.values()), stats
    return stats


def assert_resumes_exactly(cfg: dict, tmp_path) -> None:
    """Four steps in one go equal two steps, a checkpoint, and two more from a copy of the run
    directory (G, D and G_ema weights, within float noise); cfg: 4 images per batch."""
    import shutil
    trainer, state, ds = trainer_for(cfg, str(tmp_path / "a"))
    batches = iter(ds)  # one stream, as in a single process
    trainer.fit(batches, total_kimg=0.008, ckpt_every=2, log_every=1)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    trainer.fit(batches, total_kimg=0.016, ckpt_every=100, log_every=1)
    resumed_trainer, resumed, ds_b = trainer_for(cfg, str(tmp_path / "b"))
    assert int(resumed.step.numpy()) == 2
    resumed_trainer.fit(ds_b, total_kimg=0.016, ckpt_every=100, log_every=1)
    for a, b in zip(_all_weights(state), _all_weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _all_weights(state):
    return [v.numpy().copy() for v in state.G.weights + state.D.weights + state.G_ema.weights]


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


def profiled_matmul_flops(fn, *specs) -> int:
    """FLOPs of the MatMuls in fn's graph as TensorFlow's profiler counts them (= 2 x MACs)."""
    from tensorflow.python.profiler import model_analyzer, option_builder
    graph = tf.function(fn).get_concrete_function(*specs).graph
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    prof = model_analyzer.profile(graph, options=opts)
    ops = {op.name: op.type for op in graph.get_operations()}
    return sum(c.total_float_ops for c in prof.children if "MatMul" in ops.get(c.name, ""))


def script_env() -> dict:
    """Environment of a test script run by path: its own folder heads its sys.path, so the
    checkout goes on PYTHONPATH and the package under test is this one, installed or not."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}


def mirrored_vs_single(cfg: dict, tmp_path) -> dict:
    """Runs tests/scripts/mirrored_vs_single.py (a process of its own: 2 logical CPUs must be set
    before TensorFlow starts) and returns its result: max_abs_change, max_abs_diff."""
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "scripts", "mirrored_vs_single.py"),
                          json.dumps(cfg), str(tmp_path)], capture_output=True, text=True, timeout=600,
                         env=script_env())
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_mirrored_equals_single(cfg: dict, tmp_path) -> None:
    """One training step on 2 mirrored logical CPUs equals it on one device (5e-6) and moves the
    weights (> 0.1). Minibatch-stddev groups span the batch each replica sees; groups of 1 make
    the two layouts compute the same function."""
    cfg = {**cfg, "discriminator": {**cfg["discriminator"], "mbstd_group_size": 1}}
    result = mirrored_vs_single(cfg, tmp_path)
    assert result["max_abs_change"] > 0.1
    assert result["max_abs_diff"] < 5e-6


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 [N, H, W, C] -> separable Gaussian blur, reflect borders, back to uint8."""
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    h, w = images.shape[1:3]
    x = np.pad(images.astype(np.float32), ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    x = sum(k[i] * x[:, i:i + h] for i in range(2 * r + 1))
    x = sum(k[i] * x[:, :, i:i + w] for i in range(2 * r + 1))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def assert_render_paths_agree(G, params, h: int, w: int, bounds) -> None:
    """The render contract of any generator: grid = point set = tiles = shuffled points =
    per-sample points (<= 1e-5, and 1e-6 relative: an untrained model's outputs can reach ~50,
    where float32 rounding alone is ~4e-6 and tiles may sum in another order); params hold a
    batch of 3."""
    from inr_gan_tf import coords, sampling
    close = functools.partial(np.testing.assert_allclose, atol=1e-5, rtol=1e-6)  # every path alike
    grid_img = G.render_grid(params, h, w, bounds).numpy()
    pts = coords.grid_np(h, w, bounds)
    pixel = coords.grid_pixel(h, w, bounds)  # the area each point stands for (read with `cell`)
    point_img = G.render(params, pts, pixel).numpy().reshape(3, h, w, 3)
    close(point_img, grid_img)
    close(sampling.render_tiled(G, params, h, w, bounds, tile_size=5), grid_img)
    # Shuffled points are the same function values, reordered.
    perm = np.random.RandomState(0).permutation(len(pts))
    close(G.render(params, pts[perm], pixel).numpy(), point_img.reshape(3, -1, 3)[:, perm])
    per_sample = np.broadcast_to(pts, (3,) + pts.shape)  # [B, N, 2]: the same values
    close(G.render(params, per_sample, pixel).numpy(), point_img.reshape(3, -1, 3))


def clone_from_config(G):
    """A Generator rebuilt from G.get_config() with G's weights; asserts it renders as G does."""
    from inr_gan_tf.model import Generator
    clone = Generator.from_config(G.get_config())
    clone.set_weights(G.get_weights())
    z = tf.random.normal([2, G.z_dim])
    np.testing.assert_array_equal(G(z).numpy(), clone(z).numpy())
    return clone
