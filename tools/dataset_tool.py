"""Converts an image collection to TFRecord shards at one resolution, with a manifest.json.

    python tools/dataset_tool.py --data=data/ffhq.zip --outdir=data/ffhq-256 --resolution=256
    python tools/dataset_tool.py --data=lsun:data/church_outdoor_train_lmdb \\
        --outdir=data/church-256 --resolution=256 --max_images=100000
    python tools/dataset_tool.py --verify=data/ffhq-256         # re-check shard sha256s

--data takes anything `inr_gan_tf.data.resolve_source` reads (folder, zip, lsun:PATH, ...).
Images are centre-cropped and resized exactly as training would do it, so training on the
shards (the output folder is a data source) sees the same pixels without decoding full-size
files.
Unreadable files, and images above --max_pixels (refused from their header, never decoded),
are skipped, logged and listed under "skipped" in the manifest. The shards are written to
OUTDIR.partial and renamed to OUTDIR when complete: OUTDIR never holds half a conversion, and
the OUTDIR.partial of a killed run is removed by the next run. An OUTDIR that is not empty is
refused (exit 2) before anything is written.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # runs from a checkout without installing
    sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402,F401 -- UsageError: in-process callers catch it

# = inr_gan_tf.data.decode.DEFAULT_MAX_PIXELS (8192 x 8192; tests/test_data.py checks they agree),
# written out so that --help answers without importing TensorFlow.
DEFAULT_MAX_PIXELS = 2 ** 26


def define(fv: flags.FlagValues) -> None:
    common.define(fv, "data", None, "The images to convert.")
    common.define(fv, "outdir", None, "The shards and manifest.json; must be empty or absent.")
    common.define(fv, "resolution", 256, "Output side: centre crop, then resize to R x R.")
    flags.DEFINE_integer("shard_size", 2048, "Images per shard; more shards spread better over workers.",
                         flag_values=fv)
    flags.DEFINE_integer("max_images", None, "Stop after this many images, in source order (default: all).",
                         flag_values=fv)
    common.define(fv, "max_pixels", DEFAULT_MAX_PIXELS, "Default: 8192 x 8192.")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir for tfds: sources (default: TFDS's default).",
                        flag_values=fv)
    flags.DEFINE_string("verify", None, "Only check this folder's shards against its manifest and exit "
                        "(exit 1 if any differs).", flag_values=fv)


def check(a: Args) -> Args:
    """Checks the flags together; bad values raise UsageError naming the flag."""
    if a.verify is not None:
        if a.given("data") or a.given("outdir"):
            raise UsageError("--verify only checks a folder: give it without --data and --outdir")
        if not os.path.isdir(a.verify):
            raise UsageError(f"--verify: no folder {a.verify!r}")
        return a
    if not a.data or not a.outdir:
        raise UsageError("--data and --outdir are required (or use --verify=FOLDER)")
    for name in ("resolution", "shard_size", "max_images", "max_pixels"):
        common.at_least(a, name, 1)
    return a


def parse_args(argv=None) -> Args:
    """Parses and checks a command line; raises UsageError naming the flag."""
    return check(cli.parse(COMMAND, sys.argv[1:] if argv is None else argv))


def command_main(args: Args) -> int:
    check(args)
    from inr_gan_tf.data.sources import resolve_source
    from inr_gan_tf.data.tfrecord import verify_manifest, write_tfrecords

    if args.verify is not None:
        problems = verify_manifest(args.verify)
        for p in problems:
            print(f'{args.verify}: {p}', file=sys.stderr)
        print(f'{args.verify}: {"FAILED" if problems else "OK"}')
        return 1 if problems else 0
    try:
        source = resolve_source(args.data, data_dir=args.data_dir, max_pixels=args.max_pixels)
    except Exception as e:  # noqa: BLE001 -- each source kind fails its own way
        raise UsageError(f'--data={args.data}: {cli.one_line(e)}') from None
    try:
        manifest = write_tfrecords(source, args.outdir, args.resolution, shard_size=args.shard_size,
                                   max_images=args.max_images)
    except FileExistsError as e:  # raised before anything is written
        raise UsageError(f'--outdir={args.outdir}: {e}') from None
    summary = {k: manifest[k] for k in ('count', 'resolution')}
    summary.update(shards=len(manifest['shards']), skipped=len(manifest['skipped']))
    print(f'{args.outdir}: {json.dumps(summary)}')
    return 0


COMMAND = cli.Command('python tools/dataset_tool.py', __doc__, define, command_main,
                      aliases={'source': 'data', 'dest': 'outdir'})


def main(argv=None) -> int:
    """Exit status 0 (done), 1 (--verify found a difference), 2 (bad command line)."""
    return cli.run(COMMAND, argv)


if __name__ == '__main__':
    sys.exit(main())
