"""Feature-space statistics: FID, KID and precision/recall from feature arrays [N, D].

    mu, sigma = feature_moments(real_feats)
    fid_from_features(fake_feats, mu, sigma)          # Heusel et al. 2017
    stats = FeatureStats(); stats.add(batch) ...; stats.moments()   # the same, streamed
    keep = FeatureReservoir(50000); keep.add(batch) ...; keep.features  # bounded sample
    kid(real_feats, fake_feats)                       # Binkowski et al. 2018, unbiased MMD^2
    precision_recall(real_feats, fake_feats, k=3)     # Kynkaanniemi et al. 2019

The formulas follow the public reference implementations, so differences in the numbers come
from the features, not from the statistics: the Frechet distance as pytorch-fid computes it
(eps offset when sqrtm of a near-singular product fails), KID and precision/recall as
StyleGAN2-ADA's `kernel_inception_distance.py` / `precision_recall.py`. NumPy + SciPy only.

Streaming (registry.py feeds batches): FID needs only the running mean and covariance (D^2
float64, whatever N); KID and precision/recall need the feature vectors themselves (random
subsets, k-NN), kept in a bounded reservoir: 50k x 2048 float32 is 400 MB, the images are not kept.
"""
from typing import Dict, Tuple

import numpy as np
from scipy import linalg


def _features(x, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name}: expected features [N, D] with N >= 1, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: features contain NaN or inf")
    return x


def feature_moments(features) -> Tuple[np.ndarray, np.ndarray]:
    """[N, D] -> (mean [D], covariance [D, D]) in float64; N >= 2 (unbiased covariance)."""
    x = _features(features, "features")
    if len(x) < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {len(x)}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


class FeatureStats:
    """Running mean and covariance of feature batches [b, D] in float64.

    Blocks of rows are merged with the pairwise update of Chan, Golub & LeVeque (1979): each
    block's own mean and centred scatter, then a rank-one correction for the shift of the
    means. Unlike raw sums of x x^T it does not cancel catastrophically when |mean| >> std, and
    it matches np.cov of all the features to float64 rounding. Batches are gathered into blocks
    of about `block` rows first: the D x D update costs as much for 32 rows as for 1024.
    """

    def __init__(self, block: int = 1024):  # rows per merge: block * D float64 held at most
        self.count, self.mean, self._scatter = 0, None, None
        self.block, self._pending, self._pending_rows = int(block), [], 0

    def add(self, features, name: str = "features") -> "FeatureStats":
        x = _features(features, name)
        dim = self.mean.shape[0] if self.mean is not None else (
            self._pending[0].shape[1] if self._pending else x.shape[1])
        if x.shape[1] != dim:
            raise ValueError(f"{name}: {x.shape[1]} features, earlier batches {dim}")
        self._pending.append(x)
        self._pending_rows += len(x)
        if self._pending_rows >= self.block:
            self._merge()
        return self

    def _merge(self) -> None:
        if not self._pending:
            return
        x = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_rows = [], 0
        n, mean = len(x), x.mean(axis=0)
        centred = x - mean  # [n, D]
        if self.count == 0:
            self.count, self.mean, self._scatter = n, mean, centred.T @ centred
            return
        total = self.count + n
        delta = mean - self.mean
        # The rank-one term rides along as one more row: one D x D product, one in-place add.
        rows = np.concatenate([centred, np.sqrt(self.count * n / total) * delta[None]])
        self._scatter += rows.T @ rows  # [D, D]
        self.mean = self.mean + delta * (n / total)
        self.count = total

    def moments(self) -> Tuple[np.ndarray, np.ndarray]:
        """(mean [D], unbiased covariance [D, D]), as feature_moments of all the batches."""
        self._merge()
        if self.count < 2:
            raise ValueError(f"need at least 2 feature vectors for a covariance, got {self.count}")
        return self.mean.copy(), self._scatter / (self.count - 1)


