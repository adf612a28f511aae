"""Checkpoint -> saved_models/<name>/<version>/ with every requested artifact, checked on the way out.

    <version>/saved_model.pb, variables/      signatures of modules.GeneratorExport (or BakedImage)
    <version>/assets/model_config.json        G.get_config(): rebuilds the model with no flags
    <version>/assets/provenance.json          checkpoint, step, sha256 of config.json, ...
    <version>/render[_float16|_dynamic_int8].tflite, render.onnx   the render signature
    <version>/previews/image_<S>.png          single-image exports: PNGs of the same image
    <version>/export_summary.json             artifact sizes and parity against the Keras model

Every artifact is run once on random points before the version is renamed into place, and its
largest deviation from the Keras model is recorded: an export that does not reproduce G fails
here rather than in serving.
"""
import json
import os
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from inr_gan_tf import sampling
from inr_gan_tf.export import convert, savedmodel
from inr_gan_tf.export.checkpoint import restore_generator
from inr_gan_tf.export.modules import BakedImage, GeneratorExport
from inr_gan_tf.export.validate import DEFAULT_MAX_POINTS

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


def _file_size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def export_artifacts(G, export_dir: str, provenance: Optional[dict] = None,
                     formats: Sequence[str] = ("savedmodel",),
                     tflite_variants: Sequence[str] = ("float32",),
                     seed: Optional[int] = None, truncation: float = 1.0,
                     max_points: int = DEFAULT_MAX_POINTS, overwrite: bool = False,
                     log: Callable[[str], None] = print) -> dict:
    """Writes the artifacts of G (or, with `seed`, of one image) to export_dir; returns the summary."""
    formats = parse_list(formats, FORMATS, "formats")
    tflite_variants = parse_list(tflite_variants, convert.TFLITE_VARIANTS, "TFLite variants")
    z, coords = probe_inputs(G)
    provenance = {**(provenance or {}), "max_points": int(max_points)}
    if seed is None:
        inputs = {"z": z, "coords": coords}
        reference = G.render(G.params(z), coords).numpy()
        served = GeneratorExport(G, max_points=max_points)
        portable = GeneratorExport(G, checked=False)  # Assert has no TFLite/ONNX builtin
    else:
        flat = G.hypernet.flat(G.mapping(tf.constant(sampling.seed_latents([seed], G.z_dim)),
                                         truncation=truncation))  # [1, P]
        provenance.update(seed=int(seed), truncation=float(truncation))
        inputs = {"coords": coords[0]}
        reference = G.render(G.param_spec.unflatten(flat), coords[0]).numpy()[0]
        served = portable = BakedImage(G, flat)
    summary = {"export_dir": os.path.abspath(export_dir), "provenance": provenance,
               "artifacts": {}, "max_abs_error": {}, "probe": "1000 random points in [-0.5, 1.5]^2"}

    def check(artifact: str, out: np.ndarray, bound: Optional[float]):
        err = float(np.max(np.abs(out - reference)))
        summary["max_abs_error"][artifact] = err
        log(f"  {artifact}: max |error| vs Keras {err:.2e}")
        if bound is not None and not err <= bound:
            raise RuntimeError(f"{artifact} deviates from the Keras model by {err:.3g} > {bound}")

    sizes = summary["artifacts"]
    with savedmodel.staged(export_dir, overwrite) as tmp:
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
    """out_dir/name/version; name defaults to the run's folder (+ _seed<S>), version to the next free."""
    if not name:
        name = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint))))  # run/checkpoints/ckpt-N
        name += f"_seed{seed}" if seed is not None else ""
    model_dir = os.path.join(out_dir, name)
    return os.path.join(model_dir, str(version or savedmodel.next_version(model_dir)))


def export_run(run_dir: Optional[str] = None, checkpoint: Optional[str] = None,
               out_dir: str = "saved_models", name: Optional[str] = None,
               version: Optional[int] = None, **kwargs) -> Dict:
    """G_ema of a run (its latest checkpoint) or of one checkpoint -> out_dir/name/version/."""
    G, provenance = restore_generator(run_dir=run_dir, checkpoint=checkpoint)
    export_dir = destination(provenance["checkpoint"], out_dir, name, version, kwargs.get("seed"))
    return export_artifacts(G, export_dir, provenance, **kwargs)
