"""`noto_emoji:point`: the vector emoji with each pixel the colour at its centre (no
anti-aliasing), so that renders at every density are samples of one image, as an INR's are."""
import os

import numpy as np
import pytest

import inr_gan_tf.data as data
from inr_gan_tf.data import noto_emoji
from inr_gan_tf.data.noto_emoji import cache
from inr_gan_tf.data.noto_emoji.render import render_svg
from inr_gan_tf.data.noto_emoji.source import NotoEmojiSource

NAMES, BODIES = noto_emoji.load_icons()
SAMPLE = list(range(0, len(NAMES), 97))  # 18 icons spread over the sorted names


def mismatch(a, b):
    return (np.abs(a.astype(int) - b.astype(int)).max(-1) > 16).mean()


def test_point_renders_agree_across_densities_area_renders_do_not():
    """Pixel (i, j) of a 32^2 point render is the colour at ((j + .5) / 32, (i + .5) / 32): the
    256^2 render's pixels 8i + 3 and 8i + 4 straddle that centre, so either matches it except
    near edges. Area renders at 32^2 blend every edge pixel and miss far more often."""
    point, area = [], []
    for k in SAMPLE:
        fine = render_svg(BODIES[k], 256, 256, sampling='point')
        coarse = render_svg(BODIES[k], 32, 32, sampling='point')
        point.append(min(mismatch(coarse, fine[3::8, 3::8]), mismatch(coarse, fine[4::8, 4::8])))
        area.append(mismatch(render_svg(BODIES[k], 32, 32), fine[4::8, 4::8]))
    assert np.mean(point) < 0.03, np.mean(point)
    assert np.mean(area) > 2 * np.mean(point), (np.mean(area), np.mean(point))


def test_point_renders_have_no_blended_edge_colours():
    flat = [k for k in SAMPLE if 'Gradient' not in BODIES[k]][:6]
    assert flat
    for k in flat:
        colours = lambda im: len(np.unique(im.reshape(-1, 3), axis=0))
        assert colours(render_svg(BODIES[k], 64, 64, sampling='point')) < colours(
            render_svg(BODIES[k], 64, 64))


def test_spec_names_the_sampling_and_bad_ones_are_one_line_errors(tmp_path):
    assert data.resolve_source('noto_emoji').sampling == 'area'
    src = data.resolve_source('noto_emoji:point')
    assert src.sampling == 'point' and src.name == 'noto_emoji:point'
    assert src.stats.source == 'noto_emoji:point'
    assert data.resolve_source('noto_emoji:').sampling == 'area'  # empty = the default
    for spec in ('noto_emoji:Point', 'noto_emoji:point:2'):
        with pytest.raises(ValueError, match="SAMPLING one of") as e:
            data.resolve_source(spec)
        assert '\n' not in str(e.value)
    with pytest.raises(ValueError, match='sampling must be one of'):
        NotoEmojiSource(cache_dir=str(tmp_path), sampling='nearest')
    with pytest.raises(ValueError, match='sampling must be one of'):
        render_svg(BODIES[0], 8, 8, sampling='')


def test_views_and_whole_set_renders_use_the_sampling(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / 'root'))
    icons = {NAMES[k]: BODIES[k] for k in SAMPLE[:3]}
    point = NotoEmojiSource(icons, sampling='point')
    area = NotoEmojiSource(icons)
    window = (0.25, 0.1, 0.75, 0.6)
    np.testing.assert_array_equal(point.view(1, 16, 16, window),
                                  render_svg(icons[NAMES[SAMPLE[1]]], 16, 16, window, 'point'))
    assert not np.array_equal(point.view(1, 16, 16, window), area.view(1, 16, 16, window))
    images, _ = point.renders(24)
    np.testing.assert_array_equal(images[2], render_svg(icons[NAMES[SAMPLE[2]]], 24, 24,
                                                        sampling='point'))
    area_images, _ = area.renders(24)
    assert not np.array_equal(images, area_images)
    # Two cache entries; the area one keeps the file name (and key) it had before sampling
    # existed, so existing caches stay valid.
    files = sorted(n for n in os.listdir(tmp_path / 'root' / 'noto_emoji') if n.endswith('.npy'))
    assert len(files) == 2 and sum('-point' in n for n in files) == 1
    assert any(n.startswith('noto_emoji-24x24-') and '-point' not in n for n in files)
