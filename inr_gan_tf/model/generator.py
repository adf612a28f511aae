"""The INR-GAN generator: mapping -> hypernet -> INR params -> render(params, coords).

    params = G.hypernet(G.mapping(z))        # dict name -> [B, ...], checked by the ParamSpec
    rgb    = G.render(params, coords)        # coords [N, 2] or [B, N, 2] -> rgb [B, N, 3]

`G(z)` renders the training grid. Super-resolution, zoom-out, other aspect ratios, tiles and
point sets are all `render` on another coordinate set (see coords.py); nothing else differs.
Options beyond the paper (`upsampling`, `log_frequencies`, `fourier_cap`, `coord_scale`, `coord_gain`,
`saturation`, `cell`, `palette`; inr.py, plan.py; `antialias`, below) default to the paper's
INR, so configs and checkpoints without them load unchanged.

Points and pixels. `render` samples the function at points. An image pixel is an area: with
`antialias` = k > 1 every image render (`render_grid`, `render_pixels`: training frames and
patches, tiles, metric windows, exports' render_grid) is the mean of k x k points over each
pixel, as a rasteriser's coverage anti-aliasing makes the training pixels. Why: trained on
anti-aliased pixels by point samples, the INR must itself be blurred by a pixel (an edge takes
a training pixel to cross), which a denser render then shows as blur; with area samples its
edges are free to be sharp, and a pixel at any density is the same area integral.
"""
import collections
from typing import Dict, Optional, Sequence

import keras
import tensorflow as tf

from inr_gan_tf import coords as coords_lib
from inr_gan_tf.model import plan as plan_lib
from inr_gan_tf.model.config import GeneratorConfig, as_config, check_antialias
from inr_gan_tf.model.hypernet import Hypernet, Mapping
from inr_gan_tf.model.inr import MultiScaleINR
from inr_gan_tf.model.plan import RenderPlan

