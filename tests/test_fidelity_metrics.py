"""Fidelity metrics above the training grid: spectral (closed-form checks), patch_swd (window
renders = crops of full renders), their behaviour on procedural real halves under blur and
speckle, and the registry / CLI with the superres factor and real-vs-real baselines.

Measured on 2 x 64 procedural images at 32^2 (the numbers the assertions below bracket):
spectral `dist` halves 0.06 < blur 0.5/1/2: 0.36, 1.05, 1.09; `high_diff` blur: -0.57, -1.57,
-1.42 (a missing-energy gap saturates at the uint8 noise floor, about -1.5 log10 here, so a
stronger blur need not read lower in the top band). A +-A checkerboard added to the second
half: `high_diff` +0.16, +0.22, +0.29, +0.39 for A = 1, 2, 4, 8 levels (random splits of the
reals: |high_diff| <= 0.07); the SWD on the same input: 54.5, 56.0, 60.1, 73.3 against 53.7 -
58.4 for random splits, so SWD cannot tell A <= 2 from sampling noise, the spectrum can.
"""
import glob
import json

import numpy as np
from helpers import gaussian_blur
import pytest
import tensorflow as tf

from inr_gan_tf.data import render_procedural
from inr_gan_tf.cli import metrics as cli
from inr_gan_tf.metrics import edges as E
from inr_gan_tf.metrics import patches, registry, stream
from inr_gan_tf.metrics import reals as reals_lib
from inr_gan_tf.metrics import spectral as S
from inr_gan_tf.metrics.swd import swd
from inr_gan_tf.sampling import generate_images, seed_latents
from helpers import write_run_dir

FAST = dict(patches_per_image=32, dirs_per_repeat=128, repeats=2)  # SWD settings, ~0.3 s a call
N = 8  # images per side in registry tests


# ---- image sets -------------------------------------------------------------------------------

def _procedural(n: int, res: int) -> np.ndarray:
    return np.stack([np.rint(render_procedural(k, res, res) * 255) for k in range(n)]).astype(np.uint8)


@pytest.fixture(scope="module")
def reals():
    """128 procedural images at 32^2 and the same at 64^2 (exact renders, image k = index k)."""
    return {32: _procedural(128, 32), 64: _procedural(128, 64)}




def checkerboard(images: np.ndarray, amplitude: float) -> np.ndarray:
    """+-amplitude (uint8 levels) pixel checkerboard added to every image and channel."""
    h, w = images.shape[1:3]
    cb = ((np.arange(h)[:, None] + np.arange(w)) % 2 * 2 - 1)[None, :, :, None]
    return np.clip(np.rint(images.astype(np.float32) + amplitude * cb), 0, 255).astype(np.uint8)


def salt(images: np.ndarray, fraction: float) -> np.ndarray:
    """A `fraction` of the pixels set to black or white at random (seeded)."""
    rng = np.random.default_rng(1)
    mask = rng.random(images.shape[:3]) < fraction
    out = images.copy()
    out[mask] = rng.integers(0, 2, mask.sum())[:, None] * 255
    return out


# ---- spectral: reference checks ---------------------------------------------------------------

def _cosine(res: int, kx: int, ky: int, amplitude: float = 0.4) -> np.ndarray:
    """A grey cosine with (kx, ky) cycles per image, as uint8 [1, res, res, 3]."""
    y, x = (np.mgrid[0:res, 0:res] + 0.5) / res
    g = 0.5 + amplitude * np.cos(2 * np.pi * (kx * x + ky * y))
    return np.repeat(np.rint(g * 255)[None, ..., None], 3, -1).astype(np.uint8)


