"""SWD contracts: exact 1-D/2-D references for the core, ProGAN pyramid parity, and on real
emoji halves the ordering same (0) < halves < blur 0.5 < 1 < 2 < noise; determinism; errors."""
import importlib
import itertools

import numpy as np
from helpers import gaussian_blur
import pytest

from inr_gan_tf.data import load_noto_emoji
from inr_gan_tf.metrics import SWDReference, sliced_wasserstein, swd

S = importlib.import_module("inr_gan_tf.metrics.swd")  # the package's `swd` is the function
FAST = dict(patches_per_image=32, dirs_per_repeat=128, repeats=2)  # ~0.3 s a call at 200 x 32^2




@pytest.fixture(scope="module")
def halves():
    """Two disjoint random halves of 400 emoji, 2x2-averaged to 32x32 (levels 32, 16)."""
    x = load_noto_emoji(resolution=64)
    idx = np.random.default_rng(0).permutation(len(x))[:400]
    x = x[idx].reshape(400, 32, 2, 32, 2, 3).mean(axis=(2, 4)).round().astype(np.uint8)
    return x[:200], x[200:]


# ---- core sliced Wasserstein against direct references ----

def test_1d_equal_sizes_is_mean_abs_sorted_difference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(1.0, 2.0, size=50)
    # In 1-D every unit direction is +-1, and W1 is the same for both signs.
    expected = np.mean(np.abs(np.sort(a) - np.sort(b)))
    got = sliced_wasserstein(a[:, None], b[:, None], seed=3, dirs_per_repeat=7, repeats=2)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_1d_unequal_sizes_matches_replicated_samples():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=6), rng.uniform(size=4)
    # Repeating each sample of a 4x and of b 6x gives equal-size sets with the same measures.
    expected = np.mean(np.abs(np.sort(np.repeat(a, 4)) - np.sort(np.repeat(b, 6))))
    got = S.wasserstein_sorted(np.sort(a)[None], np.sort(b)[None])
    np.testing.assert_allclose(got, [expected], rtol=1e-6)
    np.testing.assert_allclose(sliced_wasserstein(a[:, None], b[:, None], dirs_per_repeat=3),
                               expected, rtol=1e-5)


def test_2d_projected_w1_matches_best_matching():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 2)), rng.normal(size=(5, 2)) + 0.5
    angles = np.linspace(0, np.pi, 6, endpoint=False)
    dirs = np.stack([np.cos(angles), np.sin(angles)]).astype(np.float32)  # [2, 6]
    got = S.wasserstein_sorted(S._sorted_projections(a, dirs), S._sorted_projections(b, dirs))
    pa, pb = a @ dirs, b @ dirs  # [5, 6]
    # W1 of equal-size empirical sets is the cheapest one-to-one matching: try all 120.
    expected = [min(np.mean(np.abs(pa[:, j] - pb[list(p), j]))
                    for p in itertools.permutations(range(5))) for j in range(6)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_2d_shift_closed_form():
    a = np.random.default_rng(3).normal(size=(200, 2))
    v = np.array([3.0, -4.0])  # |v| = 5
    # A shift moves every projection by <theta, v>: SWD = E|<theta, v>| = |v| * 2 / pi in 2-D.
    got = sliced_wasserstein(a, a + v, seed=0, dirs_per_repeat=1024, repeats=4)
    np.testing.assert_allclose(got, 5 * 2 / np.pi, rtol=0.03)


# ---- pyramid ----

def test_pyramid_matches_progan_scipy_filters():
    nd = pytest.importorskip("scipy.ndimage")
    g = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32)[None, :, :, None] / 256
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    down = nd.convolve(x, g, mode="mirror")[:, ::2, ::2]  # ProGAN's pyr_down
    up = np.zeros_like(x)
    up[:, ::2, ::2] = down
    np.testing.assert_allclose(S.pyr_down(x), down, atol=1e-3)
    np.testing.assert_allclose(S.pyr_up(down, x.shape), nd.convolve(up, 4 * g, mode="mirror"),
                               atol=1e-3)


