"""Exponential moving average of G's weights by half-life in images (StyleGAN2-ADA training_loop).

    ema_nimg = ema_kimg * 1000                       (images over which the EMA halves)
    ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)  (ramp-up: short memory early in training)
    beta     = 0.5 ** (batch_size / ema_nimg)
    p_ema    = p + (p_ema - p) * beta                (trainable variables)
    b_ema    = b                                     (non-trainable state, e.g. mapping.w_avg)

A half-life in images, not a per-step decay, keeps the averaging window the same when the batch
size changes. All of it is TF ops, so `update` runs inside tf.function with a tensor `cur_nimg`.
"""
from typing import Optional

import tensorflow as tf

from inr_gan_tf.model.generator import Generator, build_generator


class EMA:
    """Half-life EMA of a generator's weights into a copy of it (see `clone_generator`)."""

    def __init__(self, ema_kimg: float = 10.0,              # half-life in thousands of images
                 ema_rampup: Optional[float] = 0.05):       # None/0: no ramp-up; else fraction of images seen
        if ema_kimg < 0:
            raise ValueError(f"ema_kimg must be >= 0, got {ema_kimg}")
        if ema_rampup is not None and ema_rampup < 0:
            raise ValueError(f"ema_rampup must be None or >= 0, got {ema_rampup}")
        self.ema_kimg = float(ema_kimg)
        self.ema_rampup = float(ema_rampup) if ema_rampup else None

    def beta(self, cur_nimg, batch_size) -> tf.Tensor:
        """The decay for one step after `cur_nimg` images at `batch_size` images per step (float32)."""
        # float64 so that large image counts (tens of millions) are exact; beta itself is float32.
        ema_nimg = tf.constant(self.ema_kimg * 1000.0, tf.float64)
        if self.ema_rampup is not None:
            ema_nimg = tf.minimum(ema_nimg, tf.cast(cur_nimg, tf.float64) * self.ema_rampup)
        beta = tf.pow(tf.constant(0.5, tf.float64),
                      tf.cast(batch_size, tf.float64) / tf.maximum(ema_nimg, 1e-8))
        return tf.cast(beta, tf.float32)

    def update(self, G, G_ema, cur_nimg, batch_size) -> tf.Tensor:
        """Moves G_ema toward G by one step; copies G's non-trainable state. Returns beta."""
        beta = self.beta(cur_nimg, batch_size)
        for p, p_ema in _paired(G.trainable_variables, G_ema.trainable_variables):
            b = tf.cast(beta, p_ema.dtype)
            p_ema.assign(p + (p_ema - p) * b)  # = lerp(p, p_ema, beta), as StyleGAN2-ADA writes it
        for v, v_ema in _paired(G.non_trainable_variables, G_ema.non_trainable_variables):
            v_ema.assign(v)
        return beta


def _paired(src, dst):
    """Variables of two models built from one config, checked to correspond one to one."""
    if len(src) != len(dst):
        raise ValueError(f"EMA models differ: {len(src)} vs {len(dst)} variables; "
                         "build the EMA copy with clone_generator(G)")
    for a, b in zip(src, dst):
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"EMA variable mismatch: {a.path} {tuple(a.shape)} vs {b.path} {tuple(b.shape)}")
    return zip(src, dst)


def clone_generator(G: Generator) -> Generator:
    """A new Generator from G.get_config() holding a copy of all of G's weights (incl. w_avg)."""
    G_copy = build_generator(G.get_config())
    for a, b in _paired(G.variables, G_copy.variables):
        b.assign(a)
    return G_copy
