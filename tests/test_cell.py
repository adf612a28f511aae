"""The `cell` option (LIIF's cell decoding): the finest INR block also takes the size of the
pixel each point stands for, in training pixels, so one INR can draw anti-aliased training
pixels and sharp dense renders. Contracts on tiny configs: every render path passes the same
size for the same pixels; point sets default to a training pixel; configs, MACs and exports."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_render_paths_agree, profiled_matmul_flops

from inr_gan_tf import coords, sampling
from inr_gan_tf.model import Generator, build_generator, complexity, presets

R = 16


def _generator(upsampling="bilinear", antialias=1, cell=True, **options):
    cfg = presets.tiny_generator(R, "fmm", False, upsampling=upsampling, **({"cell": True} if cell else {}),
                                 **options)
    return build_generator(dict(cfg, antialias=antialias), seed=0)


def _params(G, n=3):
    return G.params(tf.constant(sampling.seed_latents(list(range(n)), G.z_dim)))


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("h, w, bounds", [(16, 16, coords.UNIT_BOUNDS), (64, 48, coords.UNIT_BOUNDS),
                                          (12, 20, (-0.3, -0.3, 1.3, 1.3))])
def test_grid_point_set_and_tiles_agree_when_given_the_same_pixel(upsampling, h, w, bounds):
    G = _generator(upsampling)
    assert_render_paths_agree(G, _params(G), h, w, bounds)


def test_the_cell_input_is_the_pixel_in_training_pixels_and_changes_the_render():
    G = _generator()
    params = _params(G, 2)
    pts = np.random.RandomState(0).uniform(-0.2, 1.2, (50, 2)).astype(np.float32)
    feats = G.inr.cell_features((1 / 64, 1 / 32), pts[None]).numpy()
    np.testing.assert_allclose(feats, np.broadcast_to([0.25, 0.5], (1, 50, 2)), rtol=1e-6)
    per_sample = G.inr.cell_features(tf.constant([[[1 / 16, 1 / 16]], [[1 / 64, 1 / 64]]]), pts[None]).numpy()
    np.testing.assert_allclose(per_sample[:, 0], [[1, 1], [0.25, 0.25]], rtol=1e-6)
    # Point sets default to a training pixel; another pixel is another input, so another colour.
    default = G.render(params, pts).numpy()
    np.testing.assert_array_equal(default, G.render(params, pts, (1 / R, 1 / R)).numpy())
    assert np.abs(default - G.render(params, pts, (1 / (4 * R), 1 / (4 * R))).numpy()).max() > 1e-3
    # A 4x grid tells the INR a quarter pixel: it equals its points rendered with that pixel.
    grid4 = G.render_grid(params, 4 * R, 4 * R).numpy().reshape(2, -1, 3)
    np.testing.assert_allclose(grid4, G.render(params, coords.grid_np(4 * R, 4 * R), (0.25 / R,) * 2).numpy(),
                               atol=1e-5)
    assert np.abs(grid4 - G.render(params, coords.grid_np(4 * R, 4 * R)).numpy()).max() > 1e-3
    # Without the option the pixel is ignored.
    plain = _generator(cell=False)
    p = _params(plain, 2)
    np.testing.assert_array_equal(plain.render(p, pts).numpy(), plain.render(p, pts, (0.01, 0.01)).numpy())


def test_with_antialias_each_point_stands_for_its_sub_pixel():
    G = _generator(antialias=2)
    params = _params(G, 2)
    grid = G.render_grid(params, 8, 12, (-0.2, 0.0, 1.2, 1.0)).numpy().reshape(2, -1, 3)
    pixel = coords.grid_pixel(8, 12, (-0.2, 0.0, 1.2, 1.0))
    sub = coords.subpixels(coords.grid_np(8, 12, (-0.2, 0.0, 1.2, 1.0)), pixel, 2)
    pooled = coords.pool_subpixels(G.render(params, sub, pixel / 2), 2).numpy()
    np.testing.assert_allclose(grid, pooled, atol=1e-5)
    np.testing.assert_allclose(sampling.render_tiled(G, params, 8, 12, (-0.2, 0.0, 1.2, 1.0), tile_size=5),
                               grid.reshape(2, 8, 12, 3), atol=1e-5)
    # A point set defaults to what a training frame's point stands for: a sub-pixel.
    pts = coords.grid_np(5, 5)
    np.testing.assert_array_equal(G.render(params, pts).numpy(), G.render(params, pts, (0.5 / R,) * 2).numpy())


def test_config_round_trip_and_an_old_config_loads_without_it():
    G = _generator()
    assert G.get_config()["cell"] is True
    clone = Generator.from_config(G.get_config())
    clone.set_weights(G.get_weights())
    z = tf.random.normal([2, G.z_dim])
    np.testing.assert_array_equal(G(z).numpy(), clone(z).numpy())
    plain = _generator(cell=False)
    old = {k: v for k, v in plain.get_config().items() if k != "cell"}
    assert Generator.from_config(old).inr.cell is False
    # Two more inputs on the finest block's first layer, and nowhere else.
    assert G.inr.hidden[-1][0].input_dim == plain.inr.hidden[-1][0].input_dim + 2
    assert [l.input_dim for l in G.inr.hidden[0]] == [l.input_dim for l in plain.inr.hidden[0]]


@pytest.mark.parametrize("bad, match", [("yes", "cell must be true or false"), (1, "cell must be true or false"),
                                        (None, "cell must be true or false")])
def test_bad_values_fail_with_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        build_generator(dict(presets.tiny_generator(R, "fmm", False), cell=bad))


def test_the_local_ensembles_refuse_it():
    with pytest.raises(ValueError, match="cell does not combine with upsampling 'local'"):
        _generator("local")


@pytest.mark.parametrize("size", [(16, 16), (32, 24)])
def test_mac_counter_matches_tensorflow_profiler_with_cell(size):
    G = _generator()
    h, w = size
    flops = profiled_matmul_flops(lambda z: G.render_grid(G.params(z), h, w), tf.TensorSpec([1, G.z_dim]))
    assert flops == 2 * complexity.macs(G.get_config(), h, w)["total"]


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_exports_match_keras_with_cell(fmt, tmp_path):
    """Point sets render as G.render's default (a training pixel); render_grid passes its pixel."""
    extras = {"saved_model": (), "tflite": ("ai_edge_litert",), "onnx": ("tf2onnx", "onnx", "onnxruntime")}
    for package in extras[fmt]:
        pytest.importorskip(package, reason=f"{fmt} needs the export extra: pip install -e \".[export]\"")
    from inr_gan_tf.export import convert, modules, savedmodel
    G = _generator(saturation=2.0)
    z = np.random.default_rng(1).standard_normal((2, G.z_dim)).astype(np.float32)
    params = G.params(z)
    pts = np.random.default_rng(2).uniform(-0.5, 1.5, (2, 300, 2)).astype(np.float32)
    want_points = G.render(params, pts).numpy()
    bounds = np.array([-0.25, 0.0, 1.25, 1.0], np.float32)
    want_grid = G.render_grid(params, 40, 24, tuple(bounds)).numpy()
    if fmt == "saved_model":
        loaded = tf.saved_model.load(savedmodel.export_generator(G, str(tmp_path / "sm")))
        got_points = loaded.signatures["render"](z=tf.constant(z), coords=tf.constant(pts))["rgb"].numpy()
        got_grid = loaded.signatures["render_grid"](z=tf.constant(z), height=tf.constant(40), width=tf.constant(24),
                                                    bounds=tf.constant(bounds),
                                                    truncation=tf.constant(1.0))["image"].numpy()
    else:
        portable = modules.GeneratorExport(G, checked=False)
        if fmt == "tflite":
            run = convert.TFLiteRunner(convert.to_tflite(portable, "float32"))
        else:
            run = convert.OnnxRunner(convert.to_onnx(portable, str(tmp_path / "render.onnx")))
        got_points = run(z=z, coords=pts)["rgb"]
        got_grid = None  # TFLite and ONNX carry the render signature only (convert.py)
    np.testing.assert_allclose(got_points, want_points, atol=1e-4)
    if got_grid is not None:
        np.testing.assert_allclose(got_grid, want_grid, atol=1e-4)
