"""Data that cannot stop a run (issue 10): each fault is skipped, counted and named, never fatal.

Corrupt TFRecord records, records that hold no image, images too large to decode, animated
GIFs, a shard folder that lost its manifest, and a dataset_tool run killed half-way.
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
import tensorflow as tf
from helpers import ROOT, load_tool
from PIL import Image

import inr_gan_tf.data as data
from inr_gan_tf.data import decode
from inr_gan_tf.data.tfrecord import PARTIAL_SUFFIX

pytestmark = pytest.mark.filterwarnings('ignore::PIL.Image.DecompressionBombWarning')
N_IMAGES, SHARD_SIZE = 20, 5


def png(value, h=8, w=8):
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(buf, 'PNG')
    return buf.getvalue()


def write(path, payload):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(payload)


def values(source, **kw):
    """The grey level of each image in stream order (images are solid greys 0, 10, 20, ...)."""
    kw = {'seed': 0, 'shuffle': False, 'flip': False, 'repeat': False, **kw}
    out = []
    for batch in data.make_dataset(source, 8, 4, **kw).as_numpy_iterator():
        out += [int(np.rint((im.mean() + 1) * 127.5)) for im in batch]
    return out


def example(image_bytes):
    return tf.train.Example(features=tf.train.Features(feature={'image': tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[image_bytes]))})).SerializeToString()


def huge_png(width=13000, height=13000):
    """A valid 1-bit PNG of width x height (~20 KB), built row by row: no pixel array here.
    Decoded to RGB it would take over 1 GB in PIL."""
    def chunk(kind, payload):
        return (struct.pack('>I', len(payload)) + kind + payload
                + struct.pack('>I', zlib.crc32(kind + payload)))

    row, z = b'\x00' * (1 + (width + 7) // 8), zlib.compressobj(9)  # filter byte + black
    idat = b''.join(z.compress(row) for _ in range(height)) + z.flush()
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 1, 0, 0,
                                                               0, 0))
            + chunk(b'IDAT', idat) + chunk(b'IEND', b''))


@pytest.fixture(scope='module')
def tool():
    return load_tool('dataset_tool')


@pytest.fixture(scope='module')
def big_png():
    return huge_png()


@pytest.fixture(scope='module')
def grey_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('greys')
    for i in range(N_IMAGES):
        write(str(root / f'{i:02d}.png'), png(10 * i))
    return str(root)


@pytest.fixture(scope='module')
def shards(tmp_path_factory, grey_folder, tool):
    """A converted dataset: 4 shards of 5 records; tests corrupt copies of it."""
    dest = str(tmp_path_factory.mktemp('tfr') / 'greys-8')
    assert tool.main([f'--source={grey_folder}', f'--dest={dest}', '--resolution=8',
                      f'--shard_size={SHARD_SIZE}']) == 0
    return dest


def record_offsets(path):
    """Byte offset of each record in a TFRecord file."""
    with open(path, 'rb') as f:
        blob = f.read()
    offsets, at = [], 0
    while at < len(blob):
        offsets.append(at)
        at += 16 + struct.unpack('<Q', blob[at:at + 8])[0]
    return offsets


def flip_bytes(path, at, n=16):
    """Flips n bytes in place: same size, so the manifest's size check passes."""
    with open(path, 'r+b') as f:
        f.seek(at)
        damaged = bytes(b ^ 0xFF for b in f.read(n))
        f.seek(at)
        f.write(damaged)


# ---------------------------------------------------------------- TFRecord faults