PLAN_CACHE_SIZE = 8  # grid plans kept besides the training grid's


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class Generator(keras.Model):
    """Hypernetwork generator of continuous images (paper Sec. 3)."""

    def __init__(self, resolution: int,                 # training resolution R (the R x R grid G(z) renders)
                 blocks: Sequence[dict],                # INR blocks: resolution, width, depth, frequencies, fourier_scale
                 z_dim: int = 512,                      # latent size (paper: 512)
                 mapping_width: int = 1024,             # hypernetwork width (paper: 1024)
                 mapping_layers: int = 3,               # hypernetwork non-linear layers (paper: 3)
                 modulation: str = "fmm",               # shared | full | fmm (Table 1 rows)
                 fourier: bool = True,                  # predicted Fourier coordinate features
                 rank: int = 10,                        # FMM rank
                 coord_skip: bool = True,               # coordinate features into every hidden layer
                 activation: str = "relu",              # INR hidden activation
                 fourier_lr_mult: float = 1.0,          # learning-rate multiplier of the predicted Fourier matrices
                 upsampling: str = "nearest",           # coarse -> fine block transfer: nearest (paper) | bilinear | local | local_diff
                 log_frequencies: int = 0,              # deterministic log-spaced frequencies per axis and block (0: none)
                 fourier_cap: Optional[float] = None,   # soft cap on frequencies, fraction of each block's pi * r_k (None: off)
                 antialias: int = 1,                    # an image pixel is the mean of antialias^2 points over it (1: its centre)
                 coord_scale: Optional[float] = None,   # blocks after the first: raw (x, y) as (p - 0.5) * coord_scale (None: p)
                 coord_gain: Optional[float] = None,    # the first block: raw (x, y) as (p - 0.5) * coord_gain (None: p)
                 saturation: Optional[float] = None,    # rgb = tanh(saturation * the INR's linear output) (None: linear)
                 cell: bool = False,                    # the finest block also takes the rendered pixel's size (LIIF)
                 palette: int = 0,                      # rgb = softmax of K logits mixing K predicted colours (0: off)
                 **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)
        if self.resolution < 1:
            raise ValueError(f"resolution must be >= 1, got {resolution}")
        self.antialias = check_antialias(antialias)
        self.z_dim, self.mapping_width, self.mapping_layers = int(z_dim), int(mapping_width), int(mapping_layers)
        self.mapping = Mapping(self.z_dim, self.mapping_width, self.mapping_layers, name="mapping")
        self.inr = MultiScaleINR(blocks, modulation=modulation, fourier=fourier, rank=rank,
                                 coord_skip=coord_skip, activation=activation, upsampling=upsampling,
                                 log_frequencies=log_frequencies, fourier_cap=fourier_cap, coord_scale=coord_scale,
                                 coord_gain=coord_gain,
                                 saturation=saturation, cell=cell, palette=palette,
                                 latent_dim=self.mapping_width if modulation == "shared" else 0,
                                 name="inr")
        if self.inr.blocks[-1]["resolution"] != self.resolution:
            raise ValueError(f"the last block's resolution ({self.inr.blocks[-1]['resolution']}) must "
                             f"equal the training resolution ({self.resolution})")
        # Predicted frequencies move `fourier_scale` times faster than other outputs for the same
        # raw step; a multiplier < 1 keeps a short run from growing a few of them into
        # pixel-scale dot patterns (measured on the 32x32 quickstart, docs/research_log.md).
        self.fourier_lr_mult = float(fourier_lr_mult)
        mult = {n: self.fourier_lr_mult for n in self.inr.param_spec.names if n.endswith(".fourier.matrix")}
        self.hypernet = Hypernet(self.mapping_width, self.inr.param_spec, name="hypernet",
                                 lr_mult=mult if self.fourier_lr_mult != 1.0 else None)
        # Grid plans are constants (static shapes for XLA): the training grid's is kept for good,
        # other sizes in a small LRU, so a zoom animation or many sizes cannot grow memory.
        self._plans: Dict[tuple, RenderPlan] = collections.OrderedDict()
        self.built = True  # all state is created above

    @property
    def param_spec(self):
        return self.inr.param_spec

    def variable_groups(self):
        """(hypernetwork variables, the INR's shared W_s): App. A trains W_s with its own learning rate."""
        return self.mapping.trainable_variables + self.hypernet.trainable_variables, self.inr.trainable_variables

    # -- the seam: params -> pixels ----------------------------------------------------------
    def params(self, z, truncation=1.0) -> Dict[str, tf.Tensor]:
        return self.hypernet(self.mapping(z, truncation=truncation))

    def render(self, params: Dict[str, tf.Tensor], coords, pixel=None) -> tf.Tensor:
        """rgb [B, N, 3] at `coords` ([N, 2], [B, N, 2] or a RenderPlan).

        pixel: with `cell`, the (width, height) each point stands for ([2] or [B, 1, 2]; None:
        what a point of a training frame stands for, 1 / (R * antialias)); image renders pass
        their pixel (render_pixels, render_grid)."""
        plan = coords if isinstance(coords, RenderPlan) else self.inr.plan(coords)
        if pixel is None and self.inr.cell:
            pixel = (1.0 / (self.resolution * self.antialias),) * 2
        return self.inr.render(params, plan, pixel)

    def render_pixels(self, params, centres, pixel, plan_fn=None) -> tf.Tensor:
        """rgb [B, N, 3] of image pixels centred at `centres` ([N, 2] | [B, N, 2]) of size `pixel`
        ((width, height): [2] | [B, 1, 2]), each the mean of `antialias`^2 points spread over its
        area (antialias 1: the centre, exactly `render`). Images -- grids, tiles, windows,
        patches -- go through here, point sets through `render`. plan_fn(points): the plan to
        use (default: `render`'s own).
        """
        points = coords_lib.subpixels(centres, pixel, self.antialias)
        sub = self._sub_pixel(pixel)
        rgb = self.render(params, _planned(points, plan_fn), sub)
        return coords_lib.pool_subpixels(rgb, self.antialias)

    def render_subpoints(self, params, centres, pixel, index, plan_fn=None) -> tf.Tensor:
        """rgb [B, N, 3] of pixels as `render_pixels`, each at one of the antialias^2 points it
        averages: sub-point index[b, n] (coords.pick_subpixels). With a uniform index, a
        one-point unbiased estimate of render_pixels' pixel at the cost of one point (jittered
        training pixels, `--jitter`)."""
        points = coords_lib.pick_subpixels(centres, pixel, self.antialias, index)
        return self.render(params, _planned(points, plan_fn), self._sub_pixel(pixel))

    def _sub_pixel(self, pixel):
        """What each of a pixel's antialias^2 points stands for (the cell input): its sub-pixel;
        None without `cell`, which reads no pixel."""
        return tf.cast(pixel, tf.float32) / self.antialias if self.inr.cell else None

    def frame_plan(self, coords) -> RenderPlan:
        """Plan of points inside the frame [0, 1]^2, without tf.unique (static shapes, XLA):
        the per-sample windows of patch training. `render(params, G.frame_plan(points))` equals
        `render(params, points)` there (plan.py)."""
        return plan_lib.frame_plan(coords, self.inr.coarse_resolutions, self.inr.upsampling)

    def grid_plan(self, height: int, width: int,
                  bounds: Sequence[float] = coords_lib.UNIT_BOUNDS) -> RenderPlan:
        """Cached constant plan of a grid, so grid renders have static shapes (XLA-friendly)."""
        key = (int(height), int(width), coords_lib.check_bounds(bounds))
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        # With antialias, each pixel's sub-points (as render_pixels), planned once.
        points = coords_lib.subpixel_grid_np(height, width, key[2], self.antialias)
        plan = self._plans[key] = self.inr.static_plan(points)
        training = (self.resolution, self.resolution, coords_lib.UNIT_BOUNDS)
        evictable = [k for k in self._plans if k != training]
        while len(evictable) > PLAN_CACHE_SIZE:
            del self._plans[evictable.pop(0)]
        return plan

    def render_grid(self, params, height: int, width: int,
                    bounds: Sequence[float] = coords_lib.UNIT_BOUNDS) -> tf.Tensor:
        """Images [B, H, W, 3] on an H x W grid over `bounds` (pixels as in render_pixels)."""
        plan = self.grid_plan(height, width, bounds)
        sub = self._sub_pixel(coords_lib.grid_pixel(height, width, coords_lib.check_bounds(bounds))) \
            if self.inr.cell else None
        rgb = self.inr.render(params, plan, sub)                            # [B, H*W*antialias^2, 3]
        rgb = coords_lib.pool_subpixels(rgb, self.antialias)                  # [B, H*W, 3]
        return tf.reshape(rgb, [-1, height, width, rgb.shape[-1]])

    def call(self, z, truncation=1.0, training=None):
        return self.render_grid(self.params(z, truncation), self.resolution, self.resolution)

    @property
    def config(self) -> GeneratorConfig:
        """The typed, frozen configuration this generator was built from (model/config.py)."""
        inr = self.inr
        return GeneratorConfig.from_dict({
            "resolution": self.resolution, "blocks": inr.blocks, "z_dim": self.z_dim,
            "mapping_width": self.mapping_width, "mapping_layers": self.mapping_layers,
            "modulation": inr.modulation, "fourier": inr.fourier, "rank": inr.rank, "coord_skip": inr.coord_skip,
            "activation": inr.activation, "fourier_lr_mult": self.fourier_lr_mult, "upsampling": inr.upsampling,
            "log_frequencies": inr.log_frequencies, "fourier_cap": inr.fourier_cap,
            "antialias": self.antialias, "coord_scale": inr.coord_scale, "coord_gain": inr.coord_gain,
            "saturation": inr.saturation,
            "cell": inr.cell, "palette": inr.palette})

    def get_config(self):
        return {**self.config.to_dict(), "name": self.name}


def _planned(points, plan_fn):
    """The points, or plan_fn's plan of them (render_pixels' plan_fn; None: render's own)."""
    return plan_fn(points) if plan_fn is not None else points


def build_generator(config, seed: Optional[int] = None) -> Generator:
    """A generator from a GeneratorConfig or its dict (config.json, get_config()), weights created
    eagerly; unknown keys are refused."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    name = config.get("name") if isinstance(config, dict) else None
    return Generator(**as_config(config).to_dict(), **({"name": name} if name else {}))
