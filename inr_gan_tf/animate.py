"""Interpolations (paper Fig. 5) and zoom-out animations (Figs. 2, 11) of a generator, and their files.

Interpolation from seed A (t = 0) to seed B (t = 1), in one of four spaces:

    z      slerp of the latents, then mapping and hypernet (StyleGAN's choice for Gaussian z:
           a lerp passes through short, atypical z near the origin)
    w      lerp of the mapping outputs w, then the hypernet
    theta  lerp of every INR parameter, theta = (1 - t) theta_A + t theta_B
           (the paper's theta = alpha theta_1 + (1 - alpha) theta_2 with alpha = 1 - t)
    pixel  blend of the two end images (Fig. 5a, the baseline theta is compared with)

The hypernet's connector is one affine Dense layer, so a lerp in w gives the lerp of theta:
the w and theta rows agree up to float rounding. They stay separate modes because that is
a property of this architecture, not of interpolation in general.

Every frame renders through `sampling.render_tiled` (G.render on tiles of a pixel grid), the
same path as `sampling.generate_images`, so interpolation end frames equal the seed images.
"""
import os
import re
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from inr_gan_tf import coords as coords_lib
from inr_gan_tf import sampling
from inr_gan_tf.seeds import seed_latents, to_uint8

MODES = ("z", "w", "theta", "pixel")
VIDEO_EXTRA_HINT = 'pip install imageio imageio-ffmpeg (or pip install -e ".[video]")'
FRAME_BOX_RGB = (40, 90, 255)  # Fig. 2's blue box around the [0, 1]^2 training frame


