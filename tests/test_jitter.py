"""Jittered training pixels (--jitter, issue 12): each training pixel, real and fake, at one of
its antialias^2 points drawn at random, on tiny configs.

Contracts: a picked sub-point is the point `subpixels` lists (fakes) and the dense point
render's pixel there (reals); the mean over all sub-points is the area-sampled pixel renders
give; real views are deterministic per seed, flipped as frames are, refused for raster
sources; the flag's config and its refusals; steps with frames and patches; exact resume;
XLA and MirroredStrategy.
"""
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_mirrored_equals_single, assert_resumes_exactly, assert_xla_step_is_finite, trainer_for
from test_patch_training import R, _config, _generator, _parse

from inr_gan_tf import coords
from inr_gan_tf.data.pipeline import make_views
from inr_gan_tf.data.procedural import ProceduralSource

K = 4


def _unit(seed):
    del seed
    return tf.constant(coords.UNIT_BOUNDS, tf.float32)


def test_a_picked_sub_point_is_the_one_subpixels_lists_and_the_dense_pixel_there():
    index = np.random.default_rng(0).integers(0, K * K, [3, R * R])
    bounds = tf.constant([[0.0, 0.0, 1.0, 1.0], [0.25, 0.5, 0.5, 0.75], [-0.2, 0.1, 0.9, 1.2]])
    centres, pixel = coords.grid_graph(R, R, bounds), coords.grid_pixel(R, R, bounds)
    picked = coords.pick_subpixels(centres, pixel, K, index).numpy()
    listed = coords.subpixels(centres, pixel, K).numpy().reshape(3, R * R, K * K, 2)
    np.testing.assert_array_equal(picked, np.take_along_axis(listed, index[..., None, None], 2)[:, :, 0])
    # An image whose pixels are their own points at K times the density gives back the points.
    dense = tf.constant(coords.grid_np(K * R, K * R).reshape(K * R, K * R, 2))
    np.testing.assert_allclose(coords.pick_dense(dense, K, index[0]).numpy().reshape(-1, 2),
                               picked[0], atol=1e-6)


def test_the_mean_over_all_sub_points_is_the_rendered_pixel():
    G = _generator("bilinear", antialias=K)
    params = G.params(tf.random.stateless_normal([2, G.z_dim], [0, 1]))
    bounds = tf.constant([[0.0, 0.0, 1.0, 1.0], [0.1, 0.2, 0.6, 0.7]])
    centres, pixel = coords.grid_graph(R, R, bounds), coords.grid_pixel(R, R, bounds)
    each = [G.render_subpoints(params, centres, pixel, tf.fill([2, R * R], i), plan_fn=G.frame_plan)
            for i in range(K * K)]
    area = G.render_pixels(params, centres, pixel, plan_fn=G.frame_plan)
    np.testing.assert_allclose(tf.reduce_mean(tf.stack(each), 0).numpy(), area.numpy(), atol=1e-5)
    assert float(tf.reduce_max(tf.abs(each[0] - each[-1]))) > 1e-3  # the points differ


def test_real_jittered_pixels_are_point_samples_at_their_sub_points():
    source = ProceduralSource(8)
    views = make_views(source, R, 4, seed=5, bounds_fn=_unit, jitter=K, shuffle=False)
    images, _ = next(iter(views))
    again, _ = next(iter(make_views(source, R, 4, seed=5, bounds_fn=_unit, jitter=K, shuffle=False)))
    np.testing.assert_array_equal(images.numpy(), again.numpy())  # deterministic per seed
    for n, image in enumerate(images.numpy()):
        dense = source.point_view(n, K * R, K * R) / 127.5 - 1.0
        cells = dense.reshape(R, K, R, K, 3).transpose(0, 2, 1, 3, 4).reshape(R, R, K * K, 3)
        gap = np.abs(cells - image[:, :, None]).max(-1).min(-1)   # to the nearest of its sub-points
        assert gap.max() < 1e-5
    # Each pixel draws its own: edge pixels of the same image differ between two seeds.
    other, _ = next(iter(make_views(source, R, 4, seed=6, bounds_fn=_unit, jitter=K, shuffle=False)))
    assert np.abs(other.numpy() - images.numpy()).max() > 0.1


def test_flipped_views_are_the_mirrored_image_over_the_same_window():
    source = ProceduralSource(16)
    window = lambda seed: tf.constant([0.1, 0.2, 0.6, 0.7], tf.float32)  # noqa: E731
    images, bounds = next(iter(make_views(source, R, 16, seed=1, bounds_fn=window, flip=True, shuffle=False)))
    kinds = []
    for n, image in enumerate(images.numpy()):
        plain = source.view(n, R, R, (0.1, 0.2, 0.6, 0.7)) / 127.5 - 1.0
        mirrored = source.view(n, R, R, (0.4, 0.2, 0.9, 0.7))[:, ::-1] / 127.5 - 1.0
        kinds.append("plain" if np.allclose(image, plain, atol=1e-5)
                     else "mirrored" if np.allclose(image, mirrored, atol=1e-5) else "neither")
    assert set(kinds) == {"plain", "mirrored"}, kinds
    np.testing.assert_allclose(bounds.numpy(), np.tile([0.1, 0.2, 0.6, 0.7], [16, 1]), atol=1e-7)


