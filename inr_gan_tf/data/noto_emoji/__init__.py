"""The embedded default dataset: 1731 Noto emoji as vector images, exact at any resolution.

Shipped as icons.json.xz: the JSON object {name: SVG body} of the base icons (no skin-tone
variants, no duplicates; the rule is in tools/build_noto_emoji.py), sorted by name, on the
icons' 128 x 128 view box, from the npm package pinned in pins.json (Apache-2.0; see NOTICE and
LICENSE here). Image k is the k-th name. `render.py` rasterizes a body at any size and window of
the frame [0, 1]^2 (inr_gan_tf.coords); whole-set renders are cached on disk per size and window
(`cache.py`), so a training run renders each image once.

    images = load_noto_emoji(64)                    # uint8 [1731, 64, 64, 3], cached
    tile = render_noto_emoji(5, 32, 32, (0.25, 0.25, 0.75, 0.75))  # the centre, at 64 px/frame
"""
import functools
import hashlib
import importlib.metadata
import json
import lzma
import os
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from inr_gan_tf.coords import UNIT_BOUNDS, check_bounds
from inr_gan_tf.data.noto_emoji import cache
from inr_gan_tf.data.noto_emoji.render import check_sampling, check_size, render_many, render_svg

NOTO_DIR = os.path.dirname(os.path.abspath(__file__))
ARCHIVE_PATH = os.path.join(NOTO_DIR, 'icons.json.xz')
PINS_PATH = os.path.join(NOTO_DIR, 'pins.json')
# Bump when the bytes of a render change for the same inputs (the <svg> wrapper, colours, ...).
RENDER_VERSION = 1

Icons = Tuple[Tuple[str, ...], Tuple[str, ...]]  # (names, bodies), sorted by name


@functools.lru_cache(maxsize=None)
def pins() -> dict:
    """Package name/version, count, view box and the pinned sha256s (tarball, JSON, archive)."""
    with open(PINS_PATH) as f:
        return json.load(f)


def verify_noto_emoji() -> bytes:
    """The archive's bytes; raises a one-line error naming the file if missing or not pinned."""
    if not os.path.exists(ARCHIVE_PATH):
        raise FileNotFoundError(f'{ARCHIVE_PATH} is missing: the package data was not installed '
                                '(reinstall inr_gan_tf)')
    with open(ARCHIVE_PATH, 'rb') as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != pins()['archive_sha256']:
        raise ValueError(f'{ARCHIVE_PATH} has sha256 {digest}, expected '
                         f'{pins()["archive_sha256"]} (pins.json): a corrupt or partial copy; '
                         'reinstall the package or rebuild with tools/build_noto_emoji.py')
    return data


@functools.lru_cache(maxsize=None)
def load_icons() -> Icons:
    """(names, bodies) of the shipped set, checked against pins.json; read once per process."""
    data = verify_noto_emoji()
    try:
        icons = json.loads(lzma.decompress(data).decode('utf-8'))
    except (lzma.LZMAError, ValueError) as e:  # only if pins.json itself was edited wrongly
        raise ValueError(f'{ARCHIVE_PATH}: not an xz-compressed JSON object ({e})') from None
    if len(icons) != pins()['count']:
        raise ValueError(f'{ARCHIVE_PATH} holds {len(icons)} icons, pins.json says '
                         f'{pins()["count"]}')
    names = tuple(sorted(icons))
    return names, tuple(icons[n] for n in names)


@functools.lru_cache(maxsize=8)
def icons_digest(icons: Icons) -> str:
    """sha256 of a (names, bodies) set: the cache key part that names the content."""
    h = hashlib.sha256()
    for name, body in zip(*icons):
        h.update(json.dumps([name, body]).encode('utf-8'))
    return h.hexdigest()


def render_noto_emoji(index: int, height: int, width: int,
                      bounds: Sequence[float] = UNIT_BOUNDS) -> np.ndarray:
    """Shipped emoji `index` at H x W over `bounds` -> uint8 [H, W, 3] (not cached)."""
    names, bodies = load_icons()
    if not 0 <= int(index) < len(names):
        raise IndexError(f'noto_emoji index {index} out of range [0, {len(names)})')
    return render_svg(bodies[int(index)], height, width, bounds)


def render_set(icons: Icons, height: int, width: int,
               bounds: Sequence[float] = UNIT_BOUNDS, *, cache_dir: Optional[str] = None,
               sampling: str = 'area') -> Tuple[np.ndarray, List[Tuple[str, str]]]:
    """Every icon at H x W over `bounds` (pixels sampled as render.SAMPLINGS), through the
    disk cache.

    Returns (uint8 [N, H, W, 3] read-only, [(name, reason)] of the icons resvg refused, left
    white in the array). `cache_dir` defaults to cache.cache_root()/noto_emoji.
    """
    height, width = check_size(height, width)
    bounds = check_bounds(bounds)
    key = {'format': 1, 'render_version': RENDER_VERSION, 'icons': icons_digest(icons),
           'resvg_py': importlib.metadata.version('resvg-py'), 'height': height,
           'width': width, 'bounds': list(bounds)}
    stem = f'noto_emoji-{height}x{width}'
    if check_sampling(sampling) != 'area':  # area keys (and caches) stay as they were
        key['sampling'] = sampling
        stem += f'-{sampling}'

    def build():
        images, bad = render_many(icons[0], icons[1], height, width, bounds, sampling=sampling)
        return images, {'bad': bad}

    images, meta = cache.load_or_build(key, stem, build, cache_dir=cache_dir)
    return images, [tuple(b) for b in meta.get('bad', [])]


def load_noto_emoji(resolution: int = 64, *, with_names: bool = False,
                    bounds: Sequence[float] = UNIT_BOUNDS, cache_dir: Optional[str] = None
                    ) -> Union[np.ndarray, Tuple[np.ndarray, List[str]]]:
    """The shipped emoji rendered at R x R (over `bounds`): uint8 [N, R, R, 3], read-only.

    The first call per (R, bounds) renders the set into the disk cache (~4 s at 32, ~40 s at
    256 on one core); later calls check its sha256 and memory-map it (0.01 s at 32, 0.5 s at
    256). Icons resvg refuses are left out (and
    out of the names); NotoEmojiSource reports them in its DataStats.
    """
    icons = load_icons()
    images, bad = render_set(icons, resolution, resolution, bounds, cache_dir=cache_dir)
    if bad:
        refused = {name for name, _ in bad}
        keep = [i for i, n in enumerate(icons[0]) if n not in refused]
        images, names = images[keep], [icons[0][i] for i in keep]
    else:
        names = list(icons[0])
    return (images, names) if with_names else images
