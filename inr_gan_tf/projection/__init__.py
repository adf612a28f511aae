"""Projection: fit a real image by gradient descent in z, w or INR-parameter (theta) space.

    result = project(G, image_uint8, space="w", steps=500, seed=0)
    big = G.render_grid(result.tf_params(), 4 * G.resolution, 4 * G.resolution)  # super-resolved

The schedule is StyleGAN2's projector (Karras et al. 2020, `projector.py`; the paper's App. B.2
uses it for Table 2): start from the average latent w_avg, Adam (0.9, 0.999), learning rate
ramped up over the first 5% of steps and down (cosine) over the last 25%, Gaussian noise on the
latent, 0.05 x its spread at first, decaying quadratically to zero at 75% of the steps. As the
paper does, nothing else (no per-layer noise inputs here anyway) is optimised.

Spaces:
  z      G's input; starts at the prior's mean 0 (the z-space counterpart of w_avg).
  w      the mapping output (the W space of Table 2); starts at w_avg.
  theta  the INR parameters themselves, one flat vector per image (what `G.hypernet` emits);
         starts at hypernet(w_avg), or at any given point such as a w-projection's result.
         G's shared INR weights stay fixed, so the fit is still made of G's building blocks:
         this is the INR prior without the GAN's latent prior.

Loss per image: pixel MSE plus the mean L1 distance of a Laplacian pyramid (box filter, bands at
R, R/2, and the low-pass residual at R/4). A perceptual distance (LPIPS on VGG16 features, as
StyleGAN2 uses) matches images better, but it needs pretrained weights from the network and
this library never downloads; the pyramid term gives coarse structure the weight a plain pixel
loss lacks (Bojanowski et al. 2018's Lap1 loss for latent optimisation).

Every image in a batch has its own latent; the loss is summed over the batch, so each image's
gradient (and its result) does not depend on what else is in the batch.
"""
import math
from typing import Dict, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from inr_gan_tf.data.transforms import center_crop_resize
from inr_gan_tf.progress import Progress

SPACES = ("z", "w", "theta")
# Adam learning rates per space. z, w: StyleGAN2's 0.1 (w has about unit spread per dimension
# here too). theta: the hypernet's raw outputs are of unit scale as well; on 8 procedural images
# with the emoji model (32^2) 0.2-0.4 fit to 34 dB in 300 steps where 0.02 got 25 dB in 200.
DEFAULT_LR = {"z": 0.1, "w": 0.1, "theta": 0.3}
# Latent noise only makes sense where a prior spread is meaningful; theta-space fits are local.
DEFAULT_NOISE = {"z": 0.05, "w": 0.05, "theta": 0.0}
# Weight of the pyramid term. In theta space fits get so close that the L1 term's constant-size
# gradient works against the last dBs of MSE (same images, 500 steps: weight 1 fit to 32 dB,
# weight 0 to 38 dB); 0.1 keeps most of that. In w space the weight changed little (23 dB).
DEFAULT_PYRAMID = {"z": 1.0, "w": 1.0, "theta": 0.1}
PRIOR_SAMPLES = 10_000  # StyleGAN2's w_avg_samples
FLOAT_TARGET_LIMIT = 10.0  # |float target| above this is a [0, 255] image, not a model-range one


class ProjectionResult(NamedTuple):
    space: str
    latent: Optional[np.ndarray]   # the optimised z [B, z_dim] or w [B, mapping_width]; None for theta
    theta: np.ndarray              # flat INR parameters [B, P] the result renders with
    params: Dict[str, np.ndarray]  # the same, as G.param_spec's dict name -> [B, ...]
    images: np.ndarray             # float32 [B, R, R, 3], model range (about [-1, 1]): the render at R
    target: np.ndarray             # float32 [B, R, R, 3], model range: what was fitted
    loss: np.ndarray               # [steps, B] per-image loss at each step (noisy latent, before the update)
    final_loss: np.ndarray         # [B] loss of the final (noise-free) result
    learning_rates: np.ndarray     # [steps] the schedule used
    noise_stds: np.ndarray         # [steps] std of the latent noise at each step

    def tf_params(self) -> Dict[str, tf.Tensor]:
        """params as tensors, ready for G.render / G.render_grid."""
        return {k: tf.constant(v) for k, v in self.params.items()}


