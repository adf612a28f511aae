"""Export and serving: G_ema -> SavedModel (TF Serving layout), TFLite, ONNX, one-image INRs.

    python -m inr_gan_tf.export --run_dir=runs/quickstart --formats=savedmodel,tflite,onnx

Modules (import what you need; only `validate` is imported here, since it is numpy-only and
serving clients use it without TensorFlow):
  checkpoint - G_ema and provenance from a run directory or checkpoint
  modules    - GeneratorExport (signatures) and BakedImage (one image, coords -> rgb)
  savedmodel - TF Serving layout, staged writes, signature table from saved_model.pb
  convert    - TFLite and ONNX conversion, TFLiteRunner and OnnxRunner
  pipeline   - export_run / export_artifacts, used by `python -m inr_gan_tf.export`
  validate   - request checks of tools/serving_client.py (the SavedModel guards in-graph too)
"""
from inr_gan_tf.export.validate import DEFAULT_MAX_POINTS, RequestError, validate_grid_request, validate_render_request

__all__ = ["DEFAULT_MAX_POINTS", "RequestError", "validate_grid_request", "validate_render_request"]
