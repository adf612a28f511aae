"""Contracts of the INR options beyond the paper, on the way in and between blocks: bilinear and
local-ensemble transfer, log-spaced coordinate features and the cap on predicted frequencies,
scaled and gained raw coordinates, a coarse block at R, and exports with them (inr.py, plan.py,
layers.py). The output options (saturation, palette): test_output_options.py."""
import math

import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_render_paths_agree, clone_from_config, profiled_matmul_flops

from inr_gan_tf import coords, sampling
from inr_gan_tf.model import (FourierFeatures, Generator, LogFrequencyFeatures, MultiScaleINR, build_generator,
                              complexity, make_plan, presets)
from inr_gan_tf.model import config as config_lib
from inr_gan_tf.model.plan import lattice_position

OPTIONS = presets.CONTINUOUS_OPTIONS  # bilinear, 4 log frequencies per axis, cap at half Nyquist
TOL = 1e-4  # export parity, as test_export.py


@pytest.fixture(scope="module")
def Gb():
    return build_generator(presets.tiny_generator(16, **OPTIONS), seed=0)


@pytest.fixture(scope="module")
def params(Gb):
    return Gb.params(tf.constant(sampling.seed_latents([0, 1, 2], Gb.z_dim)))


# -- bilinear transfer ----------------------------------------------------------------------
@pytest.mark.parametrize("h, w, bounds", [(16, 16, coords.UNIT_BOUNDS), (32, 32, coords.UNIT_BOUNDS),
                                          (12, 20, (-0.5, -0.5, 1.5, 1.5))])
def test_bilinear_grid_equals_point_set_equals_tiles(Gb, params, h, w, bounds):
    assert_render_paths_agree(Gb, params, h, w, bounds)


def _as_map(x, centres, r):
    """Features [B, r*r, C] at cell centres (any order) -> [B, r, r, C] by row (y) and column (x)."""
    cell = np.floor(centres * r).astype(int)
    out = np.zeros((x.shape[0], r, r, x.shape[-1]), np.float32)
    out[:, cell[:, 1], cell[:, 0]] = x
    return out


def test_bilinear_on_the_training_grid_is_image_resize(Gb, params):
    """Each block reads the coarser block's map as tf.image.resize(bilinear, half-pixel) of it."""
    plan = Gb.grid_plan(16, 16)
    outputs = Gb.inr.forward(params, plan)
    res = [b["resolution"] for b in Gb.inr.blocks]
    assert [len(c) for c in plan.centres] == [r * r for r in res[:-1]]  # only the frame's cells
    for k in range(1, len(res)):
        coarse = _as_map(outputs[k - 1].numpy(), plan.centres[k - 1].numpy(), res[k - 1])
        expected = tf.image.resize(coarse, [res[k], res[k]], method="bilinear").numpy()
        got = Gb.inr.transfer(outputs[k - 1], plan, k).numpy()
        if k < len(res) - 1:  # a coarse block: its rows are its cells
            got = _as_map(got, plan.centres[k].numpy(), res[k])
        else:  # the finest block: the grid's pixels, row-major
            got = got.reshape(expected.shape)
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=f"block {k}")


def _reference_cells(query, r):
    """The 4-neighbourhoods' cells in float64 (plan.py's border rule)."""
    u = query.astype(np.float64) * r - 0.5
    s = u + np.maximum(0, 0.5 - np.abs(u + 0.5)) - np.maximum(0, 0.5 - np.abs(u - (r - 0.5)))
    lo, hi = np.floor(s).astype(int), np.ceil(s).astype(int)
    return {(x, y) for xs, ys in zip(zip(lo[:, 0], hi[:, 0]), zip(lo[:, 1], hi[:, 1])) for x in xs for y in ys}


