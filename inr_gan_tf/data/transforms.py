"""Per-image processing shared by the training pipeline and tools/dataset_tool.py.

centre crop to a square -> resize to R x R -> (random horizontal flip) -> scale to [-1, 1].
"""
import tensorflow as tf


def center_crop_resize(image: tf.Tensor, resolution: int) -> tf.Tensor:
    """RGB [h, w, 3] (uint8 or float in [0, 255]) -> float32 [R, R, 3] in [0, 255].

    Downscaling uses area averaging (a box filter: each output pixel is the mean of the input
    pixels it covers, the same quantity the procedural ground truth measures, and alias-free).
    Upscaling, which only happens for images smaller than R, uses bicubic and is clipped back
    to [0, 255] because bicubic overshoots at edges. An image already R x R is passed through.
    """
    R = int(resolution)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = tf.cast(image[top:top + side, left:left + side], tf.float32)  # [side, side, 3]

    def down():
        return tf.image.resize(image, [R, R], method='area')

    def up():
        return tf.clip_by_value(tf.image.resize(image, [R, R], method='bicubic'), 0.0, 255.0)

    image = tf.case([(side > R, down), (side < R, up)], default=lambda: image)
    return tf.ensure_shape(image, [R, R, 3])


def random_flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Horizontal flip with probability 1/2, decided by a stateless `seed` [2] (reproducible
    regardless of parallelism or of how many images came before)."""
    flip = tf.random.stateless_uniform([], seed=seed) < 0.5
    return tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)


def to_unit_range(image: tf.Tensor) -> tf.Tensor:
    """[0, 255] -> [-1, 1], clipped so rounding can never leave the range."""
    return tf.clip_by_value(tf.cast(image, tf.float32) / 127.5 - 1.0, -1.0, 1.0)


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    """float [0, 255] -> uint8, rounding to nearest."""
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
