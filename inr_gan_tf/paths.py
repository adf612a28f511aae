"""Files the project keeps and checks: one cache root for every kind of cache, one file digest.

Renders of the vector emoji (data/noto_emoji/cache.py), real-side metric statistics and
feature-network weights (metrics/) all live under the root, so one variable moves them all.
"""
import hashlib
import os
from typing import Optional

ENV_CACHE = "INR_GAN_CACHE"


def cache_root(override: Optional[str] = None) -> str:
    """override, else $INR_GAN_CACHE, else ~/.cache/inr_gan_tf (not created here)."""
    return override or os.environ.get(ENV_CACHE) or os.path.join(os.path.expanduser("~"), ".cache", "inr_gan_tf")


def file_sha256(path: str) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks (shards and caches can be GBs)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
