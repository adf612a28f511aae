"""`python -m inr_gan_tf.generate` on a tiny untrained run: files, sizes, determinism, interpolation.

Contracts: image k depends on seed k only; interpolation end frames are the seed images and a
theta frame renders the lerp of every INR param; tiled renders equal untiled ones; animations
have the frames asked for; bad flags fail before any rendering with the flag named.
"""
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from inr_gan_tf import animate, coords as coords_lib, sampling
from inr_gan_tf.cli import generate
from inr_gan_tf.model import build_generator, presets
from inr_gan_tf.seeds import seed_latents
from helpers import write_run_dir

R = 16



@pytest.fixture(scope="module")
def run_dir(G, tmp_path_factory):
    """A run as the trainer leaves it: config.json + checkpoints/ with G (other weights) and G_ema."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    return str(write_run_dir(run, G, 3, other_G=build_generator(presets.tiny_generator(R), seed=1)))


def _cli(run_dir, outdir, *flags):
    return generate.main([f"--run_dir={run_dir}", f"--outdir={outdir}", *flags])


def _png(path):
    return np.asarray(Image.open(path).convert("RGB"))


# -- stills --------------------------------------------------------------------------------------
def test_stills_and_grid_non_square(run_dir, G, tmp_path):
    out = _cli(run_dir, tmp_path, "--seeds=0-2,5", "--height=12", "--width=20", "--grid")
    names = sorted(os.listdir(tmp_path))
    assert names == ["grid.png", "seed0000.png", "seed0001.png", "seed0002.png", "seed0005.png"]
    assert len(out["stills"]) == 4
    assert _png(tmp_path / "seed0005.png").shape == (12, 20, 3)
    assert _png(tmp_path / "grid.png").shape == (2 * 12, 2 * 20, 3)
    # G_ema's weights, not G's: the file is what the in-memory G_ema renders.
    np.testing.assert_array_equal(_png(tmp_path / "seed0005.png"), sampling.generate_images(G, [5], 12, 20)[0])


def test_superres_and_zoom_sizes(run_dir, G, tmp_path):
    _cli(run_dir, tmp_path / "sr", "--seeds=1", "--superres=2")
    assert _png(tmp_path / "sr" / "seed0001.png").shape == (2 * R, 2 * R, 3)
    _cli(run_dir, tmp_path / "zoom", "--seeds=1", "--zoom=1.6", "--frame_box")
    zoomed = _png(tmp_path / "zoom" / "seed0001.png")
    assert zoomed.shape == (R, R, 3)
    bounds = coords_lib.zoom_bounds(1.6)
    ref = animate.draw_frame_box(sampling.generate_images(G, [1], R, R, bounds), bounds)
    np.testing.assert_array_equal(zoomed, ref[0])
    _cli(run_dir, tmp_path / "b", "--seeds=1", "--bounds=-0.5,0,1.5,1", "--width=32")
    assert _png(tmp_path / "b" / "seed0001.png").shape == (R, 32, 3)


def test_image_of_a_seed_does_not_depend_on_the_other_seeds(run_dir, tmp_path):
    _cli(run_dir, tmp_path / "alone", "--seeds=7")
    _cli(run_dir, tmp_path / "many", "--seeds=3-9", "--batch_size=3")
    np.testing.assert_array_equal(_png(tmp_path / "alone" / "seed0007.png"), _png(tmp_path / "many" / "seed0007.png"))


def test_tiled_render_equals_untiled(G, run_dir, tmp_path):
    params = G.params(tf.constant(seed_latents([2, 4], G.z_dim)))
    bounds = (-0.25, 0.0, 1.25, 1.1)
    whole = G.render_grid(params, 13, 19, bounds).numpy()
    np.testing.assert_allclose(sampling.render_tiled(G, params, 13, 19, bounds, 5), whole, atol=1e-5)
    _cli(run_dir, tmp_path / "t", "--seeds=2", "--superres=2", "--tile_size=12")
    _cli(run_dir, tmp_path / "u", "--seeds=2", "--superres=2", "--tile_size=0")
    diff = np.abs(_png(tmp_path / "t" / "seed0002.png").astype(int) - _png(tmp_path / "u" / "seed0002.png"))
    assert diff.max() <= 1  # float rounding of tiled vs whole plans may flip a uint8 step


# -- interpolation -------------------------------------------------------------------------------
def test_slerp_ends_and_norm():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = animate.slerp(a, b, np.linspace(0, 1, 7))
    np.testing.assert_array_equal(path[0], a.astype(np.float32))
    np.testing.assert_array_equal(path[-1], b.astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-5)  # a lerp would dip
    np.testing.assert_allclose(animate.slerp(a, 2 * a, [0.5])[0], 1.5 * a, rtol=1e-6)  # parallel: chord


@pytest.mark.parametrize("mode", animate.MODES)
def test_interpolation_end_frames_are_the_seed_images(G, mode):
    frames = animate.interpolate(G, 3, 9, mode, 4, bounds=(-0.2, -0.2, 1.2, 1.2), truncation=0.7, batch_size=3)
    ends = sampling.generate_images(G, [3, 9], bounds=(-0.2, -0.2, 1.2, 1.2), truncation=0.7)
    assert frames.shape == (4, R, R, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[0], ends[0])
    np.testing.assert_array_equal(frames[-1], ends[1])
    assert not np.array_equal(frames[1], frames[0])


def test_theta_frame_renders_the_mean_of_every_param(G):
    ends = G.params(tf.constant(seed_latents([3, 9], G.z_dim)))
    mid = animate.interpolation_params(G, 3, 9, "theta", [0.5])
    assert set(mid) == set(ends)
    for k, v in ends.items():
        np.testing.assert_allclose(mid[k][0].numpy(), 0.5 * (v[0] + v[1]).numpy(), rtol=1e-6, atol=1e-7, err_msg=k)


def test_w_and_theta_paths_agree_because_the_connector_is_affine(G):
    ts = [0.0, 0.3, 1.0]
    w, theta = (animate.interpolation_params(G, 1, 2, m, ts) for m in ("w", "theta"))
    for k in theta:
        np.testing.assert_allclose(w[k].numpy(), theta[k].numpy(), atol=1e-4, err_msg=k)


def test_interpolate_cli_frames_gif_and_strip(run_dir, tmp_path):
    out = _cli(run_dir, tmp_path, "--seeds=3,9,4", "--interpolate=all", "--frames=5", "--width=24")
    for s0, s1 in (("0003", "0009"), ("0009", "0004")):
        for mode in animate.MODES:
            stem = tmp_path / f"interp-{mode}-seed{s0}-seed{s1}"
            assert sorted(os.listdir(stem)) == [f"frame{i:04d}.png" for i in range(5)]
            with Image.open(f"{stem}.gif") as gif:
                assert gif.n_frames == 5 and gif.size == (24, R)
        strip = _png(tmp_path / f"interp-compare-seed{s0}-seed{s1}.png")
        assert strip.shape[0] == 4 * R + 3 * 2 and strip.shape[1] > 5 * 24  # 4 rows + gaps, a label column
    assert len(out["interpolations"]) == 2 * (4 * 6 + 1)
    np.testing.assert_array_equal(_png(tmp_path / "interp-theta-seed0003-seed0009" / "frame0004.png"),
                                  _png(tmp_path / "seed0009.png"))
    _cli(run_dir, tmp_path, "--seeds=3,9", "--interpolate=pixel", "--frames=2")  # fewer frames: no stale tail
    assert sorted(os.listdir(tmp_path / "interp-pixel-seed0003-seed0009")) == ["frame0000.png", "frame0001.png"]


# -- zoom-out animation --------------------------------------------------------------------------
def test_zoom_animation(G, run_dir, tmp_path):
    frames, bounds = animate.zoom_animation(G, [1, 2], 2.0, 3)
    assert frames.shape == (2, 3, R, R, 3)
    assert bounds[0] == (0.0, 0.0, 1.0, 1.0) and np.allclose(bounds[-1], (-0.5, -0.5, 1.5, 1.5))
    np.testing.assert_allclose(bounds[1], coords_lib.zoom_bounds(np.sqrt(2.0)))  # geometric steps
    np.testing.assert_array_equal(frames[:, 0], sampling.generate_images(G, [1, 2]))
    np.testing.assert_array_equal(frames[:, -1], sampling.generate_images(G, [1, 2], bounds=bounds[-1]))
    _cli(run_dir, tmp_path, "--seeds=1", "--zoom_animation=2", "--frames=4")
    with Image.open(tmp_path / "zoom-seed0001.gif") as gif:
        assert gif.n_frames == 4
    assert len(os.listdir(tmp_path / "zoom-seed0001")) == 4


def test_frame_box_marks_the_training_frame():
    img = np.zeros((1, 32, 32, 3), np.uint8)
    boxed = animate.draw_frame_box(img, coords_lib.zoom_bounds(1.6))[0]
    blue = np.all(boxed == animate.FRAME_BOX_RGB, axis=-1)
    rows, cols = np.nonzero(blue)
    # [-0.3, 1.3] over 32 px: pixel centres in [0, 1] are pixels 6..25 (20 = 32 / 1.6 pixels).
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (6, 25, 6, 25)
    assert blue[6:26, 6].all() and not blue[10, 10]
    far = animate.draw_frame_box(img, (2.0, 2.0, 3.0, 3.0))  # frame outside the view: nothing drawn
    assert not far.any()


def test_mp4(tmp_path):
    imageio = pytest.importorskip("imageio.v2")
    pytest.importorskip("imageio_ffmpeg")
    frames = np.random.default_rng(0).integers(0, 255, (6, 15, 21, 3), np.uint8)  # odd sides get padded
    path = animate.write_mp4(str(tmp_path / "a.mp4"), frames, fps=6)
    with imageio.get_reader(path) as r:
        got = [f for f in r]
    assert len(got) == 6 and got[0].shape == (16, 22, 3)


def test_mp4_without_the_extra_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio", None)  # import imageio -> ImportError
    with pytest.raises(ValueError, match=r"pip install imageio imageio-ffmpeg.*\.\[video\]"):
        animate.check_video("mp4")
    with pytest.raises(generate.UsageError, match="video"):
        generate.parse_args(["--run_dir=r", "--seeds=1,2", "--interpolate=z", "--video=mp4"])


# -- command line --------------------------------------------------------------------------------
@pytest.mark.parametrize("flags, message", [
    (["--seeds=1-x"], "--seeds"),
    (["--seeds=9-3"], "--seeds"),
    (["--height=0"], "--height"),
    (["--width=-4"], "--width"),
    (["--zoom=0"], "--zoom"),
    (["--zoom=-1.5"], "--zoom"),
    (["--bounds=1,0,0,1"], "--bounds"),
    (["--bounds=0,0,1"], "--bounds"),
    (["--bounds=0,0,1,x"], "could not convert"),
    (["--bounds=0,0,1,1", "--zoom=2"], "--bounds and --zoom"),
    (["--superres=2", "--height=64"], "--superres"),
    (["--superres=0"], "--superres"),
    (["--frames=1"], "--frames"),
    (["--seeds=4", "--interpolate=theta"], "at least 2 seeds"),
    (["--interpolate=spline"], "--interpolate"),
    (["--zoom_animation=0"], "--zoom_animation"),
    (["--zoom_animation=1"], "--zoom_animation"),
    (["--tile_size=-1"], "--tile_size"),
    (["--batch_size=0"], "--batch_size"),
    (["--truncation=nan"], "--truncation"),
    (["--height=abc"], "--height"),
])
def test_bad_flags_are_named(flags, message):
    with pytest.raises(generate.UsageError, match=message.replace("[", r"\[")):
        generate.parse_args(["--run_dir=r", *flags])


def test_negative_bounds_parse_with_a_space():
    # absl takes the next argument as the value, so a leading minus needs no '='.
    assert generate.parse_args(["--run_dir=r", "--bounds", "-0.3,-0.3,1.3,1.3"]).region == (-0.3, -0.3, 1.3, 1.3)


def test_model_source_is_required_once(run_dir):
    with pytest.raises(generate.UsageError, match="--run_dir or --checkpoint"):
        generate.parse_args([])
    with pytest.raises(generate.UsageError, match="--run_dir or --checkpoint"):
        generate.parse_args(["--run_dir=a", "--checkpoint=b"])


def test_checkpoint_prefix_and_missing_run(run_dir, tmp_path):
    _cli_ckpt = generate.main([f"--checkpoint={run_dir}/checkpoints/ckpt-3", f"--outdir={tmp_path}", "--seeds=0"])
    assert _cli_ckpt["stills"] == [str(tmp_path / "seed0000.png")]
    with pytest.raises(generate.UsageError, match="--run_dir: .*has no config.json"):
        generate.main([f"--run_dir={tmp_path / 'nope'}", f"--outdir={tmp_path}"])


def test_run_exits_2_with_the_message(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["generate", "--run_dir=r", "--frames=1"])
    assert generate.run() == 2
    assert "--frames must be >= 2" in capsys.readouterr().err


def test_help_lists_the_sampling_modes(capsys):
    assert generate.run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--interpolate" in out and "--zoom_animation" in out


def test_dry_run_prints_the_resolved_size_and_writes_nothing(run_dir, tmp_path, capsys):
    assert generate.main([f"--run_dir={run_dir}", f"--outdir={tmp_path / 'o'}", "--superres=1.5", "--dry_run"]) == {}
    resolved = json.loads(capsys.readouterr().out)
    assert (resolved["height"], resolved["width"]) == (24, 24) and resolved["checkpoint"].endswith("ckpt-3")
    assert not os.path.exists(tmp_path / "o")
    # A long range is summarised (count and ends), not printed seed by seed.
    generate.main([f"--run_dir={run_dir}", f"--outdir={tmp_path / 'o'}", "--seeds=0-100000", "--dry_run"])
    out = capsys.readouterr().out
    assert len(out) < 4000 and json.loads(out)["seed_list"]["count"] == 100001
