"""Metrics: image-quality signals and a registry that records them per run.

    swd(reals, fakes, seed=0)          # ProGAN multi-scale sliced Wasserstein distance x1e3
    ref = SWDReference(reals); ref(fakes)   # same, with the real side cached for training
    frechet_distance, kid, precision_recall  # feature-space statistics (fid.py)
    calc_metric('swd', G, 'noto_emoji', run_dir=...)   # registry.py; `python -m inr_gan_tf.metrics`
    real_vs_real('patch_swd', 'procedural', 32, num=512)  # the same metric, reals in G's place
    spectral_distance(reals, fakes)    # log10 radial power spectrum gaps per band (spectral.py)
    patch_swd(reals_4r, fakes_4r, size=32)   # SWD of random crops at high resolution (patches.py)
    FeatureStats, FeatureReservoir, DescriptorSet   # the streamed state of FID, KID/PR, SWD

Importing the package loads NumPy only: the SWD runs in processes without TensorFlow, and the
registry, features and statistics (TensorFlow, SciPy) load on first use of their names.
"""
import importlib

from inr_gan_tf.metrics.swd import DescriptorSet, SWDReference, sliced_wasserstein, swd

_LAZY = {
    "frechet_distance": "fid", "feature_moments": "fid", "fid_from_features": "fid",
    "kid": "fid", "precision_recall": "fid", "FeatureStats": "fid", "FeatureReservoir": "fid",
    "FeatureExtractor": "features", "load_feature_extractor": "features",
    "calc_metric": "registry", "list_metrics": "registry", "register_metric": "registry",
    "real_vs_real": "registry", "spectral_distance": "spectral", "patch_swd": "patches",
}

__all__ = ["DescriptorSet", "SWDReference", "sliced_wasserstein", "swd", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"inr_gan_tf.metrics.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'inr_gan_tf.metrics' has no attribute {name!r}")
