"""Patch training (issue 12): R x R views of random windows at continuous scales, on tiny configs.

Contracts: a fake patch is a crop of a denser full render; frame_plan renders as make_plan does
inside the frame (no tf.unique, XLA); D's scale conditioning; finite gradients with R1 on
patches; patch_ratio=0 is the frames-only run; exact resume, mixed precision, MirroredStrategy.
"""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import (assert_mirrored_equals_single, assert_resumes_exactly, assert_xla_step_is_finite,
                     train_config, trainer_for)

from inr_gan_tf import coords
from inr_gan_tf.model import build_generator, presets
from inr_gan_tf.model import plan as plan_lib
from inr_gan_tf.model.discriminator import Discriminator
from inr_gan_tf.training.losses import GANLoss, Patches, with_frames

R = 16
TINY_D = dict(resolution=R, channel_base=128, channel_max=16)


def _generator(upsampling, antialias=1, **options):
    return build_generator(dict(presets.tiny_generator(R, upsampling=upsampling, **options), antialias=antialias),
                           seed=0)


def _config(ratio=0.5, cond="projection", **extra):
    cfg = {"generator": presets.tiny_generator(R), "discriminator": dict(TINY_D),
           "data": "procedural", "batch_size": 4, "total_kimg": 0.016, "seed": 3,
           "optim": {"lr_hypernet": 1e-4, "lr_inr": 5e-4, "lr_d": 2e-3, "betas": [0.0, 0.99]},
           "loss": {"r1_gamma": 10.0, "r1_interval": 1}, "ema": {"ema_kimg": 0.01, "ema_rampup": 0.05},
           **extra}
    if ratio:
        cfg["patch"] = {"ratio": ratio, "min_scale": 0.25, "distribution": "log"}
        if cond != "none":
            cfg["discriminator"]["scale_conditioning"] = cond
    return cfg


# -- rendering -------------------------------------------------------------------------------
@pytest.mark.parametrize("upsampling, antialias, cell", [("nearest", 1, False), ("bilinear", 1, False),
                                                         ("bilinear", 2, False), ("local", 1, False),
                                                         ("bilinear", 1, True), ("nearest", 2, True)])
def test_fake_patch_is_a_crop_of_a_full_render_at_its_density(upsampling, antialias, cell):
    """Pixels are pixels at any density: with antialias, each the mean over its own area; with
    cell, the INR told that area (a patch's pixel is the denser grid's)."""
    G = _generator(upsampling, antialias, **({"cell": True} if cell else {}))
    loss = GANLoss(G, None)
    # Windows on the pixel grid of density R / s, so the patch's points are points of that grid.
    windows = [(0.25, 0.5, 0.75, 1.0), (0.5, 0.25, 0.75, 0.5), (0.0, 0.0, 1.0, 1.0)]  # s = 1/2, 1/4, 1
    z = tf.random.stateless_normal([len(windows), G.z_dim], seed=[1, 2])
    patches, _ = loss.run_G(z, tf.constant(windows, tf.float32))  # [3, R, R, 3]
    params = G.params(z)
    for b, (x0, y0, x1, y1) in enumerate(windows):
        n = int(round(R / (x1 - x0)))  # the frame at density R / s: an n x n grid
        full = G.render_grid({k: v[b:b + 1] for k, v in params.items()}, n, n)[0]
        i, j = int(round(y0 * n)), int(round(x0 * n))
        np.testing.assert_allclose(patches[b].numpy(), full[i:i + R, j:j + R].numpy(), atol=1e-5, err_msg=str(b))


def test_window_points_are_the_grid_points_of_each_window():
    bounds = Patches(0.5, 0.1, "uniform").windows(tf.random.stateless_uniform([5, 3], [0, 1], dtype=tf.float64))
    points = coords.grid_graph(R, R, bounds).numpy()
    for b in range(5):
        np.testing.assert_array_equal(points[b], coords.grid_np(R, R, bounds[b].numpy().astype(np.float64)))


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear", "local"])
def test_frame_plan_renders_as_make_plan_inside_the_frame(upsampling):
    G = _generator(upsampling)
    params = G.params(tf.random.stateless_normal([3, G.z_dim], seed=[3, 4]))
    per_sample = tf.random.stateless_uniform([3, 40, 2], seed=[5, 6])
    shared = tf.concat([tf.constant([[0.0, 0.0], [1 - 1e-6, 1 - 1e-6], [0.5, 0.5]]),
                        tf.random.stateless_uniform([37, 2], seed=[7, 8])], 0)
    for points in (per_sample, shared):
        want = G.render(params, points).numpy()
        np.testing.assert_allclose(G.render(params, G.frame_plan(points)).numpy(), want, atol=1e-5)

    @tf.function(jit_compile=True)  # static shapes: the plan compiles with the render
    def xla_render(params, points):
        return G.render(params, G.frame_plan(points))
    np.testing.assert_allclose(xla_render(params, per_sample).numpy(), G.render(params, per_sample).numpy(),
                               atol=1e-5)
    graph = tf.function(lambda p: plan_lib.frame_plan(p, [4, 8], upsampling)).get_concrete_function(
        tf.TensorSpec([3, 40, 2])).graph
    assert not any(op.type == "Unique" for op in graph.get_operations())