def test_bilinear_plan_lists_each_needed_cell_once():
    pts = np.random.RandomState(0).uniform(-1, 2, (500, 2)).astype(np.float32)
    plan = make_plan(pts, [2, 8], "bilinear")
    query = pts
    for k, r in reversed(list(enumerate([2, 8]))):
        c = plan.centres[k].numpy()
        cells = np.floor(c * r).astype(int)
        np.testing.assert_allclose(c, (cells + 0.5) / r, atol=1e-6)
        assert len({tuple(x) for x in cells}) == len(c)  # each distinct cell once ...
        assert {tuple(x) for x in cells} == _reference_cells(query, r)  # ... and exactly the needed ones
        query = c
    # Weights are a partition of unity, and blending the cell centres gives each point back
    # wherever the border rule does not apply (the frame's interior, and beyond a cell outside).
    for idx, w, q, centres, r in [(plan.point_parents.numpy()[0], plan.point_weights.numpy()[0], pts,
                                   plan.centres[1].numpy(), 8),
                                  (plan.parents[0].numpy(), plan.weights[0].numpy(), plan.centres[1].numpy(),
                                   plan.centres[0].numpy(), 2)]:
        assert idx.shape == w.shape == (len(q), 4) and (w >= 0).all()
        np.testing.assert_allclose(w.sum(-1), 1, atol=1e-6)
        blended = np.einsum("nk,nkd->nd", w, centres[idx])
        u = q * r - 0.5
        plain = np.all(((u >= 0) & (u <= r - 1)) | (u <= -1) | (u >= r), axis=-1)
        np.testing.assert_allclose(blended[plain], q[plain], atol=1e-5)
        s = lattice_position(tf.constant(q), r).numpy()
        np.testing.assert_allclose(blended, (s + 0.5) / r, atol=1e-5)  # elsewhere: the border rule


def _max_step(G, params, n):
    """Largest change of the last block's coarse input between neighbours on a line across x = 0."""
    line = np.stack([np.linspace(-0.4, 0.2, n), np.full(n, 0.37)], -1).astype(np.float32)
    plan = G.inr.plan(line)
    outputs = G.inr.forward(params, plan)
    x = G.inr.transfer(outputs[-3], plan, len(G.inr.blocks) - 1).numpy()  # [B, n, C]
    return np.abs(np.diff(x, axis=1)).max()


def test_zoom_out_renders_finite_and_continuous_across_the_frame_edge(Gb, params, G):
    big = Gb.render_grid(params, 24, 24, (-2.0, -2.0, 3.0, 3.0)).numpy()
    assert np.isfinite(big).all() and big.std() > 1e-3
    # Lipschitz: 4x finer steps, 4x smaller changes. The paper's nearest rule jumps at cell edges.
    assert _max_step(Gb, params, 4000) < 0.3 * _max_step(Gb, params, 1000)
    p = G.params(tf.constant(sampling.seed_latents([0, 1, 2], G.z_dim)))
    assert _max_step(G, p, 4000) > 0.7 * _max_step(G, p, 1000)


# -- local ensemble ("local") ----------------------------------------------------------------
@pytest.fixture(scope="module", params=["local", "local_diff"])
def Gl(request):
    return build_generator(presets.tiny_generator(16, upsampling=request.param), seed=0)


@pytest.fixture(scope="module")
def params_l(Gl):
    return Gl.params(tf.constant(sampling.seed_latents([0, 1, 2], Gl.z_dim)))


@pytest.mark.parametrize("h, w, bounds", [(40, 40, coords.UNIT_BOUNDS), (12, 20, (-0.5, -0.5, 1.5, 1.5))])
def test_local_grid_equals_point_set_equals_tiles(Gl, params_l, h, w, bounds):
    """Above the training grid and a zoom-out: every cell of the coarse blocks is read at
    points off its centre (the training grid is a case of the patch tests' frame plan)."""
    assert_render_paths_agree(Gl, params_l, h, w, bounds)


def _first_layer_inputs(Gl, params_l, pts, k):
    """Block k's first layer, its params, the points' features e [3, M, F] and the plan."""
    plan = Gl.inr.plan(pts)
    layer, last = Gl.inr.hidden[k][0], k == len(Gl.inr.blocks) - 1
    p = {n: params_l[f"{layer.name}.{n}"] for n in layer.param_shapes()}
    q = pts[None] if last else plan.centres[k].numpy()[None]  # [1, M, 2]
    feat = Gl.inr.features[k]  # predicted Fourier features of the points
    return layer, p, feat(tf.constant(q), matrix=params_l[f"{feat.name}.matrix"]), plan


