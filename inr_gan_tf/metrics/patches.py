"""Fidelity above the training grid: G's INR rendered at f x R against upsampled R renders.

    upsampled_batches(G, seeds, factor=4)                 # {'inr', 'nearest', 'bilinear', 'bicubic'}
    upsampled_batches(G, seeds, factor=4, patch_seed=0)   # the same, as R x R crops of the 4R grid
    patch_swd(reals_4r, fakes_4r, size=R)                 # plain function on image arrays

Registered metrics (the factor f is `superres`; the real side is reals.py's cache of
statistics; every variant is streamed into its own sink, batch by batch):
  upsampled_swd, upsampled_fid (paper Sec. 4.2, Fig. 10; default f = 2): the INR rendered on the
      fR grid ('inr') and the same samples' R render resized to fR by each of UPSAMPLERS, all
      against real images at fR; keys as swd's, prefixed by the variant.
  upsampled_spectral (default f = 4): spectral.py's scores at fR, keys <variant>_<score>,
      e.g. inr_high_diff (fake - real log10 power in the top third of the fR Nyquist range).
  upsampled_edges (default f = 4): edges.py's shares at fR, keys <variant>_edge (pixels on an
      edge) and <variant>_steep (of those, the crisp ones), and reference_edge / reference_steep
      of the real images: a soft edge and a missing one both lower the spectrum's high band;
      these tell them apart.
  render_consistency (default f = 4): mean |fR render averaged over each f x f block − R render|
      in 8-bit levels, the same samples: 0 when a denser render draws the same image (a
      point-sampled INR is within a few levels; real_vs_real gives the rasteriser's own).
  patch_swd (default f = 4): SWD of one R x R crop per image at a seeded random integer
      position of the fR pixel grid, a patch-level score at high resolution (as AnyResGAN's
      pFID, Chai et al. 2022). The fakes are rendered only at the crop's points (G.render with
      per-sample window coordinates), so they cost an R render whatever f; the real crop is a
      crop of the real fR image, so exact; the baselines crop the same windows from the R
      render resized to fR. Only the SWD descriptors of the real crops are cached.

All of them need real images at fR: procedural renders them exactly at any resolution; a source
stored at a fixed size is itself upsampled above it, and the baselines then look better than
they are.

The window of the k-th image of a set depends on (seed, k) only: the k-th fake (latent seed k by
default, or the k-th of --seeds) and real k (subset index k) share positions (common random
numbers, as swd.py's patches), and real_vs_real's second half keeps the windows of its indices.
Memory: upsampled_fid and the spectra keep running sums per variant; upsampled_swd and patch_swd
keep each variant's SWD descriptors (or its uint8 images where those are smaller,
swd.DescriptorSet): SWD normalises over the whole set.
"""
from typing import Dict, Iterator, Optional, Sequence

import numpy as np

from inr_gan_tf.metrics import edges as edges_lib
from inr_gan_tf.metrics import fid as fid_lib
from inr_gan_tf.metrics import registry
from inr_gan_tf.metrics import spectral as spectral_lib
from inr_gan_tf.metrics import stream
from inr_gan_tf.metrics.swd import SWDReference, swd
from inr_gan_tf.seeds import seed_latents, to_uint8

UPSAMPLERS = ("nearest", "bilinear", "bicubic")  # tf.image.resize methods of the baselines
_WINDOW_STREAM = 2  # RNG stream id, apart from swd.py's patch (0) and direction (1) streams


# ---- windows and crops ------------------------------------------------------------------------

def patch_windows(indices: Sequence[int], full: int, size: int, seed: int = 0) -> np.ndarray:
    """int64 [n, 2] (row0, col0) of a size x size window in a full x full grid, per index k,
    uniform over the (full - size + 1)^2 integer positions; depends on (seed, k) only."""
    if not 1 <= int(size) <= int(full):
        raise ValueError(f"crop size {size} does not fit a {full}x{full} grid")
    u = np.array([np.random.default_rng((int(seed), _WINDOW_STREAM, int(k))).random(2)
                  for k in indices]).reshape(-1, 2)
    return np.minimum((u * (full - size + 1)).astype(np.int64), full - size)