def test_cosine_power_lands_in_its_ring_at_any_resolution():
    for res in (32, 64):
        p = S.radial_power(_cosine(res, 3, 4))[0]  # |k| = 5
        assert np.argmax(p[1:]) + 1 == 5
        # Two peaks of a^2 / 4 each, averaged over the bins of ring 5; the rest is uint8 noise.
        expected = 2 * 0.4 ** 2 / 4 / np.sum(S.ring_index(res) == 5)
        assert p[5] == pytest.approx(expected, rel=0.02)
        assert p[5] > 1e4 * np.median(p[1:])
    # A +-A pixel checkerboard is the corner frequency (res/2, res/2): the last ring, high band.
    flat = np.full((1, 32, 32, 3), 128, np.uint8)
    p = S.radial_power(checkerboard(flat, 10))[0]
    assert np.argmax(p[1:]) + 1 == len(p) - 1 == round(16 * np.sqrt(2))
    assert S.band_masks(32)["high"][-1]


def test_bands_partition_the_rings_and_identical_sets_give_zero(reals):
    masks = S.band_masks(32)
    total = masks["low"].astype(int) + masks["mid"] + masks["high"]
    assert total[0] == 0 and np.all(total[1:] == 1)  # DC out, every other ring in one band
    assert masks["low"][1:6].all() and masks["mid"][6:11].all() and masks["high"][11:].all()
    out = S.spectral_distance(reals[32][:20], reals[32][:20])
    assert set(out) == {"dist", "low", "mid", "high", "low_diff", "mid_diff", "high_diff"}
    assert all(v == 0.0 for v in out.values())
    # With the fakes' per-image spectra: bootstrap standard errors of the signed diffs, 0 for
    # identical images, growing as the fakes spread, shrinking with more of them.
    same = np.repeat(reals[32][:1], 20, axis=0)
    zero = S.compare_spectra(S.mean_power(same), S.mean_power(same), 32, S.radial_power(same))
    assert {k: v for k, v in zero.items() if k.endswith("_se")} == {f"{b}_diff_se": 0.0 for b in S.BANDS}
    stats = S.SpectrumStats().add(reals[32][:10]).add(reals[32][10:40])
    np.testing.assert_allclose(stats.image_power, S.radial_power(reals[32][:40]), rtol=1e-12)
    ref = S.mean_power(reals[32][40:])
    few = S.compare_spectra(ref, S.mean_power(reals[32][:8]), 32, S.radial_power(reals[32][:8]))
    many = S.compare_spectra(ref, stats.mean_power, 32, stats.image_power)
    assert 0 < many["high_diff_se"] < few["high_diff_se"] < 1
    assert "high_diff_se" not in S.compare_spectra(ref, stats.mean_power, 32, stats.image_power[:1])
    # Streaming in batches gives the same mean power as one array.
    np.testing.assert_allclose(S.mean_power([reals[32][:7], reals[32][7:20]]),
                               S.mean_power(reals[32][:20]), rtol=1e-12)


