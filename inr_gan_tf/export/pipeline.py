"""Checkpoint -> saved_models/<name>/<version>/ with every requested artifact, checked on the way out.

    <version>/saved_model.pb, variables/      signatures of modules.GeneratorExport (or BakedImage)
    <version>/assets/model_config.json        G.get_config(): rebuilds the model with no flags
    <version>/assets/provenance.json          checkpoint, step, sha256 of config.json, ...
    <version>/render[_float16|_dynamic_int8].tflite, render.onnx   the render signature
    <version>/previews/image_<S>.png          single-image exports: PNGs of the same image
    <version>/export_summary.json             artifact sizes and parity against the Keras model

Every artifact is run once on random points before the version is renamed into place, and its
largest deviation from the Keras model is recorded: an export that does not reproduce G fails
here rather than in serving. Writing goes through savedmodel.staged (hidden folder, readable
modes, --overwrite as a new version, leftovers of killed exports removed, free space checked).
"""
import json
import os
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from inr_gan_tf import sampling
from inr_gan_tf.export import convert, savedmodel
from inr_gan_tf.restore import resolve_checkpoint, restore_generator
from inr_gan_tf.export.modules import BakedImage, GeneratorExport
from inr_gan_tf.export.validate import DEFAULT_MAX_BATCH, DEFAULT_MAX_POINTS, DEFAULT_TILE_POINTS, check_model_name

FORMATS = ("savedmodel", "tflite", "onnx")
PREVIEW_SIZES = (256, 1024)
# Largest |artifact - Keras| accepted at export, on rgb of about unit scale. Quantized TFLite
# variants change the predicted INR weights (Fourier frequencies amplify the change), so they
# are recorded but not held to a bound here; see README "Export and serving".
TOLERANCE = 1e-4