def test_corrupt_record_skips_rest_of_shard_named_counted_deterministic(shards, tmp_path):
    dest = str(tmp_path / 'copy')
    shutil.copytree(shards, dest)
    shard1 = os.path.join(dest, 'shard-00001.tfrecord')
    size = os.path.getsize(shard1)
    flip_bytes(shard1, record_offsets(shard1)[2] + 30)  # inside record 2's image bytes
    assert os.path.getsize(shard1) == size

    src = data.resolve_source(dest)
    lost = [70, 80, 90]  # shard 1 = images 5-9; records 2-4: no resuming after a CRC error
    expected = [10 * i for i in range(N_IMAGES) if 10 * i not in lost]
    assert values(src) == expected
    (path, reason), = [b for b in src.stats.bad if b[0] == shard1]
    assert 'corrupt or truncated record #2' in reason and '#2-#4 of 5' in reason
    assert values(src) == expected and src.stats.skipped == 1  # second epoch: counted once

    # Same seed, same stream, so an exact resume (skip the batches used) stays exact.
    a = values(src, shuffle=True, seed=3)
    assert a == values(src, shuffle=True, seed=3) and sorted(a) == expected
    def run():  # as train.py builds it, in a fresh process after a crash
        return data.make_dataset(data.resolve_source(dest), 8, 4, seed=3, shuffle=True,
                                 repeat=True)

    full = list(run().take(6).as_numpy_iterator())  # 24 images: past the end of an epoch
    resumed = list(run().skip(4).take(2).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack(full[4:]), np.stack(resumed))

    # A glob has no manifest: the record headers tell how many records were lost.
    glob_src = data.resolve_source(os.path.join(dest, '*.tfrecord'))
    assert values(glob_src) == expected
    assert '#2-#4 of 5' in dict(glob_src.stats.bad)[shard1]


def test_damaged_record_header_ends_shard_without_crash(shards, tmp_path):
    dest = str(tmp_path / 'copy')
    shutil.copytree(shards, dest)
    shard3 = os.path.join(dest, 'shard-00003.tfrecord')
    flip_bytes(shard3, record_offsets(shard3)[1], n=8)  # record 1's length field
    src = data.resolve_source(os.path.join(dest, '*.tfrecord'))
    assert values(src) == [10 * i for i in range(16)]
    reason = dict(src.stats.bad)[shard3]
    assert 'record #1' in reason and 'unknown number' in reason


def test_shard_vanished_after_start_is_skipped_not_retried(shards, tmp_path):
    dest = str(tmp_path / 'copy')
    shutil.copytree(shards, dest)
    src = data.resolve_source(os.path.join(dest, '*.tfrecord'))
    gone = os.path.join(dest, 'shard-00002.tfrecord')
    os.remove(gone)  # an open error: under a bare ignore_errors it would be retried forever
    assert values(src) == [10 * i for i in range(N_IMAGES) if not 10 <= i < 15]
    assert dict(src.stats.bad)[gone].startswith('cannot open it (FileNotFoundError')


def test_records_without_an_image_are_skipped_and_named(tmp_path, big_png):
    gif = io.BytesIO()
    Image.new('RGB', (6, 6), (200, 200, 200)).save(gif, 'GIF')  # via PIL, not TF's decoder
    path = str(tmp_path / 'mixed.tfrecord')
    with tf.io.TFRecordWriter(path) as w:
        for record in [example(png(30)), example(b'garbage'), b'\x01\x02 not a proto',
                       example(big_png), example(gif.getvalue()), example(png(40))]:
            w.write(record)
    src = data.resolve_source(path)
    assert values(src) == [30, 200, 40]
    bad = dict(src.stats.bad)
    assert sorted(bad) == [f'{path}#{k}' for k in (1, 2, 3)]
    assert bad[f'{path}#1'] == 'not a recognised image format'
    assert bad[f'{path}#2'].startswith('not a tf.train.Example')
    assert '13000x13000 = 169.0 MP exceeds --max_pixels' in bad[f'{path}#3']
    assert values(src) == [30, 200, 40] and src.stats.skipped == 3


# ---------------------------------------------------------------- pixel limit


