"""Loss and EMA contracts: R1 against independent gradients, gradient routing, lazy R1, EMA closed form."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from inr_gan_tf.model import build_generator, presets
from inr_gan_tf.model.discriminator import Discriminator
from inr_gan_tf.training import EMA, GANLoss, clone_generator, r1_penalty

R, B = 16, 2


class QuadraticD(keras.Model):
    """D(x) = sum(a * x^2): grad_x D = 2 a x, so R1 and its gradient w.r.t. `a` have closed forms."""

    def __init__(self):
        super().__init__()
        self.a = self.add_weight(name="a", shape=(R, R, 3),
                                 initializer=keras.initializers.RandomNormal(stddev=1.0))

    def call(self, x):
        return tf.reduce_sum(self.a * x * x, axis=[1, 2, 3])[:, None]  # [B, 1]


def _models():
    G = build_generator(presets.tiny_generator(R), seed=0)
    D = Discriminator(resolution=R, channel_base=256, channel_max=32)
    return G, D


def _inputs(G, seed=1):
    rng = np.random.default_rng(seed)
    z = tf.constant(rng.standard_normal((B, G.z_dim)), tf.float32)
    reals = tf.constant(rng.uniform(-1, 1, (B, R, R, 3)), tf.float32)
    return z, reals


def test_r1_and_its_second_order_gradient_match_closed_form():
    D = QuadraticD()
    x = np.random.default_rng(0).standard_normal((B, R, R, 3)).astype(np.float32)
    a = D.a.numpy()
    with tf.GradientTape() as tape:
        penalty = r1_penalty(D, tf.constant(x))              # [B]
        mean_penalty = tf.reduce_mean(penalty)
    grad_a = tape.gradient(mean_penalty, D.a)
    np.testing.assert_allclose(penalty.numpy(), np.sum((2 * a * x) ** 2, axis=(1, 2, 3)), rtol=1e-5)
    # d/da mean_i sum (2 a x_i)^2 = mean_i 8 a x_i^2: the nested tape carries the second order.
    np.testing.assert_allclose(grad_a.numpy(), np.mean(8 * a * x ** 2, axis=0), rtol=1e-5, atol=1e-6)


def test_r1_on_discriminator_matches_separate_tape_and_forward_mode():
    _, D = _models()
    x = tf.random.stateless_uniform((B, R, R, 3), seed=(3, 4), minval=-1, maxval=1)
    penalty = r1_penalty(D, x).numpy()
    with tf.GradientTape() as tape:  # a plain, non-nested tape
        tape.watch(x)
        total = tf.reduce_sum(D(x))
    g = tape.gradient(total, x)
    np.testing.assert_allclose(penalty, tf.reduce_sum(g ** 2, axis=[1, 2, 3]).numpy(), rtol=1e-5)
    assert np.all(penalty > 0)
    # Forward mode, no tape at all: the directional derivative along sample i's gradient is
    # <g_i, g_i> = ||g_i||^2.
    for i in range(B):
        tangent = g * tf.one_hot(i, B)[:, None, None, None]
        with tf.autodiff.ForwardAccumulator(x, tangent) as acc:
            total = tf.reduce_sum(D(x))
        np.testing.assert_allclose(acc.jvp(total).numpy(), penalty[i], rtol=1e-4)


def test_d_loss_with_r1_trains_d_only():
    G, D = _models()
    loss = GANLoss(G, D)
    z, reals = _inputs(G)
    with tf.GradientTape(persistent=True) as tape:
        d_loss, stats = loss.discriminator_loss(z, reals, do_r1=True)
    d_grads = tape.gradient(d_loss, D.trainable_variables)
    g_grads = tape.gradient(d_loss, G.trainable_variables)
    assert d_loss.dtype == tf.float32 and np.isfinite(d_loss.numpy())
    assert all(v.dtype == tf.float32 and v.shape == () for v in stats.values())
    assert stats["D/r1_penalty"] > 0
    for v, g in zip(D.trainable_variables, d_grads):
        assert g is not None and np.all(np.isfinite(g.numpy())), v.path
        assert np.any(g.numpy() != 0), f"no gradient reaches {v.path}"
    assert all(g is None for g in g_grads), "the D step must not reach G"


def test_lazy_r1_is_scaled_by_interval_and_tensor_flag_matches_bool():
    G, D = _models()
    z, reals = _inputs(G)
    every, lazy = GANLoss(G, D, r1_interval=1), GANLoss(G, D, r1_interval=4)
    loss1, s1 = every.discriminator_loss(z, reals, do_r1=True)
    loss4, s4 = lazy.discriminator_loss(z, reals, do_r1=True)
    loss0, s0 = every.discriminator_loss(z, reals, do_r1=False)
    np.testing.assert_allclose(s4["D/r1_penalty"], s1["D/r1_penalty"], rtol=1e-6)
    np.testing.assert_allclose(s1["D/loss_r1"], 5.0 * s1["D/r1_penalty"], rtol=1e-6)  # gamma / 2
    np.testing.assert_allclose(s4["D/loss_r1"], 4 * s1["D/loss_r1"], rtol=1e-6)
    np.testing.assert_allclose(loss4 - loss1, 3 * s1["D/loss_r1"], rtol=1e-4)
    assert s0["D/loss_r1"] == 0 and s0.keys() == s1.keys()
    np.testing.assert_allclose(loss0, s1["D/loss_adv"], rtol=1e-6)
    off = GANLoss(G, D, r1_gamma=0.0).discriminator_loss(z, reals, do_r1=True)[1]
    assert off["D/loss_r1"] == 0

    # The trainer passes a boolean tensor into one traced step, optionally XLA-compiled (--xla):
    # same values as the Python bool.
    @tf.function(jit_compile=True)
    def traced(flag):
        with tf.GradientTape() as tape:
            value, _ = lazy.discriminator_loss(z, reals, flag)
        return value, tf.linalg.global_norm(tape.gradient(value, D.trainable_variables))

    for flag, want in ((True, loss4), (False, loss0)):
        value, norm = traced(tf.constant(flag))
        np.testing.assert_allclose(value, want, rtol=1e-5)
        assert np.isfinite(norm) and norm > 0


def test_generator_step_moves_hypernet_and_inr_params():
    G, D = _models()
    loss = GANLoss(G, D)
    hyper, inr = G.variable_groups()
    assert {id(v) for v in hyper}.isdisjoint(id(v) for v in inr)
    assert {id(v) for v in hyper + inr} == {id(v) for v in G.trainable_variables}
    z, _ = _inputs(G)
    before = [v.numpy().copy() for v in hyper + inr]
    with tf.GradientTape() as tape:
        g_loss, stats, w = loss.generator_loss(z)
    grads = tape.gradient(g_loss, hyper + inr)
    assert w.shape == (B, G.mapping_width) and np.isfinite(g_loss.numpy())
    assert all(g is not None for g in grads) and set(stats) == {"G/scores_fake", "G/signs_fake"}
    # App. A: separate Adams (beta_1 = 0) for the hypernetwork and the INR's shared weights.
    for opt, group, lr in ((keras.optimizers.Adam(1e-5, beta_1=0.0, beta_2=0.99), hyper, 1e-5),
                           (keras.optimizers.Adam(5e-4, beta_1=0.0, beta_2=0.99), inr, 5e-4)):
        opt.apply(grads[:len(hyper)] if group is hyper else grads[len(hyper):], group)
    for v, old in zip(hyper + inr, before):
        assert np.all(np.isfinite(v.numpy())), v.path
        assert np.any(v.numpy() != old), f"{v.path} did not move"
    assert np.all(np.isfinite(G(z).numpy()))


@pytest.mark.parametrize("rampup", [None, 0.05])
def test_ema_beta_formula(rampup):
    ema = EMA(ema_kimg=10.0, ema_rampup=rampup)
    for nimg in (0, 1000, 10 ** 6, 5 * 10 ** 7):
        ema_nimg = 10_000.0 if rampup is None else min(10_000.0, nimg * rampup)
        want = 0.5 ** (32 / max(ema_nimg, 1e-8))
        np.testing.assert_allclose(ema.beta(tf.constant(nimg, tf.int64), 32), want, rtol=1e-6)


def test_ema_update_follows_closed_form_and_copies_w_avg():
    G = build_generator(presets.tiny_generator(R), seed=0)
    G_ema = clone_generator(G)
    z, _ = _inputs(G)
    assert G_ema.get_config() == G.get_config() and G_ema is not G
    np.testing.assert_array_equal(G_ema(z).numpy(), G(z).numpy())
    start = [v.numpy().copy() for v in G_ema.trainable_variables]
    for v in G.trainable_variables:
        v.assign(v + 1.0)  # G now differs from G_ema by exactly 1 everywhere
    G.mapping.update_w_avg(G.mapping(z))

    # ema_kimg 0.01 = 10 images, ramp-up 0.5, batch 4: ema_nimg = min(10, 2, 4, 6) per step.
    ema, batch, nimg = EMA(ema_kimg=0.01, ema_rampup=0.5), 4, tf.Variable(0, dtype=tf.int64)

    @tf.function
    def step():  # as the trainer does: a tensor image count, inside tf.function
        nimg.assign_add(batch)
        return ema.update(G, G_ema, nimg, batch)

    betas = [float(step()) for _ in range(3)]
    np.testing.assert_allclose(betas, [0.5 ** (4 / 2), 0.5 ** (4 / 4), 0.5 ** (4 / 6)], rtol=1e-6)
    decay = np.prod(betas)
    for v, v_ema, e0 in zip(G.trainable_variables, G_ema.trainable_variables, start):
        # p_ema_k = p + (p_ema_0 - p) * prod(beta) with p = p_ema_0 + 1.
        np.testing.assert_allclose(v_ema.numpy(), e0 + 1.0 - decay, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(G_ema.mapping.w_avg.numpy(), G.mapping.w_avg.numpy())
    assert np.any(G.mapping.w_avg.numpy() != 0)
