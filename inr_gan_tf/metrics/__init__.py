"""Metrics: download-free image-quality signals computed in NumPy.

    swd(reals, fakes, seed=0)          # ProGAN multi-scale sliced Wasserstein distance x1e3
    ref = SWDReference(reals); ref(fakes)   # same, with the real side cached for training
"""
from inr_gan_tf.metrics.swd import SWDReference, sliced_wasserstein, swd

__all__ = ["SWDReference", "sliced_wasserstein", "swd"]
