"""Contracts of the INR layers, the ParamSpec and the coordinate helpers."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from inr_gan_tf import coords
from inr_gan_tf.model import (FMMDense, FourierFeatures, Hypernet, HyperDense, Mapping,
                              ParamSpec, SharedDense)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_fmm_forward_matches_numpy_reference():
    layer = FMMDense(units=5, input_dim=7, rank=3, activation="relu")
    rng = np.random.RandomState(1)
    x = rng.randn(2, 11, 7).astype(np.float32)
    A, B, bias = rng.randn(2, 5, 3), rng.randn(2, 3, 7), rng.randn(2, 5)
    got = layer(x, A=A.astype(np.float32), B=B.astype(np.float32), bias=bias.astype(np.float32)).numpy()

    ws = layer.shared.numpy()  # [out, in]
    w = ws[None] * _sigmoid(A @ B / math.sqrt(3))  # W = W_s * sigmoid(A B), Sec. 3.2
    ref = np.einsum("bmi,boi->bmo", x, w) + bias[:, None, :] * layer._b_scale
    np.testing.assert_allclose(got, np.maximum(ref, 0), rtol=1e-5, atol=1e-5)


def test_fourier_features_match_numpy_reference():
    layer = FourierFeatures(num_frequencies=4, scale=12.0)
    rng = np.random.RandomState(2)
    pts, mat = rng.rand(1, 9, 2).astype(np.float32), rng.randn(3, 4, 2).astype(np.float32)
    got = layer(pts, matrix=mat).numpy()
    proj = np.einsum("mi,bni->bmn", pts[0], 12.0 * mat)
    np.testing.assert_allclose(got, np.concatenate([np.sin(proj), np.cos(proj)], -1), atol=2e-5)


def test_hyper_dense_is_a_per_sample_dense_layer():
    layer = HyperDense(units=3, input_dim=4, activation="linear")
    rng = np.random.RandomState(3)
    x, W, b = (rng.randn(*s).astype(np.float32) for s in [(2, 5, 4), (2, 3, 4), (2, 3)])
    ref = np.einsum("bmi,boi->bmo", x, W * layer._w_scale) + b[:, None] * layer._b_scale
    np.testing.assert_allclose(layer(x, W=W, bias=b).numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("make, call", [
    (lambda: FMMDense(6, 4, rank=2), lambda l, r: l(r(2, 3, 4), A=r(2, 6, 2), B=r(2, 2, 4), bias=r(2, 6))),
    (lambda: HyperDense(6, 4), lambda l, r: l(r(2, 3, 4), W=r(2, 6, 4), bias=r(2, 6))),
    (lambda: SharedDense(6, 4), lambda l, r: l(r(2, 3, 4))),
    (lambda: FourierFeatures(5, 15.0), lambda l, r: l(r(1, 3, 2), matrix=r(2, 5, 2))),
    (lambda: FourierFeatures(5, 15.0, predicted=False), lambda l, r: l(r(1, 3, 2))),
    (lambda: Mapping(8, 16, 3), lambda l, r: l(r(2, 8))),
])
def test_layers_round_trip_through_get_config(make, call):
    rng = np.random.RandomState(4)
    r = lambda *s: tf.constant(rng.randn(*s).astype(np.float32))  # noqa: E731
    layer = make()
    clone = type(layer).from_config(layer.get_config())
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == layer.get_config()
    rng_state = rng.get_state()
    a = call(layer, r)
    rng.set_state(rng_state)
    b = call(clone, r)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_hypernet_round_trip_and_spec():
    spec = ParamSpec([("a.W", (3, 4)), ("a.bias", (3,)), ("f.matrix", (5, 2))])
    hyper = Hypernet(16, spec)
    assert hyper.connector.units == spec.size == 12 + 3 + 10
    clone = Hypernet.from_config(hyper.get_config())
    clone.set_weights(hyper.get_weights())
    w = tf.random.normal([2, 16])
    a, b = hyper(w), clone(w)
    assert set(a) == set(spec.names)
    for n in spec.names:
        assert a[n].shape == (2, *spec.shapes[n])
        np.testing.assert_array_equal(a[n].numpy(), b[n].numpy())
    np.testing.assert_array_equal(spec.flatten(a).numpy(), hyper.flat(w).numpy())


def test_hypernet_lr_mult_keeps_the_init_and_scales_adam_steps_of_its_outputs():
    import keras
    spec = ParamSpec([("a.W", (3, 4)), ("f.matrix", (5, 2))])
    w = tf.random.normal([4, 16])
    probe = tf.random.normal([4, spec.size])
    changes = []
    for mult in (None, {"f.matrix": 0.1}):
        keras.utils.set_random_seed(1)
        hyper = Hypernet(16, spec, lr_mult=mult)
        before = hyper.flat(w).numpy()
        opt = keras.optimizers.Adam(1e-3)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(hyper.flat(w) * probe)
        opt.apply(tape.gradient(loss, hyper.trainable_variables), hyper.trainable_variables)
        changes.append((before, hyper.flat(w).numpy() - before))
        if mult:
            assert Hypernet.from_config(hyper.get_config()).lr_mult == mult
    (plain0, plain_step), (mult0, mult_step) = changes
    np.testing.assert_allclose(mult0, plain0, rtol=1e-5, atol=1e-6)  # same function at init
    f = slice(12, 22)  # the f.matrix outputs
    np.testing.assert_allclose(mult_step[:, f], 0.1 * plain_step[:, f], rtol=1e-3, atol=1e-6)  # Adam eps
    np.testing.assert_allclose(mult_step[:, :12], plain_step[:, :12], rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="unknown.*nope"):
        Hypernet(16, spec, lr_mult={"nope": 0.5})


def test_param_reader_demands_every_parameter_exactly_once():
    spec = ParamSpec([("x", (2,)), ("y", (3,))])
    params = spec.unflatten(tf.zeros([1, 5]))
    reader = spec.reader(params)
    reader.take("x")
    with pytest.raises(ValueError, match="never used.*y"):
        reader.close()
    with pytest.raises(ValueError, match="twice"):
        reader.take("x")
    with pytest.raises(ValueError, match="missing"):
        spec.reader({"x": params["x"]})
    with pytest.raises(ValueError, match="duplicate"):
        ParamSpec([("x", (1,)), ("x", (2,))])


def test_truncation_pulls_w_to_its_average():
    m = Mapping(8, 16, 2)
    z = tf.random.normal([4, 8])
    m.update_w_avg(m(z))
    w0 = m(z, truncation=0.0).numpy()
    np.testing.assert_allclose(w0, np.broadcast_to(m.w_avg.numpy(), w0.shape), atol=1e-6)
    np.testing.assert_array_equal(m(z, truncation=1.0).numpy(), m(z).numpy())


def test_grid_convention_and_bounds():
    g = coords.grid_np(2, 4)
    np.testing.assert_allclose(g[:4, 0], [0.125, 0.375, 0.625, 0.875])  # pixel centres, row-major
    np.testing.assert_allclose(g[::4, 1], [0.25, 0.75])
    z = coords.grid_np(3, 3, coords.zoom_bounds(1.6))
    np.testing.assert_allclose(z[0], [-0.3 + 1.6 / 6, -0.3 + 1.6 / 6], atol=1e-6)
    assert coords.zoom_bounds(1.6) == pytest.approx((-0.3, -0.3, 1.3, 1.3))
    for bad in [(0, 0, 1), (1, 0, 0, 1), (0, 0, float("nan"), 1)]:
        with pytest.raises(ValueError, match="bounds"):
            coords.grid_np(4, 4, bad)
    with pytest.raises(ValueError, match="height and width"):
        coords.grid_np(0, 4)


def test_tiles_cover_the_grid_with_identical_points():
    full = coords.grid_np(7, 10, (-0.5, 0.0, 1.5, 1.0)).reshape(7, 10, 2)
    seen = np.zeros((7, 10), int)
    for t in coords.tiles(7, 10, 3, (-0.5, 0.0, 1.5, 1.0)):
        np.testing.assert_array_equal(t.coords.reshape(t.row1 - t.row0, t.col1 - t.col0, 2),
                                      full[t.row0:t.row1, t.col0:t.col1])
        seen[t.row0:t.row1, t.col0:t.col1] += 1
    assert (seen == 1).all()


def test_points_must_be_pairs():
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        coords.as_points(np.zeros((4, 3), np.float32))
    assert coords.as_points(np.zeros((5, 2))).shape == (1, 5, 2)
    assert keras.backend.backend() == "tensorflow"


def test_graph_grid_is_bit_identical_to_numpy_grid():
    for h, w, b in [(3, 5, coords.UNIT_BOUNDS), (7, 2, (-0.5, -0.25, 1.5, 1.25))]:
        g = coords.grid_graph(tf.constant(h), tf.constant(w), tf.constant(b, tf.float32)).numpy()
        np.testing.assert_array_equal(g, coords.grid_np(h, w, np.float32(b)))