def test_pixel_limit_checked_from_header(big_png):
    reason = '13000x13000 = 169.0 MP exceeds --max_pixels 67108864 (67.1 MP)'
    assert decode.DEFAULT_MAX_PIXELS == 2 ** 26
    assert decode.check_image(big_png) == reason
    with pytest.raises(decode.ImageTooLarge, match='169.0 MP'):
        decode.decode_rgb(big_png)
    assert decode.check_image(png(0, 20, 30), max_pixels=600) is None
    assert '30x20' in decode.check_image(png(0, 20, 30), max_pixels=599)


def test_max_pixels_reaches_every_file_source(tmp_path, grey_folder, shards):
    small = str(tmp_path / 'small')
    write(os.path.join(small, 'a.png'), png(0, 8, 8))
    write(os.path.join(small, 'b.png'), png(0, 9, 8))
    src = data.resolve_source(small, max_pixels=64)
    assert src.num_examples == 1 and src.stats.bad_paths == ['b.png']
    zpath = str(tmp_path / 'small.zip')
    with zipfile.ZipFile(zpath, 'w') as zf:
        zf.writestr('a.png', png(0, 8, 8))
        zf.writestr('b.png', png(0, 9, 8))
    assert data.resolve_source(zpath, max_pixels=64).stats.bad_paths == ['b.png']
    with pytest.raises(ValueError, match='8x8 = 0.0 MP exceeds --max_pixels 63'):
        data.resolve_source(shards, max_pixels=63)
    with pytest.raises(ValueError, match='max_pixels'):
        data.resolve_source(small, max_pixels=0)


