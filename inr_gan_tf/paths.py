"""Files the project keeps and checks: one cache root for every kind of cache, one file digest,
one atomic writer.

Renders of the vector emoji (data/noto_emoji/cache.py), real-side metric statistics and
feature-network weights (metrics/) all live under the root, so one variable moves them all.
"""
import hashlib
import os
import uuid
from typing import BinaryIO, Callable, Optional, Union

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


def check_writable(path: str, folder: bool) -> None:
    """ValueError (one line) unless `path` can be created or written as a folder (folder=True)
    or a file: no file where a folder is needed (the path or one above it), no folder where the
    file goes. Writes nothing."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        if folder and not os.path.isdir(path):
            raise ValueError(f"{path} exists and is not a folder")
        if not folder and os.path.isdir(path):
            raise ValueError(f"{path} is a folder; give a file name")
        return
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{parent} is a file, so {path} cannot be created under it")


def write_atomic(path: str, payload: Union[bytes, str, Callable[[BinaryIO], None]]) -> None:
    """Writes `path` all at once or not at all (STYLE 16): bytes, text or `payload(file)` go to a
    unique temporary name beside it, renamed over `path` when complete; on any failure (disk
    full, Ctrl-C) the temporary file is removed and `path` keeps its previous content."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            if callable(payload):
                payload(f)
            else:
                f.write(payload.encode() if isinstance(payload, str) else payload)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
