"""Projection contracts on tiny generators: the fit improves, is reproducible and per image,
recovers G's own samples, theta fits real images better than w, and the CLI writes its files."""
import csv
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from inr_gan_tf import projection as P
from inr_gan_tf.metrics.pixels import psnr
from inr_gan_tf.data.procedural import render_procedural
from inr_gan_tf.model import build_generator, presets
from inr_gan_tf.seeds import seed_latents
from helpers import write_run_dir

R = 16



@pytest.fixture(scope="module")
def real():
    """A procedural image at R, in [-1, 1]: a 'real' image no generator was built from."""
    return render_procedural(0, R, R) * 2.0 - 1.0


def test_projection_reduces_loss(G, real):
    res = P.project(G, real, "w", steps=30, seed=0)
    assert res.loss.shape == (30, 1) and res.final_loss.shape == (1,)
    assert res.final_loss[0] < 0.5 * res.loss[0, 0]
    assert res.latent.shape == (1, G.mapping_width) and res.theta.shape == (1, G.param_spec.size)
    assert res.images.shape == res.target.shape == (1, R, R, 3)
    np.testing.assert_allclose(G.render_grid(res.tf_params(), R, R), res.images, atol=1e-5)


def test_deterministic_and_independent_of_batch(G, real):
    other = render_procedural(1, R, R) * 2.0 - 1.0
    one = P.project(G, real, "z", steps=5, seed=3)
    again = P.project(G, real, "z", steps=5, seed=3)
    np.testing.assert_array_equal(one.latent, again.latent)
    # Per-image latents and a summed loss: image 0's fit does not depend on its batch mates,
    # except for the noise, which is drawn per batch shape; so compare without noise.
    solo = P.project(G, real, "w", steps=5, noise=0.0)
    pair = P.project(G, np.stack([real, other]), "w", steps=5, noise=0.0)
    np.testing.assert_allclose(pair.latent[0], solo.latent[0], rtol=1e-4, atol=1e-5)


def psnr_pm1(a, b) -> float:
    """PSNR of one render in [-1, 1] against another."""
    return float(psnr((np.asarray(a) + 1) / 2, (np.asarray(b) + 1) / 2)[0])


def test_recovers_own_sample():
    # Random Fourier features at init scale 10 make a tiny untrained G's image a chaotic
    # function of w, where descent from w_avg stalls in local minima (about 10 dB); a G without
    # them has the smooth latent space of a trained model, and is what this checks.
    G = build_generator(presets.tiny_generator(R, fourier=False, multiscale=False), seed=0)
    mean, _ = P.prior(G, "w")
    G.mapping.w_avg.assign(mean)  # as training would have tracked it
    own = G(tf.constant(seed_latents([0], G.z_dim)), truncation=0.5).numpy()
    start = psnr_pm1(G.render_grid(G.hypernet(tf.constant(mean[None])), R, R).numpy(), own)
    res = P.project(G, own, "w", steps=150, seed=0)
    fit = psnr_pm1(res.images, own)
    assert fit > 35.0 and fit > start + 15.0, (start, fit)


def test_theta_fits_real_images_better_than_w(G, real):
    # Same steps, same loss: the INR's own parameters can follow edges that w cannot.
    w = P.project(G, real, "w", steps=60, pyramid_weight=1.0)
    theta = P.project(G, real, "theta", steps=60, pyramid_weight=1.0)
    assert theta.latent is None
    assert theta.final_loss[0] < 0.7 * w.final_loss[0], (theta.final_loss, w.final_loss)
    # Starting theta at the w fit starts where w ended.
    chained = P.project(G, real, "theta", steps=1, lr=0.0, init=w.theta)
    np.testing.assert_allclose(chained.images, w.images, atol=1e-4)


def test_prepare_targets_crop_resize_and_ranges():
    im = np.zeros((64, 48, 3), np.uint8)
    im[8:56, :, 0] = 255  # a red square band in the middle rows: the centre crop keeps red only
    out = P.prepare_targets(im, R)
    assert out.shape == (1, R, R, 3)
    np.testing.assert_allclose(out[0, ..., 0], 1.0)
    np.testing.assert_allclose(out[0, ..., 1:], -1.0)
    own = np.random.default_rng(0).uniform(-3, 3, (2, R, R, 3)).astype(np.float32)
    np.testing.assert_allclose(P.prepare_targets(own, R), own, atol=1e-6)  # G's renders overshoot [-1, 1]


@pytest.mark.parametrize("target, message", [
    (np.zeros((R, R), np.uint8), "RGB images"),
    (np.zeros((R, R, 4), np.uint8), "RGB images"),
    (np.full((R, R, 3), 200.0, np.float32), "uint8 for \\[0, 255\\]"),
    (np.full((R, R, 3), np.nan, np.float32), "finite"),
    (np.zeros((R, R, 3), np.int32), "dtype"),
])
def test_bad_targets(G, target, message):
    with pytest.raises(ValueError, match=message):
        P.project(G, target, "w", steps=1)


def test_bad_arguments(G, real):
    with pytest.raises(ValueError, match="unknown projection space 'x'"):
        P.project(G, real, "x")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        P.project(G, real, "w", steps=0)
    with pytest.raises(ValueError, match="init must be"):
        P.project(G, real, "w", steps=1, init=np.zeros(3))


