"""The embedded default dataset: 1911 Noto Color Emoji at 64x64 RGB on white.

Shipped as noto_emoji.npz (uint8 `images` [N, 64, 64, 3], `names`, `unified` code points,
sorted by code point), built by tools/build_noto_emoji.py from the npm package pinned in
pins.json. Licence: Apache-2.0 images (see NOTICE, LICENSE, LICENSE-APACHE-2.0 here).
"""
import functools
import hashlib
import json
import os
from typing import List, Tuple, Union

import numpy as np

NOTO_DIR = os.path.dirname(os.path.abspath(__file__))
NPZ_PATH = os.path.join(NOTO_DIR, 'noto_emoji.npz')
PINS_PATH = os.path.join(NOTO_DIR, 'pins.json')
RESOLUTION = 64


@functools.lru_cache(maxsize=None)
def pins() -> dict:
    """Package name/version and the pinned sha256s of its tarball, the .npz and its content."""
    with open(PINS_PATH) as f:
        return json.load(f)


def file_sha256(path: str = NPZ_PATH) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def verify_noto_emoji() -> None:
    """Raises if the shipped .npz is not the pinned file (e.g. a Git LFS pointer, a bad copy)."""
    digest = file_sha256()
    if digest != pins()['npz_sha256']:
        raise ValueError(f'{NPZ_PATH} has sha256 {digest}, expected {pins()["npz_sha256"]}; '
                         'reinstall the package or rebuild with tools/build_noto_emoji.py')


@functools.lru_cache(maxsize=None)
def _load() -> Tuple[np.ndarray, Tuple[str, ...]]:
    if not os.path.exists(NPZ_PATH):
        raise FileNotFoundError(f'{NPZ_PATH} is missing: the package data was not installed')
    with np.load(NPZ_PATH, allow_pickle=False) as npz:
        images = npz['images']
        names = tuple(str(n) for n in npz['names'])
    if images.shape != (pins()['count'], RESOLUTION, RESOLUTION, 3) or images.dtype != np.uint8:
        raise ValueError(f'{NPZ_PATH}: unexpected array {images.dtype}{list(images.shape)}')
    images.setflags(write=False)  # shared by every caller through the cache
    return images, names


def load_noto_emoji(*, with_names: bool = False
                    ) -> Union[np.ndarray, Tuple[np.ndarray, List[str]]]:
    """uint8 [1911, 64, 64, 3] (read-only, cached), and optionally the emoji names."""
    images, names = _load()
    return (images, list(names)) if with_names else images
