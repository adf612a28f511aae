"""`resolve_source(spec)`: one string picks the reader.

    data/ffhq/                 folder of images, searched recursively
    ffhq-256x256.zip           zip of images (StyleGAN2-ADA layout; dataset.json ignored)
    data/ffhq-tfr/             folder with a manifest.json written by tools/dataset_tool.py
    data/ffhq-tfr/manifest.json, 'shards/*.tfrecord', one.tfrecord
    tfds:NAME[:SPLIT]          a TFDS dataset already prepared under `data_dir` (never downloads)
    lsun:PATH                  an LSUN lmdb export (pip install lmdb)
    noto_emoji[:SAMPLING]      the 1731 vector emoji shipped with this package, exact at any R;
                               SAMPLING area (default: anti-aliased pixels) or point (each
                               pixel the colour at its centre, as an INR's point renders)
    procedural[:N]             N analytic images (default 10000), exact at any resolution
"""
import os
from typing import Optional

import tensorflow as tf

from inr_gan_tf.data.base import DataStats, Source, shard
from inr_gan_tf.data.decode import DEFAULT_MAX_PIXELS, to_rgb_tf
from inr_gan_tf.data.files import FolderSource, LsunSource, ZipSource
from inr_gan_tf.data.noto_emoji.render import SAMPLINGS
from inr_gan_tf.data.noto_emoji.source import NotoEmojiSource
from inr_gan_tf.data.procedural import DEFAULT_NUM_EXAMPLES, ProceduralSource
from inr_gan_tf.data.tfrecord import MANIFEST, TFRecordSource

_TFRECORD_EXTENSIONS = ('.tfrecord', '.tfrecords', '.tfr')
_TFDS_SHUFFLE_BUFFER = 4096
# Builders from this package: prepared from shipped files, so preparing them is offline.
_OFFLINE_TFDS = ('noto_emoji',)


