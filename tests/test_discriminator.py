"""Contracts of the StyleGAN2 ResNet discriminator on tiny widths (fast on CPU)."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from inr_gan_tf.model.discriminator import Discriminator, channels_at

TINY = dict(channel_base=256, channel_max=32)  # 16 maps at 16x16, 32 at <= 8x8


def make_d(resolution=16, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return Discriminator(resolution, **{**TINY, **kwargs})


def images(batch, resolution=16, channels=3, seed=1):
    return tf.random.stateless_uniform([batch, resolution, resolution, channels], [seed, 0], -1.0, 1.0)


def test_channel_schedule_config_e():
    got = [channels_at(2 ** k) for k in range(10, 1, -1)]  # 1024 .. 4
    assert got == [16, 32, 64, 128, 256, 512, 512, 512, 512]
    assert channels_at(1024, channel_base=32768) == 32  # config-f


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
def test_supported_resolutions(resolution):
    D = make_d(resolution)
    assert D.block_resolutions == [2 ** k for k in range(int(math.log2(resolution)), 2, -1)]
    logits = D(images(2, resolution))
    assert logits.shape == (2, 1) and logits.dtype == tf.float32
    assert np.all(np.isfinite(logits.numpy()))


@pytest.mark.parametrize("resolution", [8, 24, 0])
def test_rejects_unsupported_resolution(resolution):
    with pytest.raises(ValueError, match=rf"power of two >= 16, got {resolution}"):
        Discriminator(resolution, **TINY)


def test_param_count_matches_stylegan2_layer_list():
    nf = {r: channels_at(r, **TINY) for r in (16, 8, 4)}
    conv = lambda k, i, o, bias=True: k * k * i * o + (o if bias else 0)
    expected = conv(1, 3, nf[16])                                         # fromRGB
    for r in (16, 8):                                                     # conv0, conv1 down, skip
        expected += conv(3, nf[r], nf[r]) + conv(3, nf[r], nf[r // 2]) + conv(1, nf[r], nf[r // 2], bias=False)
    expected += conv(3, nf[4] + 1, nf[4]) + conv(1, nf[4] * 16, nf[4]) + conv(1, nf[4], 1)  # epilogue
    assert make_d(16).count_params() == expected


def test_equalized_lr_storage():
    D = make_d(16)
    for w in D.weights:
        if w.path.endswith("bias"):
            assert np.all(w.numpy() == 0.0), w.path
    fc = D.fc.kernel.numpy()  # 512 x 32: large enough for a tight std estimate
    assert abs(fc.std() - 1.0) < 0.05


def test_get_config_round_trip(tmp_path):
    D = make_d(32, mbstd_group_size=2)
    config = D.get_config()
    for key, value in dict(resolution=32, channels=3, mbstd_group_size=2, mbstd_num_channels=1, **TINY).items():
        assert config[key] == value
    x = images(4, 32)
    want = D(x).numpy()

    D2 = Discriminator.from_config(config)
    D2.set_weights(D.get_weights())
    np.testing.assert_array_equal(D2(x).numpy(), want)

    D.save(tmp_path / "d.keras")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "d.keras")(x).numpy(), want)

    # tf.train.Checkpoint (the trainer's format) must see the blocks' weights too.
    path = tf.train.Checkpoint(D=D).write(str(tmp_path / "ckpt"))
    D3 = make_d(32, seed=7, mbstd_group_size=2)
    tf.train.Checkpoint(D=D3).read(path).assert_consumed()
    np.testing.assert_array_equal(D3(x).numpy(), want)


def test_input_gradients_for_r1():
    D = make_d(16)
    x = images(4)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            score = tf.reduce_sum(D(x))
        grad = inner.gradient(score, x)  # [B, H, W, C]
        penalty = tf.reduce_sum(tf.square(grad))
    assert grad.shape == x.shape
    assert np.all(np.isfinite(grad.numpy())) and float(penalty) > 0.0
    # R1 trains D through the input gradient: every kernel needs a finite second-order gradient.
    kernels = [w for w in D.trainable_weights if w.path.endswith("kernel")]
    for w, g in zip(kernels, outer.gradient(penalty, kernels)):
        assert g is not None and np.all(np.isfinite(g.numpy())), w.path


def test_mbstd_couples_group_members_only():
    D = make_d(16, mbstd_group_size=4)
    x = images(8)
    base = D(x).numpy()[:, 0]
    # Groups are strided as in StyleGAN2: with B=8, G=4 sample 0 shares a group with 2, 4, 6.
    changed = D(tf.tensor_scatter_nd_update(x, [[2]], images(1, seed=9))).numpy()[:, 0]
    assert abs(changed[0] - base[0]) > 1e-6
    np.testing.assert_array_equal(changed[[1, 3, 5, 7]], base[[1, 3, 5, 7]])


@pytest.mark.parametrize("batch", [3, 5, 6])
def test_batch_not_divisible_by_group(batch):
    D = make_d(16, mbstd_group_size=4)
    x = images(batch)
    eager = D(x).numpy()
    assert eager.shape == (batch, 1) and np.all(np.isfinite(eager))
    # With an unknown batch the group size is found with tensor ops; it must agree.
    graph = tf.function(D, input_signature=[tf.TensorSpec([None, 16, 16, 3])])
    np.testing.assert_allclose(graph(x).numpy(), eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 32, 32, 3), (2, 16, 16, 1), (16, 16, 3)])
def test_wrong_input_shape_raises(shape):
    D = make_d(16)
    with pytest.raises(ValueError, match=r"expects images \[B, 16, 16, 3\]"):
        D(tf.zeros(shape))


def test_mixed_precision_policy():
    D = make_d(16)
    Dm = make_d(16, dtype="mixed_bfloat16")
    Dm.set_weights(D.get_weights())
    x = images(4)
    out = Dm(x)
    assert out.dtype == tf.float32 and Dm.compute_dtype == "bfloat16"
    np.testing.assert_allclose(out.numpy(), D(x).numpy(), atol=0.05)
    assert Discriminator.from_config(Dm.get_config()).dtype_policy.name == "mixed_bfloat16"


def test_param_count_matches_stylegan2_ada_at_1024():
    # 29,012,513: the Discriminator total that stylegan2-ada-pytorch prints for 1024x1024 with
    # channel_base 32768 (config-f widths); same layers, so the count must agree exactly.
    assert Discriminator(1024, channel_base=32768).count_params() == 29_012_513


@pytest.mark.parametrize("extra", [{}, {"scale_conditioning": "projection"},
                                   {"scale_conditioning": "projection", "local_resolution": 8},
                                   {"local_resolution": 16}])
def test_mac_counter_matches_tensorflow_profiler(extra):
    """complexity.discriminator_macs = the profiler's Conv2D + MatMul FLOPs / 2 on one view."""
    from inr_gan_tf.model import complexity
    from tensorflow.python.profiler import model_analyzer, option_builder
    cfg = {"resolution": 32, "channel_base": 1024, "channel_max": 64, **extra}
    D = Discriminator(**cfg)
    graph = tf.function(lambda x, s: D(x, s)).get_concrete_function(
        tf.TensorSpec([1, 32, 32, 3]), tf.TensorSpec([1])).graph
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    prof = model_analyzer.profile(graph, options=opts)
    kinds = {op.name: op.type for op in graph.get_operations()}
    flops = sum(c.total_float_ops for c in prof.children if kinds.get(c.name) in ("Conv2D", "MatMul"))
    assert flops == 2 * complexity.discriminator_macs(cfg)
