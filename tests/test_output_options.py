"""Contracts of the INR's output options beyond the paper: a saturating output (rgb = tanh(g *
out)) and a palette (rgb = softmax of K logits mixing K predicted colours), on every render
path, in the config and in the parameter/MAC counter (inr.py, complexity.py). Their exports:
test_model_options.py."""
import math

import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_render_paths_agree, clone_from_config

from inr_gan_tf import coords, sampling
from inr_gan_tf.model import build_generator, complexity, presets
from inr_gan_tf.model import inr as inr_lib


# -- a saturating output ("saturation") ------------------------------------------------------
def test_saturation_is_tanh_of_the_gained_linear_output_on_every_path():
    plain = build_generator(presets.tiny_generator(16, "fmm", False), seed=0)
    sat = build_generator(presets.tiny_generator(16, "fmm", False, saturation=3.0), seed=0)
    sat.set_weights(plain.get_weights())  # no new weights: only the output changes
    params = plain.params(tf.constant(sampling.seed_latents([0, 1], plain.z_dim)))
    pts = np.random.RandomState(5).uniform(-0.3, 1.3, (60, 2)).astype(np.float32)
    linear, out = plain.render(params, pts).numpy(), sat.render(params, pts).numpy()
    np.testing.assert_allclose(out, np.tanh(3.0 * linear), atol=1e-6)
    assert np.abs(out).max() <= 1.0
    # Grids pool after the tanh (a pixel is the mean of its saturated points), and tiles and
    # point sets agree with the grid, as without the option.
    grid = sat.render_grid(params, 8, 8).numpy().reshape(2, 64, 3)
    np.testing.assert_allclose(grid, sat.render(params, coords.grid_np(8, 8)).numpy(), atol=1e-6)
    assert_render_paths_agree(sat, sat.params(tf.constant(sampling.seed_latents([0, 1, 2], sat.z_dim))),
                              12, 20, (-0.3, -0.3, 1.3, 1.3))
    assert sat.get_config()["saturation"] == 3.0 and plain.get_config()["saturation"] is None
    clone_from_config(sat)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "2"])
def test_saturation_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="saturation"):
        build_generator(presets.tiny_generator(16, "fmm", False, saturation=bad))


# -- a palette output ("palette") -----------------------------------------------------------
def test_palette_mixes_the_predicted_colours_on_every_path():
    G = build_generator(presets.tiny_generator(16, "fmm", False, palette=5), seed=0)
    params = G.params(tf.constant(sampling.seed_latents([0, 1], G.z_dim)))
    pts = np.random.RandomState(5).uniform(-0.3, 1.3, (60, 2)).astype(np.float32)
    rgb = G.render(params, pts).numpy()                                          # [2, 60, 3]
    # Each point's rgb is a convex mix of its sample's K colours (columns of W, plus the bias).
    w, b = G.inr.colours.affine(**{n: params[f"colours.{n}"] for n in G.inr.colours.param_shapes()})
    colours = (w.numpy() * math.sqrt(5) + b.numpy()[:, :, None]).transpose(0, 2, 1)  # [2, K, 3]
    assert colours.shape == (2, 5, 3)
    assert np.all(rgb >= colours.min(1, keepdims=True) - 1e-6)
    assert np.all(rgb <= colours.max(1, keepdims=True) + 1e-6)
    # rgb is exactly the mix: softmax of the gained logits, times the colours at unit scale.
    logits = G.inr.forward(params, G.inr.plan(pts))[-2]                          # the finest block's features
    W, bias = G.inr.to_rgb.affine(**{n: params[f"to_rgb.{n}"] for n in G.inr.to_rgb.param_shapes()})
    mix = tf.nn.softmax(inr_lib.PALETTE_LOGIT_GAIN * (tf.matmul(logits, W, transpose_b=True) + bias[:, None]), -1)
    np.testing.assert_allclose(rgb, (tf.matmul(mix, w, transpose_b=True) * math.sqrt(5) + b[:, None]).numpy(),
                               atol=1e-5)
    assert_render_paths_agree(G, G.params(tf.constant(sampling.seed_latents([0, 1, 2], G.z_dim))),
                              12, 20, (-0.3, -0.3, 1.3, 1.3))
    assert G.get_config()["palette"] == 5
    clone_from_config(G)
    # Counted from the same layout: K logits, then K -> 3 predicted colours per sample.
    assert complexity.params(G.get_config())["total"] == sum(int(np.prod(v.shape)) for v in G.trainable_variables)
    plain = build_generator(presets.tiny_generator(16, "fmm", False), seed=0)
    width = G.inr.blocks[-1]["width"]
    assert (complexity.macs(G.get_config())["inr"] - complexity.macs(plain.get_config())["inr"]
            == 16 * 16 * (width * (5 - 3) + 5 * 3))


@pytest.mark.parametrize("options", [{"modulation": "shared"}, {"cell": True}])
def test_palette_with_shared_weights_or_the_cell_renders_alike_on_every_path(options):
    cfg = presets.tiny_generator(16, options.get("modulation", "fmm"), False, palette=3)
    G = build_generator(dict(cfg, **{k: v for k, v in options.items() if k != "modulation"}), seed=0)
    assert_render_paths_agree(G, G.params(tf.constant(sampling.seed_latents([0, 1, 2], G.z_dim))),
                              12, 20, (-0.3, -0.3, 1.3, 1.3))
    assert complexity.params(G.get_config())["total"] == sum(int(np.prod(v.shape)) for v in G.trainable_variables)
    clone_from_config(G)


@pytest.mark.parametrize("bad", [1, -2, True, 2.5, "4"])
def test_palette_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="palette"):
        build_generator(presets.tiny_generator(16, "fmm", False, palette=bad))