def test_raster_views_flip_too(tmp_path):
    from PIL import Image
    (tmp_path / "imgs").mkdir()
    ramp = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], [32, 1, 3])  # dark left
    Image.fromarray(ramp).save(tmp_path / "imgs" / "a.png")
    views = make_views(str(tmp_path / "imgs"), R, 16, seed=2, scale=(1.0, 1.0), flip=True, shuffle=False)
    images, _ = next(iter(views))
    left_dark = images.numpy()[:, :, 0, 0] < images.numpy()[:, :, -1, 0]
    assert left_dark.all(axis=1).any() and (~left_dark).all(axis=1).any()  # both ways round


def test_jitter_is_refused_without_point_samples(tmp_path):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (20, 20), (10, 200, 30)).save(folder / "a.png")
    with pytest.raises(ValueError, match="jittered pixels need point samples of an exact source"):
        make_views(str(folder), R, 1, seed=0, jitter=2)
    with pytest.raises(ValueError, match="jitter must be an integer >= 1"):
        make_views(ProceduralSource(2), R, 1, seed=0, jitter=0)


def test_jitter_flag_makes_the_config_and_needs_antialias(tmp_path, capsys):
    base = _parse("--antialias=4")
    assert "jitter" not in base
    assert _parse("--antialias=4", "--jitter") == dict(base, jitter=True)
    with pytest.raises(ValueError, match="^--jitter needs --antialias >= 2"):
        _parse("--jitter")
    with pytest.raises(ValueError, match="^--jitter and --consistency do not go together"):
        _parse("--antialias=2", "--jitter", "--cell", "--consistency=1")
    from inr_gan_tf.training.callbacks import describe
    assert "one of its 4 x 4 points" in describe(dict(base, jitter=True))
    from PIL import Image
    from inr_gan_tf.cli import train
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (20, 20), (10, 200, 30)).save(tmp_path / "imgs" / "a.png")
    run = tmp_path / "run"
    assert train.run([f"--data={tmp_path / 'imgs'}", "--antialias=2", "--jitter", f"--run_dir={run}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train: --jitter needs point samples of an exact source") and "\n" not in err
    assert not run.exists()  # refused before anything is written


def _jitter_config(**extra):
    cfg = _config(**extra)
    cfg["generator"] = dict(cfg["generator"], antialias=2)
    cfg["jitter"] = True
    return cfg


@pytest.mark.parametrize("ratio", [0.5, 0])
def test_jittered_steps_train_and_resume_exactly(tmp_path, ratio):
    from inr_gan_tf.training.loop import training_data
    cfg = _jitter_config(ratio=ratio)
    first = next(iter(training_data(cfg, cfg["data"])))
    frames = first[0] if ratio else first
    assert frames.shape == (2 if ratio else 4, R, R, 3)
    assert_resumes_exactly(cfg, tmp_path)


def test_hand_edited_jitter_configs_are_refused(tmp_path):
    cfg = dict(_config(), jitter=True)  # a hand-edited config.json
    with pytest.raises(ValueError, match="jitter needs the generator's antialias >= 2"):
        trainer_for(cfg, str(tmp_path / "a"))
    cfg = _jitter_config()
    cfg["loss"]["consistency"] = {"weight": 1.0, "points": 4, "density": 2}
    with pytest.raises(ValueError, match="jitter and a consistency term do not go together"):
        trainer_for(cfg, str(tmp_path / "b"))


@pytest.mark.slow
def test_xla_step_with_jitter(tmp_path):
    assert_xla_step_is_finite(_jitter_config(), str(tmp_path))


@pytest.mark.slow  # two TensorFlow start-ups
def test_mirrored_step_with_jitter_equals_one_device(tmp_path):
    assert_mirrored_equals_single(_jitter_config(), tmp_path)


class _CountingSource(ProceduralSource):
    """The procedural scenes, counting the views rendered (a tf.data thread calls them)."""

    def __init__(self):
        super().__init__(64)
        self.rendered = 0

    def point_view(self, *args, **kwargs):
        self.rendered += 1
        return super().point_view(*args, **kwargs)


@pytest.mark.parametrize("ratio", [0.5, 0])
def test_a_resumed_stream_is_the_same_batches_without_rendering_the_ones_left_out(ratio):
    """training_data from step 40 = the full stream's batches 40.. (frames, patches and windows),
    while the views of the 40 steps before are never rendered (a resume at 92 kimg of the
    quickstart would otherwise render 46 000 frames and as many patches first)."""
    from inr_gan_tf.training.loop import training_data
    cfg = _jitter_config(ratio=ratio)
    full = list(training_data(cfg, ProceduralSource(64)).skip(40).take(2).as_numpy_iterator())
    source = _CountingSource()
    resumed = list(training_data(cfg, source, start=40).take(2).as_numpy_iterator())
    for a, b in zip(full, resumed):
        for x, y in zip(*(t if isinstance(t, tuple) else (t,) for t in (a, b))):
            np.testing.assert_array_equal(x, y)
    assert source.rendered < 40 * cfg["batch_size"] / 2  # the 2 batches and prefetch, not 40 steps' views


def test_start_batch_is_checked():
    with pytest.raises(ValueError, match="start_batch must be an integer >= 0, got -1"):
        make_views(ProceduralSource(2), R, 1, seed=0, start_batch=-1)