def crop(images: np.ndarray, windows: np.ndarray, size: int) -> np.ndarray:
    """[n, H, W, C] -> [n, size, size, C]: image i cropped at windows[i] = (row0, col0)."""
    images, windows = np.asarray(images), np.asarray(windows)
    if len(images) != len(windows):
        raise ValueError(f"{len(images)} images but {len(windows)} windows")
    off = np.arange(size)
    rows = (windows[:, 0, None] + off)[:, :, None]  # [n, size, 1]
    cols = (windows[:, 1, None] + off)[:, None, :]  # [n, 1, size]
    return images[np.arange(len(images))[:, None, None], rows, cols]


def window_coords(full: int, size: int, windows: np.ndarray) -> np.ndarray:
    """float32 [n, size * size, 2]: the points of the full x full grid over the unit square
    inside each window, bit-identical to the same points of the full grid (coords.grid_np)."""
    from inr_gan_tf import coords  # pylint: disable=import-outside-toplevel  (imports TF)
    return np.stack([coords.grid_np(full, full, rows=(r, r + size), cols=(c, c + size))
                     for r, c in np.asarray(windows)])


def window_bounds(full: int, size: int, window) -> tuple:
    """Bounds of one window, for G.render_grid(params, size, size, bounds) or
    sampling.generate_images(..., bounds=): the full grid's pixel centres up to float rounding."""
    r, c = (int(v) for v in window)
    return (c / full, r / full, (c + size) / full, (r + size) / full)


def render_windows(G, params, full: int, size: int, windows: np.ndarray) -> np.ndarray:
    """float32 [B, size, size, 3]: sample b rendered only at its window of the full grid."""
    rgb = G.render_pixels(params, window_coords(full, size, windows), (1 / full, 1 / full))  # [B, size*size, 3]
    return rgb.numpy().reshape(len(windows), size, size, -1)


# ---- the variants that get scored -------------------------------------------------------------

def upsampled_views(low: np.ndarray, factor: int, windows: Optional[np.ndarray] = None,
                    methods: Sequence[str] = UPSAMPLERS) -> Dict[str, np.ndarray]:
    """R images in [-1, 1] float [b, R, R, 3] -> uint8 per method (of UPSAMPLERS): resized to
    fR, then cropped at `windows` (R x R crops) if given."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    r = low.shape[1]
    out = {}
    for method in methods:
        # Both grids use pixel centres (coords.py) as tf.image.resize does: aligned baselines.
        up = to_uint8(tf.image.resize(low, [factor * r, factor * r], method=method).numpy())
        out[method] = up if windows is None else crop(up, windows, r)
    return out


def upsampled_batches(G, seeds, *, factor: int = 2, batch_size: int = 32, truncation: float = 1.0,
                      patch_seed: Optional[int] = None, methods: Sequence[str] = UPSAMPLERS
                      ) -> Iterator[Dict[str, np.ndarray]]:
    """Per batch of seeds, uint8 images keyed 'inr' and one per upsampling method (`methods`):
    factor 1: 'inr' only, the R render (as sampling.generate_images);
    else:     'inr' = the INR on the fR grid (tile by tile), methods = the R render resized;
    patch_seed given: R x R crops of those at patch_windows(k, fR, R, patch_seed) for the k-th
              seed of the list, the INR rendered only at its window."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from inr_gan_tf.sampling import render_tiled  # pylint: disable=import-outside-toplevel
    r, factor, seeds = G.resolution, int(factor), list(seeds)
    full = factor * r
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i:i + batch_size]
        params = G.params(tf.constant(seed_latents(chunk, G.z_dim)), truncation=truncation)
        low = render_tiled(G, params, r, r)  # [b, R, R, 3] float in [-1, 1]
        if factor == 1:
            yield {"inr": to_uint8(low)}
            continue
        # Keyed by position, not by latent seed: the k-th fake shares real k's window whatever
        # seeds were asked for, so another set of seeds is another draw of the same test.
        windows = None if patch_seed is None else patch_windows(range(i, i + len(chunk)), full, r,
                                                                patch_seed)
        high = render_tiled(G, params, full, full) if windows is None else \
            render_windows(G, params, full, r, windows)  # [b, fR, fR, 3] or [b, R, R, 3]
        yield {"inr": to_uint8(high), **upsampled_views(low, factor, windows, methods)}