def prepare_targets(images, resolution: int) -> np.ndarray:
    """uint8 [H, W, 3] / [B, H, W, 3], or float in the model's range -> float32 [B, R, R, 3].

    uint8 images map [0, 255] -> [-1, 1]. Floats are taken as model-range images: about [-1, 1],
    kept as they are so that G's own renders, which overshoot that range, can be projected
    exactly; floats beyond +-FLOAT_TARGET_LIMIT are rejected as [0, 255] images passed by mistake.
    Images are centre-cropped and resized as the training pipeline does (area when shrinking,
    clipped bicubic when enlarging), so a projection sees what G was trained to produce.
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] == 0 or min(x.shape[1:3]) == 0:
        raise ValueError(f"targets must be RGB images [H, W, 3] or [B, H, W, 3], got shape {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32)
    elif np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)) or np.abs(x).max() > FLOAT_TARGET_LIMIT:
            raise ValueError(f"float targets must be finite model-range images (about [-1, 1], at most "
                             f"+-{FLOAT_TARGET_LIMIT:g}); pass uint8 for [0, 255] images")
        x = (x.astype(np.float32) + 1.0) * 127.5
    else:
        raise ValueError(f"targets must be uint8 or float model-range images, got dtype {x.dtype}")
    if x.shape[1:3] != (resolution, resolution):
        x = np.stack([center_crop_resize(tf.constant(im), resolution).numpy() for im in x])
    return (x / 127.5 - 1.0).astype(np.float32)


# -- loss ----------------------------------------------------------------------------------
def _box_down(x):
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")  # [B, H/2, W/2, C]


def _nearest_up(x):
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)  # [B, 2H, 2W, C]


def pyramid_levels(resolution: int, levels: int = 3) -> int:
    """Pyramid levels usable at this resolution: each band halves it, so it must stay even."""
    n, r = 1, int(resolution)
    while n < levels and r % 2 == 0 and r >= 4:
        n, r = n + 1, r // 2
    return n


def image_loss(x, y, levels: int = 3, pyramid_weight: float = 1.0) -> tf.Tensor:
    """Per-image loss [B] of images x, y [B, H, W, 3] in [-1, 1]: MSE + pyramid_weight * Lap-L1.

    The Laplacian pyramid has `levels` levels (band-pass at full size, then halving, and the
    low-pass residual last); each level's mean |difference| counts equally, so the coarse
    levels, a few pixels each, weigh as much as the finest band.
    """
    per = tf.reduce_mean(tf.square(x - y), axis=[1, 2, 3])  # [B]
    if pyramid_weight:
        d, lap = x - y, 0.0  # the pyramid is linear: the pyramid of x - y is the difference
        n = pyramid_levels(x.shape[1], levels)
        for _ in range(n - 1):
            low = _box_down(d)
            lap += tf.reduce_mean(tf.abs(d - _nearest_up(low)), axis=[1, 2, 3])
            d = low
        lap += tf.reduce_mean(tf.abs(d), axis=[1, 2, 3])
        per += pyramid_weight * lap / n
    return per


# -- schedule (StyleGAN2 projector) ------------------------------------------------------------
def learning_rate(t: float, lr: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """lr at progress t in [0, 1]: linear ramp-up, cosine ramp-down to 0 at t = 1."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * min(1.0, t / rampup)


def noise_strength(t: float, spread: float, factor: float, ramp: float = 0.75) -> float:
    """Std of the latent noise at progress t: factor x spread, quadratically down to 0 at `ramp`."""
    return spread * factor * max(0.0, 1.0 - t / ramp) ** 2


def prior(G, space: str, num: int = PRIOR_SAMPLES, seed: int = 0, spread: bool = True):
    """(mean [D], spread) of the space under z ~ N(0, I); spread = sqrt(E ||x - mean||^2).

    spread=False skips measuring the spread (returns 0.0), the costly part for theta.

    Like StyleGAN2's projector, w_avg is measured from samples rather than read from the
    running average `G.mapping.w_avg`: the two estimate the same mean, but this one also holds
    for a generator whose training never updated it.
    """
    check_space(space)
    if space == "z":
        return np.zeros([G.z_dim], np.float32), float(math.sqrt(G.z_dim))
    z = tf.random.stateless_normal([num, G.z_dim], seed=[int(seed), 0x5EED])
    w = G.mapping(z)  # [num, D]
    w_mean = tf.reduce_mean(w, 0, keepdims=True)
    if space == "w":
        return w_mean[0].numpy(), float(tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(w - w_mean), 1))))
    # theta is linear in w: its mean is hypernet(w_avg). Chunks bound memory (num x P floats).
    mean = G.hypernet.flat(w_mean)  # [1, P]
    if not spread:
        return mean[0].numpy(), 0.0
    sq = sum(float(tf.reduce_sum(tf.square(G.hypernet.flat(c) - mean)))
             for c in (w[i:i + 1000] for i in range(0, num, 1000)))
    return mean[0].numpy(), math.sqrt(sq / num)


def check_space(space: str) -> str:
    if space not in SPACES:
        raise ValueError(f"unknown projection space {space!r}; choose from {SPACES}")
    return space