class TfdsSource(Source):
    """A prepared TFDS dataset's image feature. Never downloads: an unprepared dataset is an
    error (except this package's own builders, which prepare from shipped files)."""

    def __init__(self, name: str, split: str = 'train', *, data_dir: Optional[str] = None):
        try:
            import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise ImportError(f'reading tfds:{name} needs tensorflow-datasets: '
                              'pip install tensorflow-datasets') from None
        self._tfds = tfds
        self.name = f'tfds:{name}:{split}'
        self.split = split
        try:
            self.builder = tfds.builder(name, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError as e:
            raise ValueError(f'unknown TFDS dataset {name!r} under data_dir={data_dir!r}: '
                             f'{str(e).splitlines()[0]}') from None
        if not self.builder.is_prepared():
            if name.split('/')[0] not in _OFFLINE_TFDS:
                raise FileNotFoundError(
                    f'TFDS dataset {name!r} is not prepared under {self.builder.data_dir_root}; '
                    'this library never downloads. Prepare it where the data is '
                    f'(`tfds build {name} --data_dir=DIR`, with --manual_dir for manual '
                    'datasets) and pass that data_dir.')
            self.builder.download_and_prepare()
        features = self.builder.info.features
        keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
        if not keys:
            raise ValueError(f'TFDS dataset {name!r} has no image feature ({list(features)})')
        self.image_key = 'image' if 'image' in keys else keys[0]
        self.channels = features[self.image_key].shape[-1]
        if self.channels not in (1, 2, 3, 4):
            raise ValueError(f'{self.name}: image feature has {self.channels} channels')
        split_info = self.builder.info.splits[split]
        self.stats = DataStats(self.name, int(split_info.num_examples))
        self._num_shards = len(split_info.file_instructions)

    def dataset(self, resolution, *, shuffle, seed, input_context=None):
        tfds = self._tfds
        n_pipelines = input_context.num_input_pipelines if input_context else 1
        by_file = self._num_shards >= n_pipelines  # TFDS can only shard by file
        read_config = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False,
                                      input_context=input_context if by_file else None)
        ds = self.builder.as_dataset(split=self.split, shuffle_files=shuffle,
                                     read_config=read_config)
        if not by_file:
            ds = shard(ds, input_context)  # same file order in every pipeline: disjoint
        if shuffle:
            ds = ds.shuffle(_TFDS_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        key = self.image_key
        return ds.map(lambda ex: to_rgb_tf(ex[key]), num_parallel_calls=tf.data.AUTOTUNE)


def _has_images(source: Source) -> Source:
    """A scanned folder or zip source, refused (ValueError) when it holds no readable image."""
    if not source.num_examples:
        raise ValueError(f'{source.name}: no readable images (skipped {source.stats.skipped} '
                         'unreadable or oversized files)')
    return source


def resolve_source(spec: str, *, data_dir: Optional[str] = None,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> Source:
    """Returns the reader for `spec` (forms in the module docstring).

    `data_dir` is the TFDS data directory for `tfds:` specs (default: $TFDS_DATA_DIR, else
    TFDS's own default). Folder and zip sources scan their files here, so the returned
    source's `stats` already holds the exact count and the unreadable files. `max_pixels`:
    sources that decode files (folder, zip, TFRecord, lsun) skip and record any image whose
    header declares more pixels, without decoding it (decode.DEFAULT_MAX_PIXELS).
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f'data source must be a non-empty string, got {spec!r}')
    if spec.startswith('tfds:'):
        name, _, split = spec[len('tfds:'):].partition(':')
        if not name:
            raise ValueError(f'expected tfds:NAME[:SPLIT], got {spec!r}')
        return TfdsSource(name, split or 'train', data_dir=data_dir)
    if spec.startswith('lsun:'):
        return LsunSource(spec[len('lsun:'):], max_pixels=max_pixels)
    if spec == 'noto_emoji' or spec.startswith('noto_emoji:'):
        sampling = spec.partition(':')[2] or 'area'
        if sampling not in SAMPLINGS:
            raise ValueError(f'expected noto_emoji[:SAMPLING] with SAMPLING one of {SAMPLINGS}, '
                             f'got {spec!r}')
        return NotoEmojiSource(sampling=sampling)
    if spec == 'procedural' or spec.startswith('procedural:'):
        count = spec.partition(':')[2]
        if spec.endswith(':') or (count and not (count.isdigit() and int(count) >= 1)):
            raise ValueError(f'expected procedural[:N] with an integer N >= 1, got {spec!r}')
        return ProceduralSource(int(count) if count else DEFAULT_NUM_EXAMPLES)
    if any(c in spec for c in '*?['):
        return TFRecordSource(spec, max_pixels=max_pixels)
    if not os.path.exists(spec):
        raise FileNotFoundError(
            f'data source {spec!r} does not exist (expected a folder, a .zip, TFRecords, '
            'tfds:NAME[:SPLIT], lsun:PATH, noto_emoji[:SAMPLING] or procedural[:N])')
    if os.path.isdir(spec):
        if os.path.exists(os.path.join(spec, MANIFEST)):
            return TFRecordSource(spec, max_pixels=max_pixels)
        source = FolderSource(spec, max_pixels=max_pixels)
        shards = [f for f in os.listdir(spec) if f.lower().endswith(_TFRECORD_EXTENSIONS)]
        if not source.num_examples and shards:
            # Shards whose manifest went missing (a partial copy?): say so, not "no images".
            ext = os.path.splitext(sorted(shards)[0])[1]
            raise FileNotFoundError(
                f'{spec} holds {len(shards)} {ext} files but no {MANIFEST}: pass '
                f"'{os.path.join(spec, '*' + ext)}' or rebuild with tools/dataset_tool.py")
        return _has_images(source)
    lower = spec.lower()
    if lower.endswith('.zip'):
        return _has_images(ZipSource(spec, max_pixels=max_pixels))
    if os.path.basename(spec) == MANIFEST or lower.endswith(_TFRECORD_EXTENSIONS):
        return TFRecordSource(spec, max_pixels=max_pixels)
    raise ValueError(f'cannot tell how to read {spec!r}: expected a folder, a .zip, a '
                     f'{MANIFEST} or a .tfrecord file')

