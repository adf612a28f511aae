"""Inception pool features (2048-d) for FID, KID and precision/recall.

    extract = load_feature_extractor()            # --inception / $INR_GAN_INCEPTION / cache / fetch
    feats = extract(images_uint8)                 # [N, H, W, 3] uint8 -> float64 [N, 2048]

Where the weights come from, first match wins:
  1. `path` (the CLIs' --inception flag), else the env var INR_GAN_INCEPTION, pointing at
     s) the standard FID network: the frozen graph `classify_image_graph_def.pb` of
        `inception-2015-12-05` (the file TTUR's and ProGAN's FID code load; the README says
        where to get it). Fed as TTUR's fid.py feeds it: float images in [0, 255] at their own
        size into tensor `ExpandDims:0` (batch instead of its 1), resized inside the graph by
        its own ResizeBilinear to 299 x 299 (align_corners=False, no half-pixel centres: the
        2015 op, not tf.image.resize), features from `pool_3:0` [N, 1, 1, 2048]. Imported
        with tf.compat.v1.wrap_function; its BatchNormWithGlobalNormalization nodes (an op
        TF 2 no longer runs) are rewritten into the same arithmetic with current ops.
     a) a SavedModel directory that tf.saved_model.load reads, e.g. the Inception graph of the
        standard (TF-GAN) FID re-saved in TF2 format, or any Keras model saved with
        `model.export`. Its `serving_default` signature (or the only one; else `signature=`,
        or `__call__` when it has none) is called; a uint8 input gets uint8 images, a float
        input gets images in [-1, 1], at the input's static size or 299x299. Of several
        outputs, the one named like 'pool' (e.g. 'pool_3') is used.
     b) Keras' InceptionV3 weights without the top, `inception_v3_weights_tf_dim_ordering_tf_
        kernels_notop.h5`: loaded into keras.applications.InceptionV3(include_top=False,
        pooling='avg'), inputs in [-1, 1].
     c) a `.keras` model file mapping float images in [-1, 1] to features [N, D].
  2. in the cache (<INR_GAN_CACHE or ~/.cache/inr_gan_tf>/inception/): the standard graph (s),
     then that .h5; then the .h5 in Keras' own cache (~/.keras/models/).
  3. with network access, Keras' own download of that file into the cache (once).
Otherwise a FileNotFoundError says which file to get and where to put it.

For (a)-(c) images are resized to 299x299 bilinearly (half-pixel centres, no antialiasing).
Keras' InceptionV3 is not the Inception graph of TTUR / TF-GAN / pytorch-fid (other weights and
details), so FIDs from (b) are close to but not identical with published numbers: compare them
within this project only, or use the standard graph (s).
The extractor's `identity` (kind and sha256 of its files) keys the cached real statistics.
"""
import hashlib
import os
from typing import Optional

import numpy as np

from inr_gan_tf import paths
from inr_gan_tf.metrics.stream import BATCH_BYTES

ENV_WEIGHTS = "INR_GAN_INCEPTION"
ENV_CACHE = paths.ENV_CACHE
KERAS_NOTOP = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_NOTOP_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"  # the hash Keras checks for this file
FID_SIZE = 299  # Inception's input size in the standard FID
STANDARD_GRAPH = "classify_image_graph_def.pb"  # in inception-2015-12-05.tgz
GRAPH_INPUT, GRAPH_OUTPUT = "ExpandDims", "pool_3"  # tensor names TTUR's fid.py uses


def cache_dir(override: Optional[str] = None) -> str:
    """Cache root for weights and real-data statistics: override, $INR_GAN_CACHE or ~/.cache."""
    return paths.cache_root(override)


def _missing_weights_message(cache: str) -> str:
    return (f"no Inception weights for FID/KID/PR. Get {STANDARD_GRAPH} (the standard FID "
            f"network, from inception-2015-12-05.tgz; see the README) or {KERAS_NOTOP} (Keras' "
            f"InceptionV3 without the top) where you have network access and pass it with "
            f"--inception=PATH or the env var {ENV_WEIGHTS}=PATH, or copy it to "
            f"{os.path.join(cache, 'inception', '')}. SWD needs no weights.")


