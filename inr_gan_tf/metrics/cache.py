"""The real-statistics cache: <cache>/stats/<kind>-<source>-<R>-<num>-<sha256 of the key>.npz.

    arrays = cached(cache, "moments", key, compute)   # compute() once; later calls read it back

Files hold statistics (moments, features, SWD descriptors, ring power, edge counts), never
images. Each file stores its key (with `kind` and _STATS_VERSION); a file written for another
key or version, or one that does not read back whole (truncated, not a zip), is recomputed and
replaced rather than trusted. Writes go to a temporary name in the same folder and are renamed.
"""
import hashlib
import json
import os
import re
import sys
import zipfile
import zlib
from typing import Callable, Dict, Optional

import numpy as np

from inr_gan_tf.paths import write_atomic

# Bump when what a cache file holds changes (2: seeded random subset; 3: statistics,
# features and SWD descriptors only, streamed; no images).
_STATS_VERSION = 3


def _cache_path(cache: str, kind: str, key: dict) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(str(key["source"]).rstrip("/\\")))
    return os.path.join(cache, "stats", f"{kind}-{slug}-{key['resolution']}-{key['num']}-{digest}.npz")


def _read_cache(path: str, key: dict, check: Optional[Callable]) -> Optional[Dict[str, np.ndarray]]:
    """The arrays of a cache file written for `key`, or None (with a warning) if it was written
    for another key or version, cannot be read whole, or fails check(arrays)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if json.loads(str(f["key"])) != key:
                reason = "written for another key or version"
            else:
                arrays = {k: f[k] for k in f.files if k != "key"}
                if check is not None:
                    check(arrays)
                return arrays
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        reason = f"unreadable ({type(e).__name__}: {e})"
    print(f"rebuilding {path}: {reason}", file=sys.stderr)
    return None


def cached(cache: str, kind: str, key: dict, compute: Callable[[], Dict[str, np.ndarray]],
           check: Optional[Callable[[Dict[str, np.ndarray]], None]] = None,
           compress: bool = False) -> Dict[str, np.ndarray]:
    """compute() once per (kind, key); later calls read the .npz back. Writes go to a temporary
    name and are renamed, so an interrupted run leaves no half file; a file that does not read
    back whole under this key, or whose arrays check() rejects (KeyError, ValueError), is
    recomputed and replaced. `compress`: zip-deflate the arrays (SWD descriptors of flat images
    shrink ~10x; costs ~20 MB/s once when written)."""
    key = dict(key, kind=kind, version=_STATS_VERSION)
    path = _cache_path(cache, kind, key)
    if os.path.exists(path):
        arrays = _read_cache(path, key, check)
        if arrays is not None:
            return arrays
    arrays = compute()
    for name, a in arrays.items():  # the cache holds statistics; images would be GBs at 1024^2
        if a.dtype == np.uint8 and a.ndim >= 3:
            raise ValueError(f"refusing to cache images ({name}: {a.shape})")
    save = np.savez_compressed if compress else np.savez
    write_atomic(path, lambda f: save(f, key=json.dumps(key, sort_keys=True), **arrays))
    return arrays