def parse_list(spec, allowed: Sequence[str], what: str):
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    unknown = sorted(set(items) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; choose from {list(allowed)}")
    return items


def probe_inputs(G, num_points: int = 1000, batch: int = 2, seed: int = 0):
    """z [batch, z_dim] and coords [batch, N, 2] over the zoomed-out frame [-0.5, 1.5]^2."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((batch, G.z_dim)).astype(np.float32)
    coords = rng.uniform(-0.5, 1.5, (batch, num_points, 2)).astype(np.float32)
    return z, coords


def estimate_bytes(weights: int, formats: Sequence[str], tflite_variants: Sequence[str],
                   seed: Optional[int] = None) -> int:
    """Disk space an export needs: each artifact holds the weights once, at its precision."""
    share = {"float32": 1.0, "float16": 0.5, "dynamic_int8": 0.25}
    copies = ("savedmodel" in formats) + ("onnx" in formats)
    copies += sum(share[v] for v in tflite_variants) if "tflite" in formats else 0
    previews = 4 << 20 if seed is not None else 0  # PNGs at 256^2 and 1024^2, at most 3.2 MB raw
    return int(weights * copies) + previews


def _file_size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def export_artifacts(G, export_dir: str, provenance: Optional[dict] = None,
                     formats: Sequence[str] = ("savedmodel",),
                     tflite_variants: Sequence[str] = ("float32",),
                     seed: Optional[int] = None, truncation: float = 1.0,
                     max_points: int = DEFAULT_MAX_POINTS, max_batch: int = DEFAULT_MAX_BATCH,
                     tile_points: int = DEFAULT_TILE_POINTS, overwrite: bool = False,
                     log: Callable[[str], None] = print) -> dict:
    """Writes the artifacts of G (or, with `seed`, of one image) to export_dir; returns the summary.

    summary["export_dir"] is the folder written: export_dir, or with `overwrite` of an existing
    version the next version (summary["replaced"] names the one it deleted; see savedmodel.staged).
    """
    formats = parse_list(formats, FORMATS, "formats")
    tflite_variants = parse_list(tflite_variants, convert.TFLITE_VARIANTS, "TFLite variants")
    z, coords = probe_inputs(G)
    provenance = {**(provenance or {}), "max_points": int(max_points), "tile_points": int(tile_points)}
    if seed is None:
        inputs = {"z": z, "coords": coords}
        reference = G.render(G.params(z), coords).numpy()
        served = GeneratorExport(G, max_points=max_points, max_batch=max_batch, tile_points=tile_points)
        provenance["max_batch"] = int(max_batch)
    else:
        flat = G.hypernet.flat(G.mapping(tf.constant(sampling.seed_latents([seed], G.z_dim)),
                                         truncation=truncation))  # [1, P]
        provenance.update(seed=int(seed), truncation=float(truncation))
        inputs = {"coords": coords[0]}
        reference = G.render(G.param_spec.unflatten(flat), coords[0]).numpy()[0]
        served = BakedImage(G, flat, max_points=max_points, tile_points=tile_points)
    portable = served.portable()  # no Assert or While: TFLite and ONNX have no builtin for them
    summary = {"export_dir": os.path.abspath(export_dir), "provenance": provenance,
               "artifacts": {}, "max_abs_error": {}, "probe": "1000 random points in [-0.5, 1.5]^2"}

    def check(artifact: str, out: np.ndarray, bound: Optional[float]):
        err = float(np.max(np.abs(out - reference)))
        summary["max_abs_error"][artifact] = err
        log(f"  {artifact}: max |error| vs Keras {err:.2e}")
        if bound is not None and not err <= bound:
            raise RuntimeError(f"{artifact} deviates from the Keras model by {err:.3g} > {bound}")

    sizes = summary["artifacts"]
    needed = estimate_bytes(savedmodel.weights_bytes(served.variables), formats, tflite_variants, seed)
    with savedmodel.staged(export_dir, overwrite, needed) as stage:
        tmp = stage.tmp
        summary["export_dir"], summary["replaced"] = stage.final, stage.replaced
        assets = savedmodel.generator_assets(G, provenance)
        if "savedmodel" in formats:
            savedmodel.save_module(served, tmp, assets)
            sizes["saved_model"] = _file_size(os.path.join(tmp, "saved_model.pb")) + _file_size(
                os.path.join(tmp, "variables"))
            loaded = tf.saved_model.load(tmp).signatures["render"]
            check("saved_model", loaded(**{k: tf.constant(v) for k, v in inputs.items()})["rgb"].numpy(), TOLERANCE)
        else:  # the model's description travels with the TFLite/ONNX files all the same
            savedmodel.write_assets(tmp, assets)
        if "tflite" in formats:
            for variant in tflite_variants:
                filename = "render.tflite" if variant == "float32" else f"render_{variant}.tflite"
                blob = convert.to_tflite(portable, variant)
                with open(os.path.join(tmp, filename), "wb") as f:
                    f.write(blob)
                sizes[filename] = len(blob)
                check(filename, convert.TFLiteRunner(blob)(**inputs)["rgb"],
                      TOLERANCE if variant == "float32" else None)
        if "onnx" in formats:
            blob = convert.to_onnx(portable, os.path.join(tmp, "render.onnx"))
            sizes["render.onnx"] = len(blob)
            check("render.onnx", convert.OnnxRunner(blob)(**inputs)["rgb"], TOLERANCE)
        if seed is not None:
            from PIL import Image

            summary["params_bytes_float32"] = int(flat.shape[-1]) * 4
            summary["previews"] = {}
            os.makedirs(os.path.join(tmp, "previews"))
            for size in PREVIEW_SIZES:
                path = os.path.join(tmp, "previews", f"image_{size}.png")
                image = sampling.generate_images(G, [seed], size, size, truncation=truncation)[0]
                Image.fromarray(image).save(path, optimize=True)
                summary["previews"][f"image_{size}.png"] = os.path.getsize(path)
        with open(os.path.join(tmp, "export_summary.json"), "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
    return summary


def destination(checkpoint: str, out_dir: str = "saved_models", name: Optional[str] = None,
                version: Optional[int] = None, seed: Optional[int] = None) -> str:
    """out_dir/name/version; name defaults to the run's folder (+ _seed<S>), version to the next free.

    The name must be one plain folder name (validate.check_model_name): ValueError otherwise.
    """
    if name is not None:
        check_model_name(name)
    else:
        name = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint))))  # run/checkpoints/ckpt-N
        name += f"_seed{seed}" if seed is not None else ""
        try:
            check_model_name(name)
        except ValueError as e:
            raise ValueError(f"{e} (from the run directory); pass --name") from None
    model_dir = os.path.join(out_dir, name)
    return os.path.join(model_dir, str(version or savedmodel.next_version(model_dir)))


def version_formats(formats) -> list:
    """The artifacts of a served version: the SavedModel, then the others of `formats`."""
    return ["savedmodel"] + [f for f in parse_list(formats, FORMATS, "formats") if f != "savedmodel"]


def export_run(run_dir: Optional[str] = None, checkpoint: Optional[str] = None,
               out_dir: str = "saved_models", name: Optional[str] = None,
               version: Optional[int] = None, antialias: Optional[int] = None, **kwargs) -> Dict:
    """G_ema of a run (its latest checkpoint) or of one checkpoint -> out_dir/name/version/.

    A numbered version is what TF Serving loads, so it always holds the SavedModel, whatever
    `formats` names (saved_models/README.md); tflite and onnx go beside it."""
    kwargs["formats"] = version_formats(kwargs.pop("formats", ("savedmodel",)))
    ckpt, _ = resolve_checkpoint(run_dir, checkpoint)
    export_dir = destination(ckpt, out_dir, name, version, kwargs.get("seed"))  # a bad name fails before the restore
    G, provenance = restore_generator(run_dir=run_dir, checkpoint=checkpoint, antialias=antialias)
    return export_artifacts(G, export_dir, provenance, **kwargs)