def test_spectral_rejects_bad_inputs(reals):
    with pytest.raises(ValueError, match="square"):
        S.radial_power(np.zeros((2, 16, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="below 8"):
        S.radial_power(np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="one resolution"):
        S.spectral_distance(reals[32][:4], reals[64][:4])


# ---- every metric: low for real vs real, growing with blur and speckle ------------------------

METRICS = {
    "spectral dist": lambda a, b: S.spectral_distance(a, b)["dist"],
    "swd": lambda a, b: swd(a, b, **FAST)["mean"],  # upsampled_swd is this at f x R
    "patch_swd": lambda a, b: patches.patch_swd(a, b, size=a.shape[1] // 2, **FAST)["mean"],
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_is_low_for_real_halves_and_grows_with_blur_and_speckle(name, reals):
    metric = METRICS[name]
    x = reals[64] if name == "patch_swd" else reals[32]  # patch_swd: 32^2 crops of 64^2 images
    a, b = x[:64], x[64:]
    assert metric(a, a) == 0
    halves = metric(a, b)
    blurred = [metric(a, gaussian_blur(b, s)) for s in (0.5, 1, 2)]
    salted = [metric(a, salt(b, f)) for f in (0.005, 0.01, 0.02)]
    assert halves < blurred[0] < blurred[1] < blurred[2], (halves, blurred)
    assert halves < salted[0] < salted[1] < salted[2], (halves, salted)


def test_spectral_sees_a_checkerboard_that_swd_cannot_tell_from_noise(reals):
    """The module docstring has the numbers. SWD normalises each pyramid level over the set,
    so a faint fixed pattern moves it less than resampling the reals does."""
    x = reals[32]
    a, b = x[:64], x[64:]
    splits = [np.random.default_rng(s).permutation(128) for s in range(4)]
    split_swd = [swd(x[p[:64]], x[p[64:]], **FAST)["mean"] for p in splits]
    split_high = [abs(S.spectral_distance(x[p[:64]], x[p[64:]])["high_diff"]) for p in splits]
    high = [S.spectral_distance(a, checkerboard(b, amp))["high_diff"] for amp in (1, 2, 4, 8)]
    assert np.all(np.diff(high) > 0) and high[0] > 2 * max(split_high), (high, split_high)
    halves = swd(a, b, **FAST)["mean"]
    noise = np.std(split_swd + [halves], ddof=1)  # ~1.9 against a mean of ~55
    for amp in (1, 2):  # SWD moves by less than twice its spread over random splits
        assert swd(a, checkerboard(b, amp), **FAST)["mean"] - halves < 2 * noise, (split_swd, halves)
    # Blur removes energy: the signed high band goes negative (and saturates at the noise floor).
    assert all(S.spectral_distance(a, gaussian_blur(b, s))["high_diff"] < -0.3 for s in (0.5, 1, 2))


# ---- patch windows: rendered only at the crop = crop of the full render -----------------------

def test_patch_windows_are_per_index_integer_and_in_range():
    w = patches.patch_windows(range(50), 64, 16, seed=3)
    assert w.dtype == np.int64 and w.shape == (50, 2) and w.min() >= 0 and w.max() <= 48
    np.testing.assert_array_equal(patches.patch_windows(range(20, 30), 64, 16, seed=3), w[20:30])
    assert not np.array_equal(patches.patch_windows(range(50), 64, 16, seed=4), w)
    images = np.arange(2 * 8 * 8 * 3).reshape(2, 8, 8, 3)
    np.testing.assert_array_equal(patches.crop(images, np.array([[1, 2], [5, 0]]), 3)[1],
                                  images[1, 5:8, 0:3])
    with pytest.raises(ValueError, match="does not fit"):
        patches.patch_windows([0], 16, 32)


def test_window_renders_equal_crops_of_the_full_4r_render(G):
    params = G.params(tf.constant(seed_latents(range(4), G.z_dim)))
    full = G.render_grid(params, 64, 64).numpy()  # 4R, R = 16
    windows = patches.patch_windows(range(4), 64, 16, seed=3)
    crops = patches.crop(full, windows, 16)
    assert np.abs(patches.render_windows(G, params, 64, 16, windows) - crops).max() <= 1e-5
    # The same window as bounds of a plain R x R render (sampling's route for one image).
    bounds = patches.window_bounds(64, 16, windows[1])
    one = G.render_grid({k: v[1:2] for k, v in params.items()}, 16, 16, bounds=bounds).numpy()[0]
    assert np.abs(one - crops[1]).max() <= 1e-5
    # Through sampling.generate_images (uint8): equal to the crop of the 4R uint8 image.
    np.testing.assert_array_equal(generate_images(G, [1], 16, 16, bounds=bounds)[0],
                                  patches.crop(generate_images(G, [1], 64, 64), windows[1:2], 16)[0])


def test_upsampled_batches_at_4x_full_and_as_patches(G):
    (full,) = list(patches.upsampled_batches(G, range(3), factor=4, batch_size=4))
    (crops,) = list(patches.upsampled_batches(G, range(3), factor=4, batch_size=4, patch_seed=5))
    assert set(full) == set(crops) == {"inr", "nearest", "bilinear", "bicubic"}
    assert all(v.shape == (3, 64, 64, 3) for v in full.values())
    windows = patches.patch_windows(range(3), 64, 16, seed=5)
    for k in full:  # every variant's patch is the same window of its full image
        np.testing.assert_array_equal(crops[k], patches.crop(full[k], windows, 16))
    low = generate_images(G, range(3))
    np.testing.assert_array_equal(full["nearest"], low.repeat(4, 1).repeat(4, 2))


# ---- registry and CLI -------------------------------------------------------------------------

def _lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def counted(monkeypatch):
    """Counts the passes over the real images (cache misses of descriptors and spectra)."""
    calls = []
    real_stream = reals_lib.real_stream

    def count(opts, resolution, what):
        calls.append(resolution)
        return real_stream(opts, resolution, what)
    monkeypatch.setattr(reals_lib, "real_stream", count)
    return calls


def test_registry_round_trip_records_the_factor_and_caches_the_real_side(G, tmp_path, counted):
    kw = dict(run_dir=str(tmp_path), num=N, cache=str(tmp_path / "cache"), superres=4)
    patch = registry.calc_metric("patch_swd", G, "procedural", **kw)
    spec = registry.calc_metric("upsampled_spectral", G, "procedural", **kw)
    assert registry.calc_metric("patch_swd", G, "procedural", **kw)["results"] == patch["results"]
    assert counted == [64, 64]  # crop descriptors and spectrum once each; the repeat read the cache
    assert patch["superres"] == spec["superres"] == 4 and patch["resolution"] == spec["resolution"] == 64
    assert {"inr", "nearest", "bilinear", "bicubic", "inr_16"} <= set(patch["results"])
    res = patch["results"]  # the acceptance's ratio, recorded as such
    assert all(res[f"inr_vs_{m}"] == res["inr"] / res[m] - 1 for m in ("nearest", "bilinear", "bicubic"))
    keys = {f"{v}_{k}" for v in ("inr", "bicubic") for k in ("dist", "high", "high_diff")}
    assert keys <= set(spec["results"])
    assert all(np.isfinite(v) for r in (patch, spec) for v in r["results"].values())
    lines = _lines(tmp_path / "metric-patch_swd.jsonl")
    assert len(lines) == 2 and all(line["superres"] == 4 for line in lines)
    assert _lines(tmp_path / "metric-upsampled_spectral.jsonl")[0]["results"] == spec["results"]
    # Another crop seed is another cache entry; only the crops' SWD descriptors and spectra
    # are stored, no images at all.
    registry.calc_metric("patch_swd", G, "procedural", **dict(kw, seed=1))
    stats = sorted(p.split("/")[-1].split("-")[0] for p in glob.glob(str(tmp_path / "cache" / "stats" / "*")))
    assert stats == ["descriptors", "descriptors", "spectrum"]
    # The factor is ignored (None) by the metrics at R (test_metrics: its default), must be >= 2.
    plain = registry.calc_metric("spectral", G, "procedural", **kw)
    assert plain["superres"] is None and plain["resolution"] == 16 and "high_diff" in plain["results"]
    with pytest.raises(ValueError, match="superres"):
        registry.calc_metric("patch_swd", G, "procedural", num=N, superres=1)


def test_real_vs_real_scores_one_half_of_the_reals_against_the_other(tmp_path):
    kw = dict(num=N, cache=str(tmp_path))
    spec = registry.real_vs_real("spectral", "procedural", 16, **kw)
    assert spec["num_images"] == spec["num_real"] == N and spec["resolution"] == 16
    assert 0 < spec["results"]["dist"] < 0.5
    patch = registry.real_vs_real("patch_swd", "procedural", 16, superres=4, **kw)
    assert patch["superres"] == 4 and patch["resolution"] == 64
    assert set(patch["results"]) == {f"{v}{s}" for v in ("real", "nearest", "bilinear", "bicubic")
                                     for s in ("", "_16")} | {f"real_vs_{m}" for m in ("nearest", "bilinear", "bicubic")}
    # The halves are disjoint: the second half's crops differ from the reference's.
    assert patch["results"]["real"] > 0
    with pytest.raises(ValueError, match="real-vs-real"):
        registry.real_vs_real("kpl", "procedural", 16, **kw)


@pytest.fixture(scope="module")
def run_dir(G, tmp_path_factory):
    return write_run_dir(tmp_path_factory.mktemp("runs") / "tiny", G, 5, config_extra={"data": "procedural"})


def test_cli_superres_and_real_vs_real(run_dir, tmp_path, capsys):
    assert cli.main([f"--run_dir={run_dir}", "--metrics=patch_swd,upsampled_spectral", "--superres=4",
                     f"--num={N}", f"--cache_dir={tmp_path}", "--notensorboard"]) == 0
    assert "inr_high_diff" in capsys.readouterr().out
    for name in ("patch_swd", "upsampled_spectral"):
        (line,) = _lines(run_dir / f"metric-{name}.jsonl")
        assert line["superres"] == 4 and line["resolution"] == 64 and line["step"] == 5
    assert not (run_dir / "logs" / "metrics").exists()  # --notensorboard
    assert cli.main(["--real_vs_real", "--data=procedural", "--resolution=16", "--metrics=spectral",
                     f"--num={N}", f"--cache_dir={tmp_path}"]) == 0
    assert "real vs real" in capsys.readouterr().out
    for bad in ("--superres=1", "--superres=2.5"):
        assert cli.run([f"--run_dir={run_dir}", bad]) == 2
        assert "--superres must be an integer >= 2" in capsys.readouterr().err
    with pytest.raises(cli.UsageError, match="--resolution"):
        cli.main(["--real_vs_real", "--data=procedural", "--metrics=spectral"])


# ---- render_consistency ---------------------------------------------------------------------

def test_pool_levels_is_zero_for_the_same_image_and_reads_a_shift_in_levels():
    low = np.clip(_procedural(3, 8), 30, 225)  # away from 0 and 255: nothing below clips
    dense = low.repeat(4, 1).repeat(4, 2)
    np.testing.assert_array_equal(patches.pool_levels(dense, low, 4), 0.0)
    # Detail inside a block that averages out is the same image; a shift of 5 levels reads 5.
    cb = checkerboard(np.full((3, 32, 32, 3), 128, np.uint8), 20).astype(np.int16) - 128
    np.testing.assert_array_equal(patches.pool_levels(dense + cb, low, 4), 0.0)
    darker = np.clip(dense.astype(np.int16) - 5, 0, 255).astype(np.uint8)
    want = np.abs(darker.reshape(3, 8, 4, 8, 4, 3).mean((2, 4)) - low).mean((1, 2, 3))
    np.testing.assert_allclose(patches.pool_levels(darker, low, 4), want)
    assert 4.5 <= want.mean() <= 5.0
    with pytest.raises(ValueError, match=r"need \[n, 32, 32, C\]"):
        patches.pool_levels(dense[:, :16], low, 4)


def test_render_consistency_of_a_model_and_of_real_images(G, tmp_path):
    rec = registry.calc_metric("render_consistency", G, "procedural", num=N, superres=4, cache=str(tmp_path))
    low = generate_images(G, range(N))                  # the R render, uint8
    dense = generate_images(G, range(N), 64, 64)        # the 4R render, uint8
    assert rec["superres"] == 4 and set(rec["results"]) == {"inr"}
    np.testing.assert_allclose(rec["results"]["inr"], patches.pool_levels(dense, low, 4).mean(), rtol=1e-9)
    real = registry.real_vs_real("render_consistency", "procedural", 16, num=N, superres=4, cache=str(tmp_path))
    # Exact renders at 16^2 and 64^2 of one procedural image: a few levels (point samples).
    assert set(real["results"]) == {"real"} and 0 < real["results"]["real"] < 10


# ---- upsampled_edges ------------------------------------------------------------------------

def test_edge_scores_read_a_step_a_ramp_and_a_blank():
    step = np.zeros((1, 16, 16, 3), np.uint8)
    step[:, :, 8:] = 255                     # black | white: 0.5 on the two columns beside it
    np.testing.assert_allclose(E.gradient(step)[0, :, 6:8], 0.5)
    assert E.edge_scores(step) == {"edge": 2 / 14, "steep": 1.0}
    np.testing.assert_allclose(E.gradient(step.transpose(0, 2, 1, 3)), E.gradient(step).transpose(0, 2, 1))
    grey = (step // 255 * 150 + 50).astype(np.uint8)  # a step of contrast 0.59 reads 0.29: not steep
    assert E.edge_scores(grey) == {"edge": 2 / 14, "steep": 0.0}
    ramp = np.tile(np.clip((np.arange(16) - 6) * 0.25, 0, 1), (1, 16, 1))[..., None].repeat(3, -1)
    ramp = np.rint(ramp * 255).astype(np.uint8)  # the same edge as a 4-pixel ramp: 0.25 a pixel
    scores = E.edge_scores(ramp)
    assert scores["steep"] == 0.0 and scores["edge"] > E.edge_scores(step)["edge"]
    assert E.edge_scores(np.full((2, 8, 8, 3), 200, np.uint8)) == {"edge": 0.0, "steep": 0.0}
    # Batches add up to the whole set; a float image in [-1, 1] reads as its uint8 levels.
    both = E.EdgeStats().add(step).add(ramp)
    assert both.scores() == E.edge_scores(np.concatenate([step, ramp]))
    assert E.edge_scores(step.astype(np.float32) / 127.5 - 1) == E.edge_scores(step)
    for bad, match in ((step[..., 0], r"\[N, H, W, C\]"), (step[..., :2], "RGB images"),
                       (step[:, :2], "H, W >= 3"), (step[:0], "empty")):
        with pytest.raises(ValueError, match=match):
            E.edge_scores(bad)
    for bad in ([1, 10, 4, 5], [1.0, 10.0, 4.0, 2.0], [1, 10, 4]):  # steep > edge; floats; short
        with pytest.raises(ValueError, match="edge counts"):
            E.scores_from_counts(bad)


def test_upsampled_edges_of_a_model_and_of_real_images(G, tmp_path):
    rec = registry.calc_metric("upsampled_edges", G, "procedural", num=N, superres=4, cache=str(tmp_path))
    res = rec["results"]
    assert rec["superres"] == 4 and rec["resolution"] == 64
    assert set(res) == {f"{v}_{k}" for v in ("inr", "nearest", "bilinear", "bicubic", "reference")
                        for k in ("edge", "steep")}
    assert all(0.0 <= v <= 1.0 for v in res.values())
    # The reference is the metric's N real images at 64^2 (stream.real_batches), exactly.
    want = E.edge_scores(np.concatenate(list(stream.real_batches("procedural", 64, N, 4, exact=True))))
    assert (res["reference_edge"], res["reference_steep"]) == (want["edge"], want["steep"])
    # The INR's own 4x render, scored directly, is the 'inr' column.
    inr = E.edge_scores(generate_images(G, range(N), 64, 64))
    np.testing.assert_allclose([res["inr_edge"], res["inr_steep"]], [inr["edge"], inr["steep"]], atol=1e-12)
    real = registry.real_vs_real("upsampled_edges", "procedural", 16, num=N, superres=4, cache=str(tmp_path))
    real = real["results"]
    assert {"real_edge", "real_steep", "reference_edge"} <= set(real)
    # Upsampling real 16^2 images: bilinear spreads each step over 4 pixels, bicubic too, so
    # fewer steep pixels than nearest's steps, and the exact 64^2 renders have the most.
    assert real["bilinear_steep"] < real["nearest_steep"] < real["real_steep"]
    assert real["bicubic_steep"] < real["nearest_steep"]
