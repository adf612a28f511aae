"""A second discriminator for patches (--patch_d, issue 12): frames to StyleGAN2's D, patches to
one of the same size, on tiny configs.

Contracts: each view is judged by its own D (the logits are the two Ds' on their views); the
frame D is unconditioned, the patch D told s; the same MACs per view; both Ds learn from the
losses and R1; the flag's config section; exact resume; XLA and MirroredStrategy.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_mirrored_equals_single, assert_resumes_exactly, assert_xla_step_is_finite, trainer_for
from test_patch_training import R, TINY_D, _config, _images, _parse

from inr_gan_tf.model import Discriminator, SplitDiscriminator, build_discriminator, complexity
from inr_gan_tf.training.losses import GANLoss, Patches, real_logits_and_r1, with_frames

SPLIT = dict(TINY_D, scale_conditioning="projection", separate_patches=True)


def _split_config():
    cfg = _config()
    cfg["discriminator"]["separate_patches"] = True
    return cfg


def test_each_view_is_judged_by_its_own_d():
    keras.utils.set_random_seed(0)
    D = build_discriminator(SPLIT)
    assert isinstance(D, SplitDiscriminator) and type(build_discriminator(TINY_D)) is Discriminator
    assert D.frame_d.scale_conditioning == "none" and D.patch_d.scale_conditioning == "projection"
    assert not any("scale_embed" in w.path for w in D.frame_d.weights)
    x, scale = _images(4), tf.constant([1.0, 1.0, 0.5, 0.25])
    out = D(x, scale=scale, patches=2).numpy()
    np.testing.assert_allclose(out[:2], D.frame_d(x[:2]).numpy(), atol=1e-6)
    np.testing.assert_allclose(out[2:], D.patch_d(x[2:], scale=scale[2:]).numpy(), atol=1e-6)
    np.testing.assert_allclose(D(x).numpy(), D.frame_d(x).numpy(), atol=1e-6)  # no patches: all frames
    assert D.count_params() == D.frame_d.count_params() + D.patch_d.count_params()
    clone = SplitDiscriminator.from_config(D.get_config())
    clone.set_weights(D.get_weights())
    np.testing.assert_array_equal(clone(x, scale=scale, patches=2).numpy(), out)


def test_a_split_d_costs_the_same_macs_per_view():
    one = complexity.discriminator_macs(dict(TINY_D, scale_conditioning="projection"))
    assert complexity.discriminator_macs(SPLIT) == one


def test_both_ds_learn_from_the_losses_with_r1(G):
    keras.utils.set_random_seed(0)
    D = build_discriminator(SPLIT)
    loss = GANLoss(G, D, patch_views=2)
    patches = Patches(0.5, 0.25, "log")
    z_f, z_p = (tf.random.stateless_normal([2, G.z_dim], seed=[s, 0]) for s in (1, 2))
    z, fake_bounds = with_frames(z_f, z_p, patches.windows(
        tf.random.stateless_uniform([2, 3], [3, 0], dtype=tf.float64)))
    reals, real_bounds = with_frames(_images(2), _images(2) * 0.5, patches.windows(
        tf.random.stateless_uniform([2, 3], [4, 0], dtype=tf.float64)))
    with tf.GradientTape() as tape:
        d_loss, stats = loss.discriminator_loss(z, reals, True, fake_bounds, real_bounds)
    grads = dict(zip([v.path for v in D.trainable_variables], tape.gradient(d_loss, D.trainable_variables)))
    assert stats["D/r1_penalty"] > 0 and np.isfinite(d_loss.numpy())
    for trunk in ("frame_d", "patch_d"):
        mine = [g for path, g in grads.items() if path.startswith(trunk)]
        assert mine and all(g is not None and np.all(np.isfinite(g.numpy())) for g in mine)
        assert max(np.abs(g.numpy()).max() for g in mine) > 0, trunk
    with pytest.raises(ValueError, match="patch_views"):
        GANLoss(G, D, patch_views=-1)


def test_r1_reaches_the_patch_d_through_the_split():
    keras.utils.set_random_seed(0)
    D = build_discriminator(SPLIT)
    x, scale = _images(4), tf.constant([1.0, 1.0, 0.5, 0.25])
    with tf.GradientTape() as tape:
        _, penalty = real_logits_and_r1(D, x, scale, patches=2)  # [B]: each view's own gradient
        total = tf.reduce_sum(penalty)
    assert np.all(penalty.numpy() > 0)
    grads = tape.gradient(total, D.patch_d.trainable_variables)
    assert max(np.abs(g.numpy()).max() for g in grads if g is not None) > 0


def test_bad_splits_and_configs_are_refused():
    D = build_discriminator(SPLIT)
    for bad in (4, 5):  # no frame left
        with pytest.raises(ValueError, match="at least one frame"):
            D(_images(4), scale=tf.ones([4]), patches=bad)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="patches must be a Python int"):
            D(_images(4), patches=bad)
    for bad in ("false", 1, None):
        with pytest.raises(ValueError, match="separate_patches must be true or false"):
            build_discriminator(dict(SPLIT, separate_patches=bad))


def test_a_split_d_without_patch_training_is_refused(tmp_path):
    cfg = _config(ratio=0)
    cfg["discriminator"]["separate_patches"] = True  # a hand-edited config.json
    with pytest.raises(ValueError, match="separate_patches but the run has no patch section"):
        trainer_for(cfg, str(tmp_path))


def test_patch_d_flag_makes_the_config_and_needs_patches():
    base = _parse("--patch_ratio=0.5")
    assert "separate_patches" not in base["discriminator"]
    assert _parse("--patch_ratio=0.5", "--patch_d")["discriminator"] == dict(base["discriminator"],
                                                                            separate_patches=True)
    with pytest.raises(ValueError, match="^--patch_d needs patches"):
        _parse("--patch_d")
    from inr_gan_tf.training.callbacks import describe
    assert "(patches to a second D of the same size)" in describe(_parse("--patch_ratio=0.5", "--patch_d"))
    assert "second D" not in describe(base)


def test_patch_d_training_resumes_exactly(tmp_path):
    assert_resumes_exactly(_split_config(), tmp_path)


@pytest.mark.slow
def test_xla_step_with_a_patch_d(tmp_path):
    assert_xla_step_is_finite(_split_config(), str(tmp_path))


@pytest.mark.slow  # two TensorFlow start-ups
def test_mirrored_step_with_a_patch_d_equals_one_device(tmp_path):
    assert_mirrored_equals_single(_split_config(), tmp_path)
