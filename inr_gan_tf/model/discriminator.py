"""StyleGAN2 ResNet discriminator (Karras et al. 2020, Fig. 7c), NHWC, plain TF ops.

INR-GAN keeps StyleGAN2's discriminator unchanged in its small "config-e" size:
channel_base 16384 here is `fmap_base = 8 << 10` of the TF release, whose `nf(log2(r) - 1)`
equals `16384 // r`; config-f would be 32768. Data flow for `resolution` R:

    fromRGB 1x1 @ R -> DiscriminatorBlock r = R, R/2, ..., 8 (each halves r)
    -> 4x4 epilogue: minibatch stddev -> conv 3x3 -> dense -> dense -> logit [B, 1]

Scale conditioning (patch training, training/losses.py): D may see R x R views of windows of
side s < 1 (density R / s) beside full frames (s = 1). With `scale_conditioning="projection"`
it is told s as StyleGAN2-ADA's conditional D is told its label: the output layer gives
cmap_dim features instead of one logit, and

    logit = <out(x), cmap(log2(1/s))> / sqrt(cmap_dim),    cmap = ScaleEmbedding (2 dense layers
                                                           on fixed Fourier features of the octave)

"none" (the default) is StyleGAN2's D unchanged, same weights, and ignores any scale.

Local head (`local_resolution` L > 0, not in StyleGAN2): a 1x1 conv on the L x L feature map
after the block that makes it gives one more logit per location, each judging only its
receptive field (about 10 input pixels at L = R/2), as PatchGAN's D does (Isola et al. 2017).
The global logit judges the whole view; on patches at 4x-8x the training density the local
ones judge edges and strokes at that density, which is what a point-sampled INR must get right
above the training grid. With projection the local logits are conditioned on the view's scale
the same way, through an embedding of their own. Output: [B, 1 + L*L], the global logit first.

Every layer uses equalized learning rate: weights are stored N(0, 1) and scaled by
1/sqrt(fan_in) at run time, so Adam sees the same dynamic range for every layer (ProGAN Sec. 4.1).
Weights are created in the constructors (shapes follow from the config) and every layer marks
itself built there, so count_params(), set_weights() and checkpoint restore work before the
first call.
"""
import math

import keras
import numpy as np
import tensorflow as tf

from inr_gan_tf.model.config import check_local_resolution

_LRELU_SLOPE = 0.2
_LRELU_GAIN = math.sqrt(2.0)  # keeps activations at unit variance through lrelu (StyleGAN2 bias_act)
_BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