def fetch_keras_weights(cache: str) -> str:
    """Keras' own download of the InceptionV3 notop weights into <cache>/inception (md5-checked)."""
    import keras  # pylint: disable=import-outside-toplevel
    from keras.src.applications import inception_v3  # pylint: disable=import-outside-toplevel
    return keras.utils.get_file(KERAS_NOTOP, inception_v3.WEIGHTS_PATH_NO_TOP, cache_dir=cache,
                                cache_subdir="inception", file_hash=KERAS_NOTOP_MD5)


def resolve_weights(path: Optional[str] = None, cache: Optional[str] = None) -> str:
    """The weights path by the precedence in the module docstring; fetches only as a last resort."""
    cache = cache_dir(cache)
    given = path or os.environ.get(ENV_WEIGHTS)
    if given:
        if not os.path.exists(given):
            origin = "--inception" if path else f"${ENV_WEIGHTS}"
            raise FileNotFoundError(f"{origin} points at {given!r}, which does not exist")
        return given
    for candidate in (os.path.join(cache, "inception", STANDARD_GRAPH),
                      os.path.join(cache, "inception", KERAS_NOTOP),
                      os.path.join(os.path.expanduser("~"), ".keras", "models", KERAS_NOTOP)):
        if os.path.exists(candidate):
            return candidate
    try:
        return fetch_keras_weights(cache)
    except Exception as e:  # offline, proxy, partial file: all end in the same advice
        raise FileNotFoundError(f"{_missing_weights_message(cache)} (download failed: {e})") from None


def file_identity(path: str) -> str:
    """sha256 of a file, or of a directory's relative paths and file contents."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        files = sorted(os.path.relpath(os.path.join(d, f), path)
                       for d, _, names in os.walk(path) for f in names)
    else:
        files = [None]
    for rel in files:
        full = path if rel is None else os.path.join(path, rel)
        if rel is not None:
            h.update(rel.encode() + b"\0")
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _rewrite_batch_norm(graph_def):
    """BatchNormWithGlobalNormalization (removed from TF in GraphDef version 9; the 2015 graph
    uses it after every convolution) -> (t - m) * (rsqrt(v + eps) [* gamma]) + beta, the arithmetic of its
    kernel in the same order, with ops TF 2 still runs. A function graph is executed at the
    current GraphDef version, whatever the file's producer version."""
    from tensorflow.core.framework import node_def_pb2  # pylint: disable=import-outside-toplevel
    out = type(graph_def)()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)

    def node(name, op, inputs, dtype, **attrs):
        n = node_def_pb2.NodeDef(name=name, op=op, input=inputs)
        n.attr["T"].CopyFrom(dtype)
        for key, value in attrs.items():
            n.attr[key].CopyFrom(value)
        out.node.append(n)
        return name

    for n in graph_def.node:
        if n.op != "BatchNormWithGlobalNormalization":
            out.node.append(n)
            continue
        t, m, v, beta, gamma = n.input[:5]
        dt, name = n.attr["T"], n.name
        eps = node_def_pb2.NodeDef(name=f"{name}/_eps", op="Const")
        eps.attr["dtype"].type = dt.type
        eps.attr["value"].tensor.dtype = dt.type
        eps.attr["value"].tensor.float_val.append(n.attr["variance_epsilon"].f)
        out.node.append(eps)
        scale = node(f"{name}/_rsqrt", "Rsqrt", [node(f"{name}/_var_eps", "Add", [v, eps.name], dt)], dt)
        if n.attr["scale_after_normalization"].b:
            scale = node(f"{name}/_scale", "Mul", [scale, gamma], dt)
        centred = node(f"{name}/_centred", "Sub", [t, m], dt)
        node(name, "Add", [node(f"{name}/_scaled", "Mul", [centred, scale], dt), beta]
             + list(n.input[5:]), dt)  # keeps the name (consumers) and any control inputs
    return out


