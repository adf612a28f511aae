"""Super-resolution evaluation: metrics on cases with known answers, data pairs, report schema,
figures and the CLI, on a tiny generator with a few projection steps."""
import json

import numpy as np
import pytest
from PIL import Image

from inr_gan_tf.cli import superres as C
from inr_gan_tf.projection import superres as S
from helpers import write_run_dir

R = 16



def test_psnr_identical_is_capped_not_inf():
    x = np.random.default_rng(0).uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(S.psnr(x, x), S.PSNR_CAP)
    np.testing.assert_allclose(S.ssim(x, x), 1.0, atol=1e-6)


def test_psnr_known_value_and_clipping():
    truth = np.full((1, 8, 8, 3), 0.5, np.float32)
    assert S.psnr(truth + 0.1, truth)[0] == pytest.approx(20.0, abs=1e-3)  # MSE 0.01 -> 20 dB
    # Predictions are clipped to [0, 1] first: 1.7 scores as 1.0 (MSE 0.25 -> 6.02 dB).
    assert S.psnr(truth + 1.2, truth)[0] == pytest.approx(10 * np.log10(4.0), abs=1e-3)
    with pytest.raises(ValueError, match="one shape"):
        S.psnr(truth, truth[:, :4])


def test_baselines_exact_on_constant_and_nearest_on_replicated():
    const = np.full((2, 8, 8, 3), 0.3, np.float32)
    for m in S.BASELINES:
        up = S.upsample(const, 16, m)
        assert up.shape == (2, 16, 16, 3)
        np.testing.assert_allclose(up, 0.3, atol=1e-6)
        assert np.all(S.psnr(up, np.full_like(up, 0.3)) > 100.0 - 1e-9)
    low = np.random.default_rng(1).uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    high = np.repeat(np.repeat(low, 2, 1), 2, 2)
    np.testing.assert_array_equal(S.psnr(S.upsample(low, 16, "nearest"), high), S.PSNR_CAP)
    assert np.all(S.psnr(S.upsample(low, 16, "bicubic"), high) < 40.0)
    with pytest.raises(ValueError, match="unknown upsampling method 'lanczos'"):
        S.upsample(low, 16, "lanczos")


def test_procedural_pairs_are_exact_renders():
    pairs = S.load_pairs("procedural", 2, R, 2, first=5)
    assert pairs.exact and pairs.low.shape == (2, R, R, 3) and pairs.high.shape == (2, 2 * R, 2 * R, 3)
    # Both are area averages of one scene: the box-downsampled truth is the input, up to the
    # supersampling error on edges (procedural.py).
    box = pairs.high.reshape(2, R, 2, R, 2, 3).mean(axis=(2, 4))
    assert np.abs(box - pairs.low).mean() < 0.01
    with pytest.raises(ValueError, match="num >= 1"):
        S.load_pairs("procedural", 0, R, 2)


def test_emoji_pairs_are_exact_renders():
    pairs = S.load_pairs("noto_emoji", 2, R, 2)
    assert pairs.exact and pairs.low.shape == (2, R, R, 3) and pairs.high.shape == (2, 2 * R, 2 * R, 3)
    # Two renders of one vector image: they agree after a box downsample up to anti-aliasing.
    box = pairs.high.reshape(2, R, 2, R, 2, 3).mean(axis=(2, 4))
    assert np.abs(box - pairs.low).mean() < 0.03