def test_local_diff_draws_nothing_per_cell_where_the_cells_agree(Gl, params_l):
    """local_diff: with equal values in every coarse cell, the offset has no effect: the block
    sees the layer on [those values, e(p), offset 0], so a flat region stays flat."""
    if Gl.inr.upsampling != "local_diff":
        pytest.skip("a property of local_diff")
    pts = np.random.RandomState(3).uniform(-0.3, 1.3, (60, 2)).astype(np.float32)
    for k in (1, 2):
        layer, p, e, plan = _first_layer_inputs(Gl, params_l, pts, k)
        x0 = tf.random.stateless_normal([3, 1, layer.input_dim - e.shape[-1] - 2], seed=[k, 0])
        cells = tf.repeat(x0, len(plan.centres[k - 1]), axis=1)  # the same values in every cell
        got = Gl.inr.local_ensemble(layer, p, cells, e, plan, k).numpy()
        flat = tf.concat([tf.broadcast_to(x0, [3, e.shape[1], x0.shape[-1]]), e, tf.zeros([3, e.shape[1], 2])], -1)
        np.testing.assert_allclose(got, layer(flat, **p).numpy(), atol=1e-5, err_msg=f"block {k}")


def test_local_ensemble_is_the_blend_of_the_first_layer_run_per_neighbour(Gl, params_l):
    """local: the cheap form (cells' share once per cell) equals the definition, for a coarse
    block and the finest: sum_i w_i layer([values of cell i, e(p), (p - centre_i) * r]), e the
    point's coordinate features."""
    if Gl.inr.upsampling != "local":
        pytest.skip("the definition of local")
    pts = np.random.RandomState(2).uniform(-0.3, 1.3, (50, 2)).astype(np.float32)
    plan = Gl.inr.plan(pts)
    outputs = Gl.inr.forward(params_l, plan)
    for k in (1, 2):
        layer, last = Gl.inr.hidden[k][0], k == 2
        p = {n: params_l[f"{layer.name}.{n}"] for n in layer.param_shapes()}
        q = pts[None] if last else plan.centres[k].numpy()[None]  # [1, M, 2]
        feat = Gl.inr.features[k]  # predicted Fourier features of the points, [3, M, F]
        e = feat(tf.constant(q), matrix=params_l[f"{feat.name}.matrix"])
        idx = (plan.point_parents if last else plan.parents[k - 1]).numpy().reshape(-1, 4)
        w = (plan.point_weights if last else plan.weights[k - 1]).numpy().reshape(-1, 4)
        centres, r = plan.centres[k - 1].numpy(), Gl.inr.blocks[k - 1]["resolution"]
        want = 0
        for i in range(4):
            x = tf.gather(outputs[k - 1], idx[:, i], axis=1)
            offset = np.broadcast_to((q[0] - centres[idx[:, i]]) * r, (3, len(idx), 2))
            want += layer(tf.concat([x, e, offset], -1), **p).numpy() * w[None, :, i, None]
        got = Gl.inr.local_ensemble(layer, p, outputs[k - 1], e, plan, k).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"block {k}")


def test_local_renders_are_continuous_and_draw_inside_coarse_cells(Gl, params_l, G):
    """Lipschitz on a line across cells and the frame's edge (4x finer steps, 4x smaller
    changes), where nearest jumps; and not a bilinear blend of per-cell values: a 4x render
    differs from the bilinear upsampling of the coarse block's cells' image."""
    def max_step(g, p, n):
        line = np.stack([np.linspace(-0.4, 0.6, n), np.full(n, 0.37)], -1).astype(np.float32)
        return np.abs(np.diff(g.render(p, line).numpy(), axis=1)).max()
    assert max_step(Gl, params_l, 4000) < 0.3 * max_step(Gl, params_l, 1000)
    p = G.params(tf.constant(sampling.seed_latents([0, 1, 2], G.z_dim)))
    assert max_step(G, p, 4000) > 0.7 * max_step(G, p, 1000)
    x4 = Gl.render_grid(params_l, 64, 64).numpy()
    assert np.isfinite(x4).all() and x4.std() > 1e-2


@pytest.mark.parametrize("size", [(16, 16), (32, 24)])
def test_mac_counter_matches_tensorflow_profiler_with_local(Gl, size):
    h, w = size
    flops = profiled_matmul_flops(lambda z: Gl.render_grid(Gl.params(z), h, w), tf.TensorSpec([1, Gl.z_dim]))
    assert flops == 2 * complexity.macs(Gl.get_config(), h, w)["total"]
    cfg = Gl.get_config()
    assert complexity.params(cfg)["total"] == Gl.count_params() - Gl.mapping.width
    assert complexity.params(cfg)["predicted"] == Gl.param_spec.size


