"""`NotoEmojiSource`: the vector emoji as an exact, indexed data source (`--data=noto_emoji`,
`--data=noto_emoji:point` for pixels sampled at their centres, render.SAMPLINGS)."""
import threading
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from inr_gan_tf.coords import UNIT_BOUNDS, check_bounds
from inr_gan_tf.data.base import DataStats, IndexedSource
from inr_gan_tf.data.noto_emoji import Icons, load_icons, render_set
from inr_gan_tf.data.noto_emoji.render import check_sampling, check_size, render_svg


class NotoEmojiSource(IndexedSource):
    """Emoji k = the k-th icon by name, rendered at the resolution asked.

    `dataset(R)` reads whole-set renders at R x R from the disk cache (rendered once, then
    memory-mapped), so training images are exact renders at R, never resized from another
    size. `view` renders any window at any density directly. Icons resvg refuses are skipped
    and recorded in `stats` (num_examples counts the icons in the set).

    icons:     {name: SVG body on the 128 x 128 view box} to use instead of the shipped set.
    cache_dir: where whole-set renders are cached (default: $INR_GAN_CACHE/noto_emoji, else
               ~/.cache/inr_gan_tf/noto_emoji).
    sampling:  'area' (resvg's anti-aliasing: a pixel is about its cell's mean colour) or
               'point' (its centre's colour), for whole-set renders and views alike.
    """

    exact = True

    def __init__(self, icons: Optional[Mapping[str, str]] = None, *,
                 cache_dir: Optional[str] = None, name: Optional[str] = None,
                 sampling: str = 'area'):
        self.sampling = check_sampling(sampling)
        if name is None:
            name = 'noto_emoji' if sampling == 'area' else f'noto_emoji:{sampling}'
        if icons is None:
            self.icons: Icons = load_icons()
        else:
            names = tuple(sorted(icons))
            self.icons = (names, tuple(icons[n] for n in names))
        self.name = name
        self.cache_dir = cache_dir
        self.stats = DataStats(self.name, len(self.icons[0]))
        self._renders: Dict[int, Tuple[np.ndarray, frozenset]] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> List[str]:
        return list(self.icons[0])

    def renders(self, resolution: int) -> Tuple[np.ndarray, frozenset]:
        """(uint8 [N, R, R, 3] read-only, indices resvg refused), from the cache; kept in memory."""
        R = int(resolution)
        with self._lock:  # one render of the set, however many loader threads ask at once
            if R not in self._renders:
                images, bad = render_set(self.icons, R, R, cache_dir=self.cache_dir,
                                         sampling=self.sampling)
                index = {n: i for i, n in enumerate(self.icons[0])}
                for name, reason in bad:
                    self.stats.record_bad(name, reason)
                self._renders[R] = images, frozenset(index[n] for n, _ in bad)
            return self._renders[R]

    def usable(self, indices, resolution):
        _, bad = self.renders(resolution)  # rendered now, not inside a tf.data thread
        if not bad:
            return indices
        refused = tf.constant(sorted(bad), tf.int64)
        return indices.filter(lambda i: tf.reduce_all(tf.not_equal(i, refused)))

    def images(self, pairs, resolution):
        images, _ = self.renders(resolution)
        # One tensor of the whole set (5 MB at 32, 340 MB at 256): a gather per image runs
        # in TF threads, ~2.5x faster than a tf.numpy_function call per image (34k vs 13k/s).
        table = tf.constant(images)
        return pairs.map(lambda counter, i: (counter, tf.gather(table, i)),
                         num_parallel_calls=tf.data.AUTOTUNE)

    def load(self, index, resolution):
        images, bad = self.renders(resolution)
        return None if index in bad else images[index]  # bad ones are recorded already

    def view(self, index, height, width, bounds=UNIT_BOUNDS):
        return self._view(index, height, width, bounds, self.sampling)

    point_views = True

    def point_view(self, index, height, width, bounds=UNIT_BOUNDS):
        return self._view(index, height, width, bounds, 'point')

    def _view(self, index, height, width, bounds, sampling):
        if not 0 <= int(index) < len(self.icons[0]):
            raise IndexError(f'{self.name}: index {index} out of range [0, {len(self.icons[0])})')
        height, width = check_size(height, width)  # the caller's mistakes raise...
        bounds = check_bounds(bounds)
        name, body = self.icons[0][int(index)], self.icons[1][int(index)]
        try:
            return render_svg(body, height, width, bounds, sampling).astype(np.float32)
        except Exception as e:  # pylint: disable=broad-except  (...the icon's are skipped)
            self.stats.record_bad(name, f'{type(e).__name__}: {e}'.splitlines()[0])
            return None
