"""Keypoint prediction loss (KPL, paper Table 2 and App. B.2): how linearly latents hold geometry.

    result = kpl(G, detector, num=10000, resolution=256)   # {"kpl_z", "kpl_w", "kpl_random", ...}

Sample latents, render images, detect face keypoints, fit a linear regression latent -> keypoints
(closed-form least squares with an intercept) on a train split, and report its test MSE on
keypoints in [0, 1] image coordinates (x to the right, y down). Lower: geometry is linearly
readable from the latent, the "geometric prior" of Sec. 4.2. Spaces: "z" (G's input) and "w"
(G.mapping(z): the hypernetwork's penultimate representation, Table 2's W); "random" pairs the
keypoints with randomly permuted z (App. B.2), so it only measures how much the keypoints vary.

Differs from the paper: its test set is real FFHQ images projected into the latent space with
StyleGAN2's projector; here the test set is held-out generated samples (no projector here), and
the default detector is MediaPipe Face Mesh (468 landmarks) instead of Super-FAN (68).

A detector maps uint8 images [B, H, W, 3] to keypoints [B, K, 2] in [0, 1]; an image with no
face is all NaN and is dropped (and counted). MediaPipe 0.10.21, the last release that bundles
its face mesh model, pins protobuf < 5 and numpy < 2, while TensorFlow 2.21 needs protobuf >= 6.31;
with protobuf 6+ its FaceMesh fails (FieldDescriptor has no `label`). So the default detector
runs MediaPipe in a separate interpreter:

    python -m venv ~/mpvenv && ~/mpvenv/bin/pip install mediapipe==0.10.21   # no TF in it
    export INR_GAN_MEDIAPIPE_PYTHON=~/mpvenv/bin/python

This file is also that interpreter's worker (run by path, numpy-only at import), so keep the
top-level imports to the standard library and numpy.
"""
import json
import os
import subprocess
import sys
from typing import Callable, Dict, Optional, Sequence

import numpy as np

MEDIAPIPE_ENV = "INR_GAN_MEDIAPIPE_PYTHON"
MEDIAPIPE_HINT = (
    "KPL's default detector is MediaPipe Face Mesh (mediapipe==0.10.21), which cannot share a "
    "process with TensorFlow 2.21 (it needs protobuf<5). Install it in its own venv without TF: "
    "`python -m venv ~/mpvenv && ~/mpvenv/bin/pip install mediapipe==0.10.21`, then set "
    f"{MEDIAPIPE_ENV}=~/mpvenv/bin/python; or pass your own detector (images -> keypoints).")

Detector = Callable[[np.ndarray], np.ndarray]  # uint8 [B, H, W, 3] -> [B, K, 2] in [0, 1], NaN = no face


class DetectorUnavailable(ImportError):
    """No keypoint detector can run here; the message says how to get one."""