# -- band-limited coordinate features -------------------------------------------------------
def test_cap_bounds_every_frequency_and_passes_gradients():
    cap = 0.5 * math.pi * 16
    layer = FourierFeatures(6, scale=10.0, cap=cap)
    pts = tf.constant(np.random.RandomState(0).rand(1, 9, 2).astype(np.float32))
    for raw_scale in (1e4, 3.0, 1e-3):
        raw = tf.Variable(raw_scale * np.random.RandomState(1).randn(2, 6, 2).astype(np.float32))
        with tf.GradientTape() as tape:
            w = layer.frequencies(raw)
            out = layer(pts, matrix=raw)
            loss = tf.reduce_sum(out * tf.random.stateless_normal(out.shape, [0, 1]))
        grad = tape.gradient(loss, raw).numpy()
        assert (np.linalg.norm(w.numpy(), axis=-1) <= cap * (1 + 1e-6)).all()
        assert np.isfinite(grad).all() and np.abs(grad).max() > 0
    np.testing.assert_allclose(w.numpy(), 10.0 * raw.numpy(), rtol=1e-4)  # |w| << cap: unchanged
    assert FourierFeatures.from_config(layer.get_config()).cap == cap
    G = build_generator(presets.tiny_generator(16, fourier_cap=0.25), seed=0)
    assert [f.cap for f in G.inr.features] == pytest.approx([0.25 * math.pi * r for r in (4, 8, 16)])
    zero = G.param_spec.unflatten(tf.zeros([1, G.param_spec.size]))
    assert np.isfinite(G.render_grid(zero, 8, 8).numpy()).all()  # w = 0: no 0 / 0


def test_log_frequencies_are_deterministic_and_in_the_config(Gb):
    other = build_generator(Gb.get_config(), seed=7)
    pts = tf.constant(coords.grid_np(5, 5)[None])
    for k, (a, b) in enumerate(zip(Gb.inr.log_features, other.inr.log_features)):
        r = Gb.inr.blocks[k]["resolution"]
        np.testing.assert_array_equal(a(pts).numpy(), b(pts).numpy())
        top = OPTIONS["fourier_cap"] * math.pi * r  # up to the block's cap
        freqs = np.geomspace(min(math.pi, top), top, OPTIONS["log_frequencies"])
        np.testing.assert_allclose(a.matrix()[:len(freqs), 0], freqs, rtol=1e-6)
        np.testing.assert_allclose(a.matrix()[len(freqs):, 1], freqs, rtol=1e-6)
        assert a(pts).shape == (1, 25, 4 * OPTIONS["log_frequencies"])
    assert Gb.get_config()["log_frequencies"] == OPTIONS["log_frequencies"]
    clone = LogFrequencyFeatures.from_config(Gb.inr.log_features[0].get_config())
    np.testing.assert_array_equal(clone.matrix(), Gb.inr.log_features[0].matrix())
    no_cap = build_generator(presets.tiny_generator(16, log_frequencies=2), seed=0)
    assert no_cap.inr.log_features[2].max_frequency == pytest.approx(0.5 * math.pi * 16)  # half Nyquist


@pytest.mark.parametrize("modulation, fourier, upsampling", [
    ("fmm", True, "bilinear"), ("fmm", False, "bilinear"), ("full", False, "bilinear"), ("shared", True, "bilinear"),
    ("full", False, "local_diff"), ("shared", True, "local_diff")])  # the local ensemble's affine() of each layer kind
def test_every_table1_variant_takes_the_options(modulation, fourier, upsampling):
    cfg = presets.tiny_generator(16, modulation, fourier, **dict(OPTIONS, upsampling=upsampling))
    G = build_generator(cfg, seed=1)
    img = G.render_grid(G.params(tf.random.normal([2, G.z_dim])), 8, 24, (-0.3, 0.0, 1.3, 1.0)).numpy()
    assert img.shape == (2, 8, 24, 3) and np.isfinite(img).all()
    assert complexity.params(cfg)["total"] == G.count_params() - G.mapping.width  # w_avg is not a param
    assert complexity.params(cfg)["predicted"] == G.param_spec.size
    feat_dim = (2 * 8 if fourier else 0) + 4 * OPTIONS["log_frequencies"]
    assert G.inr.hidden[0][1].input_dim == 24 + feat_dim  # coordinate skip carries the log features
    assert G.inr.hidden[0][0].input_dim == feat_dim + (G.mapping_width if modulation == "shared" else 0)



