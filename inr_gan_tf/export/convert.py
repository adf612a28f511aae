"""TFLite (LiteRT) and ONNX artifacts of the render signature, and runners for them.

Both convert the same graph as the SavedModel (modules.py) without its in-graph guards and tiles
(module.portable(): Assert and While have no TFLite or ONNX builtin here). Nothing bounds a
request in these files: validate it with export/validate.py first (the SavedModel's checks, the
same limits), and keep max_points there to what the device's memory holds, since these render
all points in one call. Batch and
point counts stay dynamic: TFLite inputs are [-1, z_dim] and [-1, -1, 2] (resize before each
shape), ONNX axes are named "batch" and "points".

Quantization (TFLite only) touches the constant weights: mapping, hypernetwork connector and
the FMM shared weights. The INR's predicted weights are activations and stay float32.
"""
from typing import Dict

import numpy as np
import tensorflow as tf

TFLITE_VARIANTS = ("float32", "float16", "dynamic_int8")
ONNX_OPSET = 17


def _portable(module):
    return module.portable() if hasattr(module, "portable") else module


def to_tflite(module, variant: str = "float32") -> bytes:
    """A TFLite flatbuffer of module.render (only builtin ops: no SELECT_TF_OPS needed)."""
    if variant not in TFLITE_VARIANTS:
        raise ValueError(f"variant must be one of {TFLITE_VARIANTS}, got {variant!r}")
    module = _portable(module)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.render.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # weights only: no representative data
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def to_onnx(module, path: str, opset: int = ONNX_OPSET) -> bytes:
    """An ONNX model of module.render via tf2onnx, written to path; dynamic batch and points.

    tf2onnx names dynamic dimensions unk__N; they are renamed after module.DYNAMIC_AXES
    (e.g. coords: ["batch", "points"]) so that the model's interface reads like its signature.
    """
    import onnx
    import tf2onnx

    module = _portable(module)
    fn = module.render
    model, _ = tf2onnx.convert.from_function(fn, input_signature=list(fn.input_signature), opset=opset)
    for value in list(model.graph.input) + list(model.graph.output):
        for dim, axis in zip(value.type.tensor_type.shape.dim, module.DYNAMIC_AXES.get(value.name, [])):
            if axis is not None:
                dim.dim_param = axis
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model.SerializeToString()


class TFLiteRunner:
    """Runs a TFLite render model with ai_edge_litert, resizing its dynamic inputs per call."""

    def __init__(self, model, num_threads: int = 1):  # model: flatbuffer bytes or a .tflite path
        from ai_edge_litert.interpreter import Interpreter

        kwargs = {"model_content": model} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
        self.interpreter = Interpreter(num_threads=num_threads, **kwargs)
        (self.signature,) = self.interpreter.get_signature_list()
        runner = self.interpreter.get_signature_runner(self.signature)
        self._inputs = {k: d["index"] for k, d in runner.get_input_details().items()}
        self._outputs = {k: d["index"] for k, d in runner.get_output_details().items()}
        self._shapes = None

    @property
    def input_names(self):
        return sorted(self._inputs)

    def input_shape_signature(self, name: str):
        detail = next(d for d in self.interpreter.get_input_details() if d["index"] == self._inputs[name])
        return [int(s) for s in detail["shape_signature"]]

    def __call__(self, **inputs) -> Dict[str, np.ndarray]:
        if set(inputs) != set(self._inputs):
            raise ValueError(f"inputs must be {self.input_names}, got {sorted(inputs)}")
        arrays = {k: np.ascontiguousarray(v, np.float32) for k, v in inputs.items()}
        shapes = {k: a.shape for k, a in arrays.items()}
        if shapes != self._shapes:  # re-plan memory only when a shape changes
            for k, a in arrays.items():
                self.interpreter.resize_tensor_input(self._inputs[k], a.shape, strict=True)
            self.interpreter.allocate_tensors()
            self._shapes = shapes
        for k, a in arrays.items():
            self.interpreter.set_tensor(self._inputs[k], a)
        self.interpreter.invoke()
        return {k: self.interpreter.get_tensor(i) for k, i in self._outputs.items()}


class OnnxRunner:
    """Runs an ONNX render model with onnxruntime on the CPU."""

    def __init__(self, model, num_threads: int = 1):  # model: bytes or a .onnx path
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model if isinstance(model, (bytes, bytearray)) else str(model),
                                            options, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def input_names(self):
        return sorted(i.name for i in self.session.get_inputs())

    def input_shape(self, name: str):
        return next(i.shape for i in self.session.get_inputs() if i.name == name)

    def __call__(self, **inputs) -> Dict[str, np.ndarray]:
        feeds = {k: np.ascontiguousarray(v, np.float32) for k, v in inputs.items()}
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))
