"""tf.Modules that export a generator: its signatures, and one image with its params baked in.

Every signature reuses the seam of the model (STYLE):

    params = G.hypernet(G.mapping(z))        # `params` signature: flat [B, P]
    rgb    = G.render(params, coords)        # `render`, `render_params`, `render_grid`

with the model's own render plan, built from TFLite/ONNX builtin ops, so one graph serves
SavedModel, TFLite and ONNX. All batch and point dimensions are dynamic. The SavedModel's
graph (checked=True) adds what TFLite and ONNX have no builtin for: the request checks of
validate.py as assertions that run before anything is allocated, and a While loop that renders
DEFAULT_TILE_POINTS points at a time, so a request's memory follows the tile.

Only the tf.Variables behind G's Keras 3 variables are tracked, never G itself: the TF1 loader
(`saved_model_cli run`, TF Serving) cannot find variables reached only through a Keras 3
model, and tracking both would store every weight twice.
"""
import tensorflow as tf

from inr_gan_tf import coords as coords_lib
from inr_gan_tf.export.validate import (DEFAULT_MAX_BATCH, DEFAULT_MAX_POINTS, DEFAULT_TILE_POINTS, MAX_SIDE,
                                        check_limits)

SIGNATURES = ("serving_default", "render", "render_grid", "params", "render_params", "pixel_points")


# -- in-graph guards: the checks of validate.py, run before anything is allocated -------------------
# Each signature passes its inputs through `_after` the checks, so every op that allocates (the
# grid's ranges, the mapping, the plan) has the assertions as control inputs and cannot start
# before they pass. Counts are compared in float64 after each factor is capped, so B * H * W can
# neither wrap around nor go negative.
def _in_range(x, low: int, high: int, message: str) -> list:
    x = tf.cast(x, tf.int64)
    return [tf.debugging.assert_greater_equal(x, tf.constant(low, tf.int64), message=message),
            tf.debugging.assert_less_equal(x, tf.constant(high, tf.int64), message=message)]


def _batch_checks(batch, name: str, max_batch: int) -> list:
    return _in_range(batch, 1, max_batch, f"{name} must have batch >= 1 and <= max_batch={max_batch}")


def _points_check(counts, max_points: int) -> list:
    total = tf.reduce_prod(tf.stack([tf.cast(c, tf.float64) for c in counts]))
    return [tf.debugging.assert_less_equal(total, tf.constant(float(max_points), tf.float64),
                                           message=f"more points than max_points={max_points}; render in tiles")]


def _at_least_one_point(n) -> list:
    return [tf.debugging.assert_greater_equal(n, tf.constant(1, tf.int64), message="coords must hold at least one point")]


def _finite(x, name: str) -> list:
    return [tf.debugging.assert_all_finite(x, f"{name} must be finite")]


def _coords_checks(coords, batch, max_points: int) -> list:
    """coords [B, N, 2]: the batch of z (or params), N >= 1, B * N <= max_points, finite."""
    shape = tf.shape(coords, out_type=tf.int64)
    return [tf.debugging.assert_equal(shape[0], tf.cast(batch, tf.int64), message="coords must have the batch of z"),
            *_at_least_one_point(shape[1]),
            *_points_check([shape[0], shape[1]], max_points), *_finite(coords, "coords")]


def _after(checks: list, *tensors):
    with tf.control_dependencies(checks):
        return tuple(tf.identity(t) for t in tensors)


def _finite_output(x, name: str):
    # Finite but extreme inputs (truncation 1e30) can still overflow: an error, not a NaN image.
    return tf.debugging.assert_all_finite(x, f"{name} is not finite (inputs too large?)")


