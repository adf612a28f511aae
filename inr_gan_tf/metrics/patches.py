"""Fidelity above the training grid: G's INR rendered at f x R against upsampled R renders.

    upsampled_batches(G, seeds, factor=4)                 # {'inr', 'nearest', 'bilinear', 'bicubic'}
    upsampled_batches(G, seeds, factor=4, patch_seed=0)   # the same, as R x R crops of the 4R grid
    patch_swd(reals_4r, fakes_4r, size=R)                 # plain function on image arrays

Registered metrics (the factor f is `superres`; the real side is the registry's cache):
  upsampled_swd, upsampled_fid (paper Sec. 4.2, Fig. 10; default f = 2): the INR rendered on the
      fR grid ('inr') and the same samples' R render resized to fR by each of UPSAMPLERS, all
      against real images at fR; keys as swd's, prefixed by the variant.
  upsampled_spectral (default f = 4): spectral.py's scores at fR, keys <variant>_<score>,
      e.g. inr_high_diff (fake - real log10 power in the top third of the fR Nyquist range).
  patch_swd (default f = 4): SWD of one R x R crop per image at a seeded random integer
      position of the fR pixel grid, a patch-level score at high resolution (as AnyResGAN's
      pFID, Chai et al. 2022). The fakes are rendered only at the crop's points (G.render with
      per-sample window coordinates), so they cost an R render whatever f; the real crop is a
      crop of the real fR image, so exact; the baselines crop the same windows from the R
      render resized to fR. Only the real crops are cached (not the fR images).

All of them need real images at fR: procedural renders them exactly at any resolution; a source
stored at a fixed size is itself upsampled above it, and the baselines then look better than
they are.

The window of image k depends on (seed, k) only: fake k (seed k) and real k (subset index k)
share positions (common random numbers, as swd.py's patches), and real_vs_real's second half
keeps the windows of its indices. Memory: upsampled_swd and patch_swd hold the uint8 images
of each variant (SWD normalises over the whole set); the others stream.
"""
from typing import Dict, Iterator, Optional, Sequence

import numpy as np

from inr_gan_tf.metrics import fid as fid_lib
from inr_gan_tf.metrics import registry
from inr_gan_tf.metrics import spectral as spectral_lib
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
    rgb = G.render(params, window_coords(full, size, windows))  # [B, size*size, 3]
    return rgb.numpy().reshape(len(windows), size, size, -1)


# ---- the variants that get scored -------------------------------------------------------------

def upsampled_views(low: np.ndarray, factor: int, windows: Optional[np.ndarray] = None
                    ) -> Dict[str, np.ndarray]:
    """R images in [-1, 1] float [b, R, R, 3] -> uint8 per UPSAMPLERS method: resized to fR,
    then cropped at `windows` (R x R crops) if given."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    r = low.shape[1]
    out = {}
    for method in UPSAMPLERS:
        # Both grids use pixel centres (coords.py) as tf.image.resize does: aligned baselines.
        up = to_uint8(tf.image.resize(low, [factor * r, factor * r], method=method).numpy())
        out[method] = up if windows is None else crop(up, windows, r)
    return out


def upsampled_batches(G, seeds, *, factor: int = 2, batch_size: int = 32, truncation: float = 1.0,
                      patch_seed: Optional[int] = None) -> Iterator[Dict[str, np.ndarray]]:
    """Per batch of seeds, uint8 images keyed 'inr' and one per UPSAMPLERS method:
    factor 1: 'inr' only, the R render (as sampling.generate_images);
    else:     'inr' = the INR on the fR grid (tile by tile), methods = the R render resized;
    patch_seed given: R x R crops of those at patch_windows(seeds, fR, R, patch_seed), the
              INR rendered only at its window."""
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
        windows = None if patch_seed is None else patch_windows(chunk, full, r, patch_seed)
        high = render_tiled(G, params, full, full) if windows is None else \
            render_windows(G, params, full, r, windows)  # [b, fR, fR, 3] or [b, R, R, 3]
        yield {"inr": to_uint8(high), **upsampled_views(low, factor, windows)}


class ModelViews:
    """The fake side of calc_metric: G's samples for seeds 0 .. num - 1."""
    name = "inr"

    def __init__(self, G, num: int, *, batch_size: int = 32, truncation: float = 1.0):
        self.G, self.num, self.batch_size, self.truncation = G, int(num), batch_size, truncation
        self.resolution = G.resolution

    def batches(self, factor: int = 1, patch_seed: Optional[int] = None):
        return upsampled_batches(self.G, range(self.num), factor=factor, batch_size=self.batch_size,
                                 truncation=self.truncation, patch_seed=patch_seed)


