"""Keypoint prediction loss (paper Table 2): the regression pipeline with fake detectors."""
import os

import numpy as np
import pytest
import tensorflow as tf

from inr_gan_tf.metrics import kpl
from inr_gan_tf.model import build_generator, presets
from inr_gan_tf.seeds import seed_latents, to_uint8


class _LinearImageG:
    """Stands in for a Generator whose images encode z linearly: channel c is 0.1 * z[c] everywhere."""

    resolution, z_dim = 8, 6

    def __init__(self):
        self.M = tf.constant(np.random.RandomState(1).randn(6, 6) + 3 * np.eye(6), tf.float32)

    def params(self, z, truncation=1.0):
        return {"z": z}

    def render_grid(self, params, h, w):
        return tf.tile(0.1 * params["z"][:, None, None, :3], [1, h, w, 1])  # [B, h, w, 3]

    def mapping(self, z, truncation=1.0):
        return tf.matmul(z, self.M)  # an invertible linear map: W is as linear as Z


def _mean_colour_detector(images):
    """One keypoint: the mean red and green levels in [0, 1]; 'no face' where blue is dark."""
    rgb = images.astype(np.float64).mean(axis=(1, 2)) / 255.0  # [B, 3]
    kp = rgb[:, None, :2].copy()  # [B, 1, 2]
    kp[rgb[:, 2] < 0.5] = np.nan
    return kp


def _dark_centroid_detector(images):
    """Keypoint = centroid of the pixels darker than the image's median, in [0, 1] (x, y)."""
    lum = images.astype(np.float64).mean(-1)  # [B, H, W]
    h, w = lum.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w]
    out = []
    for im in lum:
        mask = im <= np.median(im)
        out.append([[(xs[mask].mean() + 0.5) / w, (ys[mask].mean() + 0.5) / h]])
    return np.array(out)


def test_linear_keypoints_give_zero_kpl_and_random_ones_do_not():
    rs = np.random.RandomState(0)
    z = rs.randn(400, 16)
    linear = z @ rs.randn(16, 10) * 0.01 + 0.5  # 5 keypoints (x, y), a linear function of z
    assert kpl.regression_mse(z, linear)["test_mse"] < 1e-20
    noise = rs.uniform(size=(400, 5, 2))  # unrelated to z: no better than the mean, variance 1/12
    assert kpl.regression_mse(z, noise)["test_mse"] > 0.07


def test_kpl_end_to_end_linear_images_and_dropped_faces():
    G = _LinearImageG()
    out = kpl.kpl(G, _mean_colour_detector, num=300, batch=64, seed=5)
    z = seed_latents(range(5, 305), G.z_dim)
    expected_dropped = int((to_uint8(0.1 * z[:, 2]) / 255.0 < 0.5).sum())
    assert 0 < out["num_dropped"] == expected_dropped
    assert out["num_detected"] + out["num_dropped"] == out["num_images"] == 300
    assert out["num_train"] + out["num_test"] == out["num_detected"] and out["num_keypoints"] == 1
    # Only uint8 rounding is left (variance (1/255)^2 / 12 ~ 1e-6); the keypoints vary ~2000x more.
    assert out["kpl_z"] < 5e-6 and out["kpl_w"] < 5e-6
    assert out["kpl_random"] > 1e-3 and out["keypoint_variance"] > 1e-3
    assert out["detector"] == "function"


def test_kpl_random_keypoints_are_unpredictable():
    def random_detector(images):
        return np.random.RandomState(int(images.sum()) % 2**31).uniform(size=(len(images), 3, 2))

    out = kpl.kpl(_LinearImageG(), random_detector, num=200, batch=50)
    assert out["kpl_z"] > 0.06 and out["kpl_w"] > 0.06 and out["num_dropped"] == 0


def test_kpl_on_a_tiny_generator():
    G = build_generator(presets.tiny_generator(16), seed=0)
    out = kpl.kpl(G, _dark_centroid_detector, num=96, batch=48, resolution=32)
    assert out["resolution"] == 32 and out["num_dropped"] == 0
    for key in ("kpl_z", "kpl_w", "kpl_random"):
        assert np.isfinite(out[key]) and out[key] >= 0
    # Unrelated latents do about as well as predicting the mean (OLS with 16 dims on ~77 rows).
    assert 0.3 * out["keypoint_variance"] < out["kpl_random"] < 4 * out["keypoint_variance"]


def test_too_few_faces_and_bad_arguments_are_clear_errors():
    z = np.random.RandomState(0).randn(20, 16)
    with pytest.raises(ValueError, match="ridge > 0"):
        kpl.regression_mse(z, z[:, :2])
    assert np.isfinite(kpl.regression_mse(z, z[:, :2], ridge=1e-3)["test_mse"])  # regularized: solvable
    with pytest.raises(ValueError, match="test_fraction"):
        kpl.regression_mse(z, z[:, :2], test_fraction=1.0)
    with pytest.raises(ValueError, match="spaces"):
        kpl.kpl(_LinearImageG(), _mean_colour_detector, num=10, spaces=("x",))
    with pytest.raises(ValueError, match=r"\[B, K, 2\]"):
        kpl.kpl(_LinearImageG(), lambda im: np.zeros((len(im), 2)), num=10)
    with pytest.raises(ValueError, match="too few"):
        kpl.kpl(_LinearImageG(), lambda im: np.full((len(im), 1, 2), np.nan), num=10)


def test_default_detector_without_mediapipe_says_how_to_get_it(monkeypatch):
    monkeypatch.delenv(kpl.MEDIAPIPE_ENV, raising=False)
    try:
        import mediapipe  # noqa: F401
        pytest.skip("mediapipe is importable here")
    except ImportError:
        pass
    with pytest.raises(kpl.DetectorUnavailable, match="mediapipe==0.10.21"):
        kpl.default_detector()
    from inr_gan_tf.metrics import registry  # the registered metric says the same, before any work
    with pytest.raises(kpl.DetectorUnavailable, match="mediapipe==0.10.21"):
        registry.calc_metric("kpl", build_generator(presets.tiny_generator(16), seed=0), "procedural", num=8)
    monkeypatch.setenv(kpl.MEDIAPIPE_ENV, "/nonexistent/python")
    with pytest.raises(kpl.DetectorUnavailable, match="does not exist"):
        kpl.default_detector()


def test_mediapipe_face_mesh_finds_a_face():
    """Runs where MediaPipe can: INR_GAN_MEDIAPIPE_PYTHON names its venv, or it imports here."""
    if not os.environ.get(kpl.MEDIAPIPE_ENV):
        pytest.importorskip("mediapipe", reason=f"mediapipe absent and {kpl.MEDIAPIPE_ENV} unset")
    matplotlib = pytest.importorskip("matplotlib")
    from PIL import Image
    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    face = np.asarray(Image.open(path).convert("RGB").resize((128, 128)))
    detector = kpl.default_detector()
    try:
        kp = detector(np.stack([face, np.zeros_like(face)]))
    finally:
        detector.close()
    assert kp.shape == (2, 468, 2)
    assert np.all(np.isfinite(kp[0])) and np.all(np.isnan(kp[1]))  # no face in a black image
    assert 0.3 < kp[0, :, 0].mean() < 0.7 and 0.2 < kp[0, :, 1].mean() < 0.7