def _render_tiled(G, params, points, batch, tile_points: int, pixel=None):
    """rgb [B, N, 3] of points [Bp, N, 2] (Bp = 1 or B), about tile_points points at a time
    (`pixel`: G.render's).

    A point's colour does not depend on the other points (plan.py), so tiles along N render what
    one call renders; peak memory follows the tile instead of the request.
    """
    n = tf.shape(points)[1]
    step = tf.maximum(1, tile_points // batch)  # points of each sample per tile
    num_tiles = (n + step - 1) // step
    tiles = tf.TensorArray(tf.float32, size=num_tiles, infer_shape=False,
                           element_shape=tf.TensorShape([None, None, 3]))

    def body(i, tiles):
        rgb = G.render(params, points[:, i * step:(i + 1) * step], pixel)  # [B, t, 3]
        return i + 1, tiles.write(i, tf.transpose(tf.cast(rgb, tf.float32), [1, 0, 2]))  # concat joins axis 0

    # One tile in flight: parallel iterations would hold several tiles' activations at once.
    _, tiles = tf.while_loop(lambda i, _: i < num_tiles, body, (tf.constant(0), tiles), parallel_iterations=1)
    return tf.transpose(tiles.concat(), [1, 0, 2])  # [B, N, 3]


class GeneratorExport(tf.Module):
    """G's signatures: render (= serving_default), render_grid, params, render_params, pixel_points."""

    DYNAMIC_AXES = {"z": ["batch"], "coords": ["batch", "points"], "rgb": ["batch", "points"]}

    def __init__(self, G, max_points: int = DEFAULT_MAX_POINTS,   # in-graph cap on B * N
                 max_batch: int = DEFAULT_MAX_BATCH,               # in-graph cap on B
                 tile_points: int = DEFAULT_TILE_POINTS,           # points rendered at once
                 checked: bool = True,                             # guards and tiles (SavedModel only)
                 name: str = "inr_gan_generator"):
        super().__init__(name=name)
        self.generator_variables = [v.value for v in G.weights]
        max_points, max_batch = check_limits(max_points, max_batch)
        tile_points = check_limits(tile_points, 1)[0]
        self.checked = bool(checked)
        self._unchecked = lambda: GeneratorExport(G, checked=False)  # a plain callable: not saved
        z_dim, size = G.z_dim, G.param_spec.size

        z_spec = tf.TensorSpec([None, z_dim], tf.float32, name="z")
        coords_spec = tf.TensorSpec([None, None, 2], tf.float32, name="coords")
        scalar = tf.TensorSpec([], tf.float32, name="truncation")

        def flat_params(z, truncation):
            return G.hypernet.flat(G.mapping(z, truncation=truncation))  # [B, P]

        def render_points(params, points, batch, pixel=None):
            # pixel: what each point stands for (G.render; point sets: a training pixel).
            if not checked:  # TFLite/ONNX: one call, no Assert or While
                return G.render(params, points, pixel)
            return _finite_output(_render_tiled(G, params, points, batch, tile_points, pixel), "rgb")

        def params_fn(z, truncation):
            if checked:
                z, truncation = _after(_batch_checks(tf.shape(z)[0], "z", max_batch) + _finite(z, "z")
                                       + _finite(truncation, "truncation"), z, truncation)
            flat = flat_params(z, truncation)
            return {"params": _finite_output(flat, "params") if checked else flat}

        def render(z, coords):
            batch = tf.shape(z)[0]
            if checked:
                z, coords = _after(_batch_checks(batch, "z", max_batch) + _finite(z, "z")
                                   + _coords_checks(coords, batch, max_points), z, coords)
            return {"rgb": render_points(G.params(z), coords, batch)}  # [B, N, 3]

        def render_params(params, coords):
            batch = tf.shape(params)[0]
            if checked:
                params, coords = _after(_batch_checks(batch, "params", max_batch) + _finite(params, "params")
                                        + _coords_checks(coords, batch, max_points), params, coords)
            return {"rgb": render_points(G.param_spec.unflatten(params), coords, batch)}

        def render_grid(z, height, width, bounds, truncation):
            batch = tf.shape(z)[0]
            if checked:
                checks = (_batch_checks(batch, "z", max_batch)
                          + _in_range(height, 1, MAX_SIDE, f"height must be >= 1 and <= {MAX_SIDE}")
                          + _in_range(width, 1, MAX_SIDE, f"width must be >= 1 and <= {MAX_SIDE}")
                          + _points_check([batch, height, width, G.antialias ** 2], max_points)
                          + _finite(z, "z") + _finite(bounds, "bounds") + _finite(truncation, "truncation")
                          + [tf.debugging.assert_less(bounds[0], bounds[2], message="bounds need x0 < x1"),
                             tf.debugging.assert_less(bounds[1], bounds[3], message="bounds need y0 < y1")])
                z, height, width, bounds, truncation = _after(checks, z, height, width, bounds, truncation)
            params = G.param_spec.unflatten(flat_params(z, truncation))
            points = coords_lib.grid_graph(height, width, bounds)[None]  # [1, H*W, 2]: shared by the batch
            # Pixels as G.render_grid makes them: the mean of antialias^2 points over each.
            pixel = coords_lib.grid_pixel(height, width, bounds)
            points = coords_lib.subpixels(points, pixel, G.antialias)
            rgb = coords_lib.pool_subpixels(render_points(params, points, batch, pixel / G.antialias), G.antialias)
            return {"image": tf.reshape(rgb, [-1, height, width, 3])}  # [B, H, W, 3]

        def pixel_points():
            # The k x k points each render_grid pixel averages, as (x, y) offsets from its centre in
            # pixels. The output's static shape [k*k, 2] is in TF Serving's model metadata, so a
            # client counts a grid request's points as render_grid does before it sends one.
            return {"offsets": tf.constant(coords_lib.subpixel_offsets(G.antialias), tf.float32)}

        self.render = tf.function(render, input_signature=[z_spec, coords_spec])
        self.pixel_points = tf.function(pixel_points, input_signature=[])
        self.render_grid = tf.function(render_grid, input_signature=[
            z_spec, tf.TensorSpec([], tf.int32, name="height"), tf.TensorSpec([], tf.int32, name="width"),
            tf.TensorSpec([4], tf.float32, name="bounds"), scalar])
        self.params = tf.function(params_fn, input_signature=[z_spec, scalar])
        self.render_params = tf.function(render_params, input_signature=[
            tf.TensorSpec([None, size], tf.float32, name="params"), coords_spec])

    def signatures(self) -> dict:
        return {"serving_default": self.render, "render": self.render, "render_grid": self.render_grid,
                "params": self.params, "render_params": self.render_params, "pixel_points": self.pixel_points}

    def portable(self) -> "GeneratorExport":
        """The same signatures without guards and tiles, for TFLite and ONNX (convert.py)."""
        return self._unchecked() if self.checked else self


class BakedImage(tf.Module):
    """One generated image as a resolution-free function: coords [N, 2] -> rgb [N, 3].

    Holds the image's flat INR params [1, P] and the INR's shared weights (FMM W_s), not the
    mapping or the hypernetwork, so the file is the size of one INR.
    """

    DYNAMIC_AXES = {"coords": ["points"], "rgb": ["points"]}

    def __init__(self, G, flat_params,
                 max_points: int = DEFAULT_MAX_POINTS,   # in-graph cap on N
                 tile_points: int = DEFAULT_TILE_POINTS, # points rendered at once
                 checked: bool = True,                   # guards and tiles (SavedModel only)
                 name: str = "inr_gan_image"):
        super().__init__(name=name)
        max_points, tile_points = check_limits(max_points, tile_points)
        self.checked = bool(checked)
        self._unchecked = lambda: BakedImage(G, flat_params, checked=False)
        self.inr_variables = [v.value for v in G.inr.weights]
        # A variable rather than a captured constant: tf2onnx turns captured eager tensors into inputs.
        self.flat_params = tf.Variable(tf.convert_to_tensor(flat_params, tf.float32), trainable=False,
                                       name="flat_params")  # [1, P]

        def render(coords):
            params = G.param_spec.unflatten(self.flat_params)
            if not checked:
                return {"rgb": G.render(params, coords)[0]}  # [N, 3]
            n = tf.shape(coords, out_type=tf.int64)[0]
            (coords,) = _after(_at_least_one_point(n)
                               + _points_check([n], max_points) + _finite(coords, "coords"), coords)
            rgb = _render_tiled(G, params, coords[None], 1, tile_points)[0]  # [N, 3]
            return {"rgb": _finite_output(rgb, "rgb")}

        self.render = tf.function(render, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="coords")])

    def signatures(self) -> dict:
        return {"serving_default": self.render, "render": self.render}

    def portable(self) -> "BakedImage":
        return self._unchecked() if self.checked else self