def test_laplacian_pyramid_levels_and_reconstruction():
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    levels = S.laplacian_pyramid(x, min_res=16)
    assert [lvl.shape[1] for lvl in levels] == [64, 32, 16] == S.level_resolutions(64)
    assert S.level_resolutions(32) == [32, 16]
    rec = levels[-1]
    for band in levels[-2::-1]:
        rec = band + S.pyr_up(rec, band.shape)
    np.testing.assert_allclose(rec, x, atol=1e-2)


# ---- images ----

def test_identical_sets_give_zero_and_level_keys(halves):
    a, _ = halves
    out = swd(a, a, **FAST)
    assert list(out["levels"]) == [32, 16]
    assert out["mean"] == 0.0
    tiny = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    assert list(swd(tiny, tiny, patches_per_image=4, dirs_per_repeat=8, repeats=1)["levels"]) \
        == [64, 32, 16]


def test_halves_low_blur_grows_noise_high(halves):
    a, b = halves
    ref = SWDReference(a, **FAST)
    half = ref(b)["mean"]
    blurred = [ref(gaussian_blur(b, s))["mean"] for s in (0.5, 1.0, 2.0)]
    noise = ref(np.random.default_rng(1).integers(0, 256, b.shape, dtype=np.uint8))["mean"]
    # Measured (seed 0): halves 36, blur 39 / 59 / 100, noise 166.
    assert 0 < half < blurred[0] < blurred[1] < blurred[2] < noise
    assert noise > 3 * half


def test_deterministic_symmetric_and_reference_matches_swd(halves):
    a, b = halves
    a, b = a[:100], b[:60]  # unequal N
    out = swd(a, b, seed=5, **FAST)
    assert swd(a, b, seed=5, **FAST) == out
    assert swd(a, b, seed=6, **FAST)["mean"] != out["mean"]
    np.testing.assert_allclose(swd(b, a, seed=5, **FAST)["mean"], out["mean"], rtol=1e-5)
    cached = SWDReference(a, seed=5, **FAST)
    uncached = SWDReference(a, seed=5, cache_bytes=0, **FAST)
    for ref in (cached, uncached, cached):  # repeated calls against the same reference
        np.testing.assert_allclose(ref(b)["mean"], out["mean"], rtol=1e-5)


def test_float_images_match_uint8(halves):
    a, b = halves
    a_float = a[:50].astype(np.float32) / 127.5 - 1
    assert swd(a[:50], a_float, **FAST)["mean"] == 0.0
    # Out-of-range generator values are clipped, as when saving them as uint8.
    np.testing.assert_allclose(swd(b[:50], a_float * 1.2, **FAST)["mean"],
                               swd(b[:50], np.clip(a_float * 1.2, -1, 1), **FAST)["mean"])


@pytest.mark.parametrize("images_a, images_b, match", [
    (np.zeros((4, 32, 32), np.uint8), None, r"\[N, H, W, C\]"),
    (np.zeros((4, 32, 32, 3), np.uint8), np.zeros((4, 16, 16, 3), np.uint8), "reference is"),
    (np.zeros((4, 8, 8, 3), np.uint8), None, "below min_res"),
    (np.zeros((4, 32, 16, 3), np.uint8), None, "square"),
    (np.zeros((0, 32, 32, 3), np.uint8), None, "empty"),
    (np.zeros((4, 32, 32, 3), np.uint16), None, "uint8"),
    (np.full((4, 32, 32, 3), 200.0, np.float32), None, r"\[0, 255\]"),
    (np.full((4, 32, 32, 3), np.nan, np.float32), None, "NaN"),
])
def test_input_errors(images_a, images_b, match):
    images_b = images_a if images_b is None else images_b
    with pytest.raises(ValueError, match=match):
        swd(images_a, images_b, **FAST)


def test_parameter_errors():
    x = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="min_res"):
        swd(x, x, min_res=4)
    with pytest.raises(ValueError, match="repeats"):
        swd(x, x, repeats=0)
