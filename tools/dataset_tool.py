"""Converts an image collection to TFRecord shards at one resolution, with a manifest.json.

    python tools/dataset_tool.py --source=data/ffhq.zip --dest=data/ffhq-256 --resolution=256
    python tools/dataset_tool.py --source=lsun:data/church_outdoor_train_lmdb \\
        --dest=data/church-256 --resolution=256 --max_images=100000
    python tools/dataset_tool.py --verify=data/ffhq-256         # re-check shard sha256s

--source takes anything `inr_gan_tf.data.resolve_source` reads (folder, zip, lsun:PATH, ...).
Images are centre-cropped and resized exactly as training would do it, so training on the
shards (the output folder is a data source) sees the same pixels without decoding full-size
files.
Unreadable files, and images above --max_pixels (refused from their header, never decoded),
are skipped, logged and listed under "skipped" in the manifest. The shards are written to
DEST.partial and renamed to DEST when complete: DEST never holds half a conversion, and the
DEST.partial of a killed run is removed by the next run.
"""
import argparse
import json
import os
import sys

# Runs from a checkout without installing: make `inr_gan_tf` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import logging  # noqa: E402

from inr_gan_tf.data.decode import DEFAULT_MAX_PIXELS  # noqa: E402
from inr_gan_tf.data.sources import resolve_source  # noqa: E402
from inr_gan_tf.data.tfrecord import verify_manifest, write_tfrecords  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert images to TFRecord shards + manifest.json for inr_gan_tf.')
    parser.add_argument('--source', default=None,
                        help='folder, .zip, lsun:PATH, tfds:NAME[:SPLIT], ... (default: none)')
    parser.add_argument('--dest', default=None,
                        help='output folder; must be empty or absent (default: none)')
    parser.add_argument('--resolution', type=int, default=256,
                        help='output side length R: centre crop, then resize to R x R '
                             '(default: %(default)s)')
    parser.add_argument('--shard_size', type=int, default=2048,
                        help='images per shard; more shards spread better over workers '
                             '(default: %(default)s)')
    parser.add_argument('--max_images', type=int, default=None,
                        help='stop after this many images, in source order (default: all)')
    parser.add_argument('--max_pixels', type=int, default=DEFAULT_MAX_PIXELS,
                        help='skip source images whose header declares more pixels, without '
                             'decoding them (default: %(default)s = 8192 x 8192)')
    parser.add_argument('--data_dir', default=None,
                        help='TFDS data_dir for tfds: sources (default: TFDS default)')
    parser.add_argument('--verify', default=None, metavar='FOLDER',
                        help='only check FOLDER\'s shards against its manifest and exit')
    args = parser.parse_args(argv)
    if args.verify is None and (args.source is None or args.dest is None):
        parser.error('--source and --dest are required (or use --verify=FOLDER)')
    if args.max_pixels < 1:
        parser.error(f'--max_pixels must be >= 1, got {args.max_pixels}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.set_verbosity(logging.INFO)
    if args.verify is not None:
        problems = verify_manifest(args.verify)
        for p in problems:
            print(f'{args.verify}: {p}', file=sys.stderr)
        print(f'{args.verify}: {"FAILED" if problems else "OK"}')
        return 1 if problems else 0
    source = resolve_source(args.source, data_dir=args.data_dir, max_pixels=args.max_pixels)
    manifest = write_tfrecords(source, args.dest, args.resolution, shard_size=args.shard_size,
                               max_images=args.max_images)
    summary = {k: manifest[k] for k in ('count', 'resolution')}
    summary.update(shards=len(manifest['shards']), skipped=len(manifest['skipped']))
    print(f'{args.dest}: {json.dumps(summary)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