@pytest.mark.slow  # ~7 s: a child process measures its peak memory; refusal by header: test_max_pixels_reaches_every_file_source
def test_huge_png_refused_without_decoding_bounded_rss(tmp_path, big_png):
    folder = str(tmp_path / 'bomb')
    write(os.path.join(folder, 'huge.png'), big_png)
    write(os.path.join(folder, 'ok.png'), png(90))
    # A fresh process, so its peak RSS measures only this load: TF's import, then the data.
    script = (
        'import json, resource, sys\n'
        'import inr_gan_tf.data as data\n'
        'peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n'
        'before = peak()\n'
        'src = data.resolve_source(sys.argv[1])\n'
        'ds = data.make_dataset(src, 8, 4, seed=0, shuffle=False, flip=False, repeat=False)\n'
        'n = sum(len(b) for b in ds)\n'
        'print(json.dumps({"n": n, "bad": src.stats.bad, "before": before, "after": peak()}))\n')
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', 'PYTHONPATH': ROOT}
    out = subprocess.run([sys.executable, '-c', script, folder], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['n'] == 1
    assert result['bad'] == [['huge.png', '13000x13000 = 169.0 MP exceeds --max_pixels '
                                          '67108864 (67.1 MP)']]
    # Decoding it would take > 1 GB (mode '1' -> RGB); the scan and the pass add almost nothing.
    assert result['after'] - result['before'] < 200, result
    assert result['after'] < 1500, result


# ---------------------------------------------------------------- GIF


def gif_bytes(frames):
    """An animated GIF, one solid frame per colour (pure colours survive the palette)."""
    buf = io.BytesIO()
    ims = [Image.new('RGB', (8, 8), c).convert('P') for c in frames]
    ims[0].save(buf, 'GIF', save_all=True, append_images=ims[1:], duration=100)
    return buf.getvalue()


def clear_gif():
    """A GIF whose every pixel is the transparent palette entry (stored colour: black)."""
    buf = io.BytesIO()
    im = Image.new('P', (8, 8), 0)
    im.putpalette([0, 0, 0] * 256)
    im.save(buf, 'GIF', transparency=0)
    return buf.getvalue()


def test_gif_first_frame_loaded_and_counted(tmp_path):
    animated = gif_bytes([(255, 0, 0), (0, 0, 255), (0, 255, 0)])
    with Image.open(io.BytesIO(animated)) as im:
        assert im.n_frames == 3
    clear = clear_gif()  # composited on white, like any image with alpha
    folder = str(tmp_path / 'gifs')
    write(os.path.join(folder, 'a.gif'), animated)
    write(os.path.join(folder, 'b.GIF'), clear)
    write(os.path.join(folder, 'c.gif'), b'GIF89a cut short')
    zpath = str(tmp_path / 'gifs.zip')
    with zipfile.ZipFile(zpath, 'w') as zf:
        zf.writestr('x/a.gif', animated)
        zf.writestr('x/b.gif', clear)
    for spec, bad in [(folder, ['c.gif']), (zpath, [])]:
        src = data.resolve_source(spec)
        assert src.num_examples == 2 and src.stats.bad_paths == bad
        batch, = data.make_dataset(src, 8, 2, seed=0, shuffle=False, flip=False,
                                   repeat=False).as_numpy_iterator()
        colours = np.rint((batch.mean(axis=(1, 2)) + 1) * 127.5).astype(int).tolist()
        assert colours == [[255, 0, 0], [255, 255, 255]]


# ---------------------------------------------------------------- manifest-less shard folder


def test_shard_folder_without_manifest_says_so(shards, tmp_path):
    dest = str(tmp_path / 'copy')
    shutil.copytree(shards, dest)
    os.remove(os.path.join(dest, 'manifest.json'))
    pattern = os.path.join(dest, '*.tfrecord')
    with pytest.raises(FileNotFoundError) as e:
        data.resolve_source(dest)
    assert str(e.value) == (f"{dest} holds 4 .tfrecord files but no manifest.json: pass "
                            f"'{pattern}' or rebuild with tools/dataset_tool.py")
    assert sorted(values(data.resolve_source(pattern))) == [10 * i for i in range(N_IMAGES)]


# ---------------------------------------------------------------- dataset_tool killed half-way


def test_dataset_tool_rerun_after_kill(grey_folder, tmp_path, tool, capsys):
    dest = str(tmp_path / 'out')
    partial = dest + PARTIAL_SUFFIX
    # What kill -9 leaves: a partial folder with some shards and no manifest; `dest` absent.
    write(os.path.join(partial, 'shard-00000.tfrecord'), b'half a shard')
    args = [f'--data={grey_folder}', f'--outdir={dest}', '--resolution=8', '--shard_size=8']
    assert tool.main(args) == 0
    assert not os.path.exists(partial)
    assert tool.main([f'--verify={dest}']) == 0
    assert data.resolve_source(dest).num_examples == N_IMAGES

    def refused(argv, message):  # exit 2, one line naming --outdir, before anything is written
        capsys.readouterr()
        assert tool.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith('dataset_tool: --outdir=') and message in err[0], err

    # A finished destination is still refused, and left as it was.
    refused(args, 'not empty')
    assert tool.main([f'--verify={dest}']) == 0

    # A .partial holding anything this tool does not write is not ours to delete.
    other = str(tmp_path / 'other')
    write(os.path.join(other + PARTIAL_SUFFIX, 'notes.txt'), b'mine')
    refused([f'--data={grey_folder}', f'--outdir={other}', '--resolution=8'], 'move it away')
    assert os.listdir(other + PARTIAL_SUFFIX) == ['notes.txt'] and not os.path.exists(other)

    # Data with no readable image (here: --max_pixels refuses every one) is refused when
    # resolved, and leaves nothing behind.
    failed = str(tmp_path / 'failed')
    assert tool.main([f'--data={grey_folder}', f'--outdir={failed}', '--max_pixels=63']) == 2
    assert not os.path.exists(failed) and not os.path.exists(failed + PARTIAL_SUFFIX)
    with pytest.raises(tool.UsageError, match='--max_pixels must be >= 1'):
        tool.parse_args([f'--data={grey_folder}', f'--outdir={failed}', '--max_pixels=0'])
    assert tool.main([f'--data={grey_folder}', f'--outdir={failed}', '--max_pixels=0']) == 2
    assert not os.path.exists(failed) and not os.path.exists(failed + PARTIAL_SUFFIX)