@pytest.mark.parametrize("size", [(16, 16), (8, 8), (32, 24)])
def test_mac_counter_matches_tensorflow_profiler_with_the_options(Gb, size):
    h, w = size
    flops = profiled_matmul_flops(lambda z: Gb.render_grid(Gb.params(z), h, w), tf.TensorSpec([1, Gb.z_dim]))
    counted = complexity.macs(Gb.get_config(), h, w)
    assert flops == 2 * counted["total"]
    assert counted["points_per_block"][:-1] == [len(c) for c in Gb.grid_plan(h, w).centres]


# -- scaled raw coordinates ("coord_scale") --------------------------------------------------
def test_coord_scale_feeds_finer_blocks_centred_scaled_coordinates():
    plain = build_generator(presets.tiny_generator(16, "fmm", False), seed=0)
    scaled = build_generator(presets.tiny_generator(16, "fmm", False, coord_scale=8.0), seed=0)
    scaled.set_weights(plain.get_weights())  # same shapes: only the inputs change
    pts = np.random.RandomState(4).uniform(-0.3, 1.3, (1, 50, 2)).astype(np.float32)
    np.testing.assert_array_equal(scaled.inr.raw_coordinates(pts, 0), pts)  # the first block keeps p
    np.testing.assert_allclose(scaled.inr.raw_coordinates(pts, 1), (pts - 0.5) * 8.0, rtol=1e-6)
    params = plain.params(tf.constant(sampling.seed_latents([0, 1], plain.z_dim)))
    a, b = (g.inr.forward(params, g.inr.plan(pts[0])) for g in (plain, scaled))
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    assert np.abs(a[1].numpy() - b[1].numpy()).max() > 1e-3
    assert scaled.get_config()["coord_scale"] == 8.0 and plain.get_config()["coord_scale"] is None
    clone_from_config(scaled)


@pytest.mark.parametrize("option", ["coord_scale", "coord_gain"])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "8"])
def test_coordinate_scales_refuse_bad_values(option, bad):
    with pytest.raises(ValueError, match=option):
        build_generator(presets.tiny_generator(16, "fmm", False, **{option: bad}))
    with pytest.raises(ValueError, match=f"{option} scales raw coordinates"):
        build_generator(presets.tiny_generator(16, **{option: 8.0}))  # with Fourier features
    raw = presets.tiny_generator(16, "fmm", False, **{option: 8.0})
    for features in ({"fourier": True}, {"log_frequencies": 2}):  # a config.json refuses it too
        with pytest.raises(ValueError, match=f"{option} scales raw coordinates; it needs fourier=False"):
            config_lib.GeneratorConfig.from_dict({**raw, **features})
    blocks = [dict(b) for b in raw["blocks"]]
    with pytest.raises(ValueError, match=f"{option} scales raw coordinates"):  # the layer alone, too
        MultiScaleINR(blocks, fourier=True, **{option: 8.0})


# -- a gain on the first block's raw coordinates ("coord_gain") ----------------------------
def test_coord_gain_feeds_the_first_block_centred_scaled_coordinates():
    plain = build_generator(presets.tiny_generator(16, "fmm", False), seed=0)
    gained = build_generator(presets.tiny_generator(16, "fmm", False, coord_gain=4.0), seed=0)
    gained.set_weights(plain.get_weights())  # same shapes: only the first block's input changes
    pts = np.random.RandomState(5).uniform(-0.3, 1.3, (1, 50, 2)).astype(np.float32)
    np.testing.assert_allclose(gained.inr.raw_coordinates(pts, 0), (pts - 0.5) * 4.0, rtol=1e-6)
    np.testing.assert_array_equal(gained.inr.raw_coordinates(pts, 1), pts)  # later blocks: coord_scale's
    params = plain.params(tf.constant(sampling.seed_latents([0, 1], plain.z_dim)))
    a, b = (g.inr.forward(params, g.inr.plan(pts[0])) for g in (plain, gained))
    assert np.abs(a[0].numpy() - b[0].numpy()).max() > 1e-3
    assert gained.get_config()["coord_gain"] == 4.0 and plain.get_config()["coord_gain"] is None
    both = build_generator(presets.tiny_generator(16, "fmm", False, coord_gain=4.0, coord_scale=8.0), seed=0)
    np.testing.assert_allclose(both.inr.raw_coordinates(pts, 0), (pts - 0.5) * 4.0, rtol=1e-6)
    np.testing.assert_allclose(both.inr.raw_coordinates(pts, 1), (pts - 0.5) * 8.0, rtol=1e-6)
    clone_from_config(gained)