def load_frozen_graph(path: str):
    """The standard FID graph (module docstring, s): images float [b, H, W, 3] in [0, 255]
    -> pool_3 [b, 1, 1, D], as a TF 2 function."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    graph_def = tf.compat.v1.GraphDef()
    try:
        with open(path, "rb") as f:
            graph_def.ParseFromString(f.read())
    except Exception as e:  # protobuf's DecodeError, a truncated file
        raise ValueError(f"{path!r} is not a frozen TensorFlow GraphDef ({STANDARD_GRAPH}): {e}") from None
    names = {n.name for n in graph_def.node}
    missing = [t for t in (GRAPH_INPUT, GRAPH_OUTPUT) if t not in names]
    if missing:
        raise ValueError(f"{path!r} has no tensor {', '.join(t + ':0' for t in missing)}: not "
                         f"the FID Inception graph ({STANDARD_GRAPH} of inception-2015-12-05)")
    # The input node becomes a placeholder [None, None, None, 3], so the JPEG decoder in front
    # of it drops out of the subgraph and the batch dimension is free (TTUR patches the static
    # shapes of the imported tensors instead).
    for n in graph_def.node:
        if n.name == GRAPH_INPUT:
            n.op = "Placeholder"
            del n.input[:]
            n.attr.clear()
            n.attr["dtype"].type = tf.float32.as_datatype_enum
            n.attr["shape"].shape.CopyFrom(tf.TensorShape([None, None, None, 3]).as_proto())
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [GRAPH_OUTPUT])
    graph_def = _rewrite_batch_norm(graph_def)

    def imported(images):
        (pool,) = tf.compat.v1.import_graph_def(graph_def, input_map={f"{GRAPH_INPUT}:0": images},
                                                return_elements=[f"{GRAPH_OUTPUT}:0"], name="")
        return pool
    try:
        return tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])
    except (ValueError, tf.errors.OpError) as e:
        raise ValueError(f"{path!r}: cannot import the graph: {e}") from None


class FeatureExtractor:
    """uint8 images [N, H, W, 3] -> float64 features [N, dim], in batches of `batch_size`."""

    def __init__(self, path: str,
                 batch_size: int = 32,             # images per forward pass (memory bound)
                 signature: Optional[str] = None):  # SavedModel signature (default: serving_default)
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        self._tf = tf
        self.path, self.batch_size = path, int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if os.path.isdir(path):
            self.kind = "saved_model"
            model_fn, in_dtype, size = self._load_saved_model(path, signature)
        elif path.endswith(".pb"):
            self.kind = "frozen_graph"  # resizes inside the graph: fed at the images' own size
            model_fn, in_dtype, size = load_frozen_graph(path), tf.float32, None
        elif path.endswith((".h5", ".hdf5")):
            self.kind = "keras_inception_v3"
            model_fn, in_dtype, size = self._load_keras_inception(path), tf.float32, FID_SIZE
        elif path.endswith(".keras"):
            self.kind = "keras_model"
            model = tf.keras.models.load_model(path, compile=False)
            shape = model.input_shape
            size = shape[1] if shape[1] and shape[1] == shape[2] else FID_SIZE
            model_fn, in_dtype = (lambda x: model(x, training=False)), tf.float32
        else:
            raise ValueError(f"cannot tell what {path!r} is: expected {STANDARD_GRAPH} (a "
                             f".pb GraphDef), a SavedModel directory, Keras' {KERAS_NOTOP} or a "
                             ".keras model")
        self.input_size = FID_SIZE if size is None else int(size)

        @tf.function(reduce_retracing=True)
        def forward(images):  # uint8 [b, H, W, 3]
            x = tf.cast(images, tf.float32)
            if size is None:  # the frozen graph: [0, 255] at any size (TTUR)
                out = model_fn(x)
                return tf.reshape(out, [tf.shape(out)[0], -1])  # pool_3 [b, 1, 1, D]
            x = tf.image.resize(x, [size, size], method="bilinear")
            if in_dtype == tf.uint8:
                x = tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)
            else:
                x = tf.cast(x / 127.5 - 1, in_dtype)  # [-1, 1], Inception's input range
            out = model_fn(x)
            return tf.reshape(out, [tf.shape(out)[0], -1])  # pool_3 may be [b, 1, 1, D]

        self._forward = forward
        probe = forward(tf.zeros([2, 8, 8, 3], tf.uint8))
        if probe.shape.rank != 2 or probe.shape[0] != 2 or not probe.shape[1]:
            raise ValueError(f"{path!r} maps 2 images to shape {probe.shape}, not features [2, D]")
        self.dim = int(probe.shape[1])
        self.identity = f"{self.kind}:{file_identity(path)}"

    @staticmethod
    def _load_keras_inception(path: str):
        import keras  # pylint: disable=import-outside-toplevel
        model = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None,
                                               input_shape=(FID_SIZE, FID_SIZE, 3))
        try:
            model.load_weights(path)
        except Exception as e:  # a different .h5 fails deep in h5py with an opaque message
            raise ValueError(f"{path!r} is not Keras' InceptionV3 notop weights "
                             f"({KERAS_NOTOP}): {e}") from None
        return lambda x: model(x, training=False)

    def _load_saved_model(self, path: str, signature: Optional[str]):
        tf = self._tf
        obj = self._saved = tf.saved_model.load(path)  # signatures need the object alive
        sigs = dict(obj.signatures)
        if not sigs:
            if not callable(obj):
                raise ValueError(f"SavedModel {path!r} has no signatures and is not callable")
            return (lambda x: obj(x)), tf.float32, FID_SIZE
        name = signature or ("serving_default" if "serving_default" in sigs else None)
        if name is None and len(sigs) == 1:
            name = next(iter(sigs))
        if name not in sigs:
            raise ValueError(f"SavedModel {path!r}: choose a signature from {sorted(sigs)}")
        fn = sigs[name]
        args, kwargs = fn.structured_input_signature
        specs = list(kwargs.items()) or [(None, s) for s in args]
        if len(specs) != 1:
            raise ValueError(f"signature {name!r} of {path!r} takes {len(specs)} inputs; "
                             "expected one image batch")
        key, spec = specs[0]
        shape = spec.shape.as_list()
        size = shape[1] if len(shape) == 4 and shape[1] and shape[1] == shape[2] else FID_SIZE

        def call(x):
            out = fn(**{key: x}) if key else fn(x)
            if isinstance(out, dict):
                if len(out) == 1:
                    return next(iter(out.values()))
                pools = [k for k in out if "pool" in k]
                if len(pools) != 1:
                    raise ValueError(f"signature {name!r} returns {sorted(out)}; cannot tell "
                                     "which is the pool feature output")
                return out[pools[0]]
            return out
        return call, spec.dtype, size

    def __call__(self, images) -> np.ndarray:
        x = np.asarray(images)
        if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
            raise ValueError(f"expected uint8 images [N, H, W, 3], got {x.dtype} {x.shape}")
        # Fewer per forward pass for large images: the float32 cast and the resize hold copies.
        step = max(1, min(self.batch_size, BATCH_BYTES // (4 * int(np.prod(x.shape[1:])))))
        feats = [self._forward(self._tf.constant(x[i:i + step])).numpy()
                 for i in range(0, len(x), step)]
        return np.concatenate(feats).astype(np.float64) if feats else np.zeros((0, self.dim))


def load_feature_extractor(path: Optional[str] = None, *, cache: Optional[str] = None,
                           batch_size: int = 32) -> FeatureExtractor:
    """The extractor for `path`, $INR_GAN_INCEPTION, the cached or freshly fetched Keras weights."""
    return FeatureExtractor(resolve_weights(path, cache), batch_size=batch_size)


def save_standin(path: str, dim: int = 64, seed: int = 0) -> str:
    """A tiny random-weight model with the extractor contract (float [-1, 1] 299x299 -> [N, dim]),
    saved as `.keras` or, for any other path, a SavedModel directory. For offline tests and smoke
    runs of the FID pipeline: its numbers mean nothing."""
    import keras  # pylint: disable=import-outside-toplevel
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((FID_SIZE, FID_SIZE, 3))
    x = keras.layers.AveragePooling2D(8)(inputs)  # [37, 37, 3]: keeps the stand-in cheap
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", kernel_initializer=init)(x)
    x = keras.layers.Conv2D(dim, 3, kernel_initializer=init)(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    if path.endswith(".keras"):
        model.save(path)
    else:
        model.export(path, verbose=False)
    return path
