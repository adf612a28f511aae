"""SavedModels in TF Serving's layout: saved_models/<name>/<version>/{saved_model.pb, variables/, assets/}.

A version is written to a hidden sibling folder and renamed into place when complete, so a
TF Serving instance polling the model folder never loads a half-written version.
"""
import contextlib
import json
import os
import shutil
import tempfile
from typing import Dict, Optional

import tensorflow as tf

from inr_gan_tf.export.modules import BakedImage, GeneratorExport
from inr_gan_tf.export.validate import DEFAULT_MAX_POINTS


def next_version(model_dir: str) -> int:
    """1 + the highest numbered version in model_dir (1 when there is none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def _write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)


@contextlib.contextmanager
def staged(export_dir: str, overwrite: bool = False):
    """Yields a hidden folder beside export_dir, renamed to export_dir when the block succeeds."""
    if os.path.exists(export_dir) and not overwrite:
        raise FileExistsError(f"{export_dir} exists; pick another version")
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        yield tmp
        if os.path.exists(export_dir):
            shutil.rmtree(export_dir)
        os.replace(tmp, export_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)


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


def export_generator(G, export_dir: str, provenance: Optional[dict] = None,
                     max_points: int = DEFAULT_MAX_POINTS, overwrite: bool = False) -> str:
    """G's SavedModel (signatures of modules.GeneratorExport) with model_config and provenance."""
    with staged(export_dir, overwrite) as tmp:
        save_module(GeneratorExport(G, max_points=max_points), tmp,
                    generator_assets(G, provenance, max_points=int(max_points)))
    return export_dir


def export_image(G, flat_params, export_dir: str, provenance: Optional[dict] = None,
                 overwrite: bool = False) -> str:
    """One image's INR (params baked in; coords [N, 2] -> rgb [N, 3]) as a SavedModel."""
    with staged(export_dir, overwrite) as tmp:
        save_module(BakedImage(G, flat_params), tmp, generator_assets(G, provenance))
    return export_dir


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