def channels_at(resolution: int, channel_base: int = 16384, channel_max: int = 512) -> int:
    """Feature maps at `resolution`: 16 at 1024, 64 at 256, 512 at <= 32 for config-e."""
    return min(int(channel_base) // int(resolution), int(channel_max))


def _blur_filter(channels: int) -> np.ndarray:
    """[4, 4, C, 1] depthwise filter: normalized outer product of [1, 3, 3, 1] (unit DC gain)."""
    taps = np.asarray(_BLUR_TAPS, np.float32)
    f = np.outer(taps, taps)
    f /= f.sum()
    return np.tile(f[:, :, None, None], [1, 1, channels, 1])


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class EqualizedConv2D(keras.layers.Layer):
    """Conv with equalized LR, optional 2x downsampling by blur + stride-2 conv, bias, lrelu."""

    def __init__(self, in_channels: int,       # input feature maps
                 out_channels: int,            # output feature maps
                 kernel_size: int = 3,         # square kernel, 1 or 3
                 down: bool = False,           # blur [1,3,3,1] then stride-2 conv: halves H and W
                 use_bias: bool = True,        # the ResNet skip conv has none
                 activation: str = "lrelu",    # "lrelu" (with gain sqrt 2) or "linear"
                 **kwargs):
        super().__init__(**kwargs)
        if activation not in ("lrelu", "linear"):
            raise ValueError(f"activation must be 'lrelu' or 'linear', got {activation!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.down = int(kernel_size), bool(down)
        self.use_bias, self.activation = bool(use_bias), activation
        self._w_gain = 1.0 / math.sqrt(self.in_channels * self.kernel_size ** 2)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, self.kernel_size, self.in_channels, self.out_channels),
            initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.bias = (self.add_weight(name="bias", shape=(self.out_channels,), initializer="zeros")
                     if self.use_bias else None)
        self._blur = _blur_filter(self.in_channels) if self.down else None
        self.built = True  # all weights exist; see the module docstring

    def call(self, x):
        dt = self.compute_dtype
        x = tf.cast(x, dt)
        w = tf.cast(self.kernel, dt) * self._w_gain
        if self.down:
            # upfirdn2d padding of stylegan2 conv2d_resample for a 4-tap filter and down=2:
            # 1 + kernel_size // 2 each side (2 for 3x3, 1 for 1x1) so that the blur then the
            # VALID stride-2 conv give exactly H/2 with the same alignment as the reference.
            p = 1 + self.kernel_size // 2
            x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])               # [B, H+2p, W+2p, Cin]
            x = tf.nn.depthwise_conv2d(x, tf.cast(self._blur, dt), [1, 1, 1, 1], "VALID")  # [B, H+2p-3, ., Cin]
            x = tf.nn.conv2d(x, w, strides=2, padding="VALID")             # [B, H/2, W/2, Cout]
        else:
            x = tf.nn.conv2d(x, w, strides=1, padding="SAME")              # [B, H, W, Cout]
        if self.bias is not None:
            x = x + tf.cast(self.bias, dt)
        if self.activation == "lrelu":
            x = tf.nn.leaky_relu(x, _LRELU_SLOPE) * _LRELU_GAIN
        return x

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels,
                "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                "down": self.down, "use_bias": self.use_bias, "activation": self.activation}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class EqualizedDense(keras.layers.Layer):
    """Fully connected layer with equalized LR, zero-init bias and optional lrelu."""

    def __init__(self, in_features: int,       # input features
                 units: int,                   # output features
                 activation: str = "lrelu",    # "lrelu" (with gain sqrt 2) or "linear"
                 **kwargs):
        super().__init__(**kwargs)
        if activation not in ("lrelu", "linear"):
            raise ValueError(f"activation must be 'lrelu' or 'linear', got {activation!r}")
        self.in_features, self.units, self.activation = int(in_features), int(units), activation
        self._w_gain = 1.0 / math.sqrt(self.in_features)
        self.kernel = self.add_weight(name="kernel", shape=(self.in_features, self.units),
                                      initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.built = True  # all weights exist; see the module docstring

    def call(self, x):
        dt = self.compute_dtype
        x = tf.matmul(tf.cast(x, dt), tf.cast(self.kernel, dt) * self._w_gain) + tf.cast(self.bias, dt)
        if self.activation == "lrelu":
            x = tf.nn.leaky_relu(x, _LRELU_SLOPE) * _LRELU_GAIN
        return x

    def get_config(self):
        return {**super().get_config(), "in_features": self.in_features, "units": self.units,
                "activation": self.activation}


def _group_size(batch, group_size: int):
    """Largest divisor of `batch` that is <= group_size (StyleGAN2 uses min(group_size, batch))."""
    if isinstance(batch, int):  # static batch: a Python int keeps the reshape XLA-compilable
        return max(d for d in range(1, min(group_size, batch) + 1) if batch % d == 0)
    candidates = tf.range(1, group_size + 1)
    fits = tf.logical_and(candidates <= batch, tf.math.floormod(batch, candidates) == 0)
    return tf.reduce_max(tf.where(fits, candidates, 1))


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class MinibatchStdDev(keras.layers.Layer):
    """Appends the std over groups of samples as extra channels (ProGAN Sec. 3, StyleGAN2 variant).

    Group members are strided, as in the reference (`x.reshape(G, -1, ...)`): sample i is in
    group i % (B / G). StyleGAN2 requires B to be divisible by min(group_size, B); we instead
    fall back to the largest divisor of B that is <= group_size, so that a ragged last eval
    batch or an odd per-replica batch still runs with equal-sized groups rather than failing.
    """

    def __init__(self, group_size: int = 4,   # samples per group (upper bound, see above)
                 num_channels: int = 1,       # F: channels are split in F groups, one std each
                 **kwargs):
        super().__init__(**kwargs)
        if int(group_size) < 1 or int(num_channels) < 1:
            raise ValueError(f"group_size and num_channels must be >= 1, got {group_size}, {num_channels}")
        self.group_size, self.num_channels = int(group_size), int(num_channels)
        self.built = True  # stateless

    def call(self, x):
        shape = tf.shape(x)
        b, h, w = shape[0], shape[1], shape[2]
        c = x.shape[-1]
        f = self.num_channels
        g = _group_size(x.shape[0] if x.shape[0] is not None else b, self.group_size)
        # float32 whatever the policy: in float16 the 1e-8 underflows to 0 and sqrt(0) has an
        # infinite gradient whenever a group holds identical samples.
        y = tf.reshape(tf.cast(x, tf.float32), [g, -1, h, w, f, c // f])   # [G, n, H, W, F, c]
        y = y - tf.reduce_mean(y, axis=0)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)          # [n, H, W, F, c]
        y = tf.reduce_mean(y, axis=[1, 2, 4])                               # [n, F]
        y = tf.tile(y, [g, 1])                                              # [B, F], row i -> group i % n
        y = tf.tile(y[:, None, None, :], [1, h, w, 1])                      # [B, H, W, F]
        return tf.concat([x, tf.cast(y, x.dtype)], axis=-1)                 # [B, H, W, C + F]

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size,
                "num_channels": self.num_channels}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class DiscriminatorBlock(keras.layers.Layer):
    """ResNet block (StyleGAN2 Fig. 7c): [B, r, r, Cin] -> [B, r/2, r/2, Cout]."""

    def __init__(self, in_channels: int,       # feature maps at r (also the width of conv0)
                 out_channels: int,            # feature maps at r/2
                 **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        # Weight paths are fixed at creation; the scope makes them "b64/conv0/kernel", not a
        # "conv0/kernel" shared by every block.
        with keras.name_scope(self.name, caller=self):
            self.conv0 = EqualizedConv2D(self.in_channels, self.in_channels, 3, name="conv0")
            self.conv1 = EqualizedConv2D(self.in_channels, self.out_channels, 3, down=True, name="conv1")
            self.skip = EqualizedConv2D(self.in_channels, self.out_channels, 1, down=True,
                                        use_bias=False, activation="linear", name="skip")
        self.built = True  # all weights exist; see the module docstring

    def call(self, x):
        t = self.skip(x)                                  # [B, r/2, r/2, Cout]
        x = self.conv1(self.conv0(x))                     # [B, r/2, r/2, Cout]
        # 1/sqrt(2) keeps the sum of two unit-variance paths at unit variance.
        return (x + t) * (1.0 / math.sqrt(2.0))

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels,
                "out_channels": self.out_channels}


SCALE_CONDITIONINGS = ("none", "projection")


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class ScaleEmbedding(keras.layers.Layer):
    """Window side s [B] -> embedding [B, units] of the octave c = log2(1 / s) (0 for a frame).

    c, then sin and cos of 2 pi f_j c with fixed f_j = 2^j / 4 cycles per octave (periods of 4
    octaves down to 4 / 2^(F-1)): fixed features make nearby scales nearby inputs without the
    dense layers having to learn a fine function of one number. Then lrelu and linear dense
    layers (StyleGAN2-ADA's label embedding maps through dense layers too).
    """

    def __init__(self, units: int,             # embedding size (D's cmap_dim)
                 frequencies: int = 4,         # F: sin/cos pairs of the octave
                 **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1 or int(frequencies) < 0:
            raise ValueError(f"need units >= 1 and frequencies >= 0, got {units}, {frequencies}")
        self.units, self.frequencies = int(units), int(frequencies)
        self._freqs = 2.0 * math.pi * (2.0 ** np.arange(self.frequencies, dtype=np.float32)) / 4.0
        with keras.name_scope(self.name, caller=self):
            self.fc0 = EqualizedDense(1 + 2 * self.frequencies, self.units, name="fc0")
            self.fc1 = EqualizedDense(self.units, self.units, activation="linear", name="fc1")
        self.built = True  # all weights exist; see the module docstring

    def call(self, scale):
        c = -tf.math.log(tf.cast(tf.reshape(scale, [-1, 1]), tf.float32)) / math.log(2.0)  # [B, 1]
        angles = c * self._freqs                                                           # [B, F]
        feats = tf.concat([c, tf.sin(angles), tf.cos(angles)], -1)                         # [B, 1 + 2F]
        return self.fc1(self.fc0(feats))                                                   # [B, units]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "frequencies": self.frequencies}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class Discriminator(keras.Model):
    """StyleGAN2 ResNet D: images [B, R, R, C] in [-1, 1] -> real/fake logits [B, 1] (float32)."""

    def __init__(self, resolution: int,        # R: square input side, a power of two >= 16
                 channels: int = 3,            # C: image channels
                 channel_base: int = 16384,    # maps at r: min(base // r, max); 16384 config-e, 32768 config-f
                 channel_max: int = 512,       # cap on feature maps at low resolutions
                 mbstd_group_size: int = 4,    # minibatch-stddev group: largest divisor of B up to this
                 mbstd_num_channels: int = 1,  # stddev features appended at 4x4
                 scale_conditioning: str = "none",  # none | projection: told each view's window side s
                 scale_frequencies: int = 4,   # projection: Fourier pairs of log2(1/s) in the embedding
                 local_resolution: int = 0,    # L: a logit per location of the L x L map too (0: off)
                 **kwargs):
        super().__init__(**kwargs)
        r = int(resolution)
        if r != resolution or r < 16 or r & (r - 1):
            raise ValueError(f"resolution must be a power of two >= 16, got {resolution!r}")
        self.resolution, self.channels = r, int(channels)
        self.channel_base, self.channel_max = int(channel_base), int(channel_max)
        self.mbstd_group_size, self.mbstd_num_channels = int(mbstd_group_size), int(mbstd_num_channels)
        if self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels!r}")
        if self._nf(r) < 1:
            raise ValueError(f"channel_base={channel_base} gives no feature maps at resolution {r}; "
                             f"need channel_base >= {r}")
        if scale_conditioning not in SCALE_CONDITIONINGS:
            raise ValueError(f"scale_conditioning must be one of {SCALE_CONDITIONINGS}, got {scale_conditioning!r}")
        self.scale_conditioning, self.scale_frequencies = scale_conditioning, int(scale_frequencies)
        self.local_resolution = L = check_local_resolution(local_resolution, r)
        c4 = self._nf(4)
        if c4 % self.mbstd_num_channels:
            raise ValueError(f"mbstd_num_channels={mbstd_num_channels} must divide the {c4} feature maps at 4x4")

        self.from_rgb = EqualizedConv2D(self.channels, self._nf(r), 1, name="from_rgb")
        # One attribute per block, not a list: Keras 3 wraps list attributes in a type that
        # tf.train.Checkpoint does not track, so the blocks' weights would silently be skipped.
        for res in self.block_resolutions:
            setattr(self, f"b{res}", DiscriminatorBlock(self._nf(res), self._nf(res // 2), name=f"b{res}"))
        self.mbstd = MinibatchStdDev(self.mbstd_group_size, self.mbstd_num_channels, name="mbstd")
        self.conv4 = EqualizedConv2D(c4 + self.mbstd_num_channels, c4, 3, name="conv4")
        # NHWC flatten: a PyTorch (NCHW) checkpoint's fc weight would need its rows permuted.
        self.fc = EqualizedDense(c4 * 4 * 4, c4, name="fc")
        # Projection (StyleGAN2-ADA): cmap_dim = nf(4) features, dotted with the scale's embedding.
        self.cmap_dim = c4 if self.scale_conditioning == "projection" else 0
        self.out = EqualizedDense(c4, self.cmap_dim or 1, activation="linear", name="out")
        if self.cmap_dim:  # created only when used: the unconditioned D keeps StyleGAN2's weights
            self.scale_embed = ScaleEmbedding(self.cmap_dim, self.scale_frequencies, name="scale_embed")
        if L:
            cl = self._nf(L)
            self.local_out = EqualizedConv2D(cl, cl if self.cmap_dim else 1, 1, activation="linear",
                                             name="local_out")
            if self.cmap_dim:
                self.local_embed = ScaleEmbedding(cl, self.scale_frequencies, name="local_embed")
        self.built = True  # all weights exist; see the module docstring

    def _nf(self, res: int) -> int:
        return channels_at(res, self.channel_base, self.channel_max)

    @property
    def blocks(self):
        """The ResNet blocks in data-flow order."""
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    @property
    def block_resolutions(self):
        """Input resolution of each ResNet block, R down to 8."""
        return [2 ** k for k in range(int(math.log2(self.resolution)), 2, -1)]

    def _check_input(self, images):
        want = (self.resolution, self.resolution, self.channels)
        got = tuple(images.shape)
        if len(got) != 4 or any(g is not None and g != w for g, w in zip(got[1:], want)):
            raise ValueError(f"Discriminator(resolution={self.resolution}, channels={self.channels}) "
                             f"expects images [B, {want[0]}, {want[1]}, {want[2]}], got shape {got}")

    @property
    def num_logits(self) -> int:
        """Logits per view: the global one, then L * L local ones with a local head."""
        return 1 + self.local_resolution ** 2

    def call(self, images, scale=None, training=None):
        """Logits [B, num_logits] (the global one first); `scale` [B]: each view's window side
        (None: frames, s = 1), used only with scale_conditioning="projection"."""
        self._check_input(images)
        if self.cmap_dim and scale is None:
            scale = tf.ones(tf.shape(images)[:1], tf.float32)
        x = self.from_rgb(tf.cast(images, self.compute_dtype))  # [B, R, R, nf(R)]
        local = None
        for res, block in zip(self.block_resolutions, self.blocks):
            x = block(x)                                          # [B, r/2, r/2, nf(r/2)]
            if res // 2 == self.local_resolution:                 # by the config, not x's (maybe unknown) shape
                local = self._local_logits(x, scale)              # [B, L * L]
        x = self.conv4(self.mbstd(x))                             # [B, 4, 4, nf(4)]
        x = self.fc(tf.reshape(x, [-1, 16 * x.shape[-1]]))        # [B, nf(4)]
        x = self.out(x)                                           # [B, 1] or [B, cmap_dim]
        if self.cmap_dim:
            cmap = tf.cast(self.scale_embed(scale), x.dtype)      # [B, cmap_dim]
            x = tf.reduce_sum(x * cmap, -1, keepdims=True) * (1.0 / math.sqrt(self.cmap_dim))  # [B, 1]
        # float32 logits under mixed precision, so softplus losses and R1 see full precision.
        x = tf.cast(x, tf.float32)                                # [B, 1]
        return x if local is None else tf.concat([x, local], -1)  # [B, num_logits]

    def _local_logits(self, x, scale) -> tf.Tensor:
        """The local head on the L x L map x [B, L, L, C] -> [B, L * L] float32."""
        y = self.local_out(x)                                     # [B, L, L, C or 1]
        if self.cmap_dim:
            cmap = tf.cast(self.local_embed(scale), y.dtype)      # [B, C]
            y = tf.reduce_sum(y * cmap[:, None, None, :], -1) * (1.0 / math.sqrt(cmap.shape[-1]))  # [B, L, L]
        return tf.cast(tf.reshape(y, [-1, self.local_resolution ** 2]), tf.float32)

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "channels": self.channels,
                "channel_base": self.channel_base, "channel_max": self.channel_max,
                "mbstd_group_size": self.mbstd_group_size,
                "mbstd_num_channels": self.mbstd_num_channels,
                "scale_conditioning": self.scale_conditioning, "scale_frequencies": self.scale_frequencies,
                "local_resolution": self.local_resolution}


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class SplitDiscriminator(keras.Model):
    """Frames to one StyleGAN2 D, patches to a second of the same size (`separate_patches`).

    Besides telling one D the window side (projection), D can learn scales apart by seeing them
    apart: patches never share a D's capacity with frames, so the frame D stays StyleGAN2's
    (unconditioned) and the patch D judges only views above the training density, conditioned
    on s as `scale_conditioning` says. Each view goes through one D, so a step costs the same
    MACs as with one D; D's parameters double. Views arrive as the losses lay them out: frames
    first, then `patches` patches (a Python int: the split is static, so XLA compiles it);
    minibatch-stddev groups then hold frames or patches, never both. Without `patches` every
    view is a frame (the frame D's alone).
    """

    splits_views = True  # the losses pass it the number of trailing patches (losses._call_D)

    def __init__(self, **config):  # Discriminator's arguments, for both
        own = {k: config.pop(k) for k in ("name", "dtype", "trainable") if k in config}
        super().__init__(**own)
        self.config = dict(config)
        # The saved dtype policy reaches both Ds, as the global one would when they were built.
        inner = {"dtype": own["dtype"]} if "dtype" in own else {}
        # Scoped so that weight paths name their D ("patch_d/b32/conv0/kernel"), not two alike.
        with keras.name_scope("frame_d", caller=self):
            self.frame_d = Discriminator(**{**config, "scale_conditioning": "none"}, name="frame_d", **inner)
        with keras.name_scope("patch_d", caller=self):
            self.patch_d = Discriminator(**config, name="patch_d", **inner)
        self.resolution, self.num_logits = self.patch_d.resolution, self.patch_d.num_logits
        self.built = True  # both Ds built their weights in their constructors

    def call(self, images, scale=None, patches: int = 0, training=None):
        """Logits [B, num_logits]: the frame D's for the first B - patches views, then the patch
        D's (told `scale` [B] of those) for the last `patches`."""
        if isinstance(patches, bool) or not isinstance(patches, int) or patches < 0:
            raise ValueError(f"patches must be a Python int >= 0 (the split is static), got {patches!r}")
        if not patches:
            return self.frame_d(images)
        if images.shape[0] is not None and not patches < images.shape[0]:
            raise ValueError(f"{patches} patches in a batch of {images.shape[0]} views: "
                             "the frame D needs at least one frame")
        patch_scale = None if scale is None else scale[-patches:]
        return tf.concat([self.frame_d(images[:-patches]), self.patch_d(images[-patches:], scale=patch_scale)], 0)

    def get_config(self):
        return {**super().get_config(), **self.config}


def split_config(config: dict):
    """config.json's "discriminator" -> (separate_patches, Discriminator's arguments).
    `separate_patches` is absent in every run from before it (one D); present, a bool."""
    args = dict(config)
    separate = args.pop("separate_patches", False)
    if not isinstance(separate, bool):
        raise ValueError(f"discriminator separate_patches must be true or false, got {separate!r}")
    return separate, args


def build_discriminator(config: dict) -> keras.Model:
    """A Discriminator from config.json's "discriminator", or a SplitDiscriminator of two."""
    separate, args = split_config(config)
    return (SplitDiscriminator if separate else Discriminator)(**args)
