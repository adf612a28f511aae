"""SavedModels in TF Serving's layout: saved_models/<name>/<version>/{saved_model.pb, variables/, assets/}.

What a TF Serving instance polling <name>/ can see (`staged`):
  * a version is written to a hidden `.tmp-*` sibling and renamed into place when complete, so
    the newest numbered folder always holds a whole SavedModel, readable by other users (0755
    folders, 0644 files; tempfile.mkdtemp alone makes 0700);
  * overwriting version N writes the replacement as the next free version and only then moves N
    aside (to a hidden name) and deletes it. The served version is never missing or partial, and
    TF Serving loads the new number (it never reloads a number it already serves);
  * exports to one model folder take an flock on it; under the lock, `.tmp-*`, `.old-*` and
    `*_temp` entries can only be leftovers of killed or failed exports, and are removed first;
  * free space is checked against an estimate before writing, and a disk that fills anyway
    leaves no partial output, only a one-line DiskFullError naming the space needed.
"""
import contextlib
import errno
import json
import os
import shutil
import tempfile
from typing import Dict, List, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from inr_gan_tf.export.modules import BakedImage, GeneratorExport
from inr_gan_tf.export.validate import DEFAULT_MAX_BATCH, DEFAULT_MAX_POINTS, DEFAULT_TILE_POINTS

TEMP_PREFIX, OLD_PREFIX, TEMP_SUFFIX = ".tmp-", ".old-", "_temp"  # the last: TF's sharded-save temp folders
DIR_MODE, FILE_MODE = 0o755, 0o644
GRAPH_BYTES = 16 << 20  # room for saved_model.pb, assets and summaries in the free-space check (0.2-0.3 MB measured)


class DiskFullError(OSError):
    """The disk cannot hold the export; nothing partial was left behind. str(): one line."""

    def __init__(self, message: str):
        super().__init__(message)
        self.errno = errno.ENOSPC


class ExportLockedError(RuntimeError):
    """Another export is writing the same model folder."""


def next_version(model_dir: str) -> int:
    """1 + the highest numbered version in model_dir (1 when there is none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def _write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _tree_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _free_bytes(path: str) -> int:
    while not os.path.exists(path):  # the nearest folder that exists holds what will be written
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def _is_disk_full(e: BaseException) -> bool:
    while e is not None:  # TF's file system errors carry errno's text, Python's carry the errno
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def _makedirs_readable(path: str) -> None:
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for d in reversed(missing):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, DIR_MODE)  # the server may run as another user; umask could say otherwise


def _make_readable(root: str) -> None:
    os.chmod(root, DIR_MODE)
    for d, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(d, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(d, name), FILE_MODE)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def remove_leftovers(model_dir: str) -> List[str]:
    """Deletes the temp folders of killed or failed exports in model_dir (call under `_locked`)."""
    stale = sorted(e for e in os.listdir(model_dir)
                   if e.startswith((TEMP_PREFIX, OLD_PREFIX)) or e.endswith(TEMP_SUFFIX))
    for name in stale:
        _remove(os.path.join(model_dir, name))
    return stale


@contextlib.contextmanager
def _locked(model_dir: str):
    """An exclusive flock on the model folder itself (no lock file left behind); none without fcntl."""
    try:
        import fcntl
    except ImportError:  # Windows: one exporter at a time is then up to the user
        yield
        return
    fd = os.open(model_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportLockedError(f"another export is writing {model_dir}; wait for it to finish") from None
        yield
    finally:
        os.close(fd)  # releases the lock


class Stage(NamedTuple):
    tmp: str                 # the hidden folder to write
    final: str               # where it is renamed when complete
    replaced: Optional[str]  # the version it replaces (--overwrite), deleted after the rename


@contextlib.contextmanager
def staged(export_dir: str, overwrite: bool = False, needed_bytes: int = 0):
    """Yields a Stage; its hidden folder becomes stage.final when the block succeeds.

    stage.final is export_dir unless that exists and overwrite is set: then it is the next free
    version of the same model folder (export_dir is deleted once the new version is in place).
    An export_dir that is not a version number is replaced by two renames instead.
    """
    export_dir = os.path.abspath(export_dir)
    model_dir = os.path.dirname(export_dir)
    if os.path.exists(export_dir) and not overwrite:  # validate, then write
        raise FileExistsError(f"{export_dir} exists; pick another version or pass --overwrite")
    needed = int(needed_bytes) + GRAPH_BYTES
    free = _free_bytes(model_dir)
    if needed > free:
        raise DiskFullError(f"not enough space for the export under {model_dir}: it needs about "
                            f"{_mb(needed)} and {_mb(free)} is free")
    created = not os.path.isdir(model_dir)
    _makedirs_readable(model_dir)
    with _locked(model_dir):
        remove_leftovers(model_dir)
        final, replaced = export_dir, None
        if os.path.exists(export_dir):
            if not overwrite:  # another export took it since the check above
                raise FileExistsError(f"{export_dir} exists; pick another version or pass --overwrite")
            replaced = export_dir
            if os.path.basename(export_dir).isdigit():
                final = os.path.join(model_dir, str(next_version(model_dir)))
        tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=model_dir)
        aside = os.path.join(model_dir, OLD_PREFIX + os.path.basename(export_dir))
        try:
            yield Stage(tmp, final, replaced)
            _make_readable(tmp)
            if replaced and final == replaced:  # not a version number: two renames, a moment without it
                os.rename(replaced, aside)
            os.rename(tmp, final)
        except BaseException as e:
            if replaced and not os.path.exists(replaced) and os.path.exists(aside):
                os.rename(aside, replaced)
            written = _tree_bytes(tmp) if os.path.isdir(tmp) else 0
            _remove(tmp)
            if created:
                with contextlib.suppress(OSError):  # only if empty: a model folder that nothing else used
                    os.rmdir(model_dir)
            if _is_disk_full(e):
                raise DiskFullError(f"no space left on device writing {final}: the export needs more than "
                                    f"{_mb(max(needed, written))} ({_mb(written)} written when the disk filled) and "
                                    f"{_mb(_free_bytes(model_dir))} is free; the partial output was removed") from None
            raise
        if replaced and final != replaced:
            os.rename(replaced, aside)  # hidden first: a half-deleted version is never visible
        _remove(aside)


def write_assets(export_dir: str, assets: Dict[str, dict]) -> None:
    """JSON files in export_dir/assets/ (model_config.json, provenance.json)."""
    os.makedirs(os.path.join(export_dir, "assets"), exist_ok=True)
    for filename, obj in assets.items():
        _write_json(os.path.join(export_dir, "assets", filename), obj)


def save_module(module: tf.Module, export_dir: str, assets: Optional[Dict[str, dict]] = None) -> str:
    """tf.saved_model.save of module's signatures, with JSON files in assets/."""
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    write_assets(export_dir, assets or {})
    return export_dir