class FeatureReservoir:
    """At most `capacity` feature vectors of a stream: all of them, in order, while they fit;
    beyond that a uniform random sample (Vitter's algorithm R, seeded), so KID and
    precision/recall see a bounded set whatever N. Stored as float32: the extractors compute in
    float32, so nothing is lost."""

    def __init__(self, capacity: int, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity, self.seen = int(capacity), 0
        self._rng = np.random.default_rng((int(seed), 7))  # 7: apart from other seeded streams
        self._parts, self._buffer = [], None

    def add(self, features, name: str = "features") -> "FeatureReservoir":
        x = _features(features, name).astype(np.float32)
        fit = min(len(x), max(self.capacity - self.seen, 0))
        if fit:
            self._parts.append(x[:fit])
        if fit < len(x):  # past capacity: slot j = randint(0, i] for item i, kept if j < capacity
            buf = self.features
            slots = self._rng.integers(0, np.arange(self.seen + fit, self.seen + len(x)) + 1)
            for row, slot in zip(x[fit:], slots):
                if slot < self.capacity:
                    buf[slot] = row
        self.seen += len(x)
        return self

    @property
    def features(self) -> np.ndarray:
        """float32 [min(seen, capacity), D] (joined once, then updated in place)."""
        if self._buffer is None or self._parts:
            parts = ([] if self._buffer is None else [self._buffer]) + self._parts
            if not parts:
                raise ValueError("no features were added")
            self._buffer, self._parts = np.concatenate(parts), []
        return self._buffer


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)): the Frechet distance of two Gaussians.

    As pytorch-fid: if sqrtm of the product is not finite (a singular covariance, e.g. fewer
    samples than dimensions) both covariances get `eps` on the diagonal; a tiny imaginary part
    from rounding is dropped, a large one is an error (the inputs are not covariances).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"mean/covariance shapes disagree: {mu1.shape}, {s1.shape}, {mu2.shape}, "
                         f"{s2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(d) * eps
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm(S1 S2) has an imaginary component of "
                             f"{np.max(np.abs(covmean.imag)):.3g}: not covariance matrices?")
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_from_features(features, mu_ref, sigma_ref) -> float:
    """FID of a feature set [N, D] against reference moments (the cached real statistics)."""
    mu, sigma = feature_moments(features)
    return frechet_distance(mu, sigma, mu_ref, sigma_ref)


def kid(real_features, fake_features, *, num_subsets: int = 100, max_subset_size: int = 1000,
        seed: int = 0) -> float:
    """Unbiased MMD^2 with the kernel (x.y / D + 1)^3, averaged over random subsets.

    Subsets of m = min(N_real, N_fake, max_subset_size) are drawn without replacement, as in
    StyleGAN2-ADA; the same-distribution expectation is 0 (single estimates can be negative).
    """
    real = _features(real_features, "real features")
    fake = _features(fake_features, "fake features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    n = real.shape[1]
    m = min(len(real), len(fake), max_subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} real and "
                         f"{len(fake)} fake feature vectors")
    rng = np.random.default_rng(seed)
    t = 0.0
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]  # [m, D]
        y = real[rng.choice(len(real), m, replace=False)]  # [m, D]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3  # [m, m] within-set kernels
        b = (x @ y.T / n + 1) ** 3                           # [m, m] cross kernel
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / num_subsets / m)


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("nd,nd->n", x, x)


def _sq_distances(rows: np.ndarray, cols: np.ndarray, col_norms: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances [R, C], clamped at 0 against cancellation."""
    d = _sq_norms(rows)[:, None] - 2 * rows @ cols.T + col_norms[None, :]
    return np.maximum(d, 0)


def _row_batch(num_cols: int, budget: int) -> int:
    return max(1, budget // max(num_cols, 1))


def knn_radii(features, k: int, *, budget: int = 1 << 25) -> np.ndarray:
    """Squared distance [N] from each point to its k-th nearest other point (the manifold
    estimate of Kynkaanniemi et al.). Rows go in batches of `budget` distances."""
    x = _features(features, "features")
    if not 1 <= k < len(x):
        raise ValueError(f"k={k} needs 1 <= k < number of points ({len(x)})")
    norms = _sq_norms(x)
    step = _row_batch(len(x), budget)
    # Index k, not k - 1: each point's own distance 0 sits at index 0 (StyleGAN2-ADA's
    # kthvalue(nhood_size + 1)).
    return np.concatenate([np.partition(_sq_distances(x[i:i + step], x, norms), k, axis=1)[:, k]
                           for i in range(0, len(x), step)])


def manifold_coverage(manifold, radii, probes, *, budget: int = 1 << 25) -> float:
    """Fraction of probes inside at least one ball (manifold point, its k-NN radius)."""
    manifold, probes = np.asarray(manifold, np.float64), np.asarray(probes, np.float64)
    norms = _sq_norms(manifold)
    step = _row_batch(len(manifold), budget)
    inside = [np.any(_sq_distances(probes[i:i + step], manifold, norms) <= radii[None, :], axis=1)
              for i in range(0, len(probes), step)]
    return float(np.mean(np.concatenate(inside)))


def precision_recall(real_features, fake_features, *, k: int = 3,
                     budget: int = 1 << 25) -> Dict[str, float]:
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake
    manifold), manifolds as unions of k-NN balls. Memory: `budget` float64 distances a batch."""
    real = _features(real_features, "real features")
    fake = _features(fake_features, "fake features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")
    for side, x in (("real", real), ("fake", fake)):
        if len(x) <= k:
            raise ValueError(f"precision/recall with k={k} needs more than {k} {side} feature "
                             f"vectors, got {len(x)}")
    return {"precision": manifold_coverage(real, knn_radii(real, k, budget=budget), fake, budget=budget),
            "recall": manifold_coverage(fake, knn_radii(fake, k, budget=budget), real, budget=budget)}
