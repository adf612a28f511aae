"""Per-image processing shared by the training pipeline and tools/dataset_tool.py.

centre crop to a square -> resize to R x R -> (random horizontal flip) -> scale to [-1, 1].

`resample_window` is the same resize for any window of the square at any density: the ground
truth that stored (raster) images can give, used by `Source.view` and `pipeline.make_views`.
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
    image = center_crop(image)  # [side, side, 3]
    side = tf.shape(image)[0]

    def down():
        return tf.image.resize(image, [R, R], method='area')

    def up():
        return tf.clip_by_value(tf.image.resize(image, [R, R], method='bicubic'), 0.0, 255.0)

    image = tf.case([(side > R, down), (side < R, up)], default=lambda: image)
    return tf.ensure_shape(image, [R, R, 3])


def center_crop(image: tf.Tensor) -> tf.Tensor:
    """RGB [h, w, 3] -> float32 [side, side, 3], the centred square (side = min(h, w))."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return tf.cast(image[top:top + side, left:left + side], tf.float32)


_KEYS_A = -0.5  # the Keys cubic of tf.image.resize(method='bicubic')


def _keys_cubic(x: tf.Tensor) -> tf.Tensor:
    x = tf.abs(x)
    a = _KEYS_A
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return tf.where(x <= 1, near, tf.where(x < 2, far, tf.zeros_like(x)))


def _axis_weights(n_in, n_out: int, lo, hi):
    """Resampling of one axis: (first stored pixel used, weights [n_out, n_used] float64).

    The axis holds n_in stored pixels over [0, 1] (pixel k covers [k, k + 1] / n_in); output
    pixel j covers the cell [lo + j (hi - lo) / n_out, lo + (j + 1) (hi - lo) / n_out].
    A cell at least one stored pixel wide gets the exact mean of the piecewise-constant image
    over it (area; tf.image.resize(method='area') on a full axis). A smaller cell, which is an
    upscale, gets the Keys cubic at its centre with taps past the edge dropped and the rest
    renormalised, as tf.image.resize(method='bicubic') does; both match center_crop_resize.
    Only the stored pixels the window touches enter the weights, so a small window of a large
    image costs its own size.
    """
    n = tf.cast(n_in, tf.float64)
    lo, hi = tf.cast(lo, tf.float64) * n, tf.cast(hi, tf.float64) * n  # stored-pixel units
    step = (hi - lo) / n_out
    upscale = step < 1.0
    margin = 2.0 * tf.cast(upscale, tf.float64)  # the cubic reaches 2 pixels past a centre
    k0 = tf.cast(tf.clip_by_value(tf.floor(lo - margin), 0.0, n - 1), tf.int32)
    k1 = tf.cast(tf.clip_by_value(tf.math.ceil(hi + margin), tf.cast(k0, tf.float64) + 1, n),
                 tf.int32)
    k = tf.cast(tf.range(k0, k1), tf.float64)[None, :]  # [1, n_used]
    j = tf.range(n_out, dtype=tf.float64)[:, None]  # [n_out, 1]
    a, b = lo + j * step, lo + (j + 1) * step  # cell edges
    area = tf.maximum(tf.minimum(b, k + 1) - tf.maximum(a, k), 0.0)  # overlap lengths
    cubic = _keys_cubic(lo + (j + 0.5) * step - (k + 0.5))
    w = tf.where(upscale, cubic, area)
    return k0, w / tf.reduce_sum(w, axis=1, keepdims=True)


def resample_window(image: tf.Tensor, height: int, width: int, bounds) -> tf.Tensor:
    """The window `bounds` (x0, y0, x1, y1) of a square RGB image [s, s, 3] -> float32 [H, W, 3].

    The image covers the frame [0, 1]^2 of inr_gan_tf.coords, so the full window at R x R is
    `center_crop_resize` (area down, bicubic up; equal up to float rounding) and a window is
    the same filter on a denser or sparser grid over part of it: no pixel grid of the output
    needs to align with the stored one. The window must lie inside [0, 1]^2: stored pixels say
    nothing about what is outside the frame. Works in graph mode with a tensor `bounds` [4].
    """
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f'resample_window needs height and width >= 1, got {height}x{width}')
    image = tf.convert_to_tensor(image)
    bounds = tf.cast(bounds, tf.float64)
    s = tf.shape(image)[0]
    inside = tf.reduce_all(bounds[:2] >= -1e-6) & tf.reduce_all(bounds[2:] <= 1 + 1e-6) \
        & tf.reduce_all(bounds[:2] < bounds[2:])
    tf.debugging.Assert(inside, ['window must have x0 < x1, y0 < y1 inside [0, 1]^2:', bounds])
    r0, wy = _axis_weights(s, height, bounds[1], bounds[3])  # [H, rows]
    c0, wx = _axis_weights(s, width, bounds[0], bounds[2])  # [W, cols]
    crop = tf.cast(image[r0:r0 + tf.shape(wy)[1], c0:c0 + tf.shape(wx)[1]], tf.float32)
    rows = tf.tensordot(tf.cast(wy, tf.float32), crop, [[1], [0]])  # [H, cols, 3]
    out = tf.einsum('hxc,wx->hwc', rows, tf.cast(wx, tf.float32))  # [H, W, 3]
    # The cubic overshoots at edges, as in center_crop_resize.
    return tf.ensure_shape(tf.clip_by_value(out, 0.0, 255.0), [height, width, 3])


def random_flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Horizontal flip with probability 1/2, decided by a stateless `seed` [2] (reproducible
    regardless of parallelism or of how many images came before)."""
    flip = tf.random.stateless_uniform([], seed=seed) < 0.5
    return tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)


def to_unit_range(image: tf.Tensor) -> tf.Tensor:
    """[0, 255] -> [-1, 1], clipped so rounding can never leave the range."""
    return tf.clip_by_value(tf.cast(image, tf.float32) / 127.5 - 1.0, -1.0, 1.0)


def round_to_uint8(image: tf.Tensor) -> tf.Tensor:
    """float [0, 255] -> uint8, rounding to nearest (seeds.to_uint8 is the one for [-1, 1] renders)."""
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