def test_windows_lie_inside_the_frame_with_the_chosen_scale_distribution():
    u = tf.random.stateless_uniform([4000, 3], [9, 9], dtype=tf.float64)
    for dist in ("uniform", "log"):
        w = Patches(0.5, 0.25, dist).windows(u).numpy()
        side = w[:, 2] - w[:, 0]
        assert w.min() >= 0 and w.max() <= 1 and side.min() >= 0.25 - 1e-6
        np.testing.assert_allclose(w[:, 3] - w[:, 1], side, atol=1e-6)  # square
        middle = np.median(side)  # uniform: (0.25 + 1) / 2; log: the geometric mean 0.5
        assert abs(middle - (0.625 if dist == "uniform" else 0.5)) < 0.03, (dist, middle)
    assert Patches(0.5).count(16) == 8 and Patches(0.3).count(4) == 1
    for bad in (dict(ratio=1.0), dict(ratio=0.5, min_scale=0.0), dict(ratio=0.5, distribution="beta")):
        with pytest.raises(ValueError):
            Patches(**bad)


# -- the discriminator's scale conditioning --------------------------------------------------
def _images(n=3):
    return tf.random.stateless_uniform([n, R, R, 3], [1, 1], -1, 1)


def test_unconditioned_d_ignores_scale_and_keeps_stylegan2_weights():
    keras.utils.set_random_seed(0)
    plain = Discriminator(R, channel_base=128, channel_max=16)
    keras.utils.set_random_seed(0)
    none = Discriminator(**TINY_D, scale_conditioning="none")
    assert [w.path for w in none.weights] == [w.path for w in plain.weights]
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(none.weights, plain.weights))
    x = _images()
    out = none(x).numpy()
    assert np.array_equal(plain(x).numpy(), out)
    for scale in ([0.3, 0.5, 1.0], [1.0, 1.0, 1.0]):
        assert np.array_equal(none(x, scale=tf.constant(scale)).numpy(), out)


def test_projection_d_tells_scales_apart_and_round_trips_its_config():
    keras.utils.set_random_seed(0)
    D = Discriminator(**TINY_D, scale_conditioning="projection")
    x = _images()
    frames = D(x).numpy()
    np.testing.assert_array_equal(D(x, scale=tf.ones([3])).numpy(), frames)  # no scale: frames, s = 1
    half, quarter = (D(x, scale=tf.fill([3], s)).numpy() for s in (0.5, 0.25))
    assert np.abs(half - frames).min() > 0 and np.abs(quarter - half).min() > 0
    assert any("scale_embed" in w.path for w in D.weights)
    config = D.get_config()
    assert config["scale_conditioning"] == "projection"
    clone = Discriminator.from_config(config)
    clone.set_weights(D.get_weights())
    np.testing.assert_array_equal(clone(x, scale=tf.fill([3], 0.5)).numpy(), half)
    with pytest.raises(ValueError, match="scale_conditioning"):
        Discriminator(**TINY_D, scale_conditioning="concat")


# -- losses ----------------------------------------------------------------------------------
def test_losses_with_patches_have_finite_gradients_including_r1(G):
    keras.utils.set_random_seed(0)
    D = Discriminator(**TINY_D, scale_conditioning="projection")
    loss = GANLoss(G, D)
    patches = Patches(0.5, 0.25, "log")
    z_f, z_p = (tf.random.stateless_normal([2, G.z_dim], seed=[s, 0]) for s in (1, 2))
    z, fake_bounds = with_frames(z_f, z_p, patches.windows(tf.random.stateless_uniform([2, 3], [3, 0], dtype=tf.float64)))
    reals, real_bounds = with_frames(_images(2), _images(2) * 0.5, patches.windows(
        tf.random.stateless_uniform([2, 3], [4, 0], dtype=tf.float64)))
    assert fake_bounds.shape == (4, 4) and np.array_equal(fake_bounds[:2].numpy(), [[0, 0, 1, 1]] * 2)
    with tf.GradientTape() as tape:
        g_loss, _, _ = loss.generator_loss(z, fake_bounds)
    g_grads = tape.gradient(g_loss, G.trainable_variables)
    with tf.GradientTape() as tape:
        d_loss, stats = loss.discriminator_loss(z, reals, True, fake_bounds, real_bounds)
    d_grads = tape.gradient(d_loss, D.trainable_variables)
    assert stats["D/r1_penalty"] > 0 and np.isfinite(g_loss.numpy()) and np.isfinite(d_loss.numpy())
    for v, g in list(zip(G.trainable_variables, g_grads)) + list(zip(D.trainable_variables, d_grads)):
        assert g is not None and np.all(np.isfinite(tf.convert_to_tensor(g).numpy())), v.path
    embed = [g for v, g in zip(D.trainable_variables, d_grads) if "scale_embed" in v.path]
    assert embed and all(np.abs(g.numpy()).max() > 0 for g in embed)


