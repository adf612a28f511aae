"""Spectral distance: azimuthally averaged power spectra of fakes vs reals (Durall et al.,
CVPR 2020, "Watch your up-convolution", Sec. 3).

    spectral_distance(reals, fakes)        # {'dist', 'low', 'mid', 'high', '*_diff'}
    stats = SpectrumStats(); stats.add(batch) ... stats.mean_power   # streaming, one side

Per image: luma (BT.601 weights, as Durall et al. and PIL's 'L'), 2D FFT over [0, 1] values,
power |F|^2 / (H W)^2 (a cosine of amplitude a at k cycles per image puts a^2 / 4 at +-k,
whatever the resolution, so spectra at R and at 4R line up on their common frequencies), then
the mean over each integer-radius ring r = round(|k|), r = 0 .. round(H / sqrt 2). Rings past
the axis Nyquist radius H/2 are partial circles in the corners; they are kept (averaged over
the bins that exist) because the diagonal frequencies are where checkerboard artefacts of
up-convolutions sit: a +-A pixel checkerboard is the single corner bin (H/2, H/2). Per set:
the mean over images of the ring power, then log10.

Why luma and not per channel: upsampling artefacts, speckle and blur hit the three channels
alike, and emoji colours are strongly correlated, so one curve says what three would; a
colour-only (isoluminant) artefact is missed. Why average then log (Durall et al. average
20 log10 |F| per image instead): the log of the expected spectrum is well defined for sets
with flat images (emoji on white have ~zero power in many rings, and a per-image log would
let them dominate the mean); identical sets still give 0.

Scores over rings >= 1 (the DC ring is mean brightness, a colour statistic, not a spectral
one), diff = log10 P_fake - log10 P_real per ring:
    dist                 mean |diff| over all rings
    low / mid / high     mean |diff| over the thirds of the axis Nyquist range, r/(H/2) in
                         (0, 1/3], (1/3, 2/3], (2/3, sqrt 2] (high takes the corners too)
    low_diff / ...       mean signed diff in the band: > 0 extra energy (speckle, aliasing,
                         checkerboards), < 0 missing energy (blur, interpolation)
A difference of 1 is a factor 10 in power. No window is applied: the frame border of
non-periodic images leaks power along the axes, identically for both sets.
    low_diff_se / ...    with the fakes' per-image spectra (the registry's metrics): the
                         bootstrap standard error of each signed diff over the fake images,
                         the reference held fixed: how far another draw of as many fakes from
                         the same model would move the reading (not the reference's own noise;
                         `real_vs_real` measures that).

Images: uint8 [N, H, W, 3] or [-1, 1] floats, quantised to uint8 levels first as SWD does
(swd.to_float255), so both sides carry the same quantisation noise floor. Square images,
H >= 8 (three non-empty bands). Pure NumPy.
"""
from typing import Dict, Iterable, Optional

import numpy as np

from inr_gan_tf.metrics.swd import to_float255

LUMA = np.float64([0.299, 0.587, 0.114])  # ITU-R BT.601
BANDS = ("low", "mid", "high")
_FLOOR = 1e-30  # keeps log10 finite for a set of constant images; far below uint8 noise


def _check(shape, name: str) -> int:
    if len(shape) != 4 or shape[3] != 3:
        raise ValueError(f"{name}: expected RGB images [N, H, W, 3], got shape {tuple(shape)}")
    if shape[1] != shape[2]:
        raise ValueError(f"{name}: radial spectra need square images, got {shape[1]}x{shape[2]}")
    if shape[1] < 8:
        raise ValueError(f"{name}: resolution {shape[1]} is below 8 (three frequency bands)")
    return int(shape[1])


def ring_index(size: int) -> np.ndarray:
    """int [size, size]: ring r = round(|k|) of each FFT bin (k in cycles per image)."""
    k = np.fft.fftfreq(size, d=1.0 / size)  # integer cycles per image, FFT order
    return np.rint(np.hypot(k[:, None], k[None, :])).astype(np.int64)


def radial_power(images) -> np.ndarray:
    """float64 [N, rings]: ring-mean power of each image's luma, rings 0 .. round(H / sqrt 2)."""
    x = to_float255(images, "images")
    size = _check(x.shape, "images")
    gray = (x.astype(np.float64) / 255.0) @ LUMA  # [N, H, W]
    power = np.abs(np.fft.fft2(gray, axes=(1, 2))) ** 2 / float(size) ** 4  # [N, H, W]
    ring = ring_index(size).ravel()
    rings = int(ring.max()) + 1
    idx = (ring[None, :] + rings * np.arange(len(x))[:, None]).ravel()
    sums = np.bincount(idx, weights=power.reshape(-1), minlength=rings * len(x))
    return sums.reshape(len(x), rings) / np.bincount(ring, minlength=rings)


