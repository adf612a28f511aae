"""Image bytes -> uint8 RGB, in numpy (PIL) and in graph (TF), with one colour convention.

Every reader ends in RGB uint8 [H, W, 3]: grayscale is repeated to three channels, and an
alpha channel (RGBA, LA, palette transparency) is composited on white, because a transparent
pixel's stored colour is arbitrary (often black) and would otherwise leak into training.
An animated GIF (or WebP) gives its first frame.

Every reader also refuses an image whose header declares more than `max_pixels` pixels before
decoding a single pixel: a 13000 x 13000 PNG of one colour is 500 KB on disk but 507 MB as RGB
(and several GB in decode temporaries), enough for one file to take a training host down.
"""
import io
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp', '.gif')

# 2**26 = 8192 x 8192 (67.1 MP): the largest square that decodes to 201 MB of RGB. Larger than
# any training set's images after cropping, far below what hurts a host (decode temporaries are
# a few times the RGB size, in several threads at once). PIL's own bomb check
# (2 * Image.MAX_IMAGE_PIXELS, 179 MP) still applies on top: a larger --max_pixels cannot
# admit more than that through PIL.
DEFAULT_MAX_PIXELS = 2 ** 26

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_JPEG_SIGNATURE = b'\xff\xd8\xff'


class ImageTooLarge(ValueError):
    """The header declares more pixels than the reader's `max_pixels`."""


def pixel_limit_reason(width: int, height: int, max_pixels: int) -> Optional[str]:
    """None if a width x height image is within `max_pixels`, else the reason it is refused."""
    if int(width) * int(height) <= max_pixels:
        return None
    return (f'{width}x{height} = {width * height / 1e6:.1f} MP exceeds --max_pixels '
            f'{max_pixels} ({max_pixels / 1e6:.1f} MP)')


def check_max_pixels(max_pixels: int) -> int:
    if isinstance(max_pixels, bool) or int(max_pixels) != max_pixels or max_pixels < 1:
        raise ValueError(f'max_pixels must be a positive integer, got {max_pixels!r}')
    return int(max_pixels)


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


def _open_within(data: bytes, max_pixels: int) -> Image.Image:
    # Image.open parses only the header (and chunks before the pixel data), so the size is
    # known before anything is inflated.
    im = Image.open(io.BytesIO(data))
    reason = pixel_limit_reason(im.width, im.height, max_pixels)
    if reason:
        im.close()
        raise ImageTooLarge(reason)
    return im


def decode_rgb(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes -> uint8 [H, W, 3]. Raises on anything unreadable or truncated, and
    (ImageTooLarge, before decoding) on more than `max_pixels` pixels."""
    with _open_within(data, max_pixels) as im:
        im.load()  # the first frame of an animation
        return np.ascontiguousarray(pil_to_rgb(im))


def check_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Optional[str]:
    """Returns None if `data` is a readable image within `max_pixels`, else a short reason.

    Cheaper than a full decode where that is safe: a PNG's `verify()` checks the CRC of every
    chunk (so truncation and flipped bits in the pixel data are caught) without inflating it,
    and a JPEG is decoded at 1/8 scale (DCT scaling still reads all entropy-coded data, so a
    truncated file still fails). Other formats get a full decode.
    """
    try:
        with _open_within(data, max_pixels) as im:
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
    except ImageTooLarge as e:
        return str(e)
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


def png_size_tf(data: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """(height, width) int64 from a PNG's IHDR chunk (bytes 16-24), without decoding."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.uint8), tf.int64)  # [8]
    # Two big-endian uint32 (decode_raw has no uint32): width, then height.
    wh = tf.reduce_sum(tf.reshape(raw, [2, 4]) * [[1 << 24, 1 << 16, 1 << 8, 1]], axis=1)
    return wh[1], wh[0]


def _channels_to_rgb(image: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, C], C in 1..4 known only at run time -> uint8 [H, W, 3]."""
    c = tf.shape(image)[-1]
    rgb = tf.switch_case(c - 1, [
        lambda: to_rgb_tf(tf.ensure_shape(image[..., :1], [None, None, 1])),
        lambda: to_rgb_tf(tf.ensure_shape(image[..., :2], [None, None, 2])),
        lambda: tf.ensure_shape(image[..., :3], [None, None, 3]),
        lambda: to_rgb_tf(tf.ensure_shape(image[..., :4], [None, None, 4])),
    ])
    return tf.ensure_shape(rgb, [None, None, 3])


def _assert_within(height, width, max_pixels: int) -> tf.Operation:
    return tf.debugging.assert_less_equal(
        tf.cast(height, tf.int64) * tf.cast(width, tf.int64), tf.constant(max_pixels, tf.int64),
        message='image exceeds max_pixels')


def decode_png_rgb_tf(data: tf.Tensor, max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
    """RGB PNG bytes (what write_tfrecords stores) -> uint8 [H, W, 3], size checked from the
    header first; raises (in graph) on anything else. The lean path for known shards."""
    within = _assert_within(*png_size_tf(data), check_max_pixels(max_pixels))
    with tf.control_dependencies([within]):
        return tf.ensure_shape(tf.io.decode_png(data, channels=3), [None, None, 3])


def decode_rgb_tf(data: tf.Tensor, max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
    """Encoded bytes (scalar string) -> uint8 [H, W, 3]; raises (in graph) where unreadable.

    PNG and JPEG decode in TF's native ops after a size check from the header; anything else
    (GIF, WebP, BMP, ...) goes through PIL, because TF's GIF decoder inflates every frame of an
    animation and no other TF op reads those headers without decoding.
    """
    max_pixels = check_max_pixels(max_pixels)
    length = tf.strings.length(data)
    is_png = tf.logical_and(length >= 24,
                            tf.equal(tf.strings.substr(data, 0, 8), _PNG_SIGNATURE))
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG_SIGNATURE)

    def png():
        with tf.control_dependencies([_assert_within(*png_size_tf(data), max_pixels)]):
            # channels=0 keeps the stored channel count (1-4), only known at run time.
            return _channels_to_rgb(tf.io.decode_png(data, channels=0, dtype=tf.uint8))

    def jpeg():
        shape = tf.image.extract_jpeg_shape(data)  # reads the SOF marker only
        with tf.control_dependencies([_assert_within(shape[0], shape[1], max_pixels)]):
            # JPEG has no alpha; channels=3 expands gray.
            return tf.ensure_shape(tf.io.decode_jpeg(data, channels=3), [None, None, 3])

    def other():
        image = tf.numpy_function(lambda b: decode_rgb(bytes(b), max_pixels), [data], tf.uint8,
                                  stateful=False)
        return tf.ensure_shape(image, [None, None, 3])

    return tf.case([(is_png, png), (is_jpeg, jpeg)], default=other, exclusive=False)
