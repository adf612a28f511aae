"""Rebuilds the embedded Noto emoji dataset (inr_gan_tf/data/noto_emoji/) from its npm package.

    python tools/build_noto_emoji.py                       # runs `npm pack`, checks, writes
    python tools/build_noto_emoji.py --tarball=PKG.tgz     # use a tarball fetched earlier
    python tools/build_noto_emoji.py --check               # rebuild and compare, write nothing

Source: `npm pack emoji-datasource-google@16.0.0` (the Noto Color Emoji images, Apache-2.0, at
64x64 under img/google/64/). We keep every emoji.json entry's own image where `has_img_google`
is true and leave out the `skin_variations` entries, which would otherwise make ~20% of the set
near-duplicates. Images are alpha-composited on white with exact integer arithmetic (PIL's own
compositing could change between versions) and sorted by unified code point, so the output
bytes are reproducible; both the tarball and the output are checked against the sha256 pins in
`inr_gan_tf/data/noto_emoji/pins.json`. On a mismatch nothing is written and the computed
digests are printed, so a deliberate version bump is an edit of pins.json.

Needs only numpy, Pillow and (without --tarball) npm; it does not import TensorFlow.
"""
import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, 'inr_gan_tf', 'data', 'noto_emoji')
PINS_PATH = os.path.join(OUT_DIR, 'pins.json')
IMAGE_DIR = 'package/img/google/64/'
SIZE = 64

NOTICE_TEXT = """\
Noto emoji images in noto_emoji.npz
===================================

Images: Noto Color Emoji, Copyright Google Inc., licensed under the Apache License,
Version 2.0 (full text in LICENSE-APACHE-2.0), as stated for its Android/Google/Noto images by
the README of the package below.

Source: the npm package {package} version {version}
(`npm pack {package}@{version}`, tarball sha256 {tarball_sha256}),
files img/google/64/*.png and emoji.json. The package itself (emoji.json metadata and
packaging) is MIT licensed, Copyright (c) 2013 Cal Henderson; its LICENSE file is reproduced
unmodified in LICENSE.

Changes made: only each emoji.json entry's own image is kept (skin-tone variants are left out);
each 64x64 RGBA image is alpha-composited on a white background and stored as 8-bit RGB in a
single uint8 array [N, 64, 64, 3], sorted by unified code point, together with the entries'
names and unified code points. Rebuild with tools/build_noto_emoji.py.
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


def codepoints(entry: dict) -> Tuple[int, ...]:
    return tuple(int(c, 16) for c in entry['unified'].split('-'))


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 4] -> uint8 [H, W, 3]: round(rgb * a / 255 + 255 * (1 - a / 255))."""
    rgb = rgba[..., :3].astype(np.int32)
    a = rgba[..., 3:].astype(np.int32)
    # Integer form of the formula above, with round-half-up; identical on every platform.
    return ((rgb * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def read_package(tar_path: str) -> Tuple[np.ndarray, List[str], List[str], bytes]:
    """Returns (images uint8 [N, 64, 64, 3], names, unified, LICENSE bytes)."""
    with tarfile.open(tar_path, 'r:gz') as tar:
        def read(name: str) -> bytes:
            member = tar.extractfile(name)
            if member is None:
                raise ValueError(f'{tar_path} has no file {name}')
            return member.read()

        entries = json.loads(read('package/emoji.json'))
        license_bytes = read('package/LICENSE')
        # Only top-level entries: their `skin_variations` are nested dicts we never visit.
        entries = sorted((e for e in entries if e.get('has_img_google')), key=codepoints)
        images = []
        for e in entries:
            with Image.open(io.BytesIO(read(IMAGE_DIR + e['image']))) as im:
                im = im.convert('RGBA')
                if im.size != (SIZE, SIZE):
                    raise ValueError(f"{e['image']} is {im.size}, expected {SIZE}x{SIZE}")
                images.append(composite_on_white(np.asarray(im)))
    names = [e.get('name') or e['short_name'] for e in entries]
    unified = [e['unified'] for e in entries]
    return np.stack(images), names, unified, license_bytes


def content_sha256(images: np.ndarray, names: List[str], unified: List[str]) -> str:
    """Digest of the decoded content, independent of how the .npz was compressed."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update('\n'.join(names).encode('utf-8'))
    h.update('\n'.join(unified).encode('utf-8'))
    return h.hexdigest()


def npz_bytes(arrays: Dict[str, np.ndarray]) -> bytes:
    """An .npz (readable by np.load) with fixed timestamps, so equal arrays give equal bytes.

    np.savez_compressed stamps the current time into the zip headers, which would change the
    file's sha256 on every rebuild.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as zf:
        for key, arr in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(key + '.npy', date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compresslevel=9)
    return buf.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tarball', default=None,
                        help='package tarball to use instead of running `npm pack` (default: none)')
    parser.add_argument('--out_dir', default=OUT_DIR,
                        help='where to write noto_emoji.npz, LICENSE and NOTICE (default: %(default)s)')
    parser.add_argument('--check', action='store_true',
                        help='rebuild in memory and compare with the files in --out_dir; write nothing')
    args = parser.parse_args(argv)

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
        images, names, unified, license_bytes = read_package(tar_path)

    content_sha = content_sha256(images, names, unified)
    data = npz_bytes({'images': images, 'names': np.array(names), 'unified': np.array(unified)})
    npz_sha = sha256_bytes(data)
    print(f'{len(images)} images, {len(data) / 2**20:.2f} MiB, content sha256 {content_sha}, '
          f'file sha256 {npz_sha}')
    if content_sha != pins['content_sha256']:
        print(f"content sha256 differs from pinned {pins['content_sha256']}: the decoded images "
              'changed; nothing written', file=sys.stderr)
        return 1
    if npz_sha != pins['npz_sha256']:
        # Same pixels, different compressed bytes: a different zlib build. Writing would break
        # the committed checksum for no gain.
        print(f"file sha256 differs from pinned {pins['npz_sha256']} although the content "
              'matches (a different zlib?); nothing written', file=sys.stderr)
        return 1

    license_text = license_bytes
    notice_text = NOTICE_TEXT.format(**pins).encode('utf-8')
    outputs = {'noto_emoji.npz': data, 'LICENSE': license_text, 'NOTICE': notice_text}
    if args.check:
        stale = []
        for name, want in outputs.items():
            path = os.path.join(args.out_dir, name)
            if not os.path.exists(path) or open(path, 'rb').read() != want:
                stale.append(name)
        if stale:
            print(f'out of date in {args.out_dir}: {", ".join(stale)}', file=sys.stderr)
            return 1
        print('committed files match the rebuild')
        return 0
    os.makedirs(args.out_dir, exist_ok=True)
    for name, payload in outputs.items():
        with open(os.path.join(args.out_dir, name), 'wb') as f:
            f.write(payload)
    print(f'wrote {", ".join(outputs)} to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