# -- regression ---------------------------------------------------------------------------------
def fit_linear(x: np.ndarray, y: np.ndarray, ridge: float = 0.0):
    """Least squares y ~ x @ coef + intercept; ridge > 0 adds ridge * |coef|^2 (not the intercept)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    if ridge > 0:
        coef = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ yc)  # [D, T]
    else:
        coef = np.linalg.lstsq(xc, yc, rcond=None)[0]  # [D, T]
    return coef, y_mean - x_mean @ coef


def regression_mse(latents: np.ndarray, targets: np.ndarray, test_fraction: float = 0.2,
                   seed: int = 0, ridge: float = 0.0) -> Dict[str, float]:
    """Test (and train) MSE of a linear map latents [N, D] -> targets [N, ...] on a random split."""
    x = np.asarray(latents, np.float64).reshape(len(latents), -1)
    y = np.asarray(targets, np.float64).reshape(len(targets), -1)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} latents but {len(y)} keypoint rows")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = max(1, int(round(len(x) * test_fraction)))
    n_train = len(x) - n_test
    if ridge <= 0 and n_train <= x.shape[1] + 1:
        raise ValueError(
            f"{n_train} training rows cannot determine a least-squares fit in {x.shape[1]} dims "
            f"(need more than {x.shape[1] + 1}): sample more images (detected faces) or pass ridge > 0")
    order = np.random.RandomState(seed).permutation(len(x))
    tr, te = order[:n_train], order[n_train:]
    coef, intercept = fit_linear(x[tr], y[tr], ridge)
    mse = [float(np.mean((x[i] @ coef + intercept - y[i]) ** 2)) for i in (te, tr)]
    return {"test_mse": mse[0], "train_mse": mse[1], "num_train": int(n_train), "num_test": int(n_test)}


# -- sampling and detection ---------------------------------------------------------------------
def collect(G, detector: Detector, num: int, seed: int = 0, batch: int = 32,
            resolution: Optional[int] = None, truncation: float = 1.0):
    """(z [num, z_dim], w [num, width], keypoints [num, K, 2] with NaN rows for no face).

    Latent k comes from seed `seed + k`. `resolution` renders the continuous image on a larger
    (or smaller) grid than the training one, through G.render_grid: face detectors want >= 64 px.
    """
    import tensorflow as tf

    from inr_gan_tf import seeds as seeds_lib

    if num < 2 or batch < 1:
        raise ValueError(f"num must be >= 2 and batch >= 1, got num={num}, batch={batch}")
    res = int(resolution or G.resolution)
    render = tf.function(lambda z: G.render_grid(G.params(z, truncation), res, res))  # [B, res, res, 3]
    z = seeds_lib.seed_latents(range(seed, seed + num), G.z_dim)
    ws, kps = [], []
    for start in range(0, num, batch):
        zb = tf.constant(z[start:start + batch])
        ws.append(np.asarray(G.mapping(zb, truncation=truncation)))
        images = seeds_lib.to_uint8(render(zb))
        kp = np.asarray(detector(images), np.float64)
        if kp.ndim != 3 or kp.shape[0] != len(images) or kp.shape[2] != 2:
            raise ValueError(f"a detector must return [B, K, 2] keypoints for {len(images)} images, got {kp.shape}")
        kps.append(kp)
    return z, np.concatenate(ws, 0), np.concatenate(kps, 0)


def kpl_from_keypoints(latents: Dict[str, np.ndarray], keypoints: np.ndarray, test_fraction: float = 0.2,
                       seed: int = 0, ridge: float = 0.0) -> dict:
    """KPL per latent space from precomputed keypoints (NaN rows dropped), plus KPL (random)."""
    keypoints = np.asarray(keypoints, np.float64)
    found = np.isfinite(keypoints).reshape(len(keypoints), -1).all(1)
    out = {"num_images": int(len(keypoints)), "num_detected": int(found.sum()),
           "num_dropped": int((~found).sum()), "num_keypoints": int(keypoints.shape[1])}
    if found.sum() < 3:
        raise ValueError(f"keypoints were found on {found.sum()} of {len(keypoints)} images: too few for KPL")
    y = keypoints[found]
    for name, x in latents.items():
        fit = regression_mse(np.asarray(x)[found], y, test_fraction, seed, ridge)
        out[f"kpl_{name}"] = fit["test_mse"]
        out["num_train"], out["num_test"] = fit["num_train"], fit["num_test"]
    first = np.asarray(next(iter(latents.values())))[found]
    permuted = first[np.random.RandomState(seed + 1).permutation(len(first))]
    out["kpl_random"] = regression_mse(permuted, y, test_fraction, seed, ridge)["test_mse"]
    out["keypoint_variance"] = float(y.reshape(len(y), -1).var(0).mean())  # KPL of predicting the mean
    return out


def kpl(G, detector: Optional[Detector] = None, num: int = 10000, seed: int = 0, batch: int = 32,
        resolution: Optional[int] = None, truncation: float = 1.0, test_fraction: float = 0.2,
        ridge: float = 0.0, spaces: Sequence[str] = ("z", "w")) -> dict:
    """Keypoint prediction loss of G (paper Table 2): {"kpl_z", "kpl_w", "kpl_random", counts...}.

    detector: images -> keypoints (see module doc); None -> `default_detector()`, which raises
    DetectorUnavailable with setup instructions when MediaPipe cannot run.
    """
    unknown = set(spaces) - {"z", "w"}
    if unknown or not spaces:
        raise ValueError(f"spaces must be a non-empty subset of ('z', 'w'), got {tuple(spaces)}")
    owned = detector is None
    detector = default_detector() if owned else detector
    try:
        z, w, keypoints = collect(G, detector, num, seed, batch, resolution, truncation)
    finally:
        if owned and hasattr(detector, "close"):
            detector.close()
    latents = {name: {"z": z, "w": w}[name] for name in spaces}
    out = kpl_from_keypoints(latents, keypoints, test_fraction, seed, ridge)
    out.update(resolution=int(resolution or G.resolution), truncation=truncation, seed=seed,
               detector=getattr(detector, "name", type(detector).__name__))
    return out


# -- MediaPipe Face Mesh --------------------------------------------------------------------------
def _face_mesh(mp):
    return mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                           refine_landmarks=False, min_detection_confidence=0.5)


def _detect(mesh, images: np.ndarray, num_landmarks: int = 468) -> np.ndarray:
    out = np.full((len(images), num_landmarks, 2), np.nan)
    for i, img in enumerate(images):
        res = mesh.process(np.ascontiguousarray(img, dtype=np.uint8))
        if res.multi_face_landmarks:
            lm = res.multi_face_landmarks[0].landmark
            out[i] = [(p.x, p.y) for p in lm]  # normalized by image width / height
    return out


class MediapipeFaceMesh:
    """Face Mesh in this process: only where mediapipe imports and runs beside TensorFlow."""

    name = "mediapipe_face_mesh"

    def __init__(self):
        try:
            import mediapipe as mp
            self._mesh = _face_mesh(mp)
        except Exception as e:  # ImportError, or protobuf >= 5 breaking FaceMesh (AttributeError)
            raise DetectorUnavailable(f"{MEDIAPIPE_HINT} (in-process: {type(e).__name__}: {e})") from e

    def __call__(self, images):
        return _detect(self._mesh, images)

    def close(self):
        self._mesh.close()


class MediapipeSubprocess:
    """Face Mesh in another interpreter (a venv with mediapipe==0.10.21 and no TensorFlow).

    One long-lived worker (this file run by path) reads image batches from its stdin and writes
    keypoints to its stdout, each array as a JSON header line and raw bytes.
    """

    name = "mediapipe_face_mesh(subprocess)"

    def __init__(self, python: str):
        python = os.path.expanduser(python)
        if not os.path.exists(python):
            raise DetectorUnavailable(f"{MEDIAPIPE_ENV}={python} does not exist. {MEDIAPIPE_HINT}")
        self._proc = subprocess.Popen([python, os.path.abspath(__file__), "--face-mesh-worker"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = self._proc.stdout.readline()
        if ready.strip() != b"ready":
            self.close()
            raise DetectorUnavailable(f"the MediaPipe worker ({python}) did not start; its error is "
                                      f"above. {MEDIAPIPE_HINT}")

    def __call__(self, images):
        _send(self._proc.stdin, np.ascontiguousarray(images, dtype=np.uint8))
        out = _receive(self._proc.stdout)
        if out is None:
            raise RuntimeError("the MediaPipe worker exited; its error is on stderr")
        return out

    def close(self):
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def default_detector():
    """MediaPipe Face Mesh: in the interpreter named by INR_GAN_MEDIAPIPE_PYTHON, else in-process."""
    python = os.environ.get(MEDIAPIPE_ENV)
    if python:
        return MediapipeSubprocess(python)
    return MediapipeFaceMesh()


def _send(stream, array: np.ndarray) -> None:
    header = {"shape": list(array.shape), "dtype": array.dtype.str}
    stream.write(json.dumps(header).encode() + b"\n")
    stream.write(array.tobytes())
    stream.flush()


def _receive(stream) -> Optional[np.ndarray]:
    line = stream.readline()
    if not line:
        return None
    header = json.loads(line)
    dtype = np.dtype(header["dtype"])
    size = int(np.prod(header["shape"])) * dtype.itemsize
    data = stream.read(size)  # a BufferedReader reads until `size` bytes or end of stream
    if len(data) != size:
        raise RuntimeError(f"truncated array from the MediaPipe worker ({len(data)} of {size} bytes)")
    return np.frombuffer(data, dtype).reshape(header["shape"])


def _worker() -> int:
    """Serves Face Mesh on stdin/stdout; native logging goes to stderr so stdout stays binary."""
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the libraries print (to fd 1) now goes to stderr
    import mediapipe as mp
    mesh = _face_mesh(mp)
    protocol.write(b"ready\n")
    protocol.flush()
    while True:
        images = _receive(sys.stdin.buffer)
        if images is None:
            return 0
        _send(protocol, _detect(mesh, images).astype(np.float64))


if __name__ == "__main__" and sys.argv[1:] == ["--face-mesh-worker"]:
    sys.exit(_worker())