# -- latent / parameter paths ------------------------------------------------------------------
def lerp(a, b, t):
    """(1 - t) a + t b with t [T] broadcast over the trailing axes of a, b; exact at t = 0 and 1."""
    t = tf.reshape(tf.cast(t, a.dtype), [-1] + [1] * (len(a.shape) - 1))
    return (1.0 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: Sequence[float]) -> np.ndarray:
    """Spherical interpolation of two latents [D] at t [T] -> [T, D] (float32).

    Great-circle path between the directions, weights applied to the raw vectors (the common
    GAN slerp): both norms are about sqrt(D), so the path keeps a typical norm. Exact at t = 0, 1.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[:, None]
    cos = np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: the circle is undefined, the chord is fine
        return ((1.0 - t) * a64 + t * b64).astype(np.float32)
    return (np.sin((1.0 - t) * omega) / np.sin(omega) * a64
            + np.sin(t * omega) / np.sin(omega) * b64).astype(np.float32)


def interpolation_params(G, seed_a: int, seed_b: int, mode: str, ts: Sequence[float],
                         truncation: float = 1.0) -> Dict[str, tf.Tensor]:
    """INR params [T, ...] of the frames at `ts` on the `mode` path from seed_a to seed_b."""
    if mode not in ("z", "w", "theta"):
        raise ValueError(f"params exist for interpolation modes z, w, theta, not {mode!r}")
    z = seed_latents([seed_a, seed_b], G.z_dim)  # [2, z_dim]
    if mode == "z":
        return G.params(tf.constant(slerp(z[0], z[1], ts)), truncation=truncation)
    if mode == "w":
        w = G.mapping(tf.constant(z), truncation=truncation)  # [2, width]
        return G.hypernet(lerp(w[0:1], w[1:2], ts))
    ends = G.params(tf.constant(z), truncation=truncation)
    return {k: lerp(v[0:1], v[1:2], ts) for k, v in ends.items()}  # every key, Fig. 5b


def _render(G, params, height, width, bounds, tile_size) -> np.ndarray:
    # tile_size 0 means one piece; render_tiled (not render_grid) so no plan is cached per
    # zoom frame and end frames match sampling.generate_images bit for bit.
    return sampling.render_tiled(G, params, height, width, bounds, tile_size or sampling.whole(G, height, width))


def interpolate(G, seed_a: int, seed_b: int, mode: str, frames: int,
                height: Optional[int] = None, width: Optional[int] = None,
                bounds: Sequence[float] = coords_lib.UNIT_BOUNDS, truncation: float = 1.0,
                batch_size: int = 8, tile_size: int = 256) -> np.ndarray:
    """uint8 [frames, H, W, 3]: seed_a (first frame) to seed_b (last frame) along `mode`."""
    if mode not in MODES:
        raise ValueError(f"interpolation mode must be one of {MODES}, got {mode!r}")
    if frames < 2:
        raise ValueError(f"an interpolation needs frames >= 2, got {frames}")
    height, width = height or G.resolution, width or G.resolution
    bounds = coords_lib.check_bounds(bounds)
    ts = np.linspace(0.0, 1.0, frames)  # exactly 0 and 1 at the ends
    if mode == "pixel":
        ends = G.params(tf.constant(seed_latents([seed_a, seed_b], G.z_dim)), truncation=truncation)
        img = _render(G, ends, height, width, bounds, tile_size)  # [2, H, W, 3] float
        return to_uint8(lerp(tf.constant(img[0:1]), tf.constant(img[1:2]), ts).numpy())
    out = np.empty((frames, height, width, 3), np.uint8)
    for i in range(0, frames, batch_size):
        params = interpolation_params(G, seed_a, seed_b, mode, ts[i:i + batch_size], truncation)
        out[i:i + batch_size] = to_uint8(_render(G, params, height, width, bounds, tile_size))
    return out


# -- zoom-out ----------------------------------------------------------------------------------
def zoom_schedule(max_zoom: float, frames: int) -> np.ndarray:
    """Zoom factors 1 -> max_zoom, geometric so every frame widens the view by the same ratio."""
    if not max_zoom > 0:
        raise ValueError(f"max zoom must be > 0, got {max_zoom}")
    if frames < 2:
        raise ValueError(f"a zoom animation needs frames >= 2, got {frames}")
    return float(max_zoom) ** np.linspace(0.0, 1.0, frames)


def zoom_animation(G, seeds: Sequence[int], max_zoom: float, frames: int,
                   height: Optional[int] = None, width: Optional[int] = None,
                   truncation: float = 1.0, tile_size: int = 256,
                   center: Tuple[float, float] = (0.5, 0.5)) -> Tuple[np.ndarray, list]:
    """(uint8 [S, frames, H, W, 3], bounds of each frame): views zooming from [0, 1]^2 to max_zoom.

    Square views like --zoom: a non-square H x W stretches them, as it stretches [0, 1]^2.
    """
    height, width = height or G.resolution, width or G.resolution
    factors = zoom_schedule(max_zoom, frames)
    params = G.params(tf.constant(seed_latents(seeds, G.z_dim)), truncation=truncation)
    all_bounds, out = [], np.empty((len(seeds), frames, height, width, 3), np.uint8)
    for f, factor in enumerate(factors):
        bounds = coords_lib.zoom_bounds(float(factor), center)
        all_bounds.append(bounds)
        out[:, f] = to_uint8(_render(G, params, height, width, bounds, tile_size))
    return out, all_bounds


# -- pictures ----------------------------------------------------------------------------------
def draw_frame_box(images: np.ndarray, bounds: Sequence[float], rgb=FRAME_BOX_RGB) -> np.ndarray:
    """Outlines the [0, 1]^2 training frame (Fig. 2's blue box) on renders over `bounds`.

    images: uint8 [..., H, W, 3]; returns a copy. Edges outside the view are not drawn.
    """
    x0, y0, x1, y1 = coords_lib.check_bounds(bounds)
    out = np.array(images, copy=True)
    h, w = out.shape[-3:-1]
    # First and last pixel whose centre lies inside [0, 1]; the centre of pixel j is at
    # position j + 0.5 in pixel units (coords.py).
    px = lambda e, lo, hi, n: (e - lo) / (hi - lo) * n  # noqa: E731
    c0, c1 = int(np.ceil(px(0.0, x0, x1, w) - 0.5)), int(np.ceil(px(1.0, x0, x1, w) - 0.5)) - 1
    r0, r1 = int(np.ceil(px(0.0, y0, y1, h) - 0.5)), int(np.ceil(px(1.0, y0, y1, h) - 0.5)) - 1
    rows, cols = slice(max(r0, 0), min(r1, h - 1) + 1), slice(max(c0, 0), min(c1, w - 1) + 1)
    color = np.asarray(rgb, np.uint8)
    for c in (c0, c1):
        if 0 <= c < w:
            out[..., rows, c, :] = color
    for r in (r0, r1):
        if 0 <= r < h:
            out[..., r, cols, :] = color
    return out


def image_grid(images: np.ndarray, cols: int = 0, pad_value: int = 255) -> np.ndarray:
    """uint8 [S, H, W, 3] -> one [rows * H, cols * W, 3] picture (cols 0: about square)."""
    n, h, w, c = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    pad = np.full((rows * cols - n, h, w, c), pad_value, np.uint8)
    g = np.concatenate([images, pad]).reshape(rows, cols, h, w, c)
    return g.transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def comparison_strip(rows: Dict[str, np.ndarray], gap: int = 2) -> np.ndarray:
    """One picture of interpolations, a labelled row per mode (Fig. 5: pixel vs theta and more).

    rows: mode -> uint8 [T, H, W, 3], all the same shape.
    """
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(probe.textbbox((0, 0), m, font=font)[2] for m in rows) + 6
    strips = [np.concatenate(list(f), axis=1) for f in rows.values()]  # [H, T * W, 3] each
    h, w = strips[0].shape[:2]
    canvas = Image.new("RGB", (label_w + w, len(strips) * (h + gap) - gap), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (mode, strip) in enumerate(zip(rows, strips)):
        top = i * (h + gap)
        canvas.paste(Image.fromarray(strip), (label_w, top))
        box = draw.textbbox((0, 0), mode, font=font)
        draw.text((3, top + (h - (box[3] - box[1])) // 2 - box[1]), mode, fill="black", font=font)
    return np.asarray(canvas)


# -- files -------------------------------------------------------------------------------------
def save_png(path: str, image: np.ndarray) -> str:
    from PIL import Image
    Image.fromarray(np.asarray(image, np.uint8)).save(path)
    return path


def write_frames(folder: str, frames: np.ndarray) -> list:
    """frame0000.png, ... in `folder`; earlier frame*.png there are removed first, so the folder
    always holds one animation (a longer earlier run would otherwise leave stale tail frames)."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if re.fullmatch(r"frame\d+\.png", name):
            os.remove(os.path.join(folder, name))
    return [save_png(os.path.join(folder, f"frame{i:04d}.png"), f) for i, f in enumerate(frames)]


def check_video(kind: str) -> None:
    """Fails fast (before any rendering) when `kind` needs a package that is not installed."""
    if kind not in ("gif", "mp4", "none"):
        raise ValueError(f"video must be gif, mp4 or none, got {kind!r}")
    if kind == "mp4":
        try:
            import imageio  # noqa: F401
            import imageio_ffmpeg  # noqa: F401
        except ImportError as e:
            raise ValueError(f"--video=mp4 needs imageio and imageio-ffmpeg ({e}): {VIDEO_EXTRA_HINT}") from e


def write_gif(path: str, frames: np.ndarray, fps: float = 12.0) -> str:
    """A looping GIF with Pillow. GIF keeps 256 colours per frame, and Pillow merges identical
    consecutive frames into one longer frame."""
    from PIL import Image
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0)
    return path