def _decoder(G, space):
    """Flat point of the space [B, D] -> INR params dict."""
    if space == "z":
        return lambda x: G.hypernet(G.mapping(x))
    if space == "w":
        return G.hypernet
    return G.param_spec.unflatten


def project(G, target, space: str = "w", steps: int = 500, seed: int = 0,
            lr: Optional[float] = None, noise: Optional[float] = None,
            init: Optional[np.ndarray] = None, pyramid_weight: Optional[float] = None,
            levels: int = 3, verbose_every: int = 0) -> ProjectionResult:
    """Projects target image(s) into `space` of G (see the module docstring).

    target:         uint8 [H, W, 3] / [B, H, W, 3], or float in [-1, 1]; resized to G.resolution.
    steps:          optimisation steps (StyleGAN2 uses 1000).
    seed:           the latent noise (and prior samples); same seed, same result.
    lr, noise:      peak learning rate and initial noise factor (defaults: DEFAULT_LR/NOISE).
    init:           start point [D] or [B, D] in the space (default: its mean; theta: hypernet(w_avg));
                    e.g. `init=w_result.theta` starts a theta projection at a w projection's fit.
    pyramid_weight: weight of the Laplacian-pyramid L1 term (0: plain MSE; default DEFAULT_PYRAMID).
    """
    check_space(space)
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    steps, R = int(steps), G.resolution
    lr = DEFAULT_LR[space] if lr is None else float(lr)
    noise = DEFAULT_NOISE[space] if noise is None else float(noise)
    pyramid_weight = DEFAULT_PYRAMID[space] if pyramid_weight is None else float(pyramid_weight)
    targets = tf.constant(prepare_targets(target, R))  # [B, R, R, 3]
    batch = int(targets.shape[0])

    mean, spread = prior(G, space, seed=seed, spread=noise > 0)
    start = mean if init is None else np.asarray(init, np.float32)
    if start.shape[-1] != mean.size or start.ndim > 2 or (start.ndim == 2 and len(start) not in (1, batch)):
        raise ValueError(f"init must be [{mean.size}] or [{batch}, {mean.size}] for space {space!r}, "
                         f"got shape {start.shape}")
    start = np.broadcast_to(start, (batch, mean.size))
    x = tf.Variable(np.array(start, np.float32), name=f"{space}_opt")  # [B, D]
    m, v = tf.Variable(tf.zeros_like(x)), tf.Variable(tf.zeros_like(x))  # Adam moments
    decode = _decoder(G, space)

    @tf.function
    def step(i, lr_i, noise_i):
        eps = tf.random.stateless_normal(tf.shape(x), seed=tf.stack([tf.cast(seed, tf.int64), i]))
        with tf.GradientTape() as tape:
            images = G.render_grid(decode(x + noise_i * eps), R, R)  # [B, R, R, 3]
            per = image_loss(images, targets, levels, pyramid_weight)  # [B]
            total = tf.reduce_sum(per)  # sum: each image's gradient is independent of B
        g = tape.gradient(total, x)
        # Adam (0.9, 0.999, 1e-8) with bias correction, written out so all of it is one graph.
        t = tf.cast(i + 1, tf.float32)
        m.assign(0.9 * m + 0.1 * g)
        v.assign(0.999 * v + 0.001 * tf.square(g))
        m_hat, v_hat = m / (1.0 - 0.9 ** t), v / (1.0 - 0.999 ** t)
        x.assign_sub(lr_i * m_hat / (tf.sqrt(v_hat) + 1e-8))
        return per

    history = np.empty((steps, batch), np.float32)
    lrs = np.array([learning_rate(i / steps, lr) for i in range(steps)], np.float32)
    noises = np.array([noise_strength(i / steps, spread, noise) for i in range(steps)], np.float32)
    bar = Progress(steps, f"projection into {space}", enabled=None if verbose_every else False, unit="step")
    for i in range(steps):
        history[i] = step(tf.constant(i, tf.int64), tf.constant(lrs[i]), tf.constant(noises[i])).numpy()
        bar.update()
        if verbose_every and (i % verbose_every == 0 or i == steps - 1):
            print(f"step {i + 1}/{steps}: loss {history[i].mean():.5f}", flush=True)
    bar.close()

    params = decode(tf.convert_to_tensor(x))
    images = G.render_grid(params, R, R)
    final = image_loss(images, targets, levels, pyramid_weight).numpy()
    return ProjectionResult(space=space, latent=None if space == "theta" else x.numpy(),
                            theta=G.param_spec.flatten(params).numpy(),
                            params={k: t.numpy() for k, t in params.items()},
                            images=images.numpy(), target=targets.numpy(), loss=history,
                            final_loss=final, learning_rates=lrs, noise_stds=noises)
