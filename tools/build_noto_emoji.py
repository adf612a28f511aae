"""Rebuilds the embedded vector Noto emoji set (inr_gan_tf/data/noto_emoji/) from its npm package.

    python tools/build_noto_emoji.py                       # runs `npm pack`, checks, writes
    python tools/build_noto_emoji.py --tarball=PKG.tgz     # use a tarball fetched earlier
    python tools/build_noto_emoji.py --check               # rebuild and compare, write nothing
    python tools/build_noto_emoji.py --outdir=/tmp/noto    # write elsewhere than the package

Source: `npm pack @iconify-json/noto@1.2.9`, whose icons.json holds the Noto Color Emoji as SVG
bodies (the inside of an <svg> element) on one 128 x 128 view box, Apache-2.0.

Which icons are "base" (`select_base`): every icon of icons.json except
  * skin-tone variants: a name with a hyphen-delimited run `light-skin-tone`,
    `medium-light-skin-tone`, `medium-skin-tone`, `medium-dark-skin-tone`, `dark-skin-tone`, or
    a legacy `tone1`..`tone5` component (e.g. `mermaid-tone3`). This also drops the five bare
    swatches (`dark-skin-tone`, ...), which are colour patches, not emoji;
  * exact duplicates: where several names share one body byte for byte (`astronaut`,
    `man-astronaut`, `woman-astronaut`), only the first name in sorted order is kept, so no
    image is counted twice.
Icons marked `hidden` (older designs kept under their old names) are distinct drawings and are
kept; `aliases` are other names for kept bodies and add nothing. 1.2.9 gives 3819 icons ->
1738 without skin tones -> 1731 distinct base icons.

Output: icons.json.xz, the JSON object {name: body} with sorted keys and no whitespace, UTF-8,
xz-compressed at preset 9 (the xz container holds no timestamps, so equal content gives equal
bytes with one liblzma), plus NOTICE. The tarball, the JSON and the .xz are checked against the
sha256 pins in pins.json; on any mismatch nothing is written and the computed digests are
printed, so a deliberate version bump is an edit of pins.json. LICENSE (Apache-2.0, the licence
the package declares in info.json; the tarball ships no licence file) is committed as is.

Needs only the standard library, absl and (without --tarball) npm; it does not import TensorFlow.
"""
import hashlib
import json
import lzma
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from typing import Dict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # runs from a checkout without installing
    sys.path.insert(0, REPO)

from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402 -- the package's __init__ imports nothing heavy
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402

OUT_DIR = os.path.join(REPO, 'inr_gan_tf', 'data', 'noto_emoji')
PINS_PATH = os.path.join(OUT_DIR, 'pins.json')
ARCHIVE = 'icons.json.xz'
XZ_PRESET = 9

# A Fitzpatrick modifier as a whole hyphen-delimited run of the name, or a legacy toneN part.
SKIN_TONE = re.compile(r'(?:^|-)(?:(?:(?:medium-)?(?:light|dark))|medium)-skin-tone(?:-|$)'
                       r'|(?:^|-)tone[1-5](?:-|$)')