class SpectrumStats:
    """Streaming mean ring power of one image set: add() batches, read mean_power (float64
    [rings]), image_power (float64 [N, rings]: each image's, for standard errors; 1.5 KB an
    image at 256^2) and `size`, the images' resolution."""

    def __init__(self):
        self.size, self._images = None, []  # per-image ring power [n, rings] of each batch

    def add(self, images) -> "SpectrumStats":
        per_image = radial_power(images)
        if self._images and per_image.shape[1] != self._images[0].shape[1]:
            raise ValueError(f"batch has {per_image.shape[1]} rings, earlier batches "
                             f"{self._images[0].shape[1]}: all images of a set must share one resolution")
        self.size = np.shape(images)[1]
        self._images.append(per_image)
        return self

    @property
    def count(self) -> int:
        return sum(len(p) for p in self._images)

    @property
    def image_power(self) -> np.ndarray:
        if not self.count:
            raise ValueError("no images were added")
        return np.concatenate(self._images)

    @property
    def mean_power(self) -> np.ndarray:
        return self.image_power.mean(axis=0)


def mean_power(batches: Iterable) -> np.ndarray:
    """Mean ring power over image batches (or one array of images)."""
    if isinstance(batches, np.ndarray):
        batches = [batches]
    stats = SpectrumStats()
    for b in batches:
        stats.add(b)
    return stats.mean_power


def log_spectrum(power: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(np.asarray(power, np.float64), _FLOOR))


def band_masks(size: int) -> Dict[str, np.ndarray]:
    """Boolean [rings] per band for images of `size` (DC excluded from every band)."""
    frac = np.arange(int(ring_index(size).max()) + 1) / (size / 2)  # 1 = axis Nyquist
    edges = [0.0, 1 / 3, 2 / 3, np.inf]
    return {b: (frac > lo + 1e-9) & (frac <= hi + 1e-9) for b, lo, hi in zip(BANDS, edges, edges[1:])}


def compare_spectra(real_power: np.ndarray, fake_power: np.ndarray, size: int,
                    fake_images: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Scores (module docstring) from the mean ring power of each side at resolution `size`;
    with `fake_images` (the fakes' per-image ring power [N, rings]) and N >= 2 also the
    bootstrap standard errors `<band>_diff_se`."""
    real_power, fake_power = np.asarray(real_power), np.asarray(fake_power)
    masks = band_masks(size)
    if not real_power.shape == fake_power.shape == masks["low"].shape:
        raise ValueError(f"spectra have {real_power.shape} and {fake_power.shape} rings, "
                         f"{size}x{size} images {masks['low'].shape}: score both at one resolution")
    diff = log_spectrum(fake_power) - log_spectrum(real_power)  # [rings]
    out = {"dist": float(np.mean(np.abs(diff[1:])))}
    for band, mask in masks.items():
        out[band] = float(np.mean(np.abs(diff[mask])))
    for band, mask in masks.items():
        out[f"{band}_diff"] = float(np.mean(diff[mask]))
    if fake_images is not None and len(fake_images) >= 2:  # one fake has no spread to read
        out.update(_diff_standard_errors(log_spectrum(real_power), np.asarray(fake_images), masks))
    return out


_RESAMPLES = 200  # the standard error to about 5% of itself


def _diff_standard_errors(log_real: np.ndarray, fake_images: np.ndarray,
                          masks: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Bootstrap over the fake images (fixed seed: the same images give the same errors)."""
    n = len(fake_images)
    if fake_images.shape[1:] != log_real.shape:
        raise ValueError(f"per-image ring power of shape {fake_images.shape}, the reference has "
                         f"{log_real.shape[0]} rings: score both at one resolution")
    draws = np.random.default_rng(0).integers(0, n, (_RESAMPLES, n))
    diffs = np.stack([log_spectrum(fake_images[d].mean(axis=0)) - log_real for d in draws])
    return {f"{band}_diff_se": float(np.std(diffs[:, mask].mean(axis=1), ddof=1))
            for band, mask in masks.items()}


def spectral_distance(reals, fakes) -> Dict[str, float]:
    """Spectral scores of `fakes` against `reals` (same square resolution; N may differ)."""
    return compare_spectra(mean_power(reals), mean_power(fakes), np.shape(reals)[1])