class RealViews:
    """The fake side of real_vs_real: the second half of the loaded reals, at R (the model's
    training resolution), fR or as crops, with the same upsampler variants as ModelViews."""
    name = "real"

    def __init__(self, opts, resolution: int):
        self.opts, self.resolution = opts, int(resolution)
        loaded = registry.loaded_real_images(opts, self.resolution)
        self.start = len(loaded) // 2  # registry.reference takes [:start]
        self.num = len(loaded) - self.start

    def batches(self, factor: int = 1, patch_seed: Optional[int] = None):
        opts, r, factor = self.opts, self.resolution, int(factor)
        low = registry.loaded_real_images(opts, r)[self.start:]
        if factor == 1:
            high = low
        elif patch_seed is None:
            high = registry.loaded_real_images(opts, factor * r)[self.start:]
        else:
            high = loaded_real_crops(opts, factor)[self.start:]
        for i in range(0, self.num, opts.batch_size):
            j = min(i + opts.batch_size, self.num)
            out = {"real": high[i:j]}
            if factor > 1:
                windows = None if patch_seed is None else \
                    patch_windows(range(self.start + i, self.start + j), factor * r, r, patch_seed)
                out.update(upsampled_views(low[i:j].astype(np.float32) / 127.5 - 1, factor, windows))
            yield out


def _variant_images(opts, **kwargs) -> Dict[str, np.ndarray]:
    batches = list(opts.fakes.batches(**kwargs))
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


# ---- real crops, cached -----------------------------------------------------------------------

def loaded_real_crops(opts, factor: int) -> np.ndarray:
    """uint8 [num_real, R, R, 3]: real image k at fR cropped at window k (seed opts.seed).
    Cached; the fR images are streamed, not kept."""
    r, full = opts.resolution, factor * opts.resolution
    key = registry.real_key(opts, full, crop=r, superres=factor, crop_seed=opts.seed)

    def compute():
        crops, k = [], 0
        for batch in registry.iter_real_images(opts.source, full, opts.num_real):
            crops.append(crop(batch, patch_windows(range(k, k + len(batch)), full, r, opts.seed), r))
            k += len(batch)
        return {"crops": np.concatenate(crops)}
    return registry.cached(opts.cache, "crops", key, compute)["crops"]


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


# ---- the metrics ------------------------------------------------------------------------------

def _swd_variants(ref: SWDReference, images: Dict[str, np.ndarray]) -> Dict[str, float]:
    scores = {k: registry.swd_results(ref(x), k) for k, x in images.items()}
    # Means first, then per level: interpolation artefacts live mostly in the finest band.
    return {**{k: s[k] for k, s in scores.items()},
            **{key: v for k, s in scores.items() for key, v in s.items() if key != k}}


@registry.register_metric("upsampled_swd", num=4096, superres=2, description="SWD at superres x "
                          "the training resolution: INR render vs nearest/bilinear/bicubic "
                          "upsampling (paper Fig. 10)")
def _upsampled_swd(opts) -> Dict[str, float]:
    reals = registry.reference(opts, registry.real_images(opts, opts.superres * opts.resolution))
    ref = SWDReference(reals, seed=opts.seed)
    return _swd_variants(ref, _variant_images(opts, factor=opts.superres))


@registry.register_metric("upsampled_fid", num=50000, superres=2, description="FID at superres x "
                          "the training resolution: INR render vs nearest/bilinear/bicubic "
                          "upsampling (paper Fig. 10)")
def _upsampled_fid(opts) -> Dict[str, float]:
    mu, sigma = registry.real_moments(opts, opts.superres * opts.resolution)
    feats = {}
    for batch in opts.fakes.batches(factor=opts.superres):
        for k, images in batch.items():
            feats.setdefault(k, []).append(opts.extractor(images))
    return {k: fid_lib.fid_from_features(np.concatenate(v), mu, sigma) for k, v in feats.items()}


@registry.register_metric("upsampled_spectral", num=4096, superres=4, description="spectral "
                          "distance at superres x the training resolution for the INR render and "
                          "nearest/bilinear/bicubic upsampling; <variant>_high_diff is the signed "
                          "log10 power gap in the top frequency band")
def _upsampled_spectral(opts) -> Dict[str, float]:
    size = opts.superres * opts.resolution
    real = registry.real_spectrum(opts, size)
    stats = {}
    for batch in opts.fakes.batches(factor=opts.superres):
        for k, images in batch.items():
            stats.setdefault(k, spectral_lib.SpectrumStats()).add(images)
    return {f"{k}_{key}": v for k, s in stats.items()
            for key, v in spectral_lib.compare_spectra(real, s.mean_power, size).items()}


@registry.register_metric("patch_swd", num=4096, superres=4, description="SWD of random R x R "
                          "crops of superres x R renders vs crops of real superres x R images "
                          "(cf. AnyResGAN pFID), INR vs nearest/bilinear/bicubic upsampling")
def _patch_swd(opts) -> Dict[str, float]:
    reals = registry.reference(opts, loaded_real_crops(opts, opts.superres))
    opts.info.update(num_real=len(reals), resolution=opts.superres * opts.resolution)
    ref = SWDReference(reals, seed=opts.seed)
    return _swd_variants(ref, _variant_images(opts, factor=opts.superres, patch_seed=opts.seed))
