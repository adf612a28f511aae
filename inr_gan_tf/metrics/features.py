"""Inception pool features (2048-d) for FID, KID and precision/recall.

    extract = load_feature_extractor()            # --inception / $INR_GAN_INCEPTION / cache / fetch
    feats = extract(images_uint8)                 # [N, H, W, 3] uint8 -> float64 [N, 2048]

Where the weights come from, first match wins:
  1. `path` (the CLIs' --inception flag), else the env var INR_GAN_INCEPTION, pointing at
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
  2. that .h5 in the cache (<INR_GAN_CACHE or ~/.cache/inr_gan_tf>/inception/) or in Keras'
     own cache (~/.keras/models/).
  3. with network access, Keras' own download of that file into the cache (once).
Otherwise a FileNotFoundError says which file to get and where to put it.

Images are resized to 299x299 bilinearly (half-pixel centres, no antialiasing), as the standard
FID code does. Keras' InceptionV3 is not the Inception graph of TF-GAN / pytorch-fid (other
weights and details), so FIDs from (b) are close to but not identical with published numbers:
compare them within this project only, or plug in the standard graph via (a).
The extractor's `identity` (sha256 of its files) keys the cached real statistics.
"""
import hashlib
import os
from typing import Optional

import numpy as np

ENV_WEIGHTS = "INR_GAN_INCEPTION"
ENV_CACHE = "INR_GAN_CACHE"
KERAS_NOTOP = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_NOTOP_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"  # the hash Keras checks for this file
FID_SIZE = 299  # Inception's input size in the standard FID


def cache_dir(override: Optional[str] = None) -> str:
    """Cache root for weights and real-data statistics: override, $INR_GAN_CACHE or ~/.cache."""
    return override or os.environ.get(ENV_CACHE) or os.path.join(
        os.path.expanduser("~"), ".cache", "inr_gan_tf")


def _missing_weights_message(cache: str) -> str:
    return (f"no Inception weights for FID/KID/PR. Download {KERAS_NOTOP} (Keras' InceptionV3 "
            f"weights without the top) where you have network access and pass it with "
            f"--inception=PATH or the env var {ENV_WEIGHTS}=PATH, or copy it to "
            f"{os.path.join(cache, 'inception', KERAS_NOTOP)}. A SavedModel directory of the "
            f"TF-GAN Inception graph works too. SWD needs no weights.")


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
    for candidate in (os.path.join(cache, "inception", KERAS_NOTOP),
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
            raise ValueError(f"cannot tell what {path!r} is: expected a SavedModel directory, "
                             f"Keras' {KERAS_NOTOP} or a .keras model")
        self.input_size = int(size)

        @tf.function(reduce_retracing=True)
        def forward(images):  # uint8 [b, H, W, 3]
            x = tf.image.resize(tf.cast(images, tf.float32), [size, size], method="bilinear")
            if in_dtype == tf.uint8:
                x = tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)
            else:
                x = tf.cast(x / 127.5 - 1, in_dtype)  # [-1, 1], Inception's input range
            out = model_fn(x)
            return tf.reshape(out, [tf.shape(out)[0], -1])  # pool_3 may be [b, 1, 1, D]

        self._forward = forward
        self.dim = int(forward(tf.zeros([1, 8, 8, 3], tf.uint8)).shape[1])
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
        feats = [self._forward(self._tf.constant(x[i:i + self.batch_size])).numpy()
                 for i in range(0, len(x), self.batch_size)]
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
