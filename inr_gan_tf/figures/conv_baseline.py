"""A StyleGAN2-like convolutional decoder: the baseline of Fig. 9 (MACs and time vs resolution).

Architecture (the StyleGAN2 generator, "skip" output, Karras et al. 2020):
  mapping   `mapping_layers` dense layers z [z_dim] -> w [w_dim], leaky ReLU
  4 x 4     learned constant [4, 4, C(4)] -> modulated 3x3 conv -> toRGB
  s = 8..R  nearest 2x upsampling -> modulated 3x3 conv C(s/2) -> C(s) -> modulated 3x3 conv
            C(s) -> C(s) -> toRGB (modulated 1x1 conv, no demodulation); the running RGB image is
            upsampled 2x and summed with it
  C(s) = min(channel_base // s, channel_max); config-f is channel_base 32768, channel_max 512.
A modulated conv scales its input channels by the style s = A(w), convolves with shared weights
and demodulates the outputs by rsqrt(s^2 @ sum_k W^2): StyleGAN2's non-fused form, which equals
the weight-modulated one. Left out, as they cost no MACs: noise inputs, the FIR filters of
up-sampling (nearest instead), and equalized-lr bookkeeping.

A convolutional decoder cannot skip work for a smaller output: an r x r image (r < R) is its full
R x R output downsampled with nearest neighbour (paper Sec. 4.2), which costs no MACs either.
The MAC count and the Keras model come from the same `conv_layout`, as complexity.py does for
the INR; convolutions are counted at their output resolution (the paper's StyleGAN2 figures,
84.36 G at 256^2 and 143.18 G at 1024^2, agree with that way of counting).
"""
import math
from typing import Dict, List, NamedTuple

import keras
import tensorflow as tf

STYLEGAN2_F = {"channel_base": 32768, "channel_max": 512, "z_dim": 512, "w_dim": 512, "mapping_layers": 8}


class ConvLayer(NamedTuple):
    name: str
    resolution: int     # output side length
    in_channels: int
    out_channels: int
    kernel: int         # 3 (conv) or 1 (toRGB)
    up: bool            # nearest 2x upsampling before the conv
    demodulate: bool


def stylegan2_config(resolution: int) -> dict:
    """StyleGAN2 config-f at a resolution (the paper's conv baseline)."""
    return {"resolution": int(resolution), **STYLEGAN2_F}


def matched_config(inr_config: dict) -> dict:
    """A StyleGAN2-shaped decoder sized like an INR config, for a like-for-like comparison.

    config-f's channel schedule with channel_max = the INR's widest block (base = 64 x max, as
    in config-f) and the INR's latent size; for the paper's INRs (widest block 512, z 512) this is
    config-f itself.
    """
    widest = max(int(b["width"]) for b in inr_config["blocks"])
    z_dim = int(inr_config.get("z_dim", 512))
    return {"resolution": int(inr_config["resolution"]), "channel_base": 64 * widest,
            "channel_max": widest, "z_dim": z_dim, "w_dim": z_dim, "mapping_layers": 8}


