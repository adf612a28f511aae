"""Contracts of the data layer on tiny files made here (no network; see `no_network`)."""
import hashlib
import io
import json
import os
import socket
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from helpers import load_tool
from PIL import Image

import inr_gan_tf.data as data
from inr_gan_tf.data import noto_emoji
from inr_gan_tf.data.procedural import render_procedural


# ---------------------------------------------------------------- helpers


def color(i):
    """A distinct solid colour per image index: identifies images after the pipeline."""
    return (10 + 20 * i, 250 - 15 * i, (40 + 37 * i) % 256)


def encode(array, fmt):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt)
    return buf.getvalue()


def solid(i, h=24, w=20, fmt='PNG'):
    return encode(np.full((h, w, 3), color(i), np.uint8), fmt)


def write(path, payload):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(payload)


def identities(ds):
    """Image colours (uint8 triples) in stream order, from batches in [-1, 1]."""
    out = []
    for batch in ds.as_numpy_iterator():
        for im in batch:
            out.append(tuple(np.rint((im.mean(axis=(0, 1)) + 1) * 127.5).astype(int)))
    return out


def one_pass(source, resolution=8, batch=4, **kw):
    kw = {'seed': 0, 'shuffle': False, 'flip': False, 'repeat': False, **kw}
    return data.make_dataset(source, resolution, batch, **kw)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection from Python fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f'network access attempted: {args!r}')
    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', refuse)


@pytest.fixture
def color_folder(tmp_path):
    """12 solid-colour images spread over nested folders, in several formats and sizes."""
    root = tmp_path / 'imgs'
    fmts = [('png', 'PNG'), ('jpg', 'JPEG'), ('webp', 'WEBP'), ('bmp', 'BMP'), ('PNG', 'PNG')]
    for i in range(12):
        ext, fmt = fmts[i % len(fmts)]
        sub = ['', 'a', 'a/b', 'c/d/e'][i % 4]
        fmt = 'PNG' if fmt in ('JPEG', 'WEBP') else fmt  # lossy formats blur the identity
        write(str(root / sub / f'img{i:02d}.{ext}'), solid(i, 16 + i, 30 - i, fmt))
    write(str(root / 'notes.txt'), b'not an image')
    return str(root)


# ---------------------------------------------------------------- readers


def test_folder_nested_shapes_range(color_folder):
    src = data.resolve_source(color_folder)
    assert src.num_examples == 12 and src.stats.skipped == 0
    batches = list(one_pass(src, resolution=8, batch=5).as_numpy_iterator())
    assert [b.shape for b in batches] == [(5, 8, 8, 3), (5, 8, 8, 3), (2, 8, 8, 3)]
    assert all(b.dtype == np.float32 and b.min() >= -1 and b.max() <= 1 for b in batches)
    assert sorted(identities(one_pass(src))) == sorted(color(i) for i in range(12))
    # repeat=True: endless, full batches with a static batch dimension.
    ds = data.make_dataset(src, 8, 5, seed=0)
    assert ds.element_spec.shape.as_list() == [5, 8, 8, 3]
    assert len(list(ds.take(4))) == 4


