"""Pixel fidelity of image batches in [0, 1]: PSNR (capped for exact matches) and SSIM.

The one home of both (super-resolution evaluation, projection); renders in [-1, 1] are mapped
with (x + 1) / 2 by the caller. TensorFlow loads inside the functions.
"""
import numpy as np

PSNR_CAP = 100.0  # dB; far beyond float32 rounding of [0, 1] images (about 140 dB is 0 error)


def check_pair(pred, truth):
    pred, truth = np.asarray(pred, np.float32), np.asarray(truth, np.float32)
    if pred.shape != truth.shape or pred.ndim != 4:
        raise ValueError(f"need two image batches [N, H, W, C] of one shape, got {pred.shape} "
                         f"and {truth.shape}")
    return np.clip(pred, 0.0, 1.0), truth


def psnr(pred, truth) -> np.ndarray:
    """[N] PSNR in dB of images in [0, 1] (pred clipped), capped at PSNR_CAP for exact matches."""
    import tensorflow as tf
    pred, truth = check_pair(pred, truth)
    values = tf.image.psnr(pred, truth, max_val=1.0).numpy().astype(np.float64)
    return np.minimum(np.nan_to_num(values, nan=PSNR_CAP, posinf=PSNR_CAP), PSNR_CAP)


def ssim(pred, truth) -> np.ndarray:
    """[N] SSIM of images in [0, 1] (pred clipped); window min(11, H, W)."""
    import tensorflow as tf
    pred, truth = check_pair(pred, truth)
    size = min(11, pred.shape[1], pred.shape[2])
    return tf.image.ssim(pred, truth, max_val=1.0, filter_size=size).numpy().astype(np.float64)