def test_coord_gain_renders_alike_on_every_path():
    """Grid = point set = tiles = shuffled points, zoomed out too, with the gain in the first block."""
    G = build_generator(presets.tiny_generator(16, "fmm", False, upsampling="bilinear", coord_gain=6.0), seed=0)
    params = G.params(tf.constant(sampling.seed_latents([0, 1, 2], G.z_dim)))
    assert_render_paths_agree(G, params, 24, 20, (-0.3, -0.3, 1.3, 1.3))


# -- config ---------------------------------------------------------------------------------
def test_options_round_trip_through_get_config(Gb):
    clone = clone_from_config(Gb)
    assert clone.get_config() == Gb.get_config()
    assert {k: Gb.get_config()[k] for k in OPTIONS} == OPTIONS


def test_an_old_config_loads_as_the_paper(G):
    old = {k: v for k, v in G.get_config().items() if k not in presets.INR_OPTIONS and k != "antialias"}
    loaded = Generator.from_config(old)
    assert (loaded.inr.upsampling, loaded.inr.log_frequencies, loaded.inr.fourier_cap) == ("nearest", 0, None)
    assert all(f.cap is None for f in loaded.inr.features)
    loaded.set_weights(G.get_weights())
    z = tf.random.normal([2, G.z_dim])
    np.testing.assert_array_equal(loaded(z).numpy(), G(z).numpy())


def test_bad_options_fail_with_clear_errors():
    cfg = presets.tiny_generator(16)
    for bad, match in [({"upsampling": "bicubic"}, "upsampling"), ({"fourier_cap": 0.0}, "fourier_cap"),
                       ({"log_frequencies": -1}, "log_frequencies")]:
        with pytest.raises(ValueError, match=match):
            build_generator(dict(cfg, **bad))
    with pytest.raises(ValueError, match="unknown INR options"):
        presets.tiny_generator(16, upsample="bilinear")


# -- exports --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, upsampling", [
    ("saved_model", "bilinear"), ("tflite", "bilinear"), ("onnx", "bilinear"),
    # The converters are where new ops can fail; a SavedModel runs the Keras graph itself.
    # local_diff's ops include local's.
    ("tflite", "local_diff"), ("onnx", "local_diff")])
def test_exports_match_keras_with_the_options(Gb, upsampling, tmp_path, fmt):
    if upsampling != "bilinear":  # Gb: bilinear with the feature options; here raw coordinates, scaled, gained, palette, tanh
        Gb = build_generator(presets.tiny_generator(16, "fmm", False, upsampling=upsampling, coord_scale=4.0,
                                                    coord_gain=3.0, saturation=2.0, palette=4), seed=0)
    extras = {"saved_model": (), "tflite": ("ai_edge_litert",), "onnx": ("tf2onnx", "onnx", "onnxruntime")}
    for package in extras[fmt]:  # a missing extra skips visibly, naming it
        pytest.importorskip(package, reason=f"{fmt} needs the export extra: pip install -e \".[export]\"")
    from inr_gan_tf.export import convert, modules, savedmodel
    rng = np.random.default_rng(1)
    z = rng.standard_normal((2, Gb.z_dim)).astype(np.float32)
    grids = [coords.grid_np(12, 20), coords.grid_np(32, 32), coords.grid_np(16, 16, (-0.5, -0.5, 1.5, 1.5))]
    sets = [np.broadcast_to(g[None], (2,) + g.shape).copy() for g in grids]
    sets.append(rng.uniform(-0.5, 1.5, (2, 300, 2)).astype(np.float32))  # one set per sample
    params = Gb.params(z)
    reference = [Gb.render(params, c).numpy() for c in sets]

    portable = modules.GeneratorExport(Gb, checked=False)
    if fmt == "saved_model":
        sig = tf.saved_model.load(savedmodel.export_generator(Gb, str(tmp_path / "sm"))).signatures["render"]
        run = lambda c: sig(z=tf.constant(z), coords=tf.constant(c))["rgb"].numpy()  # noqa: E731
    elif fmt == "tflite":
        tflite = convert.TFLiteRunner(convert.to_tflite(portable, "float32"))
        run = lambda c: tflite(z=z, coords=c)["rgb"]  # noqa: E731
    else:
        onnx = convert.OnnxRunner(convert.to_onnx(portable, str(tmp_path / "render.onnx")))
        run = lambda c: onnx(z=z, coords=c)["rgb"]  # noqa: E731
    for c, ref in zip(sets, reference):
        np.testing.assert_allclose(run(c), ref, atol=TOL, err_msg=f"{fmt} {c.shape}")


