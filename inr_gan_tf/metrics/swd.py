"""Multi-scale sliced Wasserstein distance (ProGAN, Karras et al. 2018, Sec. 5 and App. D).

    ref = SWDReference(reals, seed=0)     # real descriptors computed once
    ref(fakes)                            # {'levels': {64: .., 32: .., 16: ..}, 'mean': ..}
    swd(reals, fakes, seed=0)             # the same numbers, one shot
    side = ref.new_side(); side.add(batch) ...; ref(side)    # the fakes streamed in batches

Per image: a Laplacian pyramid (5x5 binomial filter, x2 steps) from full resolution down to
`min_res`; per level, random 7x7 neighbourhoods as descriptors, each set normalised per colour
channel by its own mean/std (as ProGAN's `finalize_descriptors` does, so a global colour or
contrast shift is not counted); then the sliced Wasserstein distance between the two descriptor
sets along random unit directions. Values are x1e3, as ProGAN reports them (`SWDx1e3_<res>`).
Lower is better; matching sets give ~0 and the value grows as the patch statistics drift apart.

Images: uint8 [N, H, W, C] in [0, 255], or float [N, H, W, C] in [-1, 1] (the model's range),
which is clipped and quantised to uint8 levels first, as ProGAN does to its fakes, so that both
sets carry the same quantisation noise in the finest band ([0, 1] floats cannot be told from
[-1, 1] ones and would be mis-scaled; [0, 255] floats are rejected). N may differ between sets.
Results depend only on `seed` and the inputs; patch positions for image k depend on (seed,
level, k) only, so the two sets are sampled at the same positions (common random numbers:
identical sets give exactly 0 and comparisons of similar sets have less sampling noise).

Pure NumPy (no TensorFlow import), so a metric process need not start TF.
"""
from typing import Dict, List, Sequence

import numpy as np

from inr_gan_tf.seeds import to_uint8

PATCH = 7  # ProGAN's neighbourhood size (nhood_size)
_BINOMIAL = np.float32([1, 4, 6, 4, 1]) / 16  # separable form of ProGAN's 5x5 gaussian_filter
_PATCH_STREAM, _DIR_STREAM = 0, 1  # RNG stream ids: (seed, stream, level) -> generator


def _rng(seed: int, stream: int, level: int) -> np.random.Generator:
    return np.random.default_rng((int(seed), stream, level))