def write_mp4(path: str, frames: np.ndarray, fps: float = 12.0) -> str:
    """H.264 MP4 through imageio-ffmpeg (the `video` extra)."""
    check_video("mp4")
    import imageio.v2 as imageio
    frames = np.asarray(frames)
    # yuv420p needs even sides: pad by repeating the edge rather than resampling the image.
    ph, pw = frames.shape[1] % 2, frames.shape[2] % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    imageio.mimwrite(path, list(frames), fps=fps, codec="libx264", quality=8,
                     macro_block_size=1, ffmpeg_log_level="error")
    return path


def write_animation(stem: str, frames: np.ndarray, video: str = "gif", fps: float = 12.0) -> list:
    """Frames into folder `stem`/ and, by `video`, `stem`.gif or `stem`.mp4; returns the paths."""
    check_video(video)
    paths = write_frames(stem, frames)
    if video == "gif":
        paths.append(write_gif(stem + ".gif", frames, fps))
    elif video == "mp4":
        paths.append(write_mp4(stem + ".mp4", frames, fps))
    return paths


if __name__ == "__main__":
    # A library module that reads like a command: say where its command is instead of exiting 0
    # having done nothing.
    import sys
    sys.exit("inr_gan_tf.animate is a library; animations are made by python -m inr_gan_tf.generate "
             "--interpolate=z|w|theta|pixel|all or --zoom_animation=Z (see --help)")