# -- a coarse block at the training resolution ------------------------------------------------
def _coarse_at_r(upsampling, resolutions=(8, 16, 16)):
    cfg = config_lib.GeneratorConfig(16, tuple(config_lib.Block(r, 16, 2, 8) for r in resolutions),
                                     z_dim=16, mapping_width=32, mapping_layers=2, rank=3, upsampling=upsampling)
    return build_generator(cfg, seed=0)


@pytest.mark.parametrize("upsampling, h, w, bounds", [("nearest", 16, 16, coords.UNIT_BOUNDS),
                                                     ("bilinear", 24, 40, (-0.5, -0.5, 1.5, 1.5)),
                                                     ("local", 20, 12, (-0.5, -0.5, 1.5, 1.5))])
def test_the_finest_block_may_repeat_the_coarse_resolution(upsampling, h, w, bounds):
    """The finest block runs at the points, so the block before it may run at R: every
    training pixel then has its own coarse cell, and any point set still renders by one path."""
    G = _coarse_at_r(upsampling)
    p = G.params(tf.constant(sampling.seed_latents([0, 1, 2], G.z_dim)))
    assert_render_paths_agree(G, p, h, w, bounds)
    plan = G.grid_plan(16, 16)
    np.testing.assert_allclose(np.sort(plan.centres[-1].numpy(), 0), np.sort(coords.grid_np(16, 16), 0), atol=1e-6)


def test_on_the_training_grid_bilinear_and_nearest_agree_when_the_coarse_block_is_at_r():
    """At pixel centres each pixel reads its own cell with weight 1 (bilinear) or as its parent
    (nearest): one set of weights renders the same frame both ways, and differs between pixels."""
    Gn, Gb = _coarse_at_r("nearest", (16, 16)), _coarse_at_r("bilinear", (16, 16))
    Gb.set_weights(Gn.get_weights())
    z = tf.constant(sampling.seed_latents([0, 1], Gn.z_dim))
    np.testing.assert_allclose(Gb(z).numpy(), Gn(z).numpy(), atol=1e-5)
    centres = Gn.grid_plan(16, 16).centres[-1].numpy()  # the coarse cells are the pixels
    np.testing.assert_allclose(np.sort(centres, 0), np.sort(coords.grid_np(16, 16), 0), atol=1e-6)
    p = Gn.params(z)
    assert np.abs(Gb.render_grid(p, 32, 32).numpy() - Gn.render_grid(p, 32, 32).numpy()).max() > 1e-3


def test_only_the_finest_block_may_repeat_a_resolution():
    from inr_gan_tf.model.plan import check_resolutions
    from inr_gan_tf.training.options import parse_blocks
    check_resolutions([8, 16, 16])
    assert [b["resolution"] for b in parse_blocks("32:8:2:4:3,32:8:2:4:3")] == [32, 32]
    with pytest.raises(ValueError, match="only the last block's resolution may equal the one before.*got 8 twice"):
        check_resolutions([8, 8, 16])
    for bad, pair in (([16, 8], "16 then 8"), ([8, 12], "8 then 12")):
        with pytest.raises(ValueError, match=f"larger than the one before, which must divide it.*got {pair}"):
            check_resolutions(bad)
    with pytest.raises(ValueError, match="--g_blocks: only the last block's resolution may equal.*got 16 twice"):
        parse_blocks("16:8:2:4:3,16:8:2:4:3,32:8:2:4:3")
    with pytest.raises(ValueError, match="--g_blocks: each block's resolution must be larger.*got 32 then 16"):
        parse_blocks("32:8:2:4:3,16:8:2:4:3")


@pytest.mark.parametrize("upsampling, size", [("nearest", (16, 16)), ("bilinear", (32, 24)), ("local", (8, 8))])
def test_mac_counter_matches_tensorflow_profiler_with_a_coarse_block_at_r(upsampling, size):
    G, (h, w) = _coarse_at_r(upsampling), size
    flops = profiled_matmul_flops(lambda z: G.render_grid(G.params(z), h, w), tf.TensorSpec([1, G.z_dim]))
    assert flops == 2 * complexity.macs(G.get_config(), h, w)["total"]
