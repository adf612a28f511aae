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

Damaged data never stops a run, and a resume meets the same skips:
  * TFRecordDataset cannot resume inside a file after a corrupt record (a checksum error ends
    that file), so each shard is read as its own dataset whose first error ends it. At its end
    the records read are compared with the manifest's count (for a glob, with a walk of the
    record headers); a short shard is recorded in `stats` under its path, with the record, its
    byte offset and the number of images lost.
  * A record that reads but does not parse, does not decode, or declares more than
    `max_pixels` is skipped and recorded as `SHARD#k` (record k, from 0), with PIL's reason.
Records are decoded inside their shard's dataset, in file order, because that is where a
failed decode (dropped by ignore_errors) still has an identity: the record numbers on either
side of the gap. The seeded shuffle therefore holds decoded images (capped at
_SHUFFLE_BYTES). Skips depend only on the bytes, so the same seed gives the same stream.
"""
import glob as globlib
import json
import os
import shutil
import struct
from typing import List, Optional, Tuple

import tensorflow as tf
from absl import logging

from inr_gan_tf.data.base import DataStats, Source, shard
from inr_gan_tf.paths import file_sha256
from inr_gan_tf.progress import Progress
from inr_gan_tf.data.decode import (DEFAULT_MAX_PIXELS, check_image, check_max_pixels,
                                    decode_png_rgb_tf, decode_rgb, decode_rgb_tf,
                                    pixel_limit_reason)
from inr_gan_tf.data.transforms import center_crop_resize, round_to_uint8

MANIFEST = 'manifest.json'
FORMAT = 'inr_gan_tf.tfrecord'
PARTIAL_SUFFIX = '.partial'  # write_tfrecords writes DEST.partial, renamed to DEST when complete
_SHUFFLE_BUFFER = 4096  # decoded images, at most...
_SHUFFLE_BYTES = 1 << 30  # ...and at most this much memory: 4096 up to R = 295, 341 at R = 1024
_CYCLE = 8  # shards read concurrently when shuffling
_RECORD_HEADER = 12  # uint64 length + uint32 masked CRC of the length
_RECORD_FOOTER = 4  # uint32 masked CRC of the data
_SHARD_NAME = 'shard-{:05d}.tfrecord'
# A 1 x 1 RGB PNG in an Example: the end-of-shard marker, decodable like any record.
_END_RECORD = tf.train.Example(features=tf.train.Features(feature={'image': tf.train.Feature(
    bytes_list=tf.train.BytesList(value=[
        b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00'
        b'\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe'
        b'\r\xefF\xb8\x00\x00\x00\x00IEND\xaeB`\x82']))})).SerializeToString()


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
        elif file_sha256(path) != s['sha256']:
            problems.append(f'{s["name"]}: sha256 mismatch')
    return problems


def _walk_records(f, offset: int, size: int, limit: Optional[int] = None) -> Tuple[int, int]:
    """Follows record headers from `offset`: (records passed, offset reached). Stops at EOF,
    after `limit` records, or at a length that runs past the end of the file (damaged)."""
    n = 0
    while offset < size and (limit is None or n < limit):
        f.seek(offset)
        header = f.read(8)
        if len(header) < 8:
            break
        end = offset + _RECORD_HEADER + struct.unpack('<Q', header)[0] + _RECORD_FOOTER
        if end > size:
            break
        offset, n = end, n + 1
    return n, offset


def read_records(path: str, indices) -> dict:
    """{k: record bytes} for the records numbered `indices` (from 0) in a TFRecord file, found
    by walking the headers. CRCs are not checked: callers ask for records TF already read."""
    wanted, out = sorted(set(int(k) for k in indices)), {}
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        offset, at = 0, 0
        for k in wanted:
            n, offset = _walk_records(f, offset, size, limit=k - at)
            at += n
            if at != k:
                break
            f.seek(offset)
            length = struct.unpack('<Q', f.read(8))[0]
            f.seek(offset + _RECORD_HEADER)
            out[k] = f.read(length)
    return out


def shard_problem(path: str, records_read: int, expected: Optional[int] = None) -> Optional[str]:
    """Why reading `path` ended after `records_read` records, or None if that is its end.

    `expected` is the manifest's count; without one the record headers after the last record
    read tell whether the file goes on (and by how many records, if they are intact).
    """
    if expected is not None and records_read >= expected:
        return None
    try:
        size = os.path.getsize(path)
        with open(path, 'rb') as f:
            # The records read passed TF's CRC checks, so their lengths are trustworthy.
            _, offset = _walk_records(f, 0, size, limit=records_read)
            if expected is None:
                if offset == size:
                    return None
                rest, end = _walk_records(f, offset, size)
                total = records_read + rest if end == size else None
            else:
                total = expected
    except OSError as e:
        lost = f'its {expected} images' if expected is not None else 'all its images'
        return f'cannot read it ({type(e).__name__}: {e}); {lost} are skipped'
    if total is None:
        rest = ('it and the rest of this shard are skipped (an unknown number of images: the '
                'record headers after it are damaged too)')
    else:
        rest = f'records #{records_read}-#{total - 1} of {total} are skipped'
    return (f'corrupt or truncated record #{records_read} at byte {offset}; TFRecord reading '
            f'cannot resume inside a file, so {rest}')


def record_problem(record: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """Why a record that read intact gave no image (called only after TF's decode failed)."""
    try:
        feature = tf.train.Example.FromString(record).features.feature
    except Exception as e:  # protobuf's DecodeError; anything else means the same here
        return f'not a tf.train.Example ({type(e).__name__}: {e})'
    values = feature['image'].bytes_list.value if 'image' in feature else []
    if len(values) != 1:
        return f'no single bytes feature "image" (features: {sorted(feature)})'
    reason = check_image(values[0], max_pixels)
    if reason is None:
        try:
            decode_rgb(values[0], max_pixels)
        except Exception as e:  # pylint: disable=broad-except
            reason = f'{type(e).__name__}: {e}'
    return reason or "TensorFlow's decoder refused it (PIL reads it)"


class TFRecordSource(Source):
    """Shards listed by a manifest.json (folder or the manifest's path), or a glob of files.

    max_pixels: records whose image header declares more pixels are skipped undecoded (a
                manifest whose resolution is above it is refused outright).
    """

    def __init__(self, spec: str, *, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.name = spec
        self.max_pixels = check_max_pixels(max_pixels)
        folder = os.path.dirname(spec) if os.path.basename(spec) == MANIFEST else spec
        self.counts: Optional[List[int]] = None  # records per shard, where a manifest says
        if os.path.isdir(folder):
            manifest = read_manifest(folder)
            self.files = [os.path.join(folder, s['name']) for s in manifest['shards']]
            for s, path in zip(manifest['shards'], self.files):
                if not os.path.exists(path) or os.path.getsize(path) != s['bytes']:
                    raise ValueError(f'{path} is missing or not the size its manifest records '
                                     f'({s["bytes"]} bytes): an incomplete copy?')
            self.counts = [int(s['count']) for s in manifest['shards']]
            self.resolution: Optional[int] = int(manifest['resolution'])
            too_large = pixel_limit_reason(self.resolution, self.resolution, self.max_pixels)
            if too_large:
                raise ValueError(f'{spec}: its images are {too_large}')
            self.stats = DataStats(spec, int(manifest['count']))
            for bad in manifest.get('skipped', []):
                self.stats.record_bad(bad['path'], bad['reason'], log=False)
        else:
            self.files = sorted(globlib.glob(spec))
            if not self.files:
                raise FileNotFoundError(f'no TFRecord files match {spec!r}')
            self.resolution = None
            self.stats = DataStats(spec, None)
        self._complete = {}  # glob shard path -> records in a pass that found no damage

    def dataset(self, resolution, *, shuffle, seed, input_context=None):
        shards = tf.data.Dataset.range(len(self.files))
        n_pipelines = input_context.num_input_pipelines if input_context else 1
        by_file = len(self.files) >= n_pipelines
        if by_file:
            # Whole shards per pipeline: each reads only its own files.
            shards = shard(shards, input_context)
            split = (1, 0)
        else:
            # Fewer shards than pipelines: each reads all, and decodes and keeps 1/n of the
            # records (k % n == its id).
            split = (n_pipelines, input_context.input_pipeline_id)
        if shuffle:
            shards = shards.shuffle(len(self.files), seed=seed, reshuffle_each_iteration=True)
        ds = shards.interleave(lambda i: self._images(i, split),
                               cycle_length=_CYCLE if shuffle else 1,
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if shuffle:
            # A glob's stored size is unknown: budget for R (the images may be larger).
            side = self.resolution or resolution
            buffer = max(1, min(_SHUFFLE_BUFFER, _SHUFFLE_BYTES // (3 * side * side)))
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        return ds

    def _images(self, i, split):
        """Shard `i`'s images (record k % n == id for split = (n, id)), in file order. Its
        first read error ends the shard; records that give no image are left out; both are
        recorded in `stats`."""
        stride, first = split
        path = tf.gather(tf.constant(self.files), i)
        # ignore_errors would retry an open error forever (TFRecordDataset only moves on to its
        # next file after a read error), so a shard that cannot be opened is left out here.
        readable = tf.numpy_function(self._can_open, [i], tf.bool, stateful=True)
        paths = tf.boolean_mask(tf.reshape(path, [1]), tf.reshape(readable, [1]))
        # A corrupt record raises DataLossError and moves the reader past this file, its only
        # one: ignore_errors turns that into the end of the shard.
        records = tf.data.TFRecordDataset(paths).ignore_errors()
        # The end marker is a decodable record, so the decode below needs no branch.
        end = tf.data.Dataset.from_tensors((tf.constant(_END_RECORD), tf.constant(False)))
        marked = records.map(lambda r: (r, tf.constant(True))).concatenate(end)

        def count(n, element):
            record, is_record = element
            return n + tf.cast(is_record, tf.int64), (n, record, is_record)

        # (k, record, True) per record, then (records read, _END_RECORD, False).
        ds = marked.scan(tf.constant(0, tf.int64), count)
        if stride > 1:
            ds = ds.filter(lambda k, r, is_record: tf.logical_or(
                tf.logical_not(is_record), tf.equal(k % stride, first)))
        feature = {'image': tf.io.FixedLenFeature([], tf.string)}
        # Manifest shards hold RGB PNGs by construction: the lean decoder, no format branches.
        decode_image = decode_png_rgb_tf if self.counts is not None else decode_rgb_tf

        def decode(k, record, is_record):
            data = tf.io.parse_single_example(record, feature)['image']
            return k, decode_image(data, self.max_pixels), is_record

        # An element whose parse or decode fails is dropped here; the next scan sees the gap.
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True).ignore_errors()

        def check(expected, element):
            k, image, is_record = element
            report = tf.logical_or(k > expected, tf.logical_not(is_record))
            # `reported` is an input of `keep`, so the report runs before the element moves on.
            reported = tf.cond(report, lambda: tf.numpy_function(
                self._report, [i, expected, k, is_record, stride], tf.bool, stateful=True),
                lambda: tf.constant(True))
            return k + stride, (image, tf.logical_and(is_record, reported))

        ds = ds.scan(tf.constant(first, tf.int64), check)
        return ds.filter(lambda image, keep: keep).map(lambda image, keep: image)

    def _report(self, i, expected, k, is_record, stride) -> bool:
        """Records expected, expected + stride, ... < k read intact but gave no image; at the
        end marker (not is_record) k is the number of records read."""
        path = self.files[int(i)]
        failed = range(int(expected), int(k), int(stride))
        if len(failed):
            try:
                records = read_records(path, failed)
            except OSError:
                records = {}
            for j in failed:
                reason = (record_problem(records[j], self.max_pixels) if j in records else
                          'could not be decoded (and could not be read again to say why)')
                self.stats.record_bad(f'{path}#{j}', reason)
        if not is_record:
            self._shard_ended(int(i), int(k))
        return True

    def _can_open(self, i) -> bool:
        path = self.files[int(i)]
        try:
            with open(path, 'rb'):
                return True
        except OSError as e:
            n = f'its {self.counts[int(i)]} images' if self.counts else 'all its images'
            self.stats.record_bad(path, f'cannot open it ({type(e).__name__}: {e}); {n} are '
                                        'skipped')
            return False

    def _shard_ended(self, i: int, records_read: int) -> None:
        path = self.files[i]
        if self._complete.get(path) != records_read:
            problem = shard_problem(path, records_read, self.counts[i] if self.counts else None)
            if problem is None:
                self._complete[path] = records_read
            else:
                self.stats.record_bad(path, problem)


def _is_partial_output(folder: str) -> bool:
    """True if `folder` holds nothing but what write_tfrecords writes (so it may be removed)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return all(n == MANIFEST or (n.startswith('shard-') and n.endswith('.tfrecord'))
               for n in names)


def write_tfrecords(source: Source, dest: str, resolution: int, *, shard_size: int = 2048,
                    max_images: Optional[int] = None) -> dict:
    """Converts `source` to R x R PNG TFRecord shards in `dest`; returns the manifest.

    Images are centre-cropped and resized exactly as `make_dataset` would (so training on the
    shards equals training on the source, minus decode time), in the source's own order.
    `dest` must be empty or absent. The shards are written to DEST.partial, which is renamed
    to `dest` once its manifest is written, so `dest` is either complete or not there; a
    DEST.partial left by a killed run is removed and written again.
    """
    if shard_size < 1:
        raise ValueError(f'shard_size must be >= 1, got {shard_size}')
    dest = os.path.normpath(dest)
    if os.path.exists(dest) and not (os.path.isdir(dest) and not os.listdir(dest)):
        raise FileExistsError(f'destination {dest!r} is not empty; remove it to convert again')
    partial = dest + PARTIAL_SUFFIX
    if os.path.lexists(partial):
        if not (os.path.isdir(partial) and not os.path.islink(partial)
                and _is_partial_output(partial)):
            raise FileExistsError(f'{partial!r} exists and holds more than an interrupted '
                                  f'conversion would leave; move it away to convert to {dest!r}')
        logging.warning('%s: removing the output of an interrupted conversion', partial)
        shutil.rmtree(partial)
    os.makedirs(partial)
    try:
        manifest = _write_shards(source, partial, resolution, shard_size, max_images)
        if os.path.isdir(dest):
            os.rmdir(dest)  # empty (checked above); rename cannot replace a folder everywhere
        os.rename(partial, dest)
    except BaseException:
        # Also on Ctrl-C. Only kill -9 leaves DEST.partial behind; the next run removes it.
        shutil.rmtree(partial, ignore_errors=True)
        raise
    logging.info('%s: wrote %d images in %d shards (%d skipped)', dest, manifest['count'],
                 len(manifest['shards']), len(manifest['skipped']))
    return manifest


def _write_shards(source: Source, folder: str, resolution: int, shard_size: int,
                  max_images: Optional[int]) -> dict:
    ds = source.dataset(resolution, shuffle=False, seed=0)
    if max_images is not None:
        ds = ds.take(max_images)
    ds = ds.map(lambda im: tf.io.encode_png(round_to_uint8(center_crop_resize(im, resolution))),
                num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    shards, writer, count = [], None, 0
    total = getattr(getattr(source, 'stats', None), 'num_examples', None)  # None: not scanned yet
    bar = Progress(max_images if total is None else min(total, max_images or total), f'{source.name} -> {folder}')
    for png in ds.as_numpy_iterator():
        if count % shard_size == 0:
            if writer:
                writer.close()
            shards.append({'name': _SHARD_NAME.format(len(shards)), 'count': 0})
            writer = tf.io.TFRecordWriter(os.path.join(folder, shards[-1]['name']))
        example = tf.train.Example(features=tf.train.Features(feature={
            'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[png]))}))
        writer.write(example.SerializeToString())
        shards[-1]['count'] += 1
        count += 1
        bar.update()
        if count % 10_000 == 0:
            logging.info('%s: %d images written', folder, count)
    bar.close()
    if writer:
        writer.close()
    if count == 0:
        raise ValueError(f'{source.name}: no readable images to write '
                         f'(skipped {source.stats.skipped})')
    for s in shards:
        path = os.path.join(folder, s['name'])
        s['bytes'] = os.path.getsize(path)
        s['sha256'] = file_sha256(path)
    manifest = {
        'format': FORMAT, 'version': 1, 'source': source.name, 'resolution': int(resolution),
        'count': count, 'encoding': 'png', 'shards': shards,
        'skipped': [{'path': p, 'reason': r} for p, r in source.stats.bad],
    }
    with open(os.path.join(folder, MANIFEST), 'w') as f:
        json.dump(manifest, f, indent=1)
    return manifest
