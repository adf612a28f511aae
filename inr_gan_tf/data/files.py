"""Readers for images stored as files: a folder tree, a .zip, an LSUN lmdb export.

Folder and zip sources validate every file once when constructed (`decode.check_image`), so
`num_examples` is exact before training starts and bad files are logged up front. Decoding at
run time uses the same library (PIL), so a file that passed the scan decodes the same way
later; if one still fails (changed on disk, a corruption the quick PNG check cannot see), it
is skipped and recorded in `stats` rather than crashing the run. Every reader refuses, from
the header and before decoding, an image of more than `max_pixels` pixels (decode.py).

For large datasets, convert once with tools/dataset_tool.py: TFRecord shards at the training
resolution decode in TF's native ops, while these readers decode in Python threads.
"""
import os
import threading
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence

from inr_gan_tf.data.base import DataStats, IndexedSource
from inr_gan_tf.data.decode import (DEFAULT_MAX_PIXELS, check_image, check_max_pixels,
                                    decode_rgb, is_image_name)

_SCAN_THREADS = 8  # PIL releases the GIL while decoding; file reads overlap too


def _scan(names: Sequence[str], read: Callable[[str], bytes], stats: DataStats,
          max_pixels: int) -> List[str]:
    """Returns the names whose bytes are a readable image; records the others in `stats`."""
    def check(name):
        try:
            return check_image(read(name), max_pixels)
        except OSError as e:
            return f'{type(e).__name__}: {e}'

    with ThreadPoolExecutor(_SCAN_THREADS) as pool:
        reasons = list(pool.map(check, names))  # keeps input order: deterministic results
    good = []
    for name, reason in zip(names, reasons):
        if reason is None:
            good.append(name)
        else:
            stats.record_bad(name, reason, log=False)  # reported together by log_scan
    stats.num_examples = len(good)
    stats.log_scan()
    return good


class _BytesSource(IndexedSource):
    """An indexed source whose items are encoded image files named by `self.names`."""

    names: List[str]
    max_pixels: int = DEFAULT_MAX_PIXELS

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def load(self, index, resolution):
        name = self.names[index]
        try:
            return decode_rgb(self.read(name), self.max_pixels)
        except Exception as e:  # any decoder failure means "unreadable", never a crash
            self.stats.record_bad(name, f'{type(e).__name__}: {e}')
            return None


class FolderSource(_BytesSource):
    """All images under a folder, recursively, in sorted relative-path order.

    Matches .png .jpg .jpeg .webp .bmp .gif (any case; an animation gives its first frame).
    Symlinked folders are not followed, so a link loop cannot make the walk endless.
    """

    def __init__(self, path: str, *, scan: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS):
        if not os.path.isdir(path):
            raise FileNotFoundError(f'image folder {path!r} does not exist')
        self.max_pixels = check_max_pixels(max_pixels)
        self.root = os.path.abspath(path)
        self.name = path
        names = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for f in filenames:
                if is_image_name(f):
                    names.append(os.path.relpath(os.path.join(dirpath, f), self.root))
        names.sort()
        self.stats = DataStats(path, len(names))
        self.names = _scan(names, self.read, self.stats, self.max_pixels) if scan else names
        self.skips_undecoded = scan  # unscanned, bad files are met while training (as LSUN's)

    def read(self, name):
        with open(os.path.join(self.root, name), 'rb') as f:
            return f.read()


class ZipSource(_BytesSource):
    """Images anywhere inside a .zip (the StyleGAN2-ADA dataset layout), sorted by name.

    A dataset.json (class labels) is ignored: these are unconditional models. macOS
    `__MACOSX/` resource-fork entries are not images and are left out without a report.
    """

    def __init__(self, path: str, *, scan: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS):
        if not os.path.isfile(path):
            raise FileNotFoundError(f'zip file {path!r} does not exist')
        self.max_pixels = check_max_pixels(max_pixels)
        self.path = path
        self.name = path
        self._local = threading.local()
        try:
            names = self._zip().namelist()
        except zipfile.BadZipFile as e:
            raise ValueError(f'{path!r} is not a readable zip file: {e}') from None
        names = sorted(n for n in names
                       if is_image_name(n) and not n.endswith('/')
                       and not n.startswith('__MACOSX/'))
        self.stats = DataStats(path, len(names))
        self.names = _scan(names, self.read, self.stats, self.max_pixels) if scan else names
        self.skips_undecoded = scan  # unscanned, bad files are met while training (as LSUN's)

    def _zip(self) -> zipfile.ZipFile:
        # One handle per thread: reads from parallel tf.data threads never share a file offset.
        zf = getattr(self._local, 'zf', None)
        if zf is None:
            zf = self._local.zf = zipfile.ZipFile(self.path)
        return zf

    def read(self, name):
        try:
            return self._zip().read(name)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:  # bad CRC, cut short
            raise OSError(f'{type(e).__name__}: {e}') from None


class LsunSource(_BytesSource):
    """An LSUN category exported as lmdb (key: image id, value: encoded webp/jpeg bytes).

    Needs the optional `lmdb` package (pip install lmdb). Only the keys are listed up front:
    LSUN categories hold up to 3M images, too many to validate at start-up, so unreadable
    values are found, skipped and recorded while training (and by tools/dataset_tool.py, which
    reads everything once).
    """

    # Unreadable values are met while training, so a resume decodes what it skips (pipeline.py)
    # to keep the stream's counters, and with them its flips and windows, exact.
    skips_undecoded = False

    def __init__(self, path: str, *, max_images: Optional[int] = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        try:
            import lmdb  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise ImportError(f'reading lsun:{path} needs the optional lmdb package: '
                              'pip install lmdb') from None
        if not os.path.exists(path):
            raise FileNotFoundError(f'lmdb export {path!r} does not exist')
        self.name = f'lsun:{path}'
        self.path = path
        self.max_pixels = check_max_pixels(max_pixels)
        self._env = lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False,
                              max_readers=256, subdir=os.path.isdir(path))
        self._local = threading.local()
        with self._env.begin(write=False) as txn:
            keys = []
            for key in txn.cursor().iternext(keys=True, values=False):
                keys.append(bytes(key))
                if max_images is not None and len(keys) >= max_images:
                    break
        self._keys = keys
        self.names = [k.decode('utf-8', 'backslashreplace') for k in keys]
        self._index = dict(zip(self.names, keys))
        self.stats = DataStats(self.name, len(keys))
        self.stats.log_scan()

    def read(self, name):
        txn = getattr(self._local, 'txn', None)
        if txn is None:
            txn = self._local.txn = self._env.begin(write=False)
        value = txn.get(self._index[name])
        if value is None:
            raise OSError(f'key {name!r} vanished from {self.path}')
        return bytes(value)
