"""Training: losses (NS + R1), the G EMA, resumable state and the loop.

Only the side-effect-free pieces are re-exported here; `options` defines absl flags on import,
so it is imported explicitly where a CLI needs it.
"""
from inr_gan_tf.training.ema import EMA, clone_generator
from inr_gan_tf.training.losses import GANLoss, r1_penalty, real_logits_and_r1

__all__ = ["EMA", "clone_generator", "GANLoss", "r1_penalty", "real_logits_and_r1"]
