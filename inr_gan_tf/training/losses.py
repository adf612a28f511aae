"""GAN losses: non-saturating logistic G loss, logistic D loss and R1 on reals (paper Sec. 4, App. A).

The loss object owns the GAN phases, as stylegan3's `StyleGAN2Loss` does; the trainer only
opens the outer tapes and applies the optimizers:

    G step: L_G = E_z softplus(-D(G(z)))
    D step: L_D = E_z softplus(D(G(z))) + E_x softplus(-D(x))  [+ R1 when due]
    R1:     r1_gamma / 2 * E_x ||grad_x D(x)||^2                 (Mescheder et al. 2018)

App. A applies R1 on every D step (r1_interval=1) instead of lazily, because its D is the small
config-e StyleGAN2 discriminator. With r1_interval=k > 1 the penalty is applied every k-th
step and multiplied by k, so its expected gradient per step is unchanged (StyleGAN2 Sec. 3.1;
we fold it into the one D step instead of a separate "Dreg" optimizer step).

Everything the losses return is float32, whatever the Keras dtype policy: logits are cast
before softplus, and R1 differentiates with respect to a float32 copy of the reals.

Patch training (continuous scales; the paper's slides' "super-resolution loss", AnyResGAN,
Chai et al. 2022): with `bounds`, each sample of a batch is a view -- R x R pixels over a
window (x0, y0, x1, y1) of the frame, side s, density R / s. Full frames are the window
(0, 0, 1, 1). Fakes are `G.render` at the window's pixel centres (the same points as
coords.grid_np(R, R, bounds)) through G.frame_plan; D gets each view's scale s (a conditioned D
uses it, an unconditioned one ignores it), for fakes, reals and R1 alike. Frames and patches
go through D as one batch, so minibatch-stddev groups mix them, alike for reals and fakes.
Without `bounds` every phase is the frames-only computation, op for op.

Render consistency (with the Generator's `cell` option): an INR told each point's pixel size
may draw another image at each size (measured: its 4x render averaged back to 32^2 was 14.5
8-bit levels from its 32^2 render). With `consistency`, each G step also renders M random
training pixels of every frame at k x k sub-pixels (each told its pixel 1 / (k R)), averages
them, and adds weight * mean |that mean - the frame's pixel| to L_G. Both sides get the
gradient, so it moves only their difference: with the frame held fixed (stop-gradient) the
two share their parameters, each step moved the frame with the dense render, and at weight 10
the gap ran from 1.6 to 2e5 within 70 steps (measured); D anchors the frames. The
pixels come from the trainer's checkpointed RNG. For a point-sampled model the same term asks
each pixel's centre to be the mean of the function over the pixel.

Jittered pixels (`jitter`, the run's "jitter"): every training pixel, real and fake, frame and
patch, is the image at one of its antialias^2 sub-points, drawn uniformly per pixel and step
(reals in data.make_views, fakes here from the trainer's checkpointed RNG). Each pixel is then
an unbiased one-point estimate of the area-sampled pixel that renders give (the mean of the
antialias^2 points), at the cost of one point; reals and fakes are sampled alike at every
scale, so no density asks the INR for a ramp that another density forbids, as fixed centres
against anti-aliased reals do.

A D with a local head (discriminator.py) returns [B, 1 + L*L] logits: the global one, then one
per location of its L x L map. Each phase's loss per view is then the global term plus
`local_weight` times the mean of the same term over the locations (every location is a
PatchGAN sample), and R1 differentiates that same per-view output, global + local_weight *
mean(local). A D with one logit gives exactly the losses above.

A SplitDiscriminator (discriminator.py: frames to one D, patches to a second) is told how many
views end each batch as patches (`patch_views`, per replica): the same losses, each view
judged by its own D.

Spectral term (`spectral` = w > 0; Durall et al., CVPR 2020, "Watch your up-convolution",
Sec. 4's spectral regularization): each G step adds w * mean over rings r >= 1 of
(log10 P_fake(r) - log10 P_real(r))^2, where P is the batch's mean ring power of its views'
luma exactly as metrics/spectral.py measures it (ring_power below), the fakes of this G step
against the reals of the same step (frames and patches alike, so both sides mix the same
scales). Why: D judges edges above the training grid only as far as its capacity reaches at
this budget, and every quickstart seed fell short of the real spectrum in every band at 4x;
this asks for the missing power directly, leaving the adversarial term to put it on edges
(measured on the quickstart at w = 1: it did not, outlines and halos instead; docs/quickstart.md).
The spectra are means over the whole batch (all replicas'); the reals are held fixed.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from inr_gan_tf import coords
from inr_gan_tf.data.pipeline import window_from_uniforms
from inr_gan_tf.metrics.spectral import LUMA, ring_index

SCALE_DISTRIBUTIONS = ("uniform", "log")


class Patches:
    """Which share of each batch is patches, and how their windows are drawn.

    The same rule serves fakes (uniforms from the trainer's checkpointed RNG) and reals
    (`stateless`, make_views' bounds_fn), so real and fake patches have one scale distribution.
    """

    def __init__(self, ratio: float,                  # share of each batch's views that are patches
                 min_scale: float = 0.25,             # smallest window side s (frame units); largest 1
                 distribution: str = "uniform"):      # s uniform in [min_scale, 1], or log s uniform
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {ratio}")
        if not 0.0 < min_scale <= 1.0:
            raise ValueError(f"min_scale must be in (0, 1], got {min_scale}")
        if distribution not in SCALE_DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {SCALE_DISTRIBUTIONS}, got {distribution!r}")
        self.ratio, self.min_scale, self.distribution = float(ratio), float(min_scale), distribution

    def count(self, batch: int) -> int:
        """Patches in a batch of `batch` views: the nearest whole number (halves round up)."""
        return int(math.floor(self.ratio * batch + 0.5))

    def windows(self, u) -> tf.Tensor:
        """Uniforms [..., 3] (float64, in [0, 1)) -> windows [..., 4] float32 inside the frame:
        side in [min_scale, 1] by the distribution, position uniform over where it fits."""
        return window_from_uniforms(u, (self.min_scale, 1.0), self.distribution)

    def draw(self, rng: tf.random.Generator, shape: Sequence[int]) -> tf.Tensor:
        """Windows [*shape, 4] from a tf.random.Generator (the fakes': checkpointed with the run)."""
        return self.windows(rng.uniform(list(shape) + [3], dtype=tf.float64))

    def stateless(self, seed) -> tf.Tensor:
        """One window [4] from a stateless seed [2] (make_views' bounds_fn: the reals')."""
        return self.windows(tf.random.stateless_uniform([3], seed=seed, dtype=tf.float64))

    def config(self) -> dict:
        return {"ratio": self.ratio, "min_scale": self.min_scale, "distribution": self.distribution}


class Consistency:
    """Weight, pixels per frame and sub-density of the render-consistency term (see above)."""

    def __init__(self, weight: float,               # of mean |pooled dense render - frame pixel| in L_G
                 points: int = 16,                  # training pixels per frame and G step
                 density: int = 4):                 # k: each checked at k x k sub-pixels
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"consistency weight must be finite and > 0, got {weight}")
        if int(points) != points or points < 1:
            raise ValueError(f"consistency points must be an integer >= 1, got {points}")
        if int(density) != density or density < 2:
            raise ValueError(f"consistency density must be an integer >= 2, got {density}")
        self.weight, self.points, self.density = float(weight), int(points), int(density)

    def draw(self, rng: tf.random.Generator, frames: int, resolution: int) -> tf.Tensor:
        """Pixel indices (column, row) [frames, points, 2] int32, uniform over the R x R frame."""
        return rng.uniform([frames, self.points, 2], 0, resolution, dtype=tf.int32)

    def config(self) -> dict:
        return {"weight": self.weight, "points": self.points, "density": self.density}


def window_scale(bounds) -> tf.Tensor:
    """Side s [B] of each (square) window; 1 for the frame."""
    return bounds[:, 2] - bounds[:, 0]


def with_frames(frames, patches, patch_bounds) -> Tuple[tf.Tensor, tf.Tensor]:
    """(frames then patches along the batch, the windows of all: the frame's, then patch_bounds).

    frames [F, ...] and patches [P, ...] are images or latents; patch_bounds [P, 4].
    """
    unit = frame_windows(tf.shape(frames)[0], patch_bounds.dtype)
    return tf.concat([frames, patches], 0), tf.concat([unit, patch_bounds], 0)


def frame_windows(count, dtype=tf.float32) -> tf.Tensor:
    """The frame's window (0, 0, 1, 1), [count, 4]: the bounds of full frames among views."""
    return tf.broadcast_to(tf.constant(coords.UNIT_BOUNDS, dtype), tf.stack([count, 4]))


# Below uint8 quantisation noise (about 1e-9 a bin at 32^2), above float32's smallest normal:
# a ring with no power then has a flat log and no exploding gradient.
_SPECTRAL_FLOOR = 1e-10


def ring_power(images) -> tf.Tensor:
    """float32 [rings]: the mean over images [B, H, H, 3] in [-1, 1] of the ring power of their
    luma, metrics/spectral.py's radial_power (BT.601 luma of [0, 1] values, |FFT|^2 / H^4, the
    mean over each integer-radius ring) in differentiable TF ops (no uint8 quantisation)."""
    size = int(images.shape[1])
    x = (tf.cast(images, tf.float32) + 1.0) * 0.5
    gray = tf.tensordot(x, tf.constant(LUMA, tf.float32), 1)                 # [B, H, H]
    f = tf.signal.fft2d(tf.complex(gray, tf.zeros_like(gray)))
    power = tf.square(tf.math.real(f)) + tf.square(tf.math.imag(f))        # |F|^2, smooth at 0
    power = tf.reshape(power, [-1, size * size]) / float(size) ** 4
    ring = ring_index(size).ravel()
    counts = np.bincount(ring)
    mean_of_ring = np.eye(len(counts))[ring] / counts                      # [H*H, rings]
    return tf.reduce_mean(tf.matmul(power, tf.constant(mean_of_ring, tf.float32)), 0)


def replicas_mean(x) -> tf.Tensor:
    """The mean of x over the replicas in sync (x itself outside a distribution strategy): each
    replica's share of the batch holds the same number of views, so this is the batch's mean.
    Gradients flow back through the all-reduce to every replica's share."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, x)


def spectral_gap(fakes, reals) -> tf.Tensor:
    """Mean over rings r >= 1 of (log10 P_fakes(r) - log10 P_reals(r))^2 (ring_power over the
    whole batch, across replicas), the reals held fixed: 0 for sets of one spectrum, 0.01 for a
    0.1 gap in every ring."""
    def log10(images):
        p = replicas_mean(ring_power(images))
        return tf.math.log(tf.maximum(p, _SPECTRAL_FLOOR)) / math.log(10.0)
    diff = log10(fakes) - tf.stop_gradient(log10(reals))
    return tf.reduce_mean(tf.square(diff[1:]))  # the DC ring is mean brightness, not a spectrum


def _float_logits(logits) -> tf.Tensor:
    return tf.cast(logits, tf.float32)  # [B, 1 (+ L*L)]


def per_view(logits, fn, local_weight: float = 1.0) -> tf.Tensor:
    """fn of the global logit [B], plus local_weight * the mean of fn over the local ones, if any."""
    out = fn(logits[:, 0])
    if logits.shape[-1] > 1:
        out += local_weight * tf.reduce_mean(fn(logits[:, 1:]), -1)
    return out  # [B]


def _call_D(D, images, scale=None, patches: int = 0):
    # Without a scale, D's own call: the frames-only path stays op for op what it was (all views
    # frames, for a SplitDiscriminator too). With one, a D that judges patches apart is told how
    # many trailing views are patches.
    if scale is None:
        return D(images)
    if getattr(D, "splits_views", False):
        return D(images, scale=scale, patches=patches)
    return D(images, scale=scale)


def real_logits_and_r1(D, reals, scale=None, local_weight: float = 1.0,
                       patches: int = 0) -> Tuple[tf.Tensor, tf.Tensor]:
    """D(reals) [B, 1 (+ L*L)] and R1's per-sample ||grad_x D(x)||^2 [B], from one D forward pass.

    `scale` [B]: each view's window side, for a scale-conditioned D (None: frames); `patches`:
    how many trailing views are patches, for a SplitDiscriminator. With a local head the
    differentiated output is global + local_weight * mean(local), as in the loss.

    The inner tape watches the reals; any tape the caller holds around this call records the
    inner gradient computation too, so differentiating the penalty w.r.t. D's variables gives
    the second-order term R1 needs.
    """
    reals = tf.cast(reals, tf.float32)  # a float32 leaf: gradients w.r.t. it come back float32
    with tf.GradientTape() as tape:
        tape.watch(reals)
        logits = _float_logits(_call_D(D, reals, scale, patches))  # [B, 1 (+ L*L)]
        # The gradient of the sum gives each sample's gradient w.r.t. its own pixels (plus the
        # minibatch-stddev coupling to its group, as in StyleGAN2's r1 on a batch).
        total = tf.reduce_sum(per_view(logits, tf.identity, local_weight))
    grads = tape.gradient(total, reals)                          # [B, R, R, C]
    penalty = tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])    # [B]
    return logits, penalty


def r1_penalty(D, reals) -> tf.Tensor:
    """Per-sample squared gradient norms ||grad_x D(x)||^2 [B] (R1 before gamma / 2 and mean)."""
    return real_logits_and_r1(D, reals)[1]


class GANLoss:
    """Losses of the G and D steps of an INR-GAN, with R1 on real images."""

    def __init__(self, G,                       # Generator: mapping -> hypernet -> render
                 D,                             # images [B, R, R, C] (, scale=[B]) -> logits [B, 1 (+ L*L)]
                 r1_gamma: float = 10.0,        # R1 weight (App. A: 10); 0 disables R1
                 r1_interval: int = 1,          # R1 every k D steps, scaled by k (1 = App. A)
                 local_weight: float = 1.0,     # weight of a local head's mean term (D with L > 0)
                 consistency: Optional[Consistency] = None,  # the render-consistency term (None: off)
                 patch_views: int = 0,          # patches ending each replica's batch of views (a split D)
                 spectral: float = 0.0):        # weight of the spectral term in L_G (0: off)
        if r1_gamma < 0:
            raise ValueError(f"r1_gamma must be >= 0, got {r1_gamma}")
        if int(r1_interval) != r1_interval or r1_interval < 1:
            raise ValueError(f"r1_interval must be an integer >= 1, got {r1_interval}")
        if not local_weight >= 0:
            raise ValueError(f"local_weight must be >= 0, got {local_weight}")
        self.G, self.D = G, D
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.local_weight = float(local_weight)
        self.consistency = consistency
        if int(patch_views) != patch_views or patch_views < 0:
            raise ValueError(f"patch_views must be an integer >= 0, got {patch_views}")
        self.patch_views = int(patch_views)
        if not (math.isfinite(spectral) and spectral >= 0):
            raise ValueError(f"spectral weight must be finite and >= 0, got {spectral}")
        self.spectral = float(spectral)

    # -- forward passes ------------------------------------------------------------------
    def run_G(self, z, bounds=None, subpoints=None) -> Tuple[tf.Tensor, tf.Tensor]:
        """Images [B, R, R, 3] and w [B, width]; w goes back to the trainer for w_avg.

        bounds [B, 4]: each sample's window (None: the frame), rendered at its R x R pixel
        centres -- the finest block at those points, the coarse blocks at their frame cells.
        subpoints int [B, R*R]: jittered pixels, each at this one of its antialias^2 points.
        """
        images, w, _ = self._generate(z, bounds, subpoints)
        return images, w

    def _generate(self, z, bounds=None, subpoints=None):
        """(images [B, R, R, 3], w [B, width], INR params) of run_G."""
        G = self.G
        R = G.resolution
        w = G.mapping(z)                                          # [B, width]
        params = G.hypernet(w)
        if bounds is None and subpoints is None:
            return G.render_grid(params, R, R), w, params         # [B, R, R, 3]
        if bounds is None:  # jittered frames: the frame's window, for every sample
            bounds = frame_windows(tf.shape(z)[0])
        centres, pixel = coords.grid_graph(R, R, bounds), coords.grid_pixel(R, R, bounds)
        if subpoints is None:
            rgb = G.render_pixels(params, centres, pixel, plan_fn=G.frame_plan)  # [B, R*R, 3]
        else:
            rgb = G.render_subpoints(params, centres, pixel, subpoints, plan_fn=G.frame_plan)
        return tf.reshape(rgb, [-1, R, R, rgb.shape[-1]]), w, params

    def render_consistency(self, params, frames, pixels) -> tf.Tensor:
        """mean |mean of k x k sub-pixel renders - the frame's pixel| over `pixels` [F, M, 2]
        (column, row) of the first F views, whose renders are `frames` [F, R, R, 3]."""
        G, k = self.G, self.consistency.density
        R = G.resolution
        n = tf.shape(pixels)[0]
        own = {name: p[:n] for name, p in params.items()}                          # the frames' INRs
        target = tf.gather_nd(frames[:n], tf.reverse(pixels, [-1]), batch_dims=1)  # [F, M, 3]
        centres = (tf.cast(pixels, tf.float32) + 0.5) / R                          # [F, M, 2]
        sub = coords.subpixels(centres, tf.constant([1.0 / R] * 2), k)             # [F, M*k*k, 2]
        dense = G.render_pixels(own, sub, tf.constant([1.0 / (k * R)] * 2), plan_fn=G.frame_plan)
        pooled = coords.pool_subpixels(dense, k)                                   # [F, M, 3]
        return tf.reduce_mean(tf.abs(tf.cast(pooled, tf.float32) - tf.cast(target, tf.float32)))

    def run_D(self, images, bounds=None) -> tf.Tensor:
        scale = None if bounds is None else window_scale(bounds)  # [B]
        return _float_logits(_call_D(self.D, images, scale, self.patch_views))  # [B, 1 (+ L*L)]

    def _adv(self, logits, sign: float) -> tf.Tensor:
        """Mean over views of softplus(sign * logit), with a local head's share (per_view)."""
        return tf.reduce_mean(per_view(logits, lambda t: tf.nn.softplus(sign * t), self.local_weight))

    @staticmethod
    def _scores(phase: str, kind: str, logits) -> Dict[str, tf.Tensor]:
        """{phase/scores_kind: mean global logit}, with phase/local_scores_kind for a local head."""
        stats = {f"{phase}/scores_{kind}": tf.reduce_mean(logits[:, 0])}
        if logits.shape[-1] > 1:
            stats[f"{phase}/local_scores_{kind}"] = tf.reduce_mean(logits[:, 1:])
        return stats

    # -- the phases ----------------------------------------------------------------------
    def generator_loss(self, z, bounds: Optional[tf.Tensor] = None, pixels: Optional[tf.Tensor] = None,
                       subpoints: Optional[tf.Tensor] = None,
                       reals: Optional[tf.Tensor] = None) -> Tuple[tf.Tensor, Dict[str, tf.Tensor], tf.Tensor]:
        """Non-saturating logistic loss mean softplus(-D(G(z))); returns (loss, stats, w).

        bounds [B, 4]: each fake's window (patch training); None: full frames.
        pixels [F, M, 2]: with `consistency`, the training pixels checked in the first F views
        (the frames: patches come after them); None: no consistency term.
        subpoints int [B, R*R]: jittered pixels (run_G); None: pixels as renders give them.
        reals [B, R, R, 3]: with `spectral`, this step's real views, the term's target.
        """
        if (reals is None) != (self.spectral == 0.0):
            raise ValueError("the spectral term needs this step's reals, and only it takes them: "
                             f"spectral weight {self.spectral}, reals {'absent' if reals is None else 'given'}")
        images, w, params = self._generate(z, bounds, subpoints)
        logits = self.run_D(images, bounds)                       # [B, 1 (+ L*L)]
        loss = self._adv(logits, -1.0)
        stats = {**self._scores("G", "fake", logits),
                 "G/signs_fake": tf.reduce_mean(tf.sign(logits[:, 0]))}
        if pixels is not None:
            if self.consistency is None:
                raise ValueError("pixels to check were given, but this loss has no consistency term")
            stats["G/consistency"] = gap = self.render_consistency(params, images, pixels)
            loss += self.consistency.weight * gap
        if reals is not None:
            stats["G/spectral"] = gap = spectral_gap(images, reals)
            loss += self.spectral * gap
        return loss, stats, tf.cast(w, tf.float32)  # w_avg is float32 under any policy

    def discriminator_loss(self, z, reals, do_r1: Union[bool, tf.Tensor] = True,
                           fake_bounds: Optional[tf.Tensor] = None,
                           real_bounds: Optional[tf.Tensor] = None,
                           subpoints: Optional[tf.Tensor] = None) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
        """Logistic D loss on G(z) and reals, plus R1 on the reals when `do_r1`.

        fake_bounds, real_bounds [B, 4]: the windows of the fakes to render and of the reals
        given (patch training; R1 then covers real patches too, at their scales). None: frames.
        subpoints: the fakes' jittered pixels (run_G); the reals come jittered alike.

        `do_r1` may be a Python bool (chosen while tracing: no R1 work on steps without it) or
        a boolean tensor (one traced step for both kinds of iteration; R1 is computed and
        masked). The stats always hold the same keys, with zero R1 on steps without it, so a
        traced step's outputs keep one structure.
        """
        # Fakes are inputs to D here: no gradient may reach G from the D step.
        fakes = tf.stop_gradient(self.run_G(z, fake_bounds, subpoints)[0])   # [B, R, R, 3]
        fake_logits = self.run_D(fakes, fake_bounds)              # [B, 1 (+ L*L)]
        real_logits, penalty = self._real_pass(reals, do_r1, real_bounds)  # [B, 1 (+ L*L)], [B]

        loss_fake = self._adv(fake_logits, 1.0)
        loss_real = self._adv(real_logits, -1.0)
        r1_mean = tf.reduce_mean(penalty)
        loss_r1 = r1_mean * (self.r1_gamma / 2.0 * self.r1_interval)
        loss = loss_fake + loss_real + loss_r1
        stats = {**self._scores("D", "fake", fake_logits),
                 **self._scores("D", "real", real_logits),
                 "D/loss_adv": loss_fake + loss_real,
                 "D/r1_penalty": r1_mean,
                 "D/loss_r1": loss_r1}
        return loss, stats

    def _real_pass(self, reals, do_r1, bounds=None):
        """(D(reals) [B, 1 (+ L*L)], R1 per sample [B] or zeros) from one D forward pass on the reals."""
        if self.r1_gamma == 0.0 or (isinstance(do_r1, (bool, int)) and not do_r1):
            logits = self.run_D(reals, bounds)                    # no inner tape to record
            return logits, tf.zeros(tf.shape(logits)[:1], tf.float32)
        scale = None if bounds is None else window_scale(bounds)
        logits, penalty = real_logits_and_r1(self.D, reals, scale, self.local_weight, self.patch_views)
        if isinstance(do_r1, (bool, int)):
            return logits, penalty
        # A tensor flag masks R1 rather than skipping it: the gradient of a tf.cond around the
        # nested tape fails to compile under XLA (TF 2.21, minibatch-stddev reshapes), and App. A
        # runs R1 on every step anyway. Lazy R1 that also saves the work passes a Python bool.
        return logits, penalty * tf.cast(do_r1, tf.float32)