def generator_assets(G, provenance: Optional[dict] = None, **extra) -> Dict[str, dict]:
    return {"model_config.json": G.get_config(), "provenance.json": {**(provenance or {}), **extra}}


def weights_bytes(variables) -> int:
    """Bytes of the variables' values: what variables/ will hold."""
    return sum(int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size for v in variables)


def export_generator(G, export_dir: str, provenance: Optional[dict] = None,
                     max_points: int = DEFAULT_MAX_POINTS, max_batch: int = DEFAULT_MAX_BATCH,
                     tile_points: int = DEFAULT_TILE_POINTS, overwrite: bool = False) -> str:
    """G's SavedModel (signatures of modules.GeneratorExport) with model_config and provenance.

    Returns the folder written: export_dir, or with overwrite the next version (see `staged`).
    """
    module = GeneratorExport(G, max_points=max_points, max_batch=max_batch, tile_points=tile_points)
    limits = dict(max_points=int(max_points), max_batch=int(max_batch), tile_points=int(tile_points))
    with staged(export_dir, overwrite, weights_bytes(G.weights)) as stage:
        save_module(module, stage.tmp, generator_assets(G, provenance, **limits))
    return stage.final


def export_image(G, flat_params, export_dir: str, provenance: Optional[dict] = None,
                 max_points: int = DEFAULT_MAX_POINTS, tile_points: int = DEFAULT_TILE_POINTS,
                 overwrite: bool = False) -> str:
    """One image's INR (params baked in; coords [N, 2] -> rgb [N, 3]) as a SavedModel."""
    module = BakedImage(G, flat_params, max_points=max_points, tile_points=tile_points)
    with staged(export_dir, overwrite, weights_bytes(module.variables)) as stage:
        save_module(module, stage.tmp, generator_assets(G, provenance, max_points=int(max_points),
                                                        tile_points=int(tile_points)))
    return stage.final


def signature_table(export_dir: str) -> Dict[str, dict]:
    """{signature: {"inputs": {name: (dtype, shape)}, "outputs": {...}}} from saved_model.pb.

    Read from the proto itself (what TF Serving reads), with -1 for dynamic dimensions.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    meta = next(m for m in sm.meta_graphs if "serve" in m.meta_info_def.tags)

    def table(tensors):
        return {k: (tf.dtypes.as_dtype(v.dtype).name,
                    None if v.tensor_shape.unknown_rank else [d.size for d in v.tensor_shape.dim])
                for k, v in tensors.items()}

    return {name: {"inputs": table(sig.inputs), "outputs": table(sig.outputs)}
            for name, sig in meta.signature_def.items() if not name.startswith("__")}
