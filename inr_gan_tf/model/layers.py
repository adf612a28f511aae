"""INR layers whose weights are (partly) predicted per sample by the hypernetwork.

Every layer is batched over samples and points: x [B, M, C_in] -> [B, M, C_out], with the
predicted tensors [B, ...] passed in as keyword arguments named as in `param_shapes()`.
The hypernetwork emits raw values of about unit scale; each layer applies its own init scale
(as the reference implementation did), so interpolating raw parameters (paper Fig. 5) is
interpolating the INR itself.

Batched products use `tf.matmul` rather than `tf.einsum`: TensorFlow's FLOP profiler counts
BatchMatMul but not Einsum, and the MAC counter is cross-checked against it.
"""
import math
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

# E[sigmoid(u)^2] for u ~ N(0, 1): FMM's shared weights are scaled up by 1/sqrt of it so that a
# freshly initialized FMM layer has the variance of a He-initialized dense layer.
_SIGMOID_SQ_MEAN = 0.2933
BIAS_SCALE = 0.2  # predicted biases start at 0.2x the weight scale (reference implementation)

_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": tf.nn.relu,
    "lrelu": lambda x: tf.nn.leaky_relu(x, 0.2),
}


def activation_fn(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def _he_scale(input_dim: int, activation: str) -> float:
    return (math.sqrt(2.0) if activation != "linear" else 1.0) / math.sqrt(input_dim)


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class FourierFeatures(keras.layers.Layer):
    """Fourier coordinate features e(p) = [sin(Wp), cos(Wp)] (App. C, Eq. 1).

    W [n, 2] is predicted per sample by the hypernetwork (not fixed as in Tancik et al.), so each
    image picks its own frequencies. `scale` is the init scale of W: 10-20x that of a plain
    layer (Sec. 3.1). With `predicted=False` W is a shared trainable weight instead.

    `cap` (not in the paper) bounds every frequency smoothly: each row w of W becomes
    w * c tanh(|w| / c) / |w|, so |w'| < c while w' ~ w for |w| << c and gradients still flow. A
    block sampled 1/r apart cannot carry waves above its Nyquist limit pi * r rad per frame unit;
    predicted rows that grow toward it print checkerboards on the block's cells.
    """

    def __init__(self, num_frequencies: int,  # n: rows of W; the output has 2n features
                 scale: float = 10.0,          # std of W at init, in radians per frame unit
                 predicted: bool = True,       # W from the hypernetwork (True) or shared (False)
                 cap: Optional[float] = None,  # soft bound on every row's norm, rad per frame unit (None: off)
                 **kwargs):
        super().__init__(**kwargs)
        self.num_frequencies = int(num_frequencies)
        self.scale = float(scale)
        self.predicted = bool(predicted)
        self.cap = None if cap is None else float(cap)
        if self.cap is not None and not self.cap > 0:
            raise ValueError(f"cap must be > 0 or None, got {cap}")
        self.output_dim = 2 * self.num_frequencies
        if not self.predicted:
            self.matrix = self.add_weight(name="matrix", shape=(self.num_frequencies, 2),
                                          initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.built = True  # all state is created above

    def param_shapes(self):
        return {"matrix": (self.num_frequencies, 2)} if self.predicted else {}

    def frequencies(self, matrix=None):
        """The effective W [B, n, 2] in radians per frame unit: scale * raw W, then the cap."""
        if matrix is None:
            matrix = self.matrix[None]
        if self.cap is None:
            return tf.cast(matrix, self.compute_dtype) * self.scale
        # float32 even under mixed precision: the epsilon that keeps the norm's gradient finite at
        # w = 0 would vanish in float16.
        w = tf.cast(matrix, tf.float32) * self.scale  # [B, n, 2]
        norm = tf.sqrt(tf.reduce_sum(tf.square(w), -1, keepdims=True) + 1e-12)  # [B, n, 1]
        return tf.cast(w * (self.cap * tf.tanh(norm / self.cap) / norm), self.compute_dtype)

    def call(self, points, matrix=None):
        # points [Bp, M, 2] (Bp = 1: shared by the batch); matrix [B, n, 2]
        w = self.frequencies(matrix)  # [B, n, 2]
        proj = tf.matmul(tf.cast(points, self.compute_dtype), w, transpose_b=True)  # [B, M, n]
        return tf.concat([tf.sin(proj), tf.cos(proj)], axis=-1)  # [B, M, 2n]

    def get_config(self):
        return {**super().get_config(), "num_frequencies": self.num_frequencies,
                "scale": self.scale, "predicted": self.predicted, "cap": self.cap}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class LogFrequencyFeatures(keras.layers.Layer):
    """Deterministic axis-aligned features [sin(Lp), cos(Lp)] at log-spaced frequencies (not in the paper).

    L [2n, 2] holds n frequencies geomspace(min_frequency, max_frequency) along x, then the same
    along y, so the output has 4n features and is the same for every sample: a band-limited
    basis beside the predicted Fourier features, as the `log_emb_size` coordinate embeddings of
    the authors' later configs.
    """

    def __init__(self, num_frequencies: int,            # n per axis; the output has 4n features
                 max_frequency: float,                  # highest frequency, rad per frame unit
                 min_frequency: float = math.pi,        # lowest: pi = half a period over the frame
                 **kwargs):
        super().__init__(**kwargs)
        self.num_frequencies = int(num_frequencies)
        self.max_frequency, self.min_frequency = float(max_frequency), float(min_frequency)
        if self.num_frequencies < 1 or not 0 < self.min_frequency <= self.max_frequency:
            raise ValueError("LogFrequencyFeatures needs num_frequencies >= 1 and "
                             f"0 < min_frequency <= max_frequency, got {self.get_config()}")
        self.output_dim = 4 * self.num_frequencies
        self.built = True  # no weights: L is a function of the config

    def matrix(self) -> np.ndarray:
        """L [2n, 2] in radians per frame unit: x rows, then y rows."""
        w = np.geomspace(self.min_frequency, self.max_frequency, self.num_frequencies)
        zero = np.zeros_like(w)
        return np.concatenate([np.stack([w, zero], -1), np.stack([zero, w], -1)], 0).astype(np.float32)

    def call(self, points):
        # points [Bp, M, 2] -> [Bp, M, 4n]
        L = tf.constant(self.matrix()[None], self.compute_dtype)  # [1, 2n, 2]
        proj = tf.matmul(tf.cast(points, self.compute_dtype), L, transpose_b=True)  # [Bp, M, 2n]
        return tf.concat([tf.sin(proj), tf.cos(proj)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "num_frequencies": self.num_frequencies,
                "max_frequency": self.max_frequency, "min_frequency": self.min_frequency}


class _INRDense(keras.layers.Layer):
    """Shared constructor/config of the INR's dense layers: units, input_dim, activation."""

    def __init__(self, units: int,            # output features
                 input_dim: int,              # input features
                 activation: str = "relu",    # applied after the bias
                 **kwargs):
        super().__init__(**kwargs)
        self.units, self.input_dim, self.activation = int(units), int(input_dim), activation
        self._act = activation_fn(activation)

    def activate(self, y):
        """The layer's activation, for callers that assemble x W^T + b from affine() themselves."""
        return self._act(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "input_dim": self.input_dim,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class FMMDense(_INRDense):
    """Factorized multiplicative modulation (Sec. 3.2): W = W_s * sigmoid(A @ B), bias predicted.

    W_s [out, in] is shared by all samples; A [out, r] and B [r, in] come from the hypernetwork,
    so it emits (out + in) * r + out values instead of out * in + out, while W keeps full rank.
    """

    def __init__(self, units: int,            # output features
                 input_dim: int,              # input features
                 rank: int = 10,              # r of the low-rank modulation (paper: 10)
                 activation: str = "relu",    # applied after the bias
                 **kwargs):
        super().__init__(units, input_dim, activation, **kwargs)
        self.rank = int(rank)
        self._w_scale = _he_scale(self.input_dim, activation) / math.sqrt(_SIGMOID_SQ_MEAN)
        self._b_scale = BIAS_SCALE * _he_scale(self.input_dim, activation)
        self.shared = self.add_weight(name="shared", shape=(self.units, self.input_dim),
                                      initializer=keras.initializers.RandomNormal(stddev=self._w_scale))
        self.built = True  # all state is created above

    def param_shapes(self):
        return {"A": (self.units, self.rank), "B": (self.rank, self.input_dim), "bias": (self.units,)}

    def modulated_weight(self, A, B):
        """[B, out, in]: W_s * sigmoid(A B); A B / sqrt(r) has unit variance at init."""
        dt = self.compute_dtype
        ab = tf.matmul(tf.cast(A, dt), tf.cast(B, dt)) / math.sqrt(self.rank)  # [B, out, in]
        return tf.cast(self.shared, dt)[None] * tf.sigmoid(ab)

    def affine(self, A, B, bias):
        """(W [B, out, in], b [B, out]) of this layer, so that it computes act(x W^T + b)."""
        return self.modulated_weight(A, B), tf.cast(bias, self.compute_dtype) * self._b_scale

    def call(self, x, A, B, bias):
        w, b = self.affine(A, B, bias)
        y = tf.matmul(tf.cast(x, self.compute_dtype), w, transpose_b=True)  # [B, M, out]
        return self._act(y + b[:, None, :])

    def get_config(self):
        return {**super().get_config(), "rank": self.rank}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class HyperDense(_INRDense):
    """A dense layer whose whole weight and bias are predicted per sample (no factorization).

    Used for the coordinate layer and the to-RGB layer, which are small (Sec. 3.2), and for
    every layer of the "full hypernetwork" baseline of Table 1.
    """

    def __init__(self, units: int,            # output features
                 input_dim: int,              # input features
                 activation: str = "relu",    # applied after the bias
                 **kwargs):
        super().__init__(units, input_dim, activation, **kwargs)
        self._w_scale = _he_scale(self.input_dim, activation)
        self._b_scale = BIAS_SCALE * self._w_scale
        self.built = True  # all state is created above

    def param_shapes(self):
        return {"W": (self.units, self.input_dim), "bias": (self.units,)}

    def affine(self, W, bias):
        """(W [B, out, in], b [B, out]) of this layer, so that it computes act(x W^T + b)."""
        dt = self.compute_dtype
        return tf.cast(W, dt) * self._w_scale, tf.cast(bias, dt) * self._b_scale

    def call(self, x, W, bias):
        w, b = self.affine(W, bias)
        y = tf.matmul(tf.cast(x, self.compute_dtype), w, transpose_b=True)  # [B, M, out]
        return self._act(y + b[:, None, :])


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class SharedDense(_INRDense):
    """An ordinary dense layer shared by all samples (the latent-conditioned baseline of Table 1)."""

    def __init__(self, units: int,            # output features
                 input_dim: int,              # input features
                 activation: str = "relu",    # applied after the bias
                 **kwargs):
        super().__init__(units, input_dim, activation, **kwargs)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.input_dim, self.units),
            initializer=keras.initializers.RandomNormal(stddev=_he_scale(self.input_dim, activation)))
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.built = True  # all state is created above

    def param_shapes(self):
        return {}

    def affine(self):
        """(W [1, out, in], b [1, out]) of this layer, so that it computes act(x W^T + b)."""
        dt = self.compute_dtype
        return tf.transpose(tf.cast(self.kernel, dt))[None], tf.cast(self.bias, dt)[None]

    def call(self, x):
        dt = self.compute_dtype
        y = tf.matmul(tf.cast(x, dt), tf.cast(self.kernel, dt))  # [B, M, out]
        return self._act(y + tf.cast(self.bias, dt))