def test_gray_and_rgba_become_rgb(tmp_path):
    write(str(tmp_path / 'clear.png'), encode(np.zeros((8, 8, 4), np.uint8), 'PNG'))
    write(str(tmp_path / 'gray.png'), encode(np.full((8, 8), 100, np.uint8), 'PNG'))
    write(str(tmp_path / 'real.jpg'), encode(np.full((8, 8, 3), 60, np.uint8), 'JPEG'))
    clear, gray, jpeg = next(one_pass(str(tmp_path), batch=3).as_numpy_iterator())
    np.testing.assert_allclose(clear, 1.0)  # transparent black composited on white
    np.testing.assert_allclose(gray, 100 / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(jpeg, 60 / 127.5 - 1, atol=3 / 127.5)


def test_zip_reader(tmp_path):
    path = str(tmp_path / 'ds.zip')
    with zipfile.ZipFile(path, 'w') as zf:
        for i in range(5):
            zf.writestr(f'{i % 2:05d}/img{i:08d}.png', solid(i))
        zf.writestr('dataset.json', json.dumps({'labels': None}))
        zf.writestr('__MACOSX/00000/._img00000000.png', b'resource fork')
    src = data.resolve_source(path)
    assert src.num_examples == 5 and src.stats.skipped == 0
    assert sorted(identities(one_pass(src))) == sorted(color(i) for i in range(5))


def test_corrupt_files_skipped_counted_reported(tmp_path):
    root = tmp_path / 'imgs'
    for i in range(5):
        write(str(root / 'good' / f'{i}.png'), solid(i))
    png, jpg = solid(7, 64, 64), solid(8, 64, 64, 'JPEG')
    write(str(root / 'garbage.png'), os.urandom(300))
    write(str(root / 'truncated.png'), png[:len(png) // 2])
    write(str(root / 'truncated.jpg'), jpg[:len(jpg) // 2])
    write(str(root / 'empty.jpeg'), b'')
    src = data.resolve_source(str(root))
    assert src.num_examples == 5
    assert src.stats.skipped == 4
    assert sorted(src.stats.bad_paths) == ['empty.jpeg', 'garbage.png', 'truncated.jpg',
                                           'truncated.png']
    assert sorted(identities(one_pass(src))) == sorted(color(i) for i in range(5))


def test_file_broken_after_scan_is_skipped_not_fatal(tmp_path):
    for i in range(4):
        write(str(tmp_path / f'{i}.png'), solid(i))
    src = data.resolve_source(str(tmp_path))
    write(str(tmp_path / '2.png'), b'overwritten with garbage')
    assert sorted(identities(one_pass(src))) == sorted(color(i) for i in (0, 1, 3))
    assert src.stats.bad_paths == ['2.png']


def test_lsun_lmdb(tmp_path):
    lmdb = pytest.importorskip('lmdb')
    env = lmdb.open(str(tmp_path / 'church'), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(3):
            txn.put(f'id{i}'.encode(), solid(i, fmt='WEBP'))
        txn.put(b'id9', b'not an image')
    env.close()
    src = data.resolve_source(f'lsun:{tmp_path / "church"}')
    assert src.num_examples == 4  # lmdb values are checked while reading, not up front
    assert len(identities(one_pass(src))) == 3
    assert src.stats.bad_paths == ['id9']


def test_lsun_without_lmdb_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'lmdb', None)
    with pytest.raises(ImportError, match='pip install lmdb'):
        data.resolve_source(f'lsun:{tmp_path}')


def test_unknown_sources_are_clear_errors(tmp_path, no_network):
    with pytest.raises(FileNotFoundError):
        data.resolve_source(str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='procedural'):
        data.resolve_source('procedural:many')
    with pytest.raises(FileNotFoundError, match='never downloads'):
        data.resolve_source('tfds:mnist', data_dir=str(tmp_path))


# ---------------------------------------------------------------- TFRecord


def test_tfrecord_round_trip(color_folder, tmp_path):
    write(os.path.join(color_folder, 'zz_bad.png'), b'\x89PNG garbage')
    dest = str(tmp_path / 'tfr')
    tool = load_tool('dataset_tool')
    assert tool.main([f'--data={color_folder}', f'--outdir={dest}', '--resolution=8',
                      '--shard_size=5']) == 0
    with open(os.path.join(dest, 'manifest.json')) as f:
        manifest = json.load(f)
    assert manifest['count'] == 12 and manifest['resolution'] == 8
    assert [s['count'] for s in manifest['shards']] == [5, 5, 2]
    assert [s['path'] for s in manifest['skipped']] == ['zz_bad.png']
    for s in manifest['shards']:
        with open(os.path.join(dest, s['name']), 'rb') as f:
            assert hashlib.sha256(f.read()).hexdigest() == s['sha256']
    assert tool.main([f'--verify={dest}']) == 0

    src = data.resolve_source(dest)
    assert src.num_examples == 12 and src.stats.skipped == 1
    from_shards = np.concatenate(list(one_pass(src).as_numpy_iterator()))
    direct = np.concatenate(list(one_pass(color_folder).as_numpy_iterator()))
    np.testing.assert_allclose(from_shards, direct, atol=0.51 / 127.5)  # uint8 rounding
    from_glob = data.resolve_source(os.path.join(dest, '*.tfrecord'))
    assert len(identities(one_pass(from_glob))) == 12

    # A damaged shard is caught by --verify, and a truncated one already by the reader.
    shard = os.path.join(dest, manifest['shards'][0]['name'])
    with open(shard, 'r+b') as f:
        f.seek(20)
        f.write(b'\xff')
    assert tool.main([f'--verify={dest}']) == 1
    with open(shard, 'ab') as f:
        f.write(b'extra')
    with pytest.raises(ValueError, match='incomplete copy'):
        data.resolve_source(dest)


def test_dataset_tool_flags(color_folder, tmp_path, capsys):
    from inr_gan_tf.data.decode import DEFAULT_MAX_PIXELS
    tool = load_tool('dataset_tool')
    assert tool.DEFAULT_MAX_PIXELS == DEFAULT_MAX_PIXELS  # written out so that --help skips TensorFlow
    dest = str(tmp_path / 'tfr')
    for argv, flag in ((['--resolution=8'], '--data and --outdir'),
                       ([f'--data={color_folder}', f'--outdir={dest}', '--shard_size=0'], '--shard_size'),
                       ([f'--data={tmp_path / "missing"}', f'--outdir={dest}'], '--data='),
                       ([f'--verify={tmp_path / "missing"}'], '--verify'),
                       ([color_folder, dest], 'unexpected arguments')):  # no positionals: every input is a flag
        assert tool.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith('dataset_tool: ') and flag in err[0], err
    assert not os.path.exists(dest) and not os.path.exists(dest + '.partial')


# ---------------------------------------------------------------- order and sharding


def test_seeded_shuffle_is_deterministic(color_folder):
    src = data.resolve_source(color_folder)

    def order(seed):
        return identities(data.make_dataset(src, 8, 4, seed=seed).take(6))  # two epochs

    a, b, c = order(1), order(1), order(2)
    assert a == b and a != c
    assert sorted(a[:12]) == sorted(color(i) for i in range(12))  # epoch = permutation
    assert a[:12] != a[12:]  # reshuffled each epoch


def test_flips_are_seeded():
    src = data.resolve_source('procedural:8')

    def batch(seed, flip=True):
        ds = data.make_dataset(src, 8, 8, seed=seed, shuffle=False, flip=flip)
        return next(ds.as_numpy_iterator())

    plain, a, b = batch(0, flip=False), batch(3), batch(3)
    np.testing.assert_array_equal(a, b)
    flipped = [not np.array_equal(x, p) for x, p in zip(a, plain)]
    for x, p, f in zip(a, plain, flipped):
        np.testing.assert_array_equal(x, p[:, ::-1] if f else p)
    assert 0 < sum(flipped) < 8


class _CountingFolder:
    """Wraps a folder source's load to count the images decoded."""

    def __init__(self, folder):
        self.source = data.resolve_source(folder)
        self.loads = 0
        load = self.source.load

        def counted(*args):
            self.loads += 1
            return load(*args)
        self.source.load = counted


@pytest.mark.parametrize('kind', ['folder', 'tfrecord', 'procedural'])
def test_a_resumed_stream_is_the_skipped_one(kind, color_folder, tmp_path):
    """make_dataset(start_batch=k) = make_dataset().skip(k), flips and reshuffled epochs included
    (k spans 50 epochs of the 12 images); a folder decodes none of the images left out."""
    spec = {'folder': color_folder, 'procedural': 'procedural:12'}.get(kind)
    if kind == 'tfrecord':
        spec = str(tmp_path / 'tfr')
        assert load_tool('dataset_tool').main([f'--data={color_folder}', f'--outdir={spec}',
                                               '--resolution=8', '--shard_size=5']) == 0
    k = 200
    full = data.make_dataset(spec, 8, 3, seed=4).skip(k).take(3)
    counting = _CountingFolder(color_folder) if kind == 'folder' else None
    source = counting.source if counting else spec
    resumed = data.make_dataset(source, 8, 3, seed=4, start_batch=k).take(3)
    for a, b in zip(full.as_numpy_iterator(), resumed.as_numpy_iterator(), strict=True):
        np.testing.assert_array_equal(a, b)
    if counting:
        assert counting.loads < k * 3 / 4  # the 3 batches and what prefetch reads ahead
    with pytest.raises(ValueError, match='start_batch must be an integer >= 0, got 1.5'):
        data.make_dataset(spec, 8, 3, seed=4, start_batch=1.5)
    with pytest.raises(ValueError, match='start_batch must be below 2\\^40'):
        data.make_dataset(spec, 8, 3, seed=4, start_batch=2 ** 40)


@pytest.mark.parametrize('kind', ['unscanned_folder', 'emoji'])
def test_resumes_stay_exact_past_unreadable_images(kind, tmp_path):
    """Counters count the images that load (as before resumes skipped undecoded): an unscanned
    folder decodes what it skips, the emoji leave out refused icons before counting; so a
    resumed stream's flips are the uninterrupted one's past a bad image, and the good images
    are flipped as in a folder without the bad file."""
    from inr_gan_tf.data.files import FolderSource
    from test_vector_data import BROKEN, small_set

    from inr_gan_tf.data.noto_emoji.source import NotoEmojiSource
    for i in range(10):  # left-to-right ramps: a flip shows
        ramp = np.linspace(0.2, 1, 12)[None, :, None] * np.array(color(i))
        image = encode(np.broadcast_to(ramp, (12, 12, 3)).astype(np.uint8), 'PNG')
        write(str(tmp_path / 'bad' / f'{i}.png'), image if i != 2 else b'garbage')
        if i != 2:
            write(str(tmp_path / 'good' / f'{i}.png'), image)
    make = {'unscanned_folder': lambda: FolderSource(str(tmp_path / 'bad'), scan=False),
            'emoji': lambda: NotoEmojiSource(small_set(5, {'zz-broken': BROKEN}),
                                             cache_dir=str(tmp_path / 'cache'))}[kind]
    for k in (1, 4, 7):
        full = data.make_dataset(make(), 8, 2, seed=3).skip(k).take(3)
        resumed = data.make_dataset(make(), 8, 2, seed=3, start_batch=k).take(3)
        for a, b in zip(full.as_numpy_iterator(), resumed.as_numpy_iterator(), strict=True):
            np.testing.assert_array_equal(a, b)
    if kind == 'unscanned_folder':
        passes = [np.concatenate(list(one_pass(src, flip=True).as_numpy_iterator()))
                  for src in (make(), data.resolve_source(str(tmp_path / 'good')))]
        np.testing.assert_array_equal(passes[0], passes[1])


def _context(k):
    return tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=k,
                                      num_replicas_in_sync=2)


@pytest.mark.parametrize('kind', ['folder', 'tfrecord_by_file', 'tfrecord_by_record'])
def test_sharding_gives_disjoint_halves(kind, color_folder, tmp_path):
    spec = color_folder
    if kind != 'folder':
        spec = str(tmp_path / 'tfr')
        shard_size = 6 if kind == 'tfrecord_by_file' else 100
        # The old spellings --source/--dest still work (deprecated aliases of --data/--outdir).
        assert load_tool('dataset_tool').main([f'--source={color_folder}', f'--dest={spec}',
                                               '--resolution=8', f'--shard_size={shard_size}']) == 0
    src = data.resolve_source(spec)
    halves = []
    for k in range(2):
        ds = one_pass(src, batch=4, shuffle=True, seed=5, input_context=_context(k))
        assert ds.element_spec.shape.as_list()[0] in (None, 2)  # per-replica share of 4
        halves.append(identities(ds))
    assert len(halves[0]) == len(halves[1]) == 6
    assert set(halves[0]).isdisjoint(halves[1])
    assert sorted(halves[0] + halves[1]) == sorted(color(i) for i in range(12))


# ---------------------------------------------------------------- noto_emoji


def test_noto_emoji_shipped_archive_matches_pin():
    noto_emoji.verify_noto_emoji()
    names, bodies = noto_emoji.load_icons()
    assert len(names) == len(bodies) == noto_emoji.pins()['count'] == 1731
    assert list(names) == sorted(names) and names[:3] == ('0', '1', '1st-place-medal')
    images, listed = data.load_noto_emoji(32, with_names=True)
    assert images.shape == (1731, 32, 32, 3) and images.dtype == np.uint8
    assert listed == list(names)
    assert (images[:, 0, 0] == 255).mean() > 0.5  # composited on white, not black
    src = data.resolve_source('noto_emoji')
    assert src.exact and src.num_examples == 1731
    batch = next(data.make_dataset(src, 32, 8, seed=0).as_numpy_iterator())
    assert batch.shape == (8, 32, 32, 3)


def test_build_script_pins_agree():
    build = load_tool('build_noto_emoji')
    icons = dict(zip(*noto_emoji.load_icons()))
    digest = hashlib.sha256(build.json_bytes(icons)).hexdigest()
    assert digest == noto_emoji.pins()['content_sha256']
    assert not any(build.SKIN_TONE.search(name) for name in icons)


@pytest.mark.slow
def test_build_script_archive_bytes_reproduce():
    """xz at preset 9 of 7 MB of JSON: ~9 s on one slow core."""
    icons = dict(zip(*noto_emoji.load_icons()))
    rebuilt = load_tool('build_noto_emoji').archive_bytes(icons)
    assert hashlib.sha256(rebuilt).hexdigest() == noto_emoji.pins()['archive_sha256']


@pytest.fixture(scope='module')
def tfds_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('tfds'))


def test_tfds_load_noto_emoji_offline(tfds_dir, no_network):
    tfds = pytest.importorskip('tensorflow_datasets')
    ds = tfds.load('noto_emoji/32', split='train', data_dir=tfds_dir)  # prepares on first use
    info = tfds.builder('noto_emoji/32', data_dir=tfds_dir).info
    assert info.download_size == 0  # nothing went through the download manager
    assert str(info.version) == '2.0.0'
    configs = tfds.builder_cls('noto_emoji').BUILDER_CONFIGS
    assert [c.name for c in configs] == ['32', '64', '128', '256']
    examples = list(ds.as_numpy_iterator())
    assert len(examples) == 1731
    images, names = data.load_noto_emoji(32, with_names=True)
    by_name = dict(zip(names, images))
    for ex in examples[:20]:
        assert ex['image'].shape == (32, 32, 3)
        np.testing.assert_array_equal(ex['image'], by_name[ex['name'].decode()])


def test_tfds_source_sharded(tfds_dir, no_network):
    pytest.importorskip('tensorflow_datasets')
    src = data.resolve_source('tfds:noto_emoji/32:train[:40]', data_dir=tfds_dir)
    assert src.num_examples == 40 and not src.exact
    halves = []
    for k in range(2):
        ds = one_pass(src, resolution=16, shuffle=True, input_context=_context(k))
        halves.append({b.tobytes() for batch in ds.as_numpy_iterator() for b in batch})
    assert len(halves[0]) == len(halves[1]) == 20 and halves[0].isdisjoint(halves[1])


def test_tfds_views_crop_and_area_resize_in_graph(tfds_dir, no_network):
    """A sequential source's windows: its stored 32x32 pixels cropped and area-resized."""
    tfds = pytest.importorskip('tensorflow_datasets')
    src = data.resolve_source('tfds:noto_emoji/32:train[:4]', data_dir=tfds_dir)
    stored = [ex['image'] for ex in tfds.load('noto_emoji/32', split='train[:4]',
                                               data_dir=tfds_dir).as_numpy_iterator()]
    corners = tf.constant([[0, 0], [8, 16], [16, 4], [12, 12]], tf.float32)

    def aligned(seed):  # a 16-pixel square at a stored pixel corner -> 8 x 8: a 2x2 box filter
        x, y = tf.unstack(tf.gather(corners, seed[1] % 4))
        return tf.stack([x, y, x + 16, y + 16]) / 32

    images, bounds = next(data.make_views(src, 8, 4, seed=0, bounds_fn=aligned, shuffle=False,
                                          repeat=False).as_numpy_iterator())
    for image, b, pixels in zip(images, bounds, stored):
        x, y = (b[:2] * 32).round().astype(int)
        box = pixels[y:y + 16, x:x + 16].reshape(8, 2, 8, 2, 3).mean(axis=(1, 3))
        np.testing.assert_allclose((image + 1) * 127.5, box, atol=1e-3)


# ---------------------------------------------------------------- procedural


def test_procedural_area_consistency():
    for index in range(3):
        r = render_procedural(index, 16, 16)
        r2 = render_procedural(index, 32, 32)
        down = r2.reshape(16, 2, 16, 2, 3).mean(axis=(1, 3))
        assert r.shape == (16, 16, 3) and r.dtype == np.float32
        assert np.abs(down - r).mean() < 0.01 and np.abs(down - r).max() < 0.25
        # Same sample points: the 2x render with s=4 *is* the 1x render with s=8.
        np.testing.assert_allclose(down, render_procedural(index, 16, 16, supersample=8),
                                   atol=1e-5)
        # A region render uses the same frame: top-left quarter of the full image.
        quarter = render_procedural(index, 8, 8, bounds=(0, 0, 0.5, 0.5))
        np.testing.assert_allclose(quarter, r[:8, :8], atol=1e-6)


def test_procedural_deterministic_and_in_pipeline():
    a, b = render_procedural(7, 12, 12), render_procedural(7, 12, 12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, render_procedural(8, 12, 12))
    assert 0 <= a.min() and a.max() <= 1
    src = data.resolve_source('procedural:6')
    assert src.num_examples == 6
    batch = next(one_pass(src, resolution=12, batch=2).as_numpy_iterator())
    np.testing.assert_allclose(batch[1], render_procedural(1, 12, 12) * 2 - 1, atol=1e-5)
