"""TFRecord shards at the training resolution: the fast format for long runs.

Written by tools/dataset_tool.py (`write_tfrecords`): each record is a tf.train.Example with
`image` = PNG bytes of an R x R RGB image (lossless, decoded by TF's native op), and the folder
holds a manifest.json:

    {"format": "inr_gan_tf.tfrecord", "version": 1, "source": ..., "resolution": R,
     "count": N, "encoding": "png",
     "shards": [{"name": "shard-00000.tfrecord", "count": n, "bytes": b, "sha256": ...}, ...],
     "skipped": [{"path": ..., "reason": ...}, ...]}

The reader takes the shard list, count and resolution from the manifest and checks each
shard's size (cheap, catches a truncated copy); `verify_manifest` also checks the sha256s.
A plain glob of TFRecord files (any writer, `image` feature holding encoded bytes) is read too,
with the count unknown.
"""
import glob as globlib
import hashlib
import json
import os
from typing import List, Optional

import tensorflow as tf
from absl import logging

from inr_gan_tf.data.base import DataStats, Source, shard
from inr_gan_tf.data.decode import decode_rgb_tf
from inr_gan_tf.data.transforms import center_crop_resize, to_uint8

MANIFEST = 'manifest.json'
FORMAT = 'inr_gan_tf.tfrecord'
_SHUFFLE_BUFFER = 4096  # images; records are already at R, so this is bounded memory
_CYCLE = 8  # shards read concurrently when shuffling


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: str) -> dict:
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'{folder!r} has no {MANIFEST}; write one with '
                                'tools/dataset_tool.py, or pass a glob of .tfrecord files') from None
    if manifest.get('format') != FORMAT:
        raise ValueError(f'{path} is not an {FORMAT} manifest (format={manifest.get("format")!r})')
    return manifest


def verify_manifest(folder: str) -> List[str]:
    """Returns a list of problems (missing shards, size or sha256 mismatches); empty if intact."""
    manifest = read_manifest(folder)
    problems = []
    for s in manifest['shards']:
        path = os.path.join(folder, s['name'])
        if not os.path.exists(path):
            problems.append(f'{s["name"]}: missing')
        elif os.path.getsize(path) != s['bytes']:
            problems.append(f'{s["name"]}: {os.path.getsize(path)} bytes, manifest says {s["bytes"]}')
        elif _sha256_file(path) != s['sha256']:
            problems.append(f'{s["name"]}: sha256 mismatch')
    return problems


class TFRecordSource(Source):
    """Shards listed by a manifest.json (folder or the manifest's path), or a glob of files."""

    def __init__(self, spec: str):
        self.name = spec
        folder = os.path.dirname(spec) if os.path.basename(spec) == MANIFEST else spec
        if os.path.isdir(folder):
            manifest = read_manifest(folder)
            self.files = [os.path.join(folder, s['name']) for s in manifest['shards']]
            for s, path in zip(manifest['shards'], self.files):
                if not os.path.exists(path) or os.path.getsize(path) != s['bytes']:
                    raise ValueError(f'{path} is missing or not the size its manifest records '
                                     f'({s["bytes"]} bytes): an incomplete copy?')
            self.resolution: Optional[int] = int(manifest['resolution'])
            self.stats = DataStats(spec, int(manifest['count']))
            for bad in manifest.get('skipped', []):
                self.stats.record_bad(bad['path'], bad['reason'], log=False)
        else:
            self.files = sorted(globlib.glob(spec))
            if not self.files:
                raise FileNotFoundError(f'no TFRecord files match {spec!r}')
            self.resolution = None
            self.stats = DataStats(spec, None)

    def dataset(self, resolution, *, shuffle, seed, input_context=None):
        files = tf.data.Dataset.from_tensor_slices(self.files)
        n_pipelines = input_context.num_input_pipelines if input_context else 1
        by_file = len(self.files) >= n_pipelines
        if by_file:
            # Whole shards per pipeline: each reads only its own files.
            files = shard(files, input_context)
        if shuffle:
            files = files.shuffle(len(self.files), seed=seed, reshuffle_each_iteration=True)
        ds = files.interleave(tf.data.TFRecordDataset, cycle_length=_CYCLE if shuffle else 1,
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if not by_file:
            # Fewer shards than pipelines: split records instead (all read, each keeps 1/n).
            ds = shard(ds, input_context)
        if shuffle:
            ds = ds.shuffle(_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        spec = {'image': tf.io.FixedLenFeature([], tf.string)}
        known_png = self.resolution is not None

        def decode(record):
            data = tf.io.parse_single_example(record, spec)['image']
            if known_png:  # written by write_tfrecords: RGB PNG
                return tf.ensure_shape(tf.io.decode_png(data, channels=3), [None, None, 3])
            return decode_rgb_tf(data)

        return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)


def write_tfrecords(source: Source, dest: str, resolution: int, *, shard_size: int = 2048,
                    max_images: Optional[int] = None) -> dict:
    """Converts `source` to R x R PNG TFRecord shards in `dest`; returns the manifest.

    Images are centre-cropped and resized exactly as `make_dataset` would (so training on the
    shards equals training on the source, minus decode time), in the source's own order.
    `dest` must be empty or absent, so a half-written earlier run is never mixed in.
    """
    if shard_size < 1:
        raise ValueError(f'shard_size must be >= 1, got {shard_size}')
    if os.path.isdir(dest) and os.listdir(dest):
        raise FileExistsError(f'destination {dest!r} is not empty; remove it to convert again')
    os.makedirs(dest, exist_ok=True)
    ds = source.dataset(resolution, shuffle=False, seed=0)
    if max_images is not None:
        ds = ds.take(max_images)
    ds = ds.map(lambda im: tf.io.encode_png(to_uint8(center_crop_resize(im, resolution))),
                num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    shards, writer, count = [], None, 0
    for png in ds.as_numpy_iterator():
        if count % shard_size == 0:
            if writer:
                writer.close()
            shards.append({'name': f'shard-{len(shards):05d}.tfrecord', 'count': 0})
            writer = tf.io.TFRecordWriter(os.path.join(dest, shards[-1]['name']))
        example = tf.train.Example(features=tf.train.Features(feature={
            'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[png]))}))
        writer.write(example.SerializeToString())
        shards[-1]['count'] += 1
        count += 1
        if count % 10_000 == 0:
            logging.info('%s: %d images written', dest, count)
    if writer:
        writer.close()
    if count == 0:
        raise ValueError(f'{source.name}: no readable images to write '
                         f'(skipped {source.stats.skipped})')
    for s in shards:
        path = os.path.join(dest, s['name'])
        s['bytes'] = os.path.getsize(path)
        s['sha256'] = _sha256_file(path)
    manifest = {
        'format': FORMAT, 'version': 1, 'source': source.name, 'resolution': int(resolution),
        'count': count, 'encoding': 'png', 'shards': shards,
        'skipped': [{'path': p, 'reason': r} for p, r in source.stats.bad],
    }
    # Written last: a folder with a manifest is a complete conversion.
    with open(os.path.join(dest, MANIFEST), 'w') as f:
        json.dump(manifest, f, indent=1)
    logging.info('%s: wrote %d images in %d shards (%d skipped)', dest, count, len(shards),
                 len(manifest['skipped']))
    return manifest