NOTICE_TEXT = """\
Noto emoji vector images in {archive}
=========================================

Images: Noto Emoji (Noto Color Emoji SVG sources), Copyright Google Inc., licensed under the
Apache License, Version 2.0 (full text in LICENSE); upstream project
https://github.com/googlefonts/noto-emoji.

Source: the npm package {package} version {version}
(`npm pack {package}@{version}`, tarball sha256 {tarball_sha256}), file icons.json,
whose info.json declares the licence Apache-2.0 and the author Google Inc.

Changes made: only the {count} base icons are kept (skin-tone variants and byte-identical
duplicates are left out; the rule is in tools/build_noto_emoji.py). Each icon's SVG body is
stored unchanged in a JSON object {{name: body}} with sorted keys, xz-compressed. At render time
inr_gan_tf wraps a body in an <svg> element with a view box in the icons' 128 x 128 units and
rasterizes it on a white background. Rebuild with tools/build_noto_emoji.py.
"""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_tarball(package: str, version: str, workdir: str) -> str:
    """Runs `npm pack` in `workdir` and returns the tarball path."""
    try:
        out = subprocess.run(['npm', 'pack', f'{package}@{version}'], cwd=workdir, check=True,
                             capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit('npm is not installed: install it (apt-get install npm) or pass --tarball')
    except subprocess.CalledProcessError as e:
        sys.exit(f'npm pack {package}@{version} failed:\n{e.stderr}')
    name = out.stdout.strip().splitlines()[-1]
    return os.path.join(workdir, name)


def read_icon_set(tar_path: str) -> dict:
    """The parsed package/icons.json of the tarball."""
    with tarfile.open(tar_path, 'r:gz') as tar:
        member = tar.extractfile('package/icons.json')
        if member is None:
            raise ValueError(f'{tar_path} has no package/icons.json')
        return json.loads(member.read().decode('utf-8'))


def select_base(icon_set: dict, view_box: int) -> Dict[str, str]:
    """{name: body} of the base icons (rule in the module docstring), sorted by name."""
    if (icon_set.get('width'), icon_set.get('height')) != (view_box, view_box):
        raise ValueError(f"icon set is {icon_set.get('width')}x{icon_set.get('height')}, "
                         f'expected a {view_box}x{view_box} view box')
    base, seen = {}, set()
    for name in sorted(icon_set['icons']):
        icon = icon_set['icons'][name]
        # A per-icon size or offset would need its own view box; this set has none.
        if set(icon) - {'body', 'hidden'}:
            raise ValueError(f'icon {name!r} has fields {sorted(icon)}: only body/hidden expected')
        if SKIN_TONE.search(name) or icon['body'] in seen:
            continue
        seen.add(icon['body'])
        base[name] = icon['body']
    return base


def json_bytes(icons: Dict[str, str]) -> bytes:
    """The canonical JSON of {name: body}: sorted keys, no whitespace, UTF-8."""
    return json.dumps(icons, sort_keys=True, separators=(',', ':'), ensure_ascii=False
                      ).encode('utf-8')


def archive_bytes(icons: Dict[str, str]) -> bytes:
    return lzma.compress(json_bytes(icons), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=XZ_PRESET)




def define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string('tarball', None, 'Package tarball to use instead of running `npm pack` (default: none).',
                        flag_values=fv)
    common.define(fv, 'outdir', None, f'Where {ARCHIVE} and NOTICE go (default: the package folder, '
                  'inr_gan_tf/data/noto_emoji).')
    flags.DEFINE_boolean('check', False, 'Rebuild in memory and compare with the files in --outdir; write nothing.',
                         flag_values=fv)


def check(a: Args) -> Args:
    if a.tarball is not None and not os.path.isfile(a.tarball):
        raise UsageError(f'--tarball: no file {a.tarball!r}')
    a.outdir = OUT_DIR if a.outdir is None else a.outdir  # resolved here: the help shows no machine path
    if not a.outdir or (os.path.exists(a.outdir) and not os.path.isdir(a.outdir)):
        raise UsageError(f'--outdir must name a folder, got {a.outdir!r}')
    return a


def command_main(args: Args) -> int:
    check(args)
    with open(PINS_PATH) as f:
        pins = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = args.tarball or fetch_tarball(pins['package'], pins['version'], tmp)
        with open(tar_path, 'rb') as f:
            tar_sha = sha256_bytes(f.read())
        if tar_sha != pins['tarball_sha256']:
            print(f"tarball sha256 {tar_sha} != pinned {pins['tarball_sha256']} "
                  f"({pins['package']}@{pins['version']}); nothing written", file=sys.stderr)
            return 1
        icons = select_base(read_icon_set(tar_path), pins['view_box'])

    content_sha = sha256_bytes(json_bytes(icons))
    data = archive_bytes(icons)
    archive_sha = sha256_bytes(data)
    print(f'{len(icons)} icons, {len(data) / 2**20:.2f} MiB, content sha256 {content_sha}, '
          f'archive sha256 {archive_sha}')
    if len(icons) != pins['count'] or content_sha != pins['content_sha256']:
        print(f"count/content differ from pinned {pins['count']} / {pins['content_sha256']}: "
              'the selected icons changed; nothing written', file=sys.stderr)
        return 1
    if archive_sha != pins['archive_sha256']:
        # Same icons, different compressed bytes: another liblzma. Writing would break the
        # committed checksum for no gain.
        print(f"archive sha256 differs from pinned {pins['archive_sha256']} although the "
              'content matches (another liblzma?); nothing written', file=sys.stderr)
        return 1

    notice = NOTICE_TEXT.format(archive=ARCHIVE, **pins).encode('utf-8')
    outputs = {ARCHIVE: data, 'NOTICE': notice}
    if args.check:
        stale = []
        for name, want in outputs.items():
            path = os.path.join(args.outdir, name)
            if not os.path.exists(path) or open(path, 'rb').read() != want:
                stale.append(name)
        if stale:
            print(f'out of date in {args.outdir}: {", ".join(stale)}', file=sys.stderr)
            return 1
        print('committed files match the rebuild')
        return 0
    os.makedirs(args.outdir, exist_ok=True)
    for name, payload in outputs.items():
        from inr_gan_tf.paths import write_atomic
        write_atomic(os.path.join(args.outdir, name), payload)
    print(f'wrote {", ".join(outputs)} to {args.outdir}')
    return 0


COMMAND = cli.Command('python tools/build_noto_emoji.py', __doc__, define, command_main,
                      aliases={'out_dir': 'outdir'}, log_level='warning')


def main(argv=None) -> int:
    return cli.run(COMMAND, argv)


if __name__ == '__main__':
    sys.exit(main())
