"""Vector Noto emoji (exact at any resolution and window) and real data at the resolution asked
(`Source.view`, `make_views`). Icon samples are small: a full-set render is ~4 s at 32."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers import ROOT, load_tool
from PIL import Image

import inr_gan_tf.data as data
from inr_gan_tf.data import noto_emoji
from inr_gan_tf.data.noto_emoji import cache
from inr_gan_tf.data.noto_emoji.render import render_svg, svg_document
from inr_gan_tf.data.noto_emoji.source import NotoEmojiSource
from inr_gan_tf.data.procedural import render_procedural

NAMES, BODIES = noto_emoji.load_icons()
SAMPLE = list(range(0, len(NAMES), 29))  # 60 icons spread over the sorted names
BROKEN = '<g><path d="M0 0h64v64z"/>'  # not well-formed XML: resvg refuses it


def small_set(n=4, extra=None):
    icons = {NAMES[k]: BODIES[k] for k in SAMPLE[:n]}
    icons.update(extra or {})
    return icons


def unit(image):
    return np.asarray(image, np.float32) / 127.5 - 1.0


# ---------------------------------------------------------------- the shipped set


def test_base_selection_rule():
    build = load_tool('build_noto_emoji')
    icon_set = {'width': 128, 'height': 128, 'icons': {
        'waving-hand': {'body': 'a'}, 'waving-hand-medium-dark-skin-tone': {'body': 'b'},
        'kiss-man-man-light-skin-tone-dark-skin-tone': {'body': 'c'},
        'mermaid-tone3': {'body': 'd'},
        'dark-skin-tone': {'body': 'e'}, 'gem-stone': {'body': 'f'},
        'old-face': {'body': 'g', 'hidden': True},  # an older design: kept
        'man-astronaut': {'body': 'h'}, 'astronaut': {'body': 'h'}}}  # one body: first name kept
    base = build.select_base(icon_set, 128)
    assert list(base) == ['astronaut', 'gem-stone', 'old-face', 'waving-hand']
    with pytest.raises(ValueError, match='view box'):
        build.select_base({**icon_set, 'width': 72}, 128)


def test_missing_or_corrupt_archive_is_a_one_line_error(tmp_path, monkeypatch):
    missing = str(tmp_path / 'icons.json.xz')
    monkeypatch.setattr(noto_emoji, 'ARCHIVE_PATH', missing)
    with pytest.raises(FileNotFoundError, match='icons.json.xz is missing') as e:
        noto_emoji.verify_noto_emoji()
    assert '\n' not in str(e.value)
    with open(missing, 'wb') as f:
        f.write(b'\xfd7zXZ\x00 truncated')
    with pytest.raises(ValueError, match=f'{missing} has sha256 .* expected') as e:
        noto_emoji.verify_noto_emoji()
    assert '\n' not in str(e.value)


def test_bad_resolution_and_window_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match='resolution must be integers >= 1'):
        noto_emoji.render_noto_emoji(0, 0, 8)
    with pytest.raises(ValueError, match='resolution must be integers >= 1'):
        data.load_noto_emoji(0, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match='x0 < x1'):
        noto_emoji.render_noto_emoji(0, 8, 8, (0.5, 0.0, 0.5, 1.0))
    src = NotoEmojiSource(small_set(1), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match='x0 < x1'):
        src.view(0, 8, 8, (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match='resolution must be integers >= 1'):
        src.view(0, 8, -1)
    assert src.stats.skipped == 0  # the caller's mistakes, not the icon's
    with pytest.raises(ValueError, match='size >= 1'):
        data.make_views(src, 0, 4, seed=0)


# ---------------------------------------------------------------- exactness


def test_window_equals_crop_of_full_render():
    """A window at the full render's density: equal except where resvg re-flattens curves cut
    by the smaller canvas. Measured on all 1731 icons (one 32 x 24 window at 64 px/frame):
    mean |diff| 0.11, 1.6% of pixels differ, 0.09% by more than 16, max 100 (uint8)."""
    diffs = []
    for k in SAMPLE:
        full = render_svg(BODIES[k], 64, 64).astype(int)
        window = render_svg(BODIES[k], 32, 24, (20 / 64, 8 / 64, 44 / 64, 40 / 64)).astype(int)
        diffs.append(np.abs(window - full[8:40, 20:44]))
    d = np.stack(diffs)
    assert d.mean() < 0.3 and (d > 16).mean() < 0.003 and (d > 0).mean() < 0.04
    # A shift with nothing cut by the canvas edge is exact: the crop convention is right.
    k = SAMPLE[3]
    big = render_svg(BODIES[k], 96, 96, (-0.25, -0.25, 1.25, 1.25)).astype(int)
    assert np.abs(big[16:80, 16:80] - render_svg(BODIES[k], 64, 64)).max() <= 1


def test_4x_render_box_downsampled_matches_render():
    """Anti-aliasing error between densities. Measured on all 1731 icons, 128 -> 32: mean
    |diff| 1.3, 1.6% of pixels over 16, max 107 (uint8, seams between abutting shapes);
    64 -> 16: mean 2.9, max 190."""
    diffs = []
    for k in SAMPLE:
        low = render_svg(BODIES[k], 32, 32).astype(np.float64)
        high = render_svg(BODIES[k], 128, 128).astype(np.float64)
        diffs.append(np.abs(high.reshape(32, 4, 32, 4, 3).mean(axis=(1, 3)) - low))
    d = np.stack(diffs)
    assert d.mean() < 2.5 and (d > 16).mean() < 0.04 and d.max() < 200


def test_xlink_bodies_render():
    import resvg_py
    linked = [k for k, body in enumerate(BODIES) if 'xlink:href' in body]
    assert len(linked) >= 10
    for k in linked[:5]:
        image = render_svg(BODIES[k], 32, 32)
        assert image.min() < 200  # drawn, not a blank white square
    undeclared = svg_document(BODIES[linked[0]], 32, 32).replace(
        ' xmlns:xlink="http://www.w3.org/1999/xlink"', '')
    with pytest.raises(ValueError, match='xlink'):
        resvg_py.svg_to_bytes(svg_string=undeclared, background='#ffffff', skip_system_fonts=True)


_CHILD = '''
import hashlib
from inr_gan_tf.data.noto_emoji import render_noto_emoji
for k in {ks}:
    print(hashlib.sha256(render_noto_emoji(k, 37, 23, (0.1, -0.2, 0.8, 0.9)).tobytes()).hexdigest())
'''


def test_render_is_byte_identical_across_processes():
    ks = SAMPLE[:3]
    out = subprocess.run([sys.executable, '-c', _CHILD.format(ks=ks)], capture_output=True,
                         text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert out.returncode == 0, out.stderr[-2000:]
    here = [hashlib.sha256(noto_emoji.render_noto_emoji(k, 37, 23, (0.1, -0.2, 0.8, 0.9)).tobytes()
                           ).hexdigest() for k in ks]
    assert out.stdout.split() == here


# ---------------------------------------------------------------- cache


def test_cache_identical_bytes_and_corruption_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / 'root'))
    icons = tuple(zip(*sorted(small_set(3).items())))
    first, bad = noto_emoji.render_set(icons, 16, 12, (0.0, 0.0, 1.0, 0.75))
    assert bad == [] and first.shape == (3, 16, 12, 3)
    key_files = sorted(os.listdir(tmp_path / 'root' / 'noto_emoji'))
    assert len(key_files) == 2 and key_files[0].endswith('.json') and key_files[1].endswith('.npy')
    npy = str(tmp_path / 'root' / 'noto_emoji' / key_files[1])
    hit, _ = noto_emoji.render_set(icons, 16, 12, (0.0, 0.0, 1.0, 0.75))
    assert isinstance(hit, np.memmap) and hit.tobytes() == first.tobytes()
    np.testing.assert_array_equal(first[1], render_svg(icons[1][1], 16, 12, (0, 0, 1, 0.75)))
    # A flipped byte is caught by the sidecar's sha256 and the file is rebuilt, not trusted.
    with open(npy, 'r+b') as f:
        f.seek(-5, os.SEEK_END)
        f.write(b'\x00\x01\x02\x03\x04')
    rebuilt, _ = noto_emoji.render_set(icons, 16, 12, (0.0, 0.0, 1.0, 0.75))
    assert rebuilt.tobytes() == first.tobytes()
    assert cache.file_sha256(npy) == hashlib.sha256(open(npy, 'rb').read()).hexdigest()
    again, _ = noto_emoji.render_set(icons, 16, 12, (0.0, 0.0, 1.0, 0.75))
    assert isinstance(again, np.memmap) and again.tobytes() == first.tobytes()
    # Another window is another key; another renderer version another file name.
    other, _ = noto_emoji.render_set(icons, 16, 12)
    assert other.tobytes() != first.tobytes()
    assert len(os.listdir(tmp_path / 'root' / 'noto_emoji')) == 4
    assert not [n for n in os.listdir(tmp_path / 'root' / 'noto_emoji') if n.endswith('.tmp')]


def test_bad_icon_skipped_and_counted(tmp_path):
    src = NotoEmojiSource(small_set(3, {'zz-broken': BROKEN}), cache_dir=str(tmp_path))
    assert src.num_examples == 4
    batches = list(data.make_dataset(src, 16, 8, seed=0, shuffle=False, flip=False,
                                     repeat=False).as_numpy_iterator())
    assert sum(len(b) for b in batches) == 3
    assert src.stats.skipped == 1 and src.stats.bad_paths == ['zz-broken']
    assert src.stats.bad[0][1].startswith('ValueError: ')  # resvg's reason, one line
    views = list(data.make_views(src, 8, 8, seed=0, shuffle=False,
                                 repeat=False).as_numpy_iterator())
    assert len(views[0][0]) == 3
    assert src.view(3, 8, 8) is None and src.stats.skipped == 1  # counted once


def test_make_dataset_gives_exact_renders_at_R(tmp_path):
    icons = small_set(4)
    src = NotoEmojiSource(icons, cache_dir=str(tmp_path))
    batch = next(data.make_dataset(src, 24, 4, seed=0, shuffle=False, flip=False,
                                   repeat=False).as_numpy_iterator())
    for image, name in zip(batch, sorted(icons)):
        np.testing.assert_allclose(image, unit(render_svg(icons[name], 24, 24)), atol=1e-6)
    np.testing.assert_allclose(src.view(2, 24, 24), render_svg(icons[sorted(icons)[2]], 24, 24))


# ---------------------------------------------------------------- make_views


def test_make_views_procedural_equals_render_procedural():
    images, bounds = next(data.make_views('procedural:6', 8, 6, seed=3, scale=(0.2, 0.9),
                                          shuffle=False, repeat=False).as_numpy_iterator())
    assert images.shape == (6, 8, 8, 3) and bounds.shape == (6, 4) and bounds.dtype == np.float32
    sides = bounds[:, 2] - bounds[:, 0]
    np.testing.assert_allclose(sides, bounds[:, 3] - bounds[:, 1], atol=1e-6)
    assert (sides >= 0.2 - 1e-6).all() and (sides <= 0.9 + 1e-6).all()
    assert (bounds >= 0).all() and (bounds <= 1).all()
    for k in range(6):
        np.testing.assert_allclose(images[k], render_procedural(k, 8, 8, bounds[k]) * 2 - 1,
                                   atol=1e-5)


def test_make_views_deterministic_by_seed_and_resumable():
    def views(seed, skip=0):
        ds = data.make_views('procedural:5', 8, 4, seed=seed).skip(skip)
        return next(ds.as_numpy_iterator())

    a, b, c = views(1), views(1), views(2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    ds = data.make_views('procedural:5', 8, 4, seed=1)
    third = list(ds.take(3).as_numpy_iterator())[2]
    resumed = views(1, skip=2)
    np.testing.assert_array_equal(third[1], resumed[1])
    np.testing.assert_array_equal(third[0], resumed[0])
    with pytest.raises(ValueError, match='scale'):
        data.make_views('procedural:5', 8, 4, seed=0, scale=(0.0, 1.0))


def _area_reference(square, size, bounds):
    """Exact area means of the piecewise-constant image over each output cell (cumulative sums:
    independent of transforms.resample_window)."""
    s = square.shape[0]

    def axis(lo, hi):  # [size, s] overlap weights
        edges = lo * s + np.arange(size + 1) * (hi - lo) * s / size
        k = np.arange(s)
        a, b = edges[:-1, None], edges[1:, None]
        w = np.clip(np.minimum(b, k + 1) - np.maximum(a, k), 0, None)
        return w / (b - a)

    x0, y0, x1, y1 = (float(v) for v in bounds)
    return np.einsum('hy,yxc,wx->hwc', axis(y0, y1), square.astype(np.float64), axis(x0, x1))


def test_make_views_raster_folder_is_crop_and_area_resize(tmp_path):
    rng = np.random.default_rng(0)
    stored = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    for i, image in enumerate(stored):
        Image.fromarray(image).save(tmp_path / f'{i}.png')
    src = data.resolve_source(str(tmp_path))
    assert not src.exact
    images, bounds = next(data.make_views(src, 12, 3, seed=4, scale=(0.3, 1.0), shuffle=False,
                                          repeat=False).as_numpy_iterator())
    for k, (image, b) in enumerate(zip(images, bounds)):
        expected = _area_reference(stored[k][:, 8:56], 12, b)  # after the training centre crop
        np.testing.assert_allclose((image + 1) * 127.5, expected, atol=2e-3)
        np.testing.assert_allclose(src.view(k, 12, 12, b), expected, atol=2e-3)
    # Aligned windows are a crop and tf.image.resize(method='area').
    crop = tf.image.resize(stored[1][12:36, 20:44].astype(np.float32), [8, 8], method='area')
    np.testing.assert_allclose(src.view(1, 8, 8, (12 / 48, 12 / 48, 36 / 48, 36 / 48)), crop,
                               atol=1e-3)
    # The full frame is exactly the training image, above the stored size too (bicubic).
    for R in (16, 80):
        train = next(data.make_dataset(src, R, 3, seed=0, shuffle=False, flip=False,
                                       repeat=False).as_numpy_iterator())[1]
        np.testing.assert_allclose(unit(src.view(1, R, R)), train, atol=0.5 / 127.5)
    with pytest.raises(ValueError, match='outside the frame'):
        src.view(0, 8, 8, (-0.2, 0.0, 1.0, 1.0))


def test_make_views_emoji_are_exact_window_renders(tmp_path):
    icons = small_set(3)
    src = NotoEmojiSource(icons, cache_dir=str(tmp_path))
    images, bounds = next(data.make_views(src, 16, 3, seed=0, shuffle=False,
                                          repeat=False).as_numpy_iterator())
    for image, b, name in zip(images, bounds, sorted(icons)):
        np.testing.assert_allclose(image, unit(render_svg(icons[name], 16, 16, b)), atol=1e-6)
