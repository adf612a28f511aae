"""The render-consistency term (training/losses.py, `Consistency`): M training pixels of each
frame rendered at k x k sub-pixels, averaged, against the frame's pixel. Contracts on tiny
configs: the term is that mean gap (a dense grid pooled to R, read at the pixels); both sides
get its gradient; the pixels come from the checkpointed RNG after the
latents and windows (exact resume, the stream of a run without it); configs and flags."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_resumes_exactly, assert_xla_step_is_finite, tiny_train_config, trainer_for

from inr_gan_tf import sampling
from inr_gan_tf.model import build_generator, presets
from inr_gan_tf.training import options
from inr_gan_tf.training.losses import Consistency, GANLoss, with_frames

R = 16


def _generator(antialias=1, cell=True):
    cfg = presets.tiny_generator(R, "fmm", False, upsampling="bilinear", **({"cell": True} if cell else {}))
    return build_generator(dict(cfg, antialias=antialias), seed=0)


@pytest.mark.parametrize("antialias, cell, k", [(1, True, 4), (2, True, 2), (1, False, 3)])
def test_the_term_is_the_gap_between_a_pooled_dense_grid_and_the_frame_at_the_pixels(antialias, cell, k):
    G = _generator(antialias, cell)
    loss = GANLoss(G, None, consistency=Consistency(1.0, points=5, density=k))
    z = tf.constant(sampling.seed_latents([0, 1, 2], G.z_dim))
    params = G.params(z)
    frames = G.render_grid(params, R, R)                                     # [3, R, R, 3]
    pixels = tf.constant(np.random.RandomState(0).randint(0, R, (2, 5, 2)), tf.int32)  # (column, row)
    got = loss.render_consistency(params, frames, pixels).numpy()
    # The dense grid's pixels are the k x k sub-pixels of the frame's; pooled, they are the frame
    # rendered with k^2 (x antialias^2) points per pixel, each told its sub-pixel.
    dense = G.render_grid(params, k * R, k * R).numpy()[:2]
    pooled = dense.reshape(2, R, k, R, k, 3).mean((2, 4))
    cols, rows = pixels.numpy()[..., 0], pixels.numpy()[..., 1]
    b = np.arange(2)[:, None]
    want = np.abs(pooled[b, rows, cols] - frames.numpy()[b, rows, cols]).mean()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert got > 1e-4  # an untrained INR: its dense render is not its frame


def test_both_the_dense_render_and_the_frame_get_the_gradient():
    """Their difference is what moves: held fixed, the frame ran away with the dense render."""
    G = _generator()
    z = tf.constant(sampling.seed_latents([0, 1], G.z_dim))
    pixels = tf.constant([[[0, 0], [15, 3]], [[7, 7], [2, 11]]], tf.int32)
    loss = GANLoss(G, None, consistency=Consistency(2.5, points=2, density=4))
    params = G.params(z)
    frames = tf.Variable(G.render_grid(params, R, R))
    with tf.GradientTape() as tape:
        gap = loss.render_consistency(params, frames, pixels)
    g = tape.gradient(gap, frames).numpy()
    assert np.count_nonzero(np.abs(g).sum(-1)) == 4                         # at the 4 pixels only
    np.testing.assert_allclose(np.abs(g[np.abs(g) > 0]), 1 / 12, rtol=1e-6)  # d mean|.| = sign / (F M 3)
    with tf.GradientTape() as tape:
        gap = loss.render_consistency(G.params(z), frames, pixels)
    grads = tape.gradient(gap, G.trainable_variables)
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


class _LogitD(tf.keras.layers.Layer):  # a fixed "discriminator": the mean of the image
    def call(self, images, scale=None):
        return tf.reduce_mean(images, [1, 2, 3])[:, None]


def test_generator_loss_adds_the_weighted_gap_and_reports_it():
    G = _generator()
    z = tf.constant(sampling.seed_latents([0, 1], G.z_dim))
    pixels = tf.constant([[[0, 0], [15, 3]], [[7, 7], [2, 11]]], tf.int32)
    plain, _, _ = GANLoss(G, _LogitD()).generator_loss(z)
    with_term = GANLoss(G, _LogitD(), consistency=Consistency(2.5, points=2, density=4))
    total, stats, _ = with_term.generator_loss(z, pixels=pixels)
    np.testing.assert_allclose(total.numpy(), plain.numpy() + 2.5 * stats["G/consistency"].numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="no consistency term"):
        GANLoss(G, _LogitD()).generator_loss(z, pixels=pixels)


@pytest.mark.parametrize("args, match", [((0.0,), "weight must be finite and > 0"),
                                         ((float("nan"),), "weight must be finite"),
                                         ((1.0, 0), "points must be an integer >= 1"),
                                         ((1.0, 4, 1), "density must be an integer >= 2"),
                                         ((1.0, 4, 2.5), "density must be an integer")])
def test_bad_settings_fail_with_a_clear_error(args, match):
    with pytest.raises(ValueError, match=match):
        Consistency(*args)


def test_pixels_are_drawn_in_the_frame_from_the_generator():
    rng = tf.random.Generator.from_seed(5)
    px = Consistency(1.0, points=300, density=4).draw(rng, 3, R).numpy()
    assert px.shape == (3, 300, 2) and px.dtype == np.int32
    assert px.min() == 0 and px.max() == R - 1


def _args(*extra):
    from inr_gan_tf import cli, train
    return cli.parse(train.COMMAND, ["--data=procedural", "--resolution=16", "--nofourier",
                                     "--g_blocks=16:16:1:8:3", *extra])


def test_the_config_records_it_only_when_set_and_checks_the_points():
    cfg = options.run_config(_args("--consistency=0.5", "--consistency_points=8", "--cell"))
    assert cfg["loss"]["consistency"] == {"weight": 0.5, "points": 8, "density": 4}
    assert "consistency" not in options.run_config(_args())["loss"]
    with pytest.raises(ValueError, match="--consistency_points must be at most R"):
        options.run_config(_args("--consistency=1", "--consistency_points=257"))


# -- in the trainer ----------------------------------------------------------------------------
def _config(patches=True):
    cfg = tiny_train_config()
    cfg["generator"] = dict(cfg["generator"], cell=True)
    cfg["loss"]["consistency"] = {"weight": 1.0, "points": 4, "density": 2}
    if patches:
        cfg["patch"] = {"ratio": 0.5, "min_scale": 0.25, "distribution": "log"}
        cfg["discriminator"]["scale_conditioning"] = "projection"
    return cfg


@pytest.mark.parametrize("patches", [pytest.param(False, marks=pytest.mark.slow), True])
def test_a_step_checks_the_frames_pixels_drawn_after_the_latents_and_windows(tmp_path, patches):
    from inr_gan_tf.training.losses import Patches
    cfg = _config(patches)
    trainer, state, ds = trainer_for(cfg, str(tmp_path))
    rng = tf.random.Generator.from_seed(cfg["seed"])
    z = rng.normal([2, 4, state.G.z_dim])[0]
    views, bounds = z, None
    if patches:
        bounds = Patches(**cfg["patch"]).draw(rng, [2, 2])[0]
        views, bounds = with_frames(z[:2], z[2:], bounds)
    pixels = rng.uniform([2 if patches else 4, 4, 2], 0, R, dtype=tf.int32)  # the frames' pixels
    # The gap at those pixels, with the weights before the step, is the one the step reports.
    want = float(trainer.loss.generator_loss(views, bounds, pixels)[1]["G/consistency"])
    stats = trainer.step(next(iter(ds)))
    assert want > 0
    np.testing.assert_allclose(stats["G/consistency"], want, rtol=1e-5)
    np.testing.assert_array_equal(state.rng.state.numpy(), rng.state.numpy())  # that draw and no other


@pytest.mark.slow  # ~30 s; the pixels are a draw from the checkpointed RNG (the test above)
def test_training_with_it_resumes_exactly(tmp_path):
    assert_resumes_exactly(_config(), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_an_xla_step_with_it(tmp_path, precision):
    stats = assert_xla_step_is_finite(dict(_config(), precision=precision), str(tmp_path))
    assert stats["G/consistency"] > 0