def _channels(config: dict, s: int) -> int:
    return max(1, min(int(config["channel_base"]) // s, int(config["channel_max"])))


def conv_layout(config: dict) -> List[ConvLayer]:
    """The synthesis layers in order: the one description used to build and to count."""
    res = int(config["resolution"])
    if res < 4 or res & (res - 1):
        raise ValueError(f"the conv decoder needs a power-of-two resolution >= 4, got {res}")
    layers = [ConvLayer("b4.conv1", 4, _channels(config, 4), _channels(config, 4), 3, False, True),
              ConvLayer("b4.torgb", 4, _channels(config, 4), 3, 1, False, False)]
    s = 8
    while s <= res:
        cin, cout = _channels(config, s // 2), _channels(config, s)
        layers += [ConvLayer(f"b{s}.conv0", s, cin, cout, 3, True, True),
                   ConvLayer(f"b{s}.conv1", s, cout, cout, 3, False, True),
                   ConvLayer(f"b{s}.torgb", s, cout, 3, 1, False, False)]
        s *= 2
    return layers


def macs(config: dict, out_resolution: int = None) -> Dict[str, int]:
    """MACs for one image; at any `out_resolution` the decoder runs at full size (then resizes).

    Per modulated conv: the style affine (w_dim x C_in), the demodulation product
    (C_in x C_out) and the convolution (s^2 k^2 C_in C_out). The nearest resize costs nothing.
    """
    del out_resolution  # the point of the baseline: the output size does not change the work
    w_dim, z_dim = int(config["w_dim"]), int(config["z_dim"])
    mapping = z_dim * w_dim + (int(config["mapping_layers"]) - 1) * w_dim * w_dim
    affine = demod = conv = 0
    for layer in conv_layout(config):
        affine += w_dim * layer.in_channels
        if layer.demodulate:
            demod += layer.in_channels * layer.out_channels
        conv += layer.resolution ** 2 * layer.kernel ** 2 * layer.in_channels * layer.out_channels
    return {"mapping": mapping, "modulation": affine + demod, "conv": conv,
            "total": mapping + affine + demod + conv}


def _lrelu(x):
    return tf.nn.leaky_relu(x, 0.2) * math.sqrt(2.0)  # StyleGAN's gain keeps activations at unit scale


def _upsample(x):  # [B, s, s, C] -> [B, 2s, 2s, C], nearest
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class ModulatedConv(keras.layers.Layer):
    """StyleGAN2 modulated conv in its non-fused form: (x * s) conv W, times rsqrt(s^2 @ |W|^2)."""

    def __init__(self, in_channels: int,      # C_in
                 out_channels: int,           # C_out
                 kernel: int,                 # square kernel size
                 w_dim: int,                  # size of w, input of the style affine
                 up: bool = False,            # nearest 2x upsampling first
                 demodulate: bool = True,     # False for toRGB
                 activation: bool = True,     # leaky ReLU after the bias (False for toRGB)
                 **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels, self.kernel = int(in_channels), int(out_channels), int(kernel)
        self.w_dim, self.up, self.demodulate, self.activation = int(w_dim), bool(up), bool(demodulate), bool(activation)
        self.weight = self.add_weight(name="weight", shape=(kernel, kernel, in_channels, out_channels),
                                      initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.bias = self.add_weight(name="bias", shape=(out_channels,), initializer="zeros")
        self.affine = keras.layers.Dense(in_channels, name="affine", bias_initializer="ones",
                                         kernel_initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(w_dim)))
        self.affine.build((None, w_dim))
        self._scale = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.built = True  # all state is created above

    def call(self, x, w):
        style = self.affine(w)  # [B, C_in]
        if self.up:
            x = _upsample(x)
        weight = self.weight * self._scale
        y = tf.nn.conv2d(x * style[:, None, None, :], weight, 1, "SAME")  # [B, s, s, C_out]
        if self.demodulate:
            wsq = tf.reduce_sum(tf.square(weight), axis=[0, 1])  # [C_in, C_out]
            y = y * tf.math.rsqrt(tf.matmul(tf.square(style), wsq) + 1e-8)[:, None, None, :]
        y = y + self.bias
        return _lrelu(y) if self.activation else y

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel": self.kernel, "w_dim": self.w_dim, "up": self.up,
                "demodulate": self.demodulate, "activation": self.activation}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class ConvDecoder(keras.Model):
    """z [B, z_dim] -> images [B, R, R, 3]; `render(z, r)` downsamples to r x r (nearest)."""

    def __init__(self, resolution: int,          # R, the training (= computed) resolution
                 channel_base: int = 32768,      # C(s) = min(channel_base // s, channel_max)
                 channel_max: int = 512,
                 z_dim: int = 512,               # latent size
                 w_dim: int = 512,               # intermediate latent (style) size
                 mapping_layers: int = 8,        # StyleGAN2: 8
                 **kwargs):
        super().__init__(**kwargs)
        self.config = {"resolution": int(resolution), "channel_base": int(channel_base),
                       "channel_max": int(channel_max), "z_dim": int(z_dim), "w_dim": int(w_dim),
                       "mapping_layers": int(mapping_layers)}
        self.resolution, self.z_dim = int(resolution), int(z_dim)
        self.layout = conv_layout(self.config)
        # One attribute per layer: tf.train.Checkpoint does not follow Keras 3's tracked lists.
        self._mapping_names = []
        for i in range(int(mapping_layers)):
            layer = keras.layers.Dense(w_dim, name=f"map{i}", kernel_initializer=keras.initializers.RandomNormal(
                stddev=math.sqrt(2.0 / (z_dim if i == 0 else w_dim))))
            layer.build((None, z_dim if i == 0 else w_dim))
            setattr(self, f"map{i}", layer)
            self._mapping_names.append(f"map{i}")
        c4 = self.layout[0].in_channels
        self.const = self.add_weight(name="const", shape=(1, 4, 4, c4),
                                     initializer=keras.initializers.RandomNormal(stddev=1.0))
        for layer in self.layout:
            setattr(self, layer.name.replace(".", "_"), ModulatedConv(
                layer.in_channels, layer.out_channels, layer.kernel, w_dim, up=layer.up,
                demodulate=layer.demodulate, activation=layer.demodulate, name=layer.name))
        self.built = True  # all state is created above

    def call(self, z):
        w = z
        for name in self._mapping_names:
            w = tf.nn.leaky_relu(getattr(self, name)(w), 0.2)  # [B, w_dim]
        x = tf.tile(self.const, [tf.shape(z)[0], 1, 1, 1])  # [B, 4, 4, C(4)]
        rgb = None
        for layer in self.layout:
            op = getattr(self, layer.name.replace(".", "_"))
            if layer.kernel == 1:  # toRGB: add to the upsampled running image (skip output)
                y = op(x, w)
                rgb = y if rgb is None else _upsample(rgb) + y  # [B, s, s, 3]
            else:
                x = op(x, w)  # [B, s, s, C(s)]
        return rgb

    def render(self, z, out_resolution: int):
        """r x r images: the full R x R output, nearest-downsampled (paper Sec. 4.2)."""
        img = self(z)
        if int(out_resolution) == self.resolution:
            return img
        return tf.image.resize(img, [out_resolution, out_resolution], method="nearest")

    def get_config(self):
        return {**self.config, "name": self.name}