# -- the run ---------------------------------------------------------------------------------
def _parse(*argv):
    return train_config("--data=procedural", *argv)


def test_patch_flags_make_a_patch_section_and_ratio_zero_leaves_the_config_as_it_was():
    base = _parse()
    assert _parse("--patch_ratio=0", "--patch_min_scale=0.5", "--patch_scale=log", "--patch_cond=none") == base
    cfg = _parse("--patch_ratio=0.5", "--patch_scale=log")
    assert cfg["patch"] == {"ratio": 0.5, "min_scale": 0.25, "distribution": "log"}
    assert cfg["discriminator"] == dict(base["discriminator"], scale_conditioning="projection")
    assert cfg["generator"] == base["generator"]
    assert _parse("--patch_ratio=0.5", "--patch_cond=none")["discriminator"] == base["discriminator"]
    with pytest.raises(ValueError, match="--patch_ratio"):
        _parse("--patch_ratio=0.01")  # no patch in a batch of 16


def test_train_command_with_patches_records_the_patch_section(tmp_path, capsys):
    from inr_gan_tf.cli import train
    run = tmp_path / "run"
    argv = ["train", "--data=procedural", "--resolution=16", "--g_blocks=8:16:1:8:3,16:16:1:8:3", "--z_dim=16",
            "--mapping_width=32", "--d_channel_base=128", "--d_channel_max=16", "--batch_size=4",
            "--sample_every=0", "--swd_every=0", "--log_every=1", "--total_kimg=0.004", "--patch_ratio=0.5",
            "--patch_scale=log", f"--run_dir={run}"]
    assert train.run(argv[1:]) == 0
    with open(run / "config.json") as f:
        cfg = json.load(f)
    assert cfg["patch"] == {"ratio": 0.5, "min_scale": 0.25, "distribution": "log"}
    assert cfg["discriminator"]["scale_conditioning"] == "projection"
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-1")


def test_patch_ratio_zero_steps_are_the_frames_only_losses(tmp_path):
    """Without a "patch" section a step is the frames-only step: the same latents and RNG stream,
    and losses bit for bit those of the loss API without windows."""
    cfg = _config(ratio=0)
    trainer, state, ds = trainer_for(cfg, str(tmp_path))
    reals = next(iter(ds))
    assert reals.shape == (4, R, R, 3)  # frames only: no views in the data either
    rng = tf.random.Generator.from_seed(cfg["seed"])
    z = rng.normal([2, 4, state.G.z_dim])
    expected = tf.function(lambda z: trainer.loss.generator_loss(z)[0])(z[0]).numpy()
    stats = trainer.step(reals)
    assert np.float32(stats["loss_g"]) == expected
    np.testing.assert_array_equal(state.rng.state.numpy(), rng.state.numpy())  # nothing else drawn


@pytest.mark.parametrize("local", [0, 8])  # 8: D's local head (tests/test_local_d.py), checkpointed with D
def test_patch_training_resumes_exactly(tmp_path, local):
    from inr_gan_tf.training.loop import training_data
    cfg = _config()
    if local:
        cfg["discriminator"]["local_resolution"] = local
        cfg["loss"]["local_weight"] = 0.5
    # A second iterator of one dataset object reshuffles (data/base.py): look at another object.
    frames, patches, bounds = next(iter(training_data(cfg, cfg["data"])))
    assert frames.shape == patches.shape == (2, R, R, 3) and bounds.shape == (2, 4)
    assert_resumes_exactly(cfg, tmp_path)


@pytest.mark.slow  # ~5 s; mixed precision of frame steps: test_train.py
def test_mixed_bfloat16_step_with_patches(tmp_path):
    try:
        trainer, state, ds = trainer_for(_config(precision="mixed_bfloat16"), str(tmp_path))
        stats = trainer.step(next(iter(ds)))
        assert state.G.inr.compute_dtype == "bfloat16" and state.D.compute_dtype == "bfloat16"
        assert all(np.isfinite(v) for v in stats.values()), stats
    finally:
        keras.mixed_precision.set_global_policy("float32")  # the policy is process-wide


@pytest.mark.slow
def test_xla_step_with_patches(tmp_path):
    cfg = _config()
    cfg["discriminator"]["local_resolution"] = 8  # the local head compiles too
    assert "D/local_scores_real" in assert_xla_step_is_finite(cfg, str(tmp_path))


@pytest.mark.slow  # ~30-45 s here: two TensorFlow start-ups; the frames-only one runs by default
def test_mirrored_step_with_patches_on_two_logical_cpus_equals_one_device(tmp_path):
    assert_mirrored_equals_single(_config(), tmp_path)
