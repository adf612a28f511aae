"""Hypernetwork G: z -> w (mapping) -> INR parameters theta (connector). Paper App. A.

"Our G ... consists of 3 non-linear layers with the hidden dimension of 1024 and residual
connections. Our noise vector z has the dimensionality of 512." The penultimate
representation w (before the output projection) is the W space of Table 2 and the point that
truncation pulls toward its running average (App. B.3).
"""
import math
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from inr_gan_tf.model.param_spec import ParamSpec


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class Mapping(keras.layers.Layer):
    """z [B, z_dim] -> w [B, width]: a dense layer, then residual dense layers."""

    def __init__(self, z_dim: int = 512,           # latent size
                 width: int = 1024,                 # hidden width (paper: 1024)
                 num_layers: int = 3,               # non-linear layers (paper: 3)
                 w_avg_beta: float = 0.995,         # running-average decay for truncation
                 **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"mapping needs num_layers >= 1, got {num_layers}")
        self.z_dim, self.width, self.num_layers = int(z_dim), int(width), int(num_layers)
        self.w_avg_beta = float(w_avg_beta)
        # One attribute per layer: tf.train.Checkpoint does not follow Keras 3's tracked lists.
        for i in range(self.num_layers):
            fan_in = self.z_dim if i == 0 else self.width
            layer = keras.layers.Dense(self.width, name=f"fc{i}", kernel_initializer=keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / fan_in)))
            layer.build((None, fan_in))
            setattr(self, f"fc{i}", layer)
        self.w_avg = self.add_weight(name="w_avg", shape=(self.width,), initializer="zeros",
                                     trainable=False)
        self.built = True  # all state is created above

    @property
    def dense(self):
        return [getattr(self, f"fc{i}") for i in range(self.num_layers)]

    def call(self, z, truncation=1.0):
        h = tf.nn.leaky_relu(self.dense[0](z), 0.2)  # [B, width]
        for layer in self.dense[1:]:
            # Residual with 1/sqrt(2) keeps the scale of w independent of depth.
            h = (h + tf.nn.leaky_relu(layer(h), 0.2)) * (1.0 / math.sqrt(2.0))
        if isinstance(truncation, (int, float)) and truncation == 1.0:
            return h
        w_avg = tf.cast(self.w_avg, h.dtype)
        return w_avg + tf.cast(truncation, h.dtype) * (h - w_avg)  # App. B.3

    def update_w_avg(self, w):
        """Tracks the average w for truncation; called by the trainer on G's batches."""
        mean = tf.reduce_mean(tf.cast(w, tf.float32), axis=0)
        self.w_avg.assign(mean + (self.w_avg - mean) * self.w_avg_beta)

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim, "width": self.width,
                "num_layers": self.num_layers, "w_avg_beta": self.w_avg_beta}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class Hypernet(keras.layers.Layer):
    """w [B, width] -> flat theta [B, P] -> dict by the ParamSpec (the connector of Sec. 3.1).

    This one dense layer holds ~90-99% of G's parameters (Sec. 4.1); FMM is what keeps P small.
    Raw outputs start at about unit scale; each INR layer applies its own init scale.

    `lr_mult` {entry name: m} gives those outputs a learning-rate multiplier m, as StyleGAN's
    equalized learning rate does for its mapping network: the weights are stored divided by m
    and the outputs multiplied by m, so the function at init is unchanged while Adam (whose
    steps do not depend on the gradient's scale) moves those outputs m times as fast.
    """

    def __init__(self, width: int,                  # size of w
                 spec: list,                        # ParamSpec entries [[name, shape], ...]
                 lr_mult: Optional[Dict[str, float]] = None,  # per-entry learning-rate multipliers
                 **kwargs):
        super().__init__(**kwargs)
        self.width = int(width)
        self.spec = spec if isinstance(spec, ParamSpec) else ParamSpec((n, tuple(s)) for n, s in spec)
        self.lr_mult = {str(k): float(v) for k, v in (lr_mult or {}).items()}
        unknown = sorted(set(self.lr_mult) - set(self.spec.names))
        if unknown or any(v <= 0 for v in self.lr_mult.values()):
            raise ValueError(f"lr_mult needs positive values for ParamSpec entries; unknown {unknown}")
        gains = np.concatenate([np.full(self.spec.sizes[n], self.lr_mult.get(n, 1.0), np.float32)
                                for n in self.spec.names])                  # [P]
        self._gains = None if np.all(gains == 1.0) else tf.constant(gains)
        self.connector = keras.layers.Dense(
            self.spec.size, name="connector",
            kernel_initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(self.width)))
        self.connector.build((None, self.width))
        if self._gains is not None:
            self.connector.kernel.assign(self.connector.kernel / gains[None])
        self.built = True  # all state is created above

    def flat(self, w):
        raw = self.connector(w)  # [B, P]
        return raw if self._gains is None else raw * tf.cast(self._gains, raw.dtype)

    def call(self, w):
        return self.spec.unflatten(self.flat(w))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "spec": self.spec.get_config()["entries"],
                "lr_mult": dict(self.lr_mult)}
