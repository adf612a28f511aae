"""Edge steepness: how many pixels sit on an edge, and how many of those are steep.

    stats = EdgeStats(); stats.add(batch) ... stats.scores()   # {'edge', 'steep'}
    edge_scores(images)                                        # the same for one array

Why: the 4x patch SWD and the spectrum's high band say that renders above the training grid
miss detail, not which kind. A soft edge (a ramp several pixels wide) and a missing edge both
lower the high band; these two numbers tell them apart. Per image: luma (BT.601, as
spectral.py) in [0, 1], its gradient by the Sobel operator divided by 8, so that a linear ramp
of slope a per pixel reads a and a one-pixel step of height h reads h / 2 on the two pixels
beside it; the 1-pixel frame border is left out (no padding, so no invented edges). Per set:
    edge     share of pixels with gradient > EDGE (0.1 luma per pixel): how much of the
             image is edge (a blurred edge is wide, so it may count more pixels, not fewer)
    steep    share of those edge pixels with gradient > STEEP (0.3): the crisp ones; an
             edge of luma contrast c over w pixels reads c / max(w, 2) (the difference spans
             two pixels), so only edges of contrast above 0.6 can be steep, and a full
             black-white edge is steep when under ~3 pixels wide
Both are shares of pixels over the whole set (large images weigh by their pixels; all images
of one set share a size). Measured on the vector emoji at 128^2 (860 images, `python -m
inr_gan_tf.metrics --real_vs_real --data=noto_emoji --resolution=32 --metrics=upsampled_edges
--superres=4 --num=860`): docs/quickstart.md. Pure NumPy.
"""
from typing import Dict

import numpy as np

from inr_gan_tf.metrics.spectral import LUMA  # BT.601: one luma for every metric
from inr_gan_tf.metrics.swd import to_float255

EDGE = 0.1    # luma per pixel: a pixel on an edge
STEEP = 0.3   # luma per pixel: a crisp edge pixel


def gradient(images) -> np.ndarray:
    """float64 [N, H-2, W-2]: |Sobel gradient| / 8 of each image's luma in [0, 1] (interior)."""
    x = to_float255(images, "images")  # checks [N, H, W, C], non-empty, uint8 or [-1, 1]
    if x.shape[3] != 3:
        raise ValueError(f"images: expected RGB images [N, H, W, 3], got shape {tuple(x.shape)}")
    if min(x.shape[1:3]) < 3:
        raise ValueError(f"images: need H, W >= 3 for a 3 x 3 gradient, got shape {tuple(x.shape)}")
    y = (x.astype(np.float64) / 255.0) @ LUMA                       # [N, H, W]
    # Separable Sobel: central difference along one axis, [1, 2, 1] smoothing across it.
    dx = y[:, :, 2:] - y[:, :, :-2]                                 # [N, H, W-2]
    dy = y[:, 2:, :] - y[:, :-2, :]                                 # [N, H-2, W]
    gx = dx[:, :-2] + 2 * dx[:, 1:-1] + dx[:, 2:]                   # [N, H-2, W-2]
    gy = dy[:, :, :-2] + 2 * dy[:, :, 1:-1] + dy[:, :, 2:]
    return np.hypot(gx, gy) / 8.0


class EdgeStats:
    """Streaming pixel counts of one image set: add() batches, read scores()."""

    def __init__(self):
        self.pixels = self.edge = self.steep = 0
        self.count = 0

    def add(self, images) -> "EdgeStats":
        g = gradient(images)
        self.pixels += g.size
        self.edge += int(np.count_nonzero(g > EDGE))
        self.steep += int(np.count_nonzero(g > STEEP))
        self.count += len(g)
        return self

    def counts(self) -> np.ndarray:
        """int64 [4]: images, pixels, edge pixels, steep pixels (what a cache stores)."""
        return np.int64([self.count, self.pixels, self.edge, self.steep])

    def scores(self) -> Dict[str, float]:
        return scores_from_counts(self.counts())


def check_counts(counts) -> None:
    """ValueError unless `counts` reads as EdgeStats.counts() (a cache file's, say)."""
    c = np.asarray(counts)
    if c.dtype.kind not in "iu" or c.shape != (4,) or c.min() < 0 or c[2] > c[1] or c[3] > c[2]:
        raise ValueError(f"edge counts {c} are not [images, pixels, edge <= pixels, steep <= edge]")


def scores_from_counts(counts) -> Dict[str, float]:
    """{'edge', 'steep'} from EdgeStats.counts(); ValueError for an empty set."""
    check_counts(counts)
    _, pixels, edge, steep = (int(c) for c in counts)
    if not pixels:
        raise ValueError("no images were added")
    # A set with no edge at all (blank images) has no crisp edge: steep 0, not 0 / 0.
    return {"edge": edge / pixels, "steep": steep / edge if edge else 0.0}


def edge_scores(images) -> Dict[str, float]:
    """Scores of one image array (uint8 [N, H, W, 3] or [-1, 1] floats)."""
    return EdgeStats().add(images).scores()
