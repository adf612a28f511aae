"""Data: image sources -> tf.data batches in [-1, 1].

    src = resolve_source('data/ffhq.zip')           # scans once: src.stats has count, skipped
    ds = make_dataset(src, 64, 32, seed=0)          # float32 [32, 64, 64, 3] in [-1, 1]
    views = make_views(src, 64, 32, seed=0)         # (images [32, 64, 64, 3], bounds [32, 4])
    x = src.view(7, 128, 128, (0.25, 0.25, 0.75, 0.75))  # float32 [128, 128, 3] in [0, 255]

Sources (`resolve_source`): image folders, zips, TFRecord shards from tools/dataset_tool.py,
prepared TFDS datasets, LSUN lmdb exports, and two `exact` sources with ground truth at any
resolution and window: the shipped vector `noto_emoji` set (`load_noto_emoji(R)`) and
`procedural` images (`render_procedural`). Importing this package also registers the TFDS
builder `noto_emoji` (configs noto_emoji/32, /64, /128, /256) when tensorflow-datasets is
installed.
"""
from inr_gan_tf.data.base import DataStats, Source, has_point_samples
from inr_gan_tf.data.noto_emoji import load_noto_emoji
from inr_gan_tf.data.pipeline import make_dataset, make_views, random_window
from inr_gan_tf.data.procedural import render_procedural
from inr_gan_tf.data.sources import resolve_source

try:
    import tensorflow_datasets as _tfds  # noqa: F401  (optional extra)
except ImportError:
    _tfds = None
if _tfds is not None:
    # Defining the builder class is what registers it with TFDS.
    from inr_gan_tf.data.noto_emoji import builder as _noto_builder  # noqa: F401

__all__ = ['DataStats', 'Source', 'has_point_samples', 'load_noto_emoji', 'make_dataset', 'make_views', 'random_window',
           'render_procedural', 'resolve_source']
