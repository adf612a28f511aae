"""Image bytes -> uint8 RGB, in numpy (PIL) and in graph (TF), with one colour convention.

Every reader ends in RGB uint8 [H, W, 3]: grayscale is repeated to three channels, and an
alpha channel (RGBA, LA, palette transparency) is composited on white, because a transparent
pixel's stored colour is arbitrary (often black) and would otherwise leak into training.
"""
import io
from typing import Optional

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp')


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def composite_on_white_np(rgba: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 4] -> uint8 [H, W, 3], rounding rgb * a + 255 * (1 - a) to nearest."""
    rgb = rgba[..., :3].astype(np.int32)
    a = rgba[..., 3:].astype(np.int32)
    return ((rgb * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def pil_to_rgb(im: Image.Image) -> np.ndarray:
    """Any PIL image -> uint8 [H, W, 3] under the convention in the module docstring."""
    if im.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
        # 16-bit grayscale PNGs open as these modes; PIL's convert('RGB') would clip at 255
        # instead of rescaling, turning most of the image white.
        gray = (np.asarray(im).astype(np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if im.mode == 'F':
        gray = (np.asarray(im) * 255.0).round().clip(0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    has_alpha = im.mode in ('RGBA', 'LA', 'La', 'RGBa', 'PA') or 'transparency' in im.info
    if has_alpha:
        return composite_on_white_np(np.asarray(im.convert('RGBA')))
    return np.asarray(im.convert('RGB'))


def decode_rgb(data: bytes) -> np.ndarray:
    """Encoded image bytes -> uint8 [H, W, 3]. Raises on anything unreadable or truncated."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.ascontiguousarray(pil_to_rgb(im))


def check_image(data: bytes) -> Optional[str]:
    """Returns None if `data` is a readable image, else a short reason.

    Cheaper than a full decode where that is safe: a PNG's `verify()` checks the CRC of every
    chunk (so truncation and flipped bits in the pixel data are caught) without inflating it,
    and a JPEG is decoded at 1/8 scale (DCT scaling still reads all entropy-coded data, so a
    truncated file still fails). Other formats get a full decode.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format == 'PNG':
                im.verify()
            else:
                if im.format == 'JPEG':
                    im.draft('RGB', (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
                if im.width < 1 or im.height < 1:
                    return 'empty image'
    except UnidentifiedImageError:
        return 'not a recognised image format'
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ...
        return f'{type(e).__name__}: {e}'
    return None


def to_rgb_tf(image: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, C] with C in {1, 2, 3, 4} (C known statically) -> uint8 [H, W, 3]."""
    channels = image.shape[-1]
    if channels == 3:
        return image
    if channels == 1:
        return tf.repeat(image, 3, axis=-1)
    if channels not in (2, 4):
        raise ValueError(f'expected 1-4 image channels, got shape {image.shape}')
    color = tf.cast(image[..., :-1], tf.int32)
    if channels == 2:
        color = tf.repeat(color, 3, axis=-1)
    a = tf.cast(image[..., -1:], tf.int32)
    # Same integer rounding as composite_on_white_np, so both paths give identical pixels.
    return tf.cast((color * a + 255 * (255 - a) + 127) // 255, tf.uint8)


def decode_rgb_tf(data: tf.Tensor) -> tf.Tensor:
    """Encoded bytes (scalar string) -> uint8 [H, W, 3] with TF's decoders (PNG/JPEG/GIF/BMP/WebP).

    decode_image with channels=0 keeps the stored channel count, which is only known at run
    time, so the alpha/gray handling branches on it in graph.
    """
    image = tf.io.decode_image(data, channels=0, expand_animations=False, dtype=tf.uint8)
    c = tf.shape(image)[-1]
    rgb = tf.switch_case(c - 1, [
        lambda: to_rgb_tf(tf.ensure_shape(image[..., :1], [None, None, 1])),
        lambda: to_rgb_tf(tf.ensure_shape(image[..., :2], [None, None, 2])),
        lambda: tf.ensure_shape(image[..., :3], [None, None, 3]),
        lambda: to_rgb_tf(tf.ensure_shape(image[..., :4], [None, None, 4])),
    ])
    return tf.ensure_shape(rgb, [None, None, 3])
