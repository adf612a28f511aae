"""Seeds, latents and pixel values with NumPy only, so clients without TensorFlow share them.

Image k depends on seed k only (StyleGAN's convention): each seed draws its own z from its own
NumPy generator. Pixels in [-1, 1] map to uint8 by rounding (x + 1) * 127.5.
"""
import re
from typing import Iterable, List

import numpy as np


MAX_SEED = 2 ** 32 - 1       # NumPy's RandomState takes seeds 0 .. 2^32 - 1
MAX_SEEDS = 10_000_000       # a list longer than this is a typo, not a request (checked before expanding)


def parse_seeds(spec: str) -> List[int]:
    """'0-7,12' -> [0, 1, ..., 7, 12]."""
    ranges = []
    for part in str(spec).split(","):
        part = part.strip()
        m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", part)  # ASCII digits only
        if not m:
            raise ValueError(f"bad seed list {spec!r}: use e.g. '0-7,12'")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"bad seed range {part!r} in {spec!r}")
        if hi > MAX_SEED:
            raise ValueError(f"seed {hi} in {spec!r} is above {MAX_SEED}, the largest latent seed")
        ranges.append((lo, hi))
    count = sum(hi - lo + 1 for lo, hi in ranges)
    if count > MAX_SEEDS:
        raise ValueError(f"{spec!r} names {count} seeds, more than {MAX_SEEDS}")
    return [s for lo, hi in ranges for s in range(lo, hi + 1)]


def format_seeds(seeds: Iterable[int]) -> str:
    """[0, 1, ..., 7, 12] -> '0-7,12' (parse_seeds' inverse on runs of consecutive seeds)."""
    parts, seeds = [], [int(s) for s in seeds]
    i = 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ",".join(parts)


def seed_latents(seeds: Iterable[int], z_dim: int) -> np.ndarray:
    """z [S, z_dim], row k drawn from seed k alone."""
    return np.stack([np.random.RandomState(int(s)).randn(z_dim) for s in seeds]).astype(np.float32)


def to_uint8(images) -> np.ndarray:
    """[-1, 1] float -> uint8 [0, 255]."""
    return np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)