def to_float255(images, name: str) -> np.ndarray:
    """uint8 or [-1, 1] float [N, H, W, C] -> float32 in [0, 255] on uint8 levels."""
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected images [N, H, W, C], got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the image set is empty")
    if x.dtype == np.uint8:
        return x.astype(np.float32)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name}: expected uint8 in [0, 255] or float in [-1, 1], got {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: images contain NaN or inf")
    # Values a little outside [-1, 1] are normal for generators and get clipped; non-negative
    # data far above 1 is almost surely [0, 255] floats, which clipping would silently wreck.
    if x.min() >= 0 and x.max() > 2:
        raise ValueError(f"{name}: float images look like [0, 255] (max {x.max():.1f}); "
                         "pass uint8 or floats in [-1, 1]")
    return to_uint8(x.astype(np.float32)).astype(np.float32)  # ProGAN scores uint8 levels


def _check_shape(shape: Sequence[int], name: str, min_res: int) -> None:
    h, w = shape[1], shape[2]
    if h != w:
        raise ValueError(f"{name}: SWD levels are square resolutions, got {h}x{w} images")
    if h < min_res:
        raise ValueError(f"{name}: resolution {h} is below min_res={min_res}")


def _blur(x: np.ndarray) -> np.ndarray:
    """5x5 binomial filter; reflect-101 borders, like cv2.pyrDown and ProGAN's scipy 'mirror'."""
    h, w = x.shape[1:3]
    p = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    v = sum(_BINOMIAL[i] * p[:, i:i + h] for i in range(5))  # [N, H, W+4, C]
    return sum(_BINOMIAL[j] * v[:, :, j:j + w] for j in range(5))  # [N, H, W, C]


def pyr_down(x: np.ndarray) -> np.ndarray:
    """[N, H, W, C] -> [N, ceil(H/2), ceil(W/2), C] (cv2.pyrDown)."""
    return _blur(x)[:, ::2, ::2]


def pyr_up(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Zero-stuff x2, blur with gain 4 (cv2.pyrUp), crop to `shape` [N, H, W, C]."""
    n, h, w, c = x.shape
    up = np.zeros((n, 2 * h, 2 * w, c), np.float32)
    up[:, ::2, ::2] = x
    return 4 * _blur(up)[:, :shape[1], :shape[2]]


def level_resolutions(res: int, min_res: int = 16) -> List[int]:
    """Pyramid levels halve while they stay >= min_res: 64 -> [64, 32, 16], 32 -> [32, 16]."""
    out = [res]
    while (out[-1] + 1) // 2 >= min_res:
        out.append((out[-1] + 1) // 2)
    return out


def laplacian_pyramid(x: np.ndarray, min_res: int = 16) -> List[np.ndarray]:
    """float [N, H, W, C] -> band-pass levels, finest first; the last is the low-pass residual."""
    levels = [np.asarray(x, np.float32)]
    for _ in level_resolutions(levels[0].shape[1], min_res)[1:]:
        levels.append(pyr_down(levels[-1]))
        levels[-2] = levels[-2] - pyr_up(levels[-1], levels[-2].shape)
    return levels


def gather_patches(level: np.ndarray, patches_per_image: int, rng: np.random.Generator
                   ) -> np.ndarray:
    """[N, h, w, C] -> raw 7x7 neighbourhoods [N * P, 7, 7, C] at random centres (ProGAN's
    get_descriptors_for_minibatch). The draws for image k follow those of images < k in `rng`'s
    stream, so a set gathered batch by batch equals the set gathered at once."""
    n, h, w, _ = level.shape
    r = PATCH // 2
    # Uniform floats (not integers) so the draws for image k do not depend on N.
    u = rng.random((n, patches_per_image, 2))
    cy = r + (u[..., 0] * (h - 2 * r)).astype(np.int64)  # [N, P] centres in [r, h - r)
    cx = r + (u[..., 1] * (w - 2 * r)).astype(np.int64)
    off = np.arange(-r, r + 1)
    rows = (cy[..., None] + off)[:, :, :, None]  # [N, P, 7, 1]
    cols = (cx[..., None] + off)[:, :, None, :]  # [N, P, 1, 7]
    img = np.arange(n)[:, None, None, None]
    return level[img, rows, cols].reshape(n * patches_per_image, PATCH, PATCH, -1)  # [NP,7,7,C]


def normalize_descriptors(desc: np.ndarray) -> np.ndarray:
    """Raw [M, 7, 7, C] -> [M, 7 * 7 * C], each channel standardised over the whole set
    (ProGAN's finalize_descriptors): needs all of a set's descriptors, hence DescriptorSet."""
    desc = desc - desc.mean(axis=(0, 1, 2))
    std = desc.std(axis=(0, 1, 2))
    # A channel that is constant over the whole set (e.g. a collapsed generator's flat band)
    # would make ProGAN divide by zero; leaving it unscaled keeps the distance finite and large.
    desc = desc / np.where(std > 0, std, 1)
    return desc.reshape(len(desc), -1).astype(np.float32)


def patch_descriptors(level: np.ndarray, patches_per_image: int, rng: np.random.Generator
                      ) -> np.ndarray:
    """[N, h, w, C] -> normalised descriptors [N * P, 7 * 7 * C] of one whole set."""
    return normalize_descriptors(gather_patches(level, patches_per_image, rng))


class DescriptorSet:
    """One side of SWD, streamed: add() image batches, then normalized() per pyramid level.

    Per image and level it keeps P raw 7x7xC neighbourhoods (P * 147 float32 = 75 KB at P = 128,
    C = 3), or the image's uint8 pixels while they are smaller (below ~512^2: 3 levels at 64^2
    are 225 KB of descriptors against 12 KB of pixels) and turns those into descriptors in
    order when asked, which gives the same numbers. It never keeps float images or pyramids of
    the whole set, and the normalisation over the set (which needs all of it) waits for the end.
    """

    def __init__(self, *, seed: int = 0, patches_per_image: int = 128, min_res: int = 16,
                 name: str = "images"):
        if min_res < PATCH:
            raise ValueError(f"min_res={min_res} is smaller than the {PATCH}x{PATCH} patches")
        if patches_per_image < 1:
            raise ValueError(f"patches_per_image must be >= 1, got {patches_per_image}")
        self.seed, self.patches_per_image, self.min_res = int(seed), int(patches_per_image), min_res
        self.name, self.count, self.image_shape = name, 0, None
        self._levels, self._pixels, self._rngs, self._keep_pixels = None, [], None, False
        self._frozen = False  # read from a cache: its patch draws cannot be continued

    def _start(self, shape) -> None:
        _check_shape((None, *shape), self.name, self.min_res)
        self.image_shape = tuple(int(v) for v in shape)
        levels = len(self.resolutions)
        self._levels = [[] for _ in range(levels)]
        self._rngs = [_rng(self.seed, _PATCH_STREAM, i) for i in range(levels)]
        desc_bytes = levels * self.patches_per_image * PATCH * PATCH * shape[2] * 4
        self._keep_pixels = int(np.prod(shape)) < desc_bytes

    @property
    def resolutions(self) -> List[int]:
        return level_resolutions(self.image_shape[0], self.min_res)

    def add(self, images) -> "DescriptorSet":
        if self._frozen:
            raise ValueError(f"{self.name}: a DescriptorSet read back with from_state() is complete")
        x = to_float255(images, self.name)
        if self.image_shape is None:
            self._start(x.shape[1:])
        elif x.shape[1:] != self.image_shape:
            raise ValueError(f"{self.name}: images are {x.shape[1:]} but the reference is "
                             f"{self.image_shape}")
        if self._keep_pixels:
            self._pixels.append(x.astype(np.uint8))  # exact: to_float255 gives uint8 levels
        else:
            self._gather(x)
        self.count += len(x)
        return self

    def _gather(self, x: np.ndarray) -> None:
        for i, level in enumerate(laplacian_pyramid(x, self.min_res)):
            self._levels[i].append(gather_patches(level, self.patches_per_image, self._rngs[i]))

    def raw(self) -> List[np.ndarray]:
        """Raw descriptors per level, finest first: float32 [count * P, 7, 7, C]."""
        if not self.count:
            raise ValueError(f"{self.name}: the image set is empty")
        for pixels in self._pixels:  # in order, so the patch draws are those of add()
            self._gather(pixels.astype(np.float32))
        self._pixels = []
        self._levels = [[np.concatenate(parts)] if len(parts) > 1 else parts for parts in self._levels]
        return [parts[0] for parts in self._levels]

    def normalized(self) -> List[np.ndarray]:
        """Descriptors per level, standardised over the set: float32 [count * P, 7 * 7 * C]."""
        return [normalize_descriptors(d) for d in self.raw()]

    def state(self) -> Dict[str, np.ndarray]:
        """Arrays for the real-statistics cache (descriptors, never images)."""
        return {"count": np.int64(self.count), "image_shape": np.int64(self.image_shape),
                "settings": np.int64([self.seed, self.patches_per_image, self.min_res]),
                **{f"level{i}": d for i, d in enumerate(self.raw())}}

    @classmethod
    def from_state(cls, state: Dict[str, np.ndarray], name: str = "reference images"
                   ) -> "DescriptorSet":
        seed, patches, min_res = (int(v) for v in state["settings"])
        out = cls(seed=seed, patches_per_image=patches, min_res=min_res, name=name)
        out._start(tuple(int(v) for v in state["image_shape"]))
        out.count, out._frozen = int(state["count"]), True
        out._levels = [[np.asarray(state[f"level{i}"], np.float32)] for i in range(len(out._levels))]
        if any(len(d[0]) != out.count * patches for d in out._levels):
            raise ValueError("descriptor arrays do not match their image count")
        return out


def random_directions(dim: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors [dim, count], uniform on the sphere."""
    d = rng.standard_normal((dim, count))
    return (d / np.linalg.norm(d, axis=0, keepdims=True)).astype(np.float32)


def wasserstein_sorted(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """Exact 1-D W1 per row between empirical sets, each given sorted along the last axis.

    sa [..., Na], sb [..., Nb] -> [...]. For Na == Nb this is ProGAN's mean |sort(a) - sort(b)|;
    otherwise the integral of |F_a^-1(t) - F_b^-1(t)| over the merged step breakpoints.
    """
    na, nb = sa.shape[-1], sb.shape[-1]
    if na == nb:
        return np.mean(np.abs(sa - sb), axis=-1)
    # Breakpoints i/na and j/nb in integer units of 1/(na*nb), so ties merge exactly.
    t = np.union1d(np.arange(na + 1) * nb, np.arange(nb + 1) * na)
    weight = (np.diff(t) / (na * nb)).astype(np.float32)
    ia, ib = t[:-1] // nb, t[:-1] // na  # quantile index of each interval in a and b
    return np.abs(sa[..., ia] - sb[..., ib]) @ weight


def _sorted_projections(points: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """[N, dim] x [dim, D] -> [D, N] sorted along N (sorting contiguous rows is faster)."""
    return np.sort(dirs.T @ points.T, axis=-1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, *, seed: int = 0,
                       dirs_per_repeat: int = 128, repeats: int = 4) -> float:
    """SWD between point sets a [Na, D] and b [Nb, D] (ProGAN's `sliced_wasserstein`): mean over
    `repeats` x `dirs_per_repeat` random unit directions of the 1-D W1 of the projections."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected point sets [Na, D] and [Nb, D], got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    dists = []
    for _ in range(repeats):  # repeats bound the [N, dirs] projection memory
        d = random_directions(a.shape[1], dirs_per_repeat, rng)
        dists.append(wasserstein_sorted(_sorted_projections(a, d), _sorted_projections(b, d)))
    return float(np.mean(dists))


class SWDReference:
    """Real-image side of SWD, computed once; calling it with fakes returns the SWD dict.

    `images`: an image array, or a DescriptorSet streamed (or read from a cache) elsewhere, whose
    seed / patches_per_image / min_res then apply. Keeps the normalised real descriptors and the
    directions (not the images), and the sorted real projections too while they fit in
    `cache_bytes`, so a training loop can score fixed-seed samples against the same reference
    every few thousand images cheaply.
    """

    def __init__(self, images, *, seed: int = 0,
                 patches_per_image: int = 128,  # 7x7 neighbourhoods per image and level
                 dirs_per_repeat: int = 128,    # ProGAN: 4 x 128 = the paper's 512 projections
                 repeats: int = 4,              # direction batches; bounds projection memory
                 min_res: int = 16,             # coarsest pyramid level
                 cache_bytes: int = 256 << 20):  # budget for caching sorted real projections
        for key, value in [("dirs_per_repeat", dirs_per_repeat), ("repeats", repeats)]:
            if value < 1:
                raise ValueError(f"{key} must be >= 1, got {value}")
        if isinstance(images, DescriptorSet):
            reals = images
        else:
            reals = DescriptorSet(seed=seed, patches_per_image=patches_per_image, min_res=min_res,
                                  name="reference images").add(images)
        self.seed, self.patches_per_image, self.min_res = reals.seed, reals.patches_per_image, reals.min_res
        self.image_shape = reals.image_shape  # (H, W, C) the fakes must match
        self.num_images = reals.count
        self.resolutions = reals.resolutions
        self._desc = reals.normalized()  # per level [Nr * P, 49 * C]
        dim = self._desc[0].shape[1]
        self._dirs = [random_directions(dim, dirs_per_repeat * repeats, _rng(self.seed, _DIR_STREAM, i))
                      .reshape(dim, repeats, dirs_per_repeat).transpose(1, 0, 2)  # [R, dim, dirs]
                      for i in range(len(self._desc))]
        size = sum(d.shape[0] for d in self._desc) * dirs_per_repeat * repeats * 4
        self._sorted = ([[_sorted_projections(desc, d) for d in dirs]
                         for desc, dirs in zip(self._desc, self._dirs)]
                        if size <= cache_bytes else None)

    def new_side(self, name: str = "images") -> DescriptorSet:
        """An empty DescriptorSet with this reference's settings, to stream the fakes into."""
        return DescriptorSet(seed=self.seed, patches_per_image=self.patches_per_image,
                             min_res=self.min_res, name=name)

    def __call__(self, images) -> Dict:
        """Fakes (uint8 or [-1, 1] float [N, H, W, C], or a DescriptorSet from new_side())
        -> {'levels': {res: swd}, 'mean': swd}."""
        fakes = images if isinstance(images, DescriptorSet) else self.new_side().add(images)
        if fakes.image_shape != self.image_shape:
            raise ValueError(f"images are {fakes.image_shape} but the reference is {self.image_shape}")
        if (fakes.seed, fakes.patches_per_image) != (self.seed, self.patches_per_image):
            raise ValueError("the fakes' DescriptorSet has other settings than the reference; "
                             "make it with new_side()")
        levels = {}
        for i, desc in enumerate(fakes.normalized()):
            dists = []
            for r, d in enumerate(self._dirs[i]):
                real = (self._sorted[i][r] if self._sorted is not None
                        else _sorted_projections(self._desc[i], d))  # [dirs, Nr * P]
                dists.append(wasserstein_sorted(real, _sorted_projections(desc, d)))  # [dirs]
            levels[self.resolutions[i]] = float(np.mean(dists)) * 1e3
        return {"levels": levels, "mean": float(np.mean(list(levels.values())))}


def swd(images_a, images_b, *, seed: int = 0, patches_per_image: int = 128,
        dirs_per_repeat: int = 128, repeats: int = 4, min_res: int = 16) -> Dict:
    """Multi-scale SWD x1e3 between two image sets: {'levels': {res: value}, 'mean': value}.

    Symmetric up to float rounding, deterministic given `seed`; see the module docstring.
    """
    ref = SWDReference(images_a, seed=seed, patches_per_image=patches_per_image,
                       dirs_per_repeat=dirs_per_repeat, repeats=repeats, min_res=min_res,
                       cache_bytes=0)  # one call: caching the sorted projections saves nothing
    return ref(images_b)
