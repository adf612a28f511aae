"""A disk cache of whole-set renders: one .npy per key, checked by a sha256 sidecar.

    <cache>/noto_emoji/<stem>-<digest>.npy     uint8 [N, H, W, 3]
    <cache>/noto_emoji/<stem>-<digest>.json    {"key", "sha256", "shape", "meta"}

<cache> is $INR_GAN_CACHE, else ~/.cache/inr_gan_tf. The key names everything the bytes
depend on (icon set digest, size, window, renderer version, cache format), and its digest is in
the file name, so another version never even opens a stale file. A file is used only if its
sidecar holds the same key and the file's sha256 matches; anything else (a partial copy, a
flipped bit, a file from another version) is rebuilt, never trusted. Both files are written
under temporary names and renamed, the array first, so a reader never sees a half-written
pair; two processes filling the same key write the same bytes and the last rename wins.
"""
import hashlib
import json
import os
from typing import Callable, Optional, Tuple

import numpy as np
from absl import logging

from inr_gan_tf import paths as project_paths

ENV_VAR = project_paths.ENV_CACHE


def cache_root() -> str:
    """The project's cache root ($INR_GAN_CACHE, else ~/.cache/inr_gan_tf; not created here)."""
    return project_paths.cache_root()


file_sha256 = project_paths.file_sha256  # the one file digest; tests call it from here


def paths(key: dict, stem: str, cache_dir: Optional[str] = None) -> Tuple[str, str]:
    """(array path, sidecar path) of `key` under `cache_dir` (default: cache_root()/noto_emoji)."""
    folder = cache_dir or os.path.join(cache_root(), 'noto_emoji')
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    base = os.path.join(folder, f'{stem}-{digest}')
    return base + '.npy', base + '.json'


def _read(key: dict, npy: str, sidecar: str) -> Tuple[Optional[np.ndarray], dict, str]:
    """(memory-mapped array, meta, '') if the pair is valid, else (None, {}, why not)."""
    if not os.path.exists(npy) or not os.path.exists(sidecar):
        return None, {}, 'missing'
    try:
        with open(sidecar) as f:
            side = json.load(f)
        if side.get('key') != key:
            return None, {}, 'sidecar is for another key'
        digest = file_sha256(npy)
        if digest != side.get('sha256'):
            return None, {}, f'sha256 {digest} != sidecar {side.get("sha256")}'
        array = np.load(npy, mmap_mode='r', allow_pickle=False)
    except (OSError, ValueError) as e:  # unreadable JSON or .npy header
        return None, {}, f'{type(e).__name__}: {e}'
    if list(array.shape) != side.get('shape') or array.dtype != np.uint8:
        return None, {}, f'array {array.dtype}{list(array.shape)} != sidecar {side.get("shape")}'
    return array, side.get('meta', {}), ''


def load_or_build(key: dict, stem: str, build: Callable[[], Tuple[np.ndarray, dict]], *,
                  cache_dir: Optional[str] = None) -> Tuple[np.ndarray, dict]:
    """The cached (uint8 array, meta) for `key`, calling `build()` and storing it on a miss.

    Returns a read-only array (memory-mapped on a hit). An unwritable cache is a warning, not
    an error: the array built in memory is returned all the same.
    """
    npy, sidecar = paths(key, stem, cache_dir)
    array, meta, why = _read(key, npy, sidecar)
    if array is not None:
        return array, meta
    if why != 'missing':
        logging.warning('rebuilding cache file %s: %s', npy, why)
    array, meta = build()
    array = np.ascontiguousarray(array, dtype=np.uint8)
    try:
        os.makedirs(os.path.dirname(npy), exist_ok=True)
        project_paths.write_atomic(npy, lambda f: np.save(f, array, allow_pickle=False))
        side = {'key': key, 'sha256': file_sha256(npy), 'shape': list(array.shape), 'meta': meta}
        project_paths.write_atomic(sidecar, json.dumps(side, indent=1))
    except OSError as e:
        logging.warning('could not write cache file %s (%s); renders stay in memory', npy, e)
    array.setflags(write=False)
    return array, meta