def test_dataset_pairs_resize_the_stored_images(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    pairs = S.load_pairs(str(tmp_path), 2, R, 2)
    assert not pairs.exact and pairs.high.shape == (2, 2 * R, 2 * R, 3)
    np.testing.assert_allclose(pairs.high.reshape(2, R, 2, R, 2, 3).mean(axis=(2, 4)), pairs.low, atol=1e-5)


def test_evaluate_report_schema(G):
    pairs = S.load_pairs("procedural", 3, R, 2)
    report, images = S.evaluate(G, pairs.low, pairs.high, "theta", steps=3, batch_size=2, theta_init="w_avg")
    json.dumps(report, allow_nan=False)  # standard JSON: no inf or NaN
    assert set(report["methods"]) == set(S.METHODS) and report["num"] == 3 and report["factor"] == 2
    for m in S.METHODS:
        assert set(report["methods"][m]) == {"psnr", "ssim", "num_capped"}
        assert set(report["methods"][m]["psnr"]) == {"mean", "std", "min", "max"}
        assert len(report["per_image"][m]["psnr"]) == 3
        assert images[m].shape == (3, 2 * R, 2 * R, 3) and 0 <= images[m].min() <= images[m].max() <= 1
    bicubic = report["methods"]["bicubic"]["psnr"]["mean"]
    assert bicubic == pytest.approx(float(np.mean(S.psnr(S.upsample(pairs.low, 2 * R, "bicubic"), pairs.high))))
    assert {"psnr", "ssim", "final_loss"} <= set(report["fit_at_r"])
    grid = S.comparison_grid(images, 2, num=2)
    assert grid.shape == (6 * (2 * R + 2), 96 + 2 * (2 * R + 2), 3) and grid.dtype == np.uint8


def test_evaluate_bad_inputs(G):
    pairs = S.load_pairs("procedural", 1, R, 2)
    with pytest.raises(ValueError, match="unknown projection space"):
        S.evaluate(G, pairs.low, pairs.high, "q")
    with pytest.raises(ValueError, match="theta_init"):
        S.evaluate(G, pairs.low, pairs.high, theta_init="zero")
    with pytest.raises(ValueError, match="G's resolution"):
        S.evaluate(G, pairs.high, pairs.high)


def test_sample_figure(G):
    fig = S.sample_figure(G, [0, 1], factors=(2, 4), zoom=None)
    assert fig.shape == (6 * (4 * R + 2), 120 + 2 * (4 * R + 2), 3)
    ref = S.load_pairs("procedural", 2, R, 4)
    fig = S.sample_figure(G, [0, 1], factors=(2, 4), reference=ref)  # + zoom-out, + 3 real rows
    assert fig.shape == (10 * (4 * R + 2), 120 + 2 * (4 * R + 2), 3)
    cell = 4 * R + 2
    np.testing.assert_array_equal(fig[9 * cell:9 * cell + 4 * R, 120:120 + 4 * R],
                                  np.rint(ref.high[0] * 255).astype(np.uint8))  # the truth, as is
    with pytest.raises(ValueError, match="64\\^2"):
        S.sample_figure(G, [0, 1], factors=(2, 4), reference=S.load_pairs("procedural", 2, R, 2))


@pytest.fixture(scope="module")
def run_dir(G, tmp_path_factory):
    return write_run_dir(tmp_path_factory.mktemp("runs") / "tiny", G, 3)


def test_cli(run_dir, tmp_path):
    out = tmp_path / "sr" / "report.json"
    assert C.run([f"--run_dir={run_dir}", "--num=2", "--steps=2", f"--out={out}", "--sample_grid",
                  "--seeds=0-1", "--reference_rows"]) == 0
    report = json.load(open(out))
    assert report["exact_ground_truth"] and report["generator"]["step"] == 3
    assert Image.open(tmp_path / "sr" / "report_compare.png").size[1] == 6 * (2 * R + 2)
    # G's rows, the zoom-out, and the real images of --data (procedural) at r, bicubic 4x, truth
    assert Image.open(tmp_path / "sr" / "superres_grid.png").size[1] == 10 * (4 * R + 2)


def test_cli_old_spellings_still_work(capsys):
    a = C.parse_args(["--run_dir=r", "--factor=3", "--figure", "--figure_seeds=4-5"])
    assert (a.superres, a.sample_grid, a.seed_list) == (3, True, [4, 5])
    err = capsys.readouterr().err
    for old, new in (("factor", "superres"), ("figure", "sample_grid"), ("figure_seeds", "seeds")):
        assert f"--{old} is deprecated, use --{new}" in err
    assert C.parse_args(["--run_dir=r", "--nofigure"]).sample_grid is False


@pytest.mark.parametrize("argv, message", [
    ([], "--run_dir or --checkpoint"),
    (["--superres=1"], "--superres must be an integer >= 2"),
    (["--superres=2.5"], "--superres must be an integer >= 2"),
    (["--num=0"], "--num=0 without --sample_grid"),
    (["--space=q"], "--space"),
    (["--theta_init=zero"], "--theta_init"),
    (["--seeds=x", "--sample_grid"], "--seeds"),
    (["--reference_rows"], "--reference_rows belongs to --sample_grid"),
    (["--steps=0"], "--steps"),
])
def test_cli_bad_flags_exit_2_with_one_line(argv, message, tmp_path, capsys):
    model = [] if not argv else ["--run_dir=r"]
    assert C.run([*model, *argv, f"--out={tmp_path / 'o' / 'r.json'}"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("superres: ") and message in err
    assert not (tmp_path / "o").exists()
