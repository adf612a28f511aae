"""Where the project keeps what it can rebuild: one cache root for every kind of cache.

Renders of the vector emoji (data/noto_emoji/cache.py), real-side metric statistics and
feature-network weights (metrics/) all live under it, so one variable moves them all.
"""
import os
from typing import Optional

ENV_CACHE = "INR_GAN_CACHE"


def cache_root(override: Optional[str] = None) -> str:
    """override, else $INR_GAN_CACHE, else ~/.cache/inr_gan_tf (not created here)."""
    return override or os.environ.get(ENV_CACHE) or os.path.join(os.path.expanduser("~"), ".cache", "inr_gan_tf")
