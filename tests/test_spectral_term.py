"""The spectral term (training/losses.py, `spectral`): the squared log10 gap, ring by ring,
between the mean power spectra of a step's fake and real views. Contracts on tiny configs: its
spectrum is the spectral metric's; the gap is 0 for one spectrum and the known value for a
contrast change; only the fakes get its gradient; the G loss adds it weighted; its flag and
config; a step reports the gap of this step's views; exact resume, XLA, MirroredStrategy."""
import math

import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_mirrored_equals_single, assert_resumes_exactly, assert_xla_step_is_finite, trainer_for
from test_consistency import _LogitD
from test_patch_training import R, _config, _generator, _parse

from inr_gan_tf import sampling
from inr_gan_tf.metrics.spectral import radial_power
from inr_gan_tf.training.losses import GANLoss, Patches, ring_power, spectral_gap, with_frames


@pytest.mark.parametrize("size", [8, 16, 33])
def test_ring_power_is_the_spectral_metrics_on_uint8_levels(size):
    x = np.random.RandomState(size).randint(0, 256, (3, size, size, 3)).astype(np.uint8)
    got = ring_power(tf.constant(x / 127.5 - 1.0, tf.float32)).numpy()
    np.testing.assert_allclose(got, radial_power(x).mean(0), rtol=1e-4, atol=1e-12)


def test_the_gap_is_zero_for_one_spectrum_and_the_log_ratio_for_a_contrast_change():
    x = tf.constant(np.random.RandomState(0).uniform(-1, 1, (4, R, R, 3)), tf.float32)
    assert float(spectral_gap(x, x)) == 0.0
    assert float(spectral_gap(x[::-1, ::-1], x)) < 1e-10  # same spectra, other images
    # Half the contrast about mid-grey: a quarter of the power in every ring but DC.
    np.testing.assert_allclose(float(spectral_gap(0.5 * x, x)), (2 * math.log10(0.5)) ** 2, rtol=1e-4)
    # A flat set has no power but DC: the floor keeps the gap finite.
    assert np.isfinite(float(spectral_gap(tf.zeros_like(x), x)))


def test_only_the_fakes_get_the_gradient():
    rs = np.random.RandomState(1)
    fakes = tf.Variable(rs.uniform(-1, 1, (2, R, R, 3)).astype(np.float32))
    reals = tf.Variable(rs.uniform(-1, 1, (2, R, R, 3)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        gap = spectral_gap(fakes, reals)
    g_fake, g_real = tape.gradient(gap, [fakes, reals])
    assert g_real is None and float(tf.reduce_max(tf.abs(g_fake))) > 0


def test_generator_loss_adds_the_weighted_gap_and_needs_the_reals():
    G = _generator("nearest")
    z = tf.constant(sampling.seed_latents([0, 1], G.z_dim))
    reals = tf.constant(np.random.RandomState(2).uniform(-1, 1, (2, R, R, 3)), tf.float32)
    plain, _, _ = GANLoss(G, _LogitD()).generator_loss(z)
    total, stats, _ = GANLoss(G, _LogitD(), spectral=2.5).generator_loss(z, reals=reals)
    want = float(spectral_gap(G.render_grid(G.params(z), R, R), reals))
    np.testing.assert_allclose(float(stats["G/spectral"]), want, rtol=1e-5)
    np.testing.assert_allclose(float(total), float(plain) + 2.5 * want, rtol=1e-5)
    assert want > 0
    with pytest.raises(ValueError, match="spectral term needs this step's reals"):
        GANLoss(G, _LogitD(), spectral=1.0).generator_loss(z)
    with pytest.raises(ValueError, match="spectral weight 0.0, reals given"):
        GANLoss(G, _LogitD()).generator_loss(z, reals=reals)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="spectral weight must be finite and >= 0"):
            GANLoss(G, _LogitD(), spectral=bad)


def test_the_flag_records_the_weight_only_when_set():
    base = _parse()
    assert "spectral" not in base["loss"] and _parse("--spectral=0") == base
    assert _parse("--spectral=0.5")["loss"] == dict(base["loss"], spectral=0.5)


# -- in the trainer ----------------------------------------------------------------------------
def _spectral_config(ratio=0.5, **extra):
    cfg = _config(ratio, **extra)
    cfg["loss"] = dict(cfg["loss"], spectral=1.0)
    return cfg


def test_a_step_reports_the_gap_of_its_fakes_against_its_reals(tmp_path):
    cfg = _spectral_config()
    trainer, state, ds = trainer_for(cfg, str(tmp_path))
    batch = next(iter(ds))
    rng = tf.random.Generator.from_seed(cfg["seed"])
    z = rng.normal([2, 4, state.G.z_dim])[0]                  # the G step's latents, then its windows
    bounds = Patches(**cfg["patch"]).draw(rng, [2, 2])[0]
    views, bounds = with_frames(z[:2], z[2:], bounds)
    reals, _ = with_frames(*batch)
    want = float(trainer.loss.generator_loss(views, bounds, reals=reals)[1]["G/spectral"])
    stats = trainer.step(batch)
    assert want > 0
    np.testing.assert_allclose(stats["G/spectral"], want, rtol=1e-5)


def test_without_it_a_step_reports_no_gap(tmp_path):
    trainer, _, ds = trainer_for(_config(), str(tmp_path))
    assert "G/spectral" not in trainer.step(next(iter(ds)))


@pytest.mark.slow  # ~30 s
def test_training_with_it_resumes_exactly(tmp_path):
    assert_resumes_exactly(_spectral_config(), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_an_xla_step_with_it(tmp_path, precision):
    stats = assert_xla_step_is_finite(dict(_spectral_config(), precision=precision), str(tmp_path))
    assert stats["G/spectral"] > 0


@pytest.mark.slow  # two TensorFlow start-ups
def test_mirrored_step_with_it_equals_one_device(tmp_path):
    assert_mirrored_equals_single(_spectral_config(ratio=0), tmp_path)