class ModelViews:
    """The fake side of calc_metric: G's samples for `seeds` (default 0 .. num - 1)."""
    name = "inr"

    def __init__(self, G, num: int, *, batch_size: int = 32, truncation: float = 1.0,
                 seeds: Optional[Sequence[int]] = None):
        self.G, self.num, self.batch_size, self.truncation = G, int(num), batch_size, truncation
        self.seeds = list(range(self.num)) if seeds is None else [int(s) for s in seeds]
        if len(self.seeds) != self.num:
            raise ValueError(f"{len(self.seeds)} seeds for {self.num} fakes")
        self.resolution = G.resolution

    def batches(self, factor: int = 1, patch_seed: Optional[int] = None, methods: Sequence[str] = UPSAMPLERS):
        return upsampled_batches(self.G, self.seeds, factor=factor, batch_size=self.batch_size,
                                 truncation=self.truncation, patch_seed=patch_seed, methods=methods)


class RealViews:
    """The fake side of real_vs_real: reals start .. stop - 1 of the seeded subset (those after
    the reference), streamed at R (the model's training resolution), fR or as crops, with the
    same upsampler variants as ModelViews."""
    name = "real"

    def __init__(self, opts, resolution: int, *, start: int, stop: int):
        self.opts, self.resolution, self.start, self.stop = opts, int(resolution), int(start), int(stop)
        self.num = self.stop - self.start

    def _stream(self, resolution: int, batch: int):
        return stream.real_batches(self.opts.data, resolution, self.stop, batch, start=self.start,
                                   exact=True)

    def batches(self, factor: int = 1, patch_seed: Optional[int] = None, methods: Sequence[str] = UPSAMPLERS):
        r, factor = self.resolution, int(factor)
        batch = stream.batch_for(factor * r, self.opts.batch_size)
        if factor == 1:
            yield from ({"real": low} for low in self._stream(r, batch))
            return
        k = self.start
        # Both streams re-chunk the same index range with one batch size: aligned batches.
        for low, high in zip(self._stream(r, batch), self._stream(factor * r, batch)):
            windows = None if patch_seed is None else \
                patch_windows(range(k, k + len(low)), factor * r, r, patch_seed)
            out = {"real": high if windows is None else crop(high, windows, r)}
            out.update(upsampled_views(low.astype(np.float32) / 127.5 - 1, factor, windows, methods))
            k += len(low)
            yield out


def patch_swd(reals, fakes, *, size: int, seed: int = 0, **swd_kwargs) -> Dict:
    """SWD (swd.py) of one size x size crop per image (window k for image k, as patch_windows)
    between two sets of full-resolution images: {'levels': {res: value}, 'mean': value}."""
    reals, fakes = np.asarray(reals), np.asarray(fakes)
    full = reals.shape[1]
    if fakes.shape[1:3] != reals.shape[1:3] or reals.shape[1] != reals.shape[2]:
        raise ValueError(f"need square images of one size, got {reals.shape} and {fakes.shape}")
    real_crops = crop(reals, patch_windows(range(len(reals)), full, size, seed), size)
    fake_crops = crop(fakes, patch_windows(range(len(fakes)), full, size, seed), size)
    return swd(real_crops, fake_crops, seed=seed, **swd_kwargs)


def pool_levels(dense: np.ndarray, low: np.ndarray, factor: int) -> np.ndarray:
    """float64 [n]: per image, the mean |dense averaged over each factor x factor block − low|
    in 8-bit levels (dense uint8 [n, fR, fR, C], low uint8 [n, R, R, C])."""
    dense, low = np.asarray(dense, np.float64), np.asarray(low, np.float64)
    n, r, f = len(low), low.shape[1], int(factor)
    if dense.shape != (n, f * r, f * r, low.shape[-1]):
        raise ValueError(f"need [n, {f * r}, {f * r}, C] renders for [n, {r}, {r}, C] images, got {dense.shape}")
    pooled = dense.reshape(n, r, f, r, f, -1).mean(axis=(2, 4))
    return np.abs(pooled - low).mean(axis=(1, 2, 3))


# ---- the metrics ------------------------------------------------------------------------------

def _swd_variants(ref: SWDReference, opts, **batches) -> Dict[str, float]:
    sides = registry.fake_sinks(opts, ref.new_side, "SWD descriptors", **batches)
    scores = {}
    for k in list(sides):  # one variant's normalised descriptors in memory at a time
        scores[k] = registry.swd_results(ref(sides.pop(k)), k)
    # Means first, then per level: interpolation artefacts live mostly in the finest band.
    out = {**{k: s[k] for k, s in scores.items()},
           **{key: v for k, s in scores.items() for key, v in s.items() if key != k}}
    # The acceptance's reading, per draw: how far below each upsampler of its own R renders the
    # render above R sits (negative: nearer the real images), so --draws gives it an error too.
    fake = next(k for k in scores if k not in UPSAMPLERS)  # 'inr' ('real' under real_vs_real)
    out.update({f"{fake}_vs_{m}": out[fake] / out[m] - 1 for m in UPSAMPLERS if m in scores and out[m] > 0})
    return out