def test_schedule_and_loss():
    assert P.learning_rate(0.0, 0.1) == 0.0 and P.learning_rate(0.5, 0.1) == pytest.approx(0.1)
    assert P.learning_rate(0.99, 0.1) < 0.001
    assert P.noise_strength(0.0, 2.0, 0.05) == pytest.approx(0.1) and P.noise_strength(0.8, 2.0, 0.05) == 0.0
    assert P.pyramid_levels(16) == 3 and P.pyramid_levels(6) == 2 and P.pyramid_levels(15) == 1
    x = tf.random.stateless_uniform([2, R, R, 3], seed=[1, 2], minval=-1, maxval=1)
    np.testing.assert_array_equal(P.image_loss(x, x).numpy(), 0.0)
    # A constant offset c: MSE c^2, every band-pass level 0, the low-pass level |c|, over 3 levels.
    np.testing.assert_allclose(P.image_loss(x + 0.3, x).numpy(), 0.09 + 0.3 / 3, rtol=1e-4)


# -- CLI ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(G, tmp_path_factory):
    """A training run as the trainer leaves it: config.json + checkpoints/ with G_ema."""
    return write_run_dir(tmp_path_factory.mktemp("runs") / "tiny", G, 3)


def test_project_file_writes_outputs(G, tmp_path):
    from inr_gan_tf.cli.project import project_file
    target = tmp_path / "target.png"
    Image.fromarray(np.uint8(np.clip(render_procedural(2, 40, 40) * 255, 0, 255))).save(target)
    out = tmp_path / "out"
    summary = project_file(G, str(target), str(out), "theta", steps=4, theta_init="w", superres=2, zoom=1.5)
    sizes = {"target.png": R, "projected.png": R, "superres_2x.png": 2 * R, "zoomout_1.5.png": 24}
    for name, size in sizes.items():
        assert Image.open(out / name).size == (size, size), name
    npz = np.load(out / "projection.npz")
    assert str(npz["space"]) == "theta" and npz["theta"].shape == (1, G.param_spec.size)
    assert "w" not in npz and all(f"params/{k}" in npz for k in G.param_spec.names)
    with open(out / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and set(rows[0]) == {"step", "loss", "lr", "noise_std"}
    saved = json.load(open(out / "projection.json"))
    assert saved["space"] == "theta" and saved["psnr_at_R_db"] == pytest.approx(summary["psnr_at_R_db"])


def test_load_image_errors(tmp_path):
    from inr_gan_tf.cli.project import load_image
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image(str(tmp_path / "missing.png"))
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="cannot read .* as an image"):
        load_image(str(bad))


def test_cli(run_dir, tmp_path, capsys):
    """The command in-process (`python -m` itself: test_cli.py): JSON summary, outputs, and a
    missing target as one usage line."""
    from inr_gan_tf.cli import project
    target = tmp_path / "t.png"
    Image.fromarray(np.uint8(render_procedural(3, R, R) * 255)).save(target)
    argv = [f"--run_dir={run_dir}", f"--outdir={tmp_path / 'o'}", "--space=w", "--steps=3", "--superres=2",
            "--log_every=0"]
    assert project.run(argv + [f"--target={target}"]) == 0
    assert json.loads(capsys.readouterr().out)["space"] == "w"
    assert np.load(tmp_path / "o" / "projection.npz")["w"].shape == (1, 32)
    assert project.run(argv + [f"--target={tmp_path / 'nope.png'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("project: --target: ") and "does not exist" in err


@pytest.mark.parametrize("argv, message", [
    (["--checkpoint=c"], "--run_dir or --checkpoint"),
    ([], "--target is required"),
    (["--target=t.png", "--superres=1.5"], "--superres must be an integer >= 1"),
    (["--target=t.png", "--space=q"], "--space"),
    (["--target=t.png", "--theta_init=zero"], "--theta_init"),
    (["--target=t.png", "--zoom=0"], "--zoom"),
    (["--target=t.png", "--steps=0"], "--steps"),
    (["--target=t.png", "--log_every=-1"], "--log_every"),
])
def test_cli_bad_flags_exit_2_with_one_line(argv, message, tmp_path, capsys, monkeypatch):
    from inr_gan_tf.cli import project
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((R, R, 3), np.uint8)).save(tmp_path / "t.png")
    assert project.run(["--run_dir=r", *argv, "--outdir=o"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("project: ") and message in err
    assert not (tmp_path / "o").exists()


def test_cli_in_process_and_flagfile(run_dir, tmp_path):
    from inr_gan_tf.cli import project
    target = tmp_path / "t.png"
    Image.fromarray(np.uint8(render_procedural(3, R, R) * 255)).save(target)
    flagfile = tmp_path / "p.flags"
    flagfile.write_text(f"--run_dir={run_dir}\n--target={target}\n--steps=2\n--space=z\n--log_every=0\n")
    summary = project.main([f"--flagfile={flagfile}", f"--outdir={tmp_path / 'o'}", "--superres=2"])
    assert summary["space"] == "z" and summary["steps"] == 2 and summary["superres"] == 2
    assert (tmp_path / "o" / "superres_2x.png").exists()
