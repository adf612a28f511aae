"""Rasterizing the emoji SVG bodies with resvg: any size, any window, through the SVG viewBox.

The frame of inr_gan_tf.coords ([0, 1]^2, x right, y down) is the icons' 128 x 128 view box,
so an H x W render over `bounds = (x0, y0, x1, y1)` is the SVG document

    <svg width="W" height="H" viewBox="128 x0  128 y0  128 (x1 - x0)  128 (y1 - y0)"
         preserveAspectRatio="none"> body </svg>

whose pixel (i, j) is the cell centred at x0 + (j + .5)(x1 - x0)/W, y0 + (i + .5)(y1 - y0)/H in
the frame: the pixel-centre convention of coords.py. Nothing is resized: each resolution and
window is rasterized from the vector paths. resvg (pip package resvg-py) anti-aliases by
coverage, composites on a white background, uses no system fonts (`skip_system_fonts`; the
bodies have no text) and is deterministic, so equal arguments give equal bytes in every
process.

Accuracy, measured on all 1731 shipped icons, in uint8 units (tests/test_vector_data.py
checks these bounds on a sample):
  * a window equals the crop of the full render at the same density up to resvg's
    re-flattening of curves cut by the smaller canvas: mean |diff| 0.11, 1.6% of pixels differ,
    0.09% by more than 16, max 100 (a 32 x 24 window at 64 px per frame). A shift with nothing
    cut by the canvas edge is exact (max 1), so the pixel-centre convention is the same;
  * the 4R render box-downsampled 4x equals the R render up to anti-aliasing (coverage is per
    shape, so seams between abutting shapes let the background through at low resolution):
    R = 32: mean 1.3, 1.6% of pixels over 16, max 107; R = 16: mean 2.9, max 190.
"""
import io
import os
import time
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging
from PIL import Image

from inr_gan_tf.coords import UNIT_BOUNDS, check_bounds

VIEW_BOX = 128  # the icons' view box side, in SVG user units
# How a pixel takes its colour: 'area', resvg's coverage anti-aliasing (the pixel is about the
# mean of the image over its cell); 'point', the image's colour at the pixel centre (SVG
# shape-rendering="crispEdges": no anti-aliasing; the 32^2 render equals every 8th pixel of the
# 256^2 one except 1.7% of pixels, those within half a fine pixel of an edge). Point samples
# of one image agree at every density, as an INR's renders do; area samples do not.
SAMPLINGS = ('area', 'point')
_XMLNS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
_PROGRESS_EVERY_S = 10.0


def check_size(height: int, width: int) -> Tuple[int, int]:
    """Validates a render size: integers >= 1."""
    if int(height) != height or int(width) != width or height < 1 or width < 1:
        raise ValueError(f'noto_emoji: resolution must be integers >= 1, got {height}x{width}')
    return int(height), int(width)


def check_memory(count: int, height: int, width: int) -> None:
    """ValueError before allocating `count` uint8 H x W x 3 renders that would take more than
    half of this machine's memory (the set is rendered, and cached, as one array)."""
    need = count * height * width * 3
    try:
        have = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError):  # no sysconf: nothing to compare with
        return
    if need > have // 2:
        raise ValueError(f'noto_emoji: {count} images at {height}x{width} take {need / 2**30:.1f} GiB, '
                         f'more than half of this machine\'s {have / 2**30:.1f} GiB memory')


def check_sampling(sampling: str) -> str:
    if sampling not in SAMPLINGS:
        raise ValueError(f'noto_emoji: sampling must be one of {SAMPLINGS}, got {sampling!r}')
    return sampling


def svg_document(body: str, height: int, width: int,
                 bounds: Sequence[float] = UNIT_BOUNDS, sampling: str = 'area') -> str:
    """The <svg> element that renders `body` at H x W over `bounds` (module docstring)."""
    height, width = check_size(height, width)
    x0, y0, x1, y1 = check_bounds(bounds)
    box = ' '.join(repr(VIEW_BOX * v) for v in (x0, y0, x1 - x0, y1 - y0))
    # shape-rendering is inherited by every shape of the body (none of the bodies sets its own).
    crisp = ' shape-rendering="crispEdges"' if check_sampling(sampling) == 'point' else ''
    # xmlns:xlink: some bodies use xlink:href, which resvg refuses without the declaration.
    return (f'<svg {_XMLNS} width="{width}" height="{height}" viewBox="{box}" '
            f'preserveAspectRatio="none"{crisp}>{body}</svg>')


def render_svg(body: str, height: int, width: int,
               bounds: Sequence[float] = UNIT_BOUNDS, sampling: str = 'area') -> np.ndarray:
    """One icon body -> uint8 RGB [H, W, 3] on white. Raises ValueError if resvg refuses it."""
    import resvg_py  # pylint: disable=import-outside-toplevel  (only rendering needs it)
    document = svg_document(body, height, width, bounds, sampling)
    # PNG is the only output resvg-py has; decoding it is ~20% of the render time.
    png = resvg_py.svg_to_bytes(svg_string=document, background='#ffffff',
                                skip_system_fonts=True)
    with Image.open(io.BytesIO(png)) as im:
        rgba = np.asarray(im.convert('RGBA'))
    if rgba.shape != (height, width, 4):
        raise ValueError(f'resvg returned {rgba.shape}, expected {(height, width, 4)}')
    return np.ascontiguousarray(rgba[..., :3])  # opaque: the white background is painted


def render_many(names: Sequence[str], bodies: Sequence[str], height: int, width: int,
                bounds: Sequence[float] = UNIT_BOUNDS, *, sampling: str = 'area',
                on_bad: Optional[Callable[[str, str], None]] = None
                ) -> Tuple[np.ndarray, List[Tuple[str, str]]]:
    """Renders every body -> (uint8 [N, H, W, 3], [(name, reason)] of those that failed).

    A body resvg refuses is left white in the array, listed, and passed to `on_bad`; the
    others still render. Logs count, rate and ETA every few seconds (the whole set takes
    ~4 s at 32 and ~40 s at 256 on one core).
    """
    height, width = check_size(height, width)
    bounds = check_bounds(bounds)
    sampling = check_sampling(sampling)
    check_memory(len(bodies), height, width)
    out = np.full((len(bodies), height, width, 3), 255, np.uint8)
    bad: List[Tuple[str, str]] = []
    start = last = time.monotonic()
    for i, (name, body) in enumerate(zip(names, bodies)):
        try:
            out[i] = render_svg(body, height, width, bounds, sampling)
        except Exception as e:  # pylint: disable=broad-except  (any refusal skips one icon)
            reason = f'{type(e).__name__}: {e}'.splitlines()[0]
            bad.append((name, reason))
            if on_bad is not None:
                on_bad(name, reason)
        now = time.monotonic()
        if now - last > _PROGRESS_EVERY_S:
            last = now
            rate = (i + 1) / (now - start)
            logging.info('noto_emoji: rendered %d/%d at %dx%d, %.0f images/s, ETA %.0f s',
                         i + 1, len(bodies), height, width, rate, (len(bodies) - i - 1) / rate)
    return out, bad