@registry.register_metric("upsampled_swd", num=4096, superres=2, min_num=1, description="SWD at "
                          "superres x the training resolution: INR render vs nearest/bilinear/"
                          "bicubic upsampling (paper Fig. 10)")
def _upsampled_swd(opts) -> Dict[str, float]:
    ref = registry.real_swd(opts, opts.superres * opts.resolution)
    return _swd_variants(ref, opts, factor=opts.superres)


@registry.register_metric("upsampled_fid", num=50000, superres=2, description="FID at superres x "
                          "the training resolution: INR render vs nearest/bilinear/bicubic "
                          "upsampling (paper Fig. 10)")
def _upsampled_fid(opts) -> Dict[str, float]:
    mu, sigma = registry.real_moments(opts, opts.superres * opts.resolution)
    sinks = registry.fake_feature_sinks(opts, moments=True, factor=opts.superres)
    return {k: fid_lib.frechet_distance(*s.stats.moments(), mu, sigma) for k, s in sinks.items()}


@registry.register_metric("upsampled_spectral", num=4096, superres=4, min_num=1, description=
                          "spectral distance at superres x the training resolution for the INR "
                          "render and nearest/bilinear/bicubic upsampling; <variant>_high_diff is "
                          "the signed log10 power gap in the top frequency band")
def _upsampled_spectral(opts) -> Dict[str, float]:
    size = opts.superres * opts.resolution
    real = registry.real_spectrum(opts, size)
    stats = registry.fake_sinks(opts, lambda key: spectral_lib.SpectrumStats(), "ring power",
                                factor=opts.superres)
    return {f"{k}_{key}": v for k, s in stats.items()
            for key, v in spectral_lib.compare_spectra(real, s.mean_power, size, s.image_power).items()}


@registry.register_metric("upsampled_edges", num=4096, superres=4, min_num=1, description=
                          "share of pixels on an edge and of those the steep ones at superres x "
                          "the training resolution, INR vs nearest/bilinear/bicubic upsampling and "
                          "the real images: soft edges from missing ones (edges.py)")
def _upsampled_edges(opts) -> Dict[str, float]:
    real = registry.real_edges(opts, opts.superres * opts.resolution)
    stats = registry.fake_sinks(opts, lambda key: edges_lib.EdgeStats(), "edge counts",
                                factor=opts.superres)
    out = {f"{k}_{key}": v for k, s in stats.items() for key, v in s.scores().items()}
    # The reference's own shares beside them ("real" is the fakes' key under real_vs_real).
    out.update({f"reference_{key}": v for key, v in edges_lib.scores_from_counts(real).items()})
    return out


@registry.register_metric("patch_swd", num=4096, superres=4, min_num=1, description="SWD of random "
                          "R x R crops of superres x R renders vs crops of real superres x R images "
                          "(cf. AnyResGAN pFID), INR vs nearest/bilinear/bicubic upsampling")
def _patch_swd(opts) -> Dict[str, float]:
    r, full = opts.resolution, opts.superres * opts.resolution

    def crops(images, k):  # real image k at fR -> its window k (seed opts.seed)
        return crop(images, patch_windows(range(k, k + len(images)), full, r, opts.seed), r)
    ref = registry.real_swd(opts, full, crops, crop=r, superres=opts.superres, crop_seed=opts.seed)
    return _swd_variants(ref, opts, factor=opts.superres, patch_seed=opts.seed)


@registry.register_metric("render_consistency", num=4096, superres=4, min_num=1, description="mean "
                          "|superres x R render averaged over each superres^2 block - R render| in "
                          "8-bit levels: does a denser render draw the same image? (real_vs_real: "
                          "the rasteriser's own)")
def _render_consistency(opts) -> Dict[str, float]:
    # Each batch's nearest view is the R render resized, so its block means are the R image.
    total, count, name = 0.0, 0, None
    for batch in opts.fakes.batches(factor=opts.superres, methods=("nearest",)):
        name = next(k for k in batch if k not in UPSAMPLERS)  # 'inr' (or 'real')
        low = batch["nearest"][:, ::opts.superres, ::opts.superres]
        d = pool_levels(batch[name], low, opts.superres)
        total, count = total + d.sum(), count + len(d)
    if not count:
        raise ValueError("render_consistency: no images")
    return {name: total / count}
