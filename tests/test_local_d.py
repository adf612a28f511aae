"""D's local head (`--d_local`, issue 12): a logit per location of one feature map beside the global one.

Contracts on tiny configs: the global logit is the D without the head (same weights); a local
logit sees only its neighbourhood; the losses and R1 are the global ones plus local_weight times
the local mean; the flags make the config sections only when set and refuse bad values by name.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import train_config

from inr_gan_tf.model.discriminator import Discriminator
from inr_gan_tf.training.losses import GANLoss, real_logits_and_r1

R = 16
TINY_D = dict(resolution=R, channel_base=128, channel_max=16, scale_conditioning="projection")


def _pair(local=8):
    """(D with a local head at `local`, the same D without it, sharing every other weight)."""
    keras.utils.set_random_seed(0)
    D = Discriminator(**TINY_D, local_resolution=local)
    plain = Discriminator(**TINY_D)
    own = {w.path: w for w in D.weights}
    for w in plain.weights:
        w.assign(own[w.path])
    return D, plain


def _images(n=3, seed=1):
    return tf.random.stateless_uniform([n, R, R, 3], [seed, 1], -1, 1)


SCALES = tf.constant([1.0, 0.5, 0.25])


def test_global_logit_is_the_d_without_the_head():
    D, plain = _pair()
    x = _images()
    out = D(x, scale=SCALES).numpy()
    assert out.shape == (3, 1 + 8 * 8) == (3, D.num_logits) and plain.num_logits == 1
    np.testing.assert_array_equal(out[:, :1], plain(x, scale=SCALES).numpy())
    assert {w.path for w in D.weights} - {w.path for w in plain.weights} >= {"local_out/kernel"}
    assert np.abs(out[1, 1:] - D(x, scale=tf.ones([3]))[1, 1:].numpy()).min() > 0  # scale-conditioned too


@pytest.mark.parametrize("local, far", [(8, 3), (4, 3)])  # 3: measured, the first untouched row
def test_a_local_logit_sees_only_its_neighbourhood(local, far):
    D, _ = _pair(local)
    x = _images(1)
    y = x.numpy().copy()
    y[0, :2, :2] = -y[0, :2, :2]  # change the top-left 2 x 2 pixels only
    diff = np.abs(D(tf.constant(y)).numpy() - D(x).numpy())[0]
    local_diff = diff[1:].reshape(local, local)
    assert diff[0] > 0 and local_diff[0, 0] > 0
    assert np.all(local_diff[far:, :] == 0) and np.all(local_diff[:, far:] == 0)


def test_config_round_trip_and_bad_resolutions():
    D, _ = _pair()
    config = D.get_config()
    assert config["local_resolution"] == 8
    clone = Discriminator.from_config(config)
    clone.set_weights(D.get_weights())
    x = _images()
    np.testing.assert_array_equal(clone(x, scale=SCALES).numpy(), D(x, scale=SCALES).numpy())
    for bad in (16, 2, 6, -4):
        with pytest.raises(ValueError, match=rf"local_resolution must be .* got {bad}"):
            Discriminator(**TINY_D, local_resolution=bad)


def test_losses_and_r1_are_the_global_ones_plus_the_weighted_local_mean(G):
    D, plain = _pair()
    z = tf.random.stateless_normal([2, G.z_dim], seed=[5, 0])
    x = _images(2)
    for weight in (0.0, 0.5):
        loss, base = GANLoss(G, D, local_weight=weight), GANLoss(G, plain)
        images = loss.run_G(z)[0]
        local = D(images).numpy()[:, 1:]
        g, stats, _ = loss.generator_loss(z)
        expected = base.generator_loss(z)[0].numpy() + weight * np.mean(np.log1p(np.exp(-local)))
        np.testing.assert_allclose(g.numpy(), expected, rtol=1e-5)
        assert "G/local_scores_fake" in stats
        logits, penalty = real_logits_and_r1(D, x, None, weight)
        if weight == 0:  # R1 of the global logit alone
            np.testing.assert_allclose(penalty.numpy(), real_logits_and_r1(plain, x)[1].numpy(), rtol=1e-5)
        else:  # R1 of global + w * mean(local): the gradient of that sum, by a plain tape
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = D(x)
                total = tf.reduce_sum(out[:, 0] + weight * tf.reduce_mean(out[:, 1:], -1))
            want = tf.reduce_sum(tf.square(tape.gradient(total, x)), [1, 2, 3]).numpy()
            np.testing.assert_allclose(penalty.numpy(), want, rtol=1e-5)
    with pytest.raises(ValueError, match="local_weight"):
        GANLoss(G, D, local_weight=-1.0)


def _parse(*argv):
    return train_config("--data=procedural", "--resolution=32", "--g_blocks=16:16:1:8:3,32:16:1:8:3", *argv)


def test_flags_make_the_sections_only_when_set_and_refuse_bad_values():
    base = _parse()
    assert _parse("--d_local=0", "--d_local_weight=3") == base
    cfg = _parse("--d_local=16", "--d_local_weight=0.5")
    assert cfg["discriminator"] == dict(base["discriminator"], local_resolution=16)
    assert cfg["loss"] == dict(base["loss"], local_weight=0.5)
    for bad in ("32", "3", "-1"):
        with pytest.raises(ValueError, match="--d_local "):
            _parse(f"--d_local={bad}")
    with pytest.raises(ValueError, match="--d_local_weight"):
        _parse("--d_local=16", "--d_local_weight=-1")
