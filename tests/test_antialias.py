"""Contracts of `antialias` (generator.py): an image pixel is the mean of k x k points over its
area, for every image render, while `render` at a point set stays a point sample."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import profiled_matmul_flops

from inr_gan_tf import coords, sampling
from inr_gan_tf.metrics import patches as patches_lib
from inr_gan_tf.model import Generator, build_generator, complexity
from inr_gan_tf.model.config import tiny

K = 2


def _pair(upsampling):
    """(G with antialias K, the same weights with point-sampled pixels)."""
    base = tiny(16, upsampling=upsampling)
    G = build_generator(base.replace(antialias=K), seed=0)
    P = build_generator(base, seed=0)
    P.set_weights(G.get_weights())
    return G, P


@pytest.fixture(scope="module", params=["nearest", "bilinear"])
def pair(request):
    return _pair(request.param)


@pytest.fixture(scope="module")
def params(pair):
    return pair[0].params(tf.constant(sampling.seed_latents([0, 1, 2], pair[0].z_dim)))


def _pool(img, k=K):
    b, h, w, c = img.shape
    return img.reshape(b, h // k, k, w // k, k, c).mean(axis=(2, 4))


@pytest.mark.parametrize("h, w, bounds", [(16, 16, coords.UNIT_BOUNDS), (6, 10, (-0.3, -0.3, 1.3, 1.3))])
def test_a_pixel_is_the_mean_of_the_k_times_denser_grid(pair, params, h, w, bounds):
    G, P = pair
    dense = P.render_grid(params, K * h, K * w, bounds).numpy()
    np.testing.assert_allclose(G.render_grid(params, h, w, bounds).numpy(), _pool(dense), atol=1e-5)
    # a point set is still sampled at its points
    pts = coords.grid_np(h, w, bounds)
    np.testing.assert_array_equal(G.render(params, pts).numpy(), P.render(params, pts).numpy())


def test_grid_equals_tiles_equals_render_pixels(pair, params):
    G, _ = pair
    bounds = (-0.5, 0.0, 1.5, 1.0)
    grid = G.render_grid(params, 12, 20, bounds).numpy()
    np.testing.assert_allclose(sampling.render_tiled(G, params, 12, 20, bounds, tile_size=5), grid, atol=1e-5)
    # Tiles hold tile_size^2 points whatever antialias is: k times fewer pixels a side.
    seen, render_pixels = [], G.render_pixels
    G.render_pixels = lambda p, centres, pixel: seen.append(len(centres)) or render_pixels(p, centres, pixel)
    try:
        np.testing.assert_allclose(sampling.render_tiled(G, params, 12, 20, bounds, tile_size=4 * G.antialias),
                                   grid, atol=1e-5)
        assert max(seen) == 16 and len(sampling.render_tiled(G, params, 12, 20, bounds,
                                                             sampling.whole(G, 12, 20))) == len(grid)
        assert seen[-1] == 12 * 20  # whole(): one piece
    finally:
        del G.render_pixels
    with pytest.raises(ValueError, match="tile_size must be >= 1, got 0"):
        sampling.render_tiled(G, params, 12, 20, bounds, tile_size=0)
    pixels = G.render_pixels(params, coords.grid_np(12, 20, bounds), (2 / 20, 1 / 12)).numpy()
    np.testing.assert_allclose(pixels.reshape(grid.shape), grid, atol=1e-5)


def test_metric_windows_are_crops_of_the_full_render(pair, params):
    G, _ = pair
    windows = np.array([[0, 0], [8, 16], [24, 4]])
    got = patches_lib.render_windows(G, params, 32, 8, windows)
    full = G.render_grid(params, 32, 32).numpy()
    for b, (r, c) in enumerate(windows):
        np.testing.assert_allclose(got[b], full[b, r:r + 8, c:c + 8], atol=1e-5)


def test_subpixels_are_the_denser_grids_points():
    sub = coords.subpixels(coords.grid_np(3, 5, (0, 0, 2, 1)), (2 / 5, 1 / 3), 3).numpy()  # [15 * 9, 2]
    dense = coords.grid_np(9, 15, (0, 0, 2, 1)).reshape(3, 3, 5, 3, 2).transpose(0, 2, 1, 3, 4).reshape(-1, 2)
    np.testing.assert_allclose(sub, dense, atol=1e-6)


def test_mac_counter_matches_the_profiler(pair):
    G, _ = pair
    flops = profiled_matmul_flops(lambda z: G.render_grid(G.params(z), 8, 8), tf.TensorSpec([1, G.z_dim]))
    counted = complexity.macs(G.get_config(), 8, 8)
    assert flops == 2 * counted["total"]
    assert counted["points_per_block"][-1] == 8 * 8 * K * K


def test_config_round_trip_and_bad_values():
    G, _ = _pair("nearest")
    clone = Generator.from_config(G.get_config())
    assert clone.antialias == K and clone.get_config() == G.get_config()
    old = {k: v for k, v in G.get_config().items() if k != "antialias"}
    assert Generator.from_config(old).antialias == 1  # configs from before the option
    for bad in (0, 1.5, True, -2):
        with pytest.raises(ValueError, match="antialias"):
            build_generator(tiny(16).replace(antialias=bad))


def test_exported_render_grid_matches_keras(tmp_path):
    """SavedModel's render_grid makes pixels as G.render_grid does (TFLite and ONNX carry the
    point render, which antialias leaves alone)."""
    from inr_gan_tf.export import savedmodel
    G, _ = _pair("bilinear")
    z = np.random.default_rng(1).standard_normal((2, G.z_dim)).astype(np.float32)
    sig = tf.saved_model.load(savedmodel.export_generator(G, str(tmp_path / "sm"))).signatures["render_grid"]
    got = sig(z=tf.constant(z), height=tf.constant(6), width=tf.constant(10),
              bounds=tf.constant([-0.3, 0, 1.3, 1], tf.float32), truncation=tf.constant(1.0))["image"].numpy()
    np.testing.assert_allclose(got, G.render_grid(G.params(z), 6, 10, (-0.3, 0, 1.3, 1)).numpy(), atol=1e-4)


def test_readers_render_with_another_antialias_same_weights(tmp_path):
    """restore_generator(antialias=k) and the readers' --antialias: the run's weights, pixels of
    k x k points; config.json and the checkpoint are untouched; bad values refused first."""
    from helpers import write_run_dir

    from inr_gan_tf.restore import restore_generator
    from inr_gan_tf.cli import generate as generate_cli
    _, P = _pair("bilinear")
    run = write_run_dir(str(tmp_path / "run"), P, 2)
    before = open(f"{run}/config.json").read()
    G, provenance = restore_generator(run_dir=run, antialias=K)
    assert G.antialias == K and provenance["antialias"] == K
    assert restore_generator(run_dir=run).G.antialias == 1
    assert "antialias" not in restore_generator(run_dir=run).provenance
    params = P.params(tf.constant(sampling.seed_latents([0], P.z_dim)))
    np.testing.assert_allclose(G.render_grid(params, 8, 8).numpy(),
                               _pool(P.render_grid(params, 8 * K, 8 * K).numpy()), atol=1e-5)
    with pytest.raises(ValueError, match="antialias must be an integer >= 1"):
        restore_generator(run_dir=run, antialias=0)
    with pytest.raises(generate_cli.UsageError, match="--antialias must be >= 1, got 0"):
        generate_cli.main([f"--run_dir={run}", f"--outdir={tmp_path}/bad", "--seeds=0", "--antialias=0"])
    out = generate_cli.main([f"--run_dir={run}", f"--outdir={tmp_path}/aa", "--seeds=0", "--antialias=2"])
    assert out and (tmp_path / "aa").exists()
    assert not (tmp_path / "bad").exists()
    assert open(f"{run}/config.json").read() == before
