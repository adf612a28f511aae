"""tf.Modules that export a generator: its signatures, and one image with its params baked in.

Every signature reuses the seam of the model (STYLE):

    params = G.hypernet(G.mapping(z))        # `params` signature: flat [B, P]
    rgb    = G.render(params, coords)        # `render`, `render_params`, `render_grid`

with the model's own render plan, built from TFLite/ONNX builtin ops, so one graph serves
SavedModel, TFLite and ONNX. All batch and point dimensions are dynamic.

Only the tf.Variables behind G's Keras 3 variables are tracked, never G itself: the TF1 loader
(`saved_model_cli run`, TF Serving) cannot find variables reached only through a Keras 3
model, and tracking both would store every weight twice.
"""
import tensorflow as tf

from inr_gan_tf import coords as coords_lib

from inr_gan_tf.export.validate import DEFAULT_MAX_POINTS

SIGNATURES = ("serving_default", "render", "render_grid", "params", "render_params")


def _guarded(x: tf.Tensor, label: str, num_points: tf.Tensor, max_points: int) -> tf.Tensor:
    """x, after the in-graph guards of the SavedModel signatures (what a TF Serving request hits)."""
    checks = [tf.debugging.assert_less_equal(num_points, tf.constant(max_points, tf.int64),
                                             message=f"more points than max_points={max_points}"),
              tf.debugging.assert_all_finite(x, f"{label} must be finite")]
    with tf.control_dependencies(checks):
        return tf.identity(x)


class GeneratorExport(tf.Module):
    """G's signatures: render (= serving_default), render_grid, params, render_params."""

    DYNAMIC_AXES = {"z": ["batch"], "coords": ["batch", "points"], "rgb": ["batch", "points"]}

    def __init__(self, G, max_points: int = DEFAULT_MAX_POINTS,  # in-graph cap on B * N (0: none)
                 checked: bool = True,                            # in-graph guards (SavedModel only)
                 name: str = "inr_gan_generator"):
        super().__init__(name=name)
        self.generator_variables = [v.value for v in G.weights]
        z_dim, size = G.z_dim, G.param_spec.size
        checked = checked and max_points > 0

        def guard(x, label, num_points):
            return _guarded(x, label, num_points, max_points) if checked else x

        z_spec = tf.TensorSpec([None, z_dim], tf.float32, name="z")
        coords_spec = tf.TensorSpec([None, None, 2], tf.float32, name="coords")
        scalar = tf.TensorSpec([], tf.float32, name="truncation")

        def render_params(params, coords):
            coords = guard(coords, "coords", tf.reduce_prod(tf.shape(coords, out_type=tf.int64)[:2]))
            return {"rgb": G.render(G.param_spec.unflatten(params), coords)}

        def flat_params(z, truncation):
            return G.hypernet.flat(G.mapping(z, truncation=truncation))  # [B, P]

        def render(z, coords):
            coords = guard(coords, "coords", tf.reduce_prod(tf.shape(coords, out_type=tf.int64)[:2]))
            return {"rgb": G.render(G.params(z), coords)}  # [B, N, 3]

        def render_grid(z, height, width, bounds, truncation):
            num_points = tf.shape(z, out_type=tf.int64)[0] * tf.cast(height, tf.int64) * tf.cast(width, tf.int64)
            bounds = guard(bounds, "bounds", num_points)
            params = G.param_spec.unflatten(flat_params(z, truncation))
            points = coords_lib.grid_graph(height, width, bounds)[None]  # [1, H*W, 2]: shared by the batch
            rgb = G.render(params, points)
            return {"image": tf.reshape(rgb, [-1, height, width, 3])}  # [B, H, W, 3]

        self.render = tf.function(render, input_signature=[z_spec, coords_spec])
        self.render_grid = tf.function(render_grid, input_signature=[
            z_spec, tf.TensorSpec([], tf.int32, name="height"), tf.TensorSpec([], tf.int32, name="width"),
            tf.TensorSpec([4], tf.float32, name="bounds"), scalar])
        self.params = tf.function(lambda z, truncation: {"params": flat_params(z, truncation)},
                                  input_signature=[z_spec, scalar])
        self.render_params = tf.function(render_params, input_signature=[
            tf.TensorSpec([None, size], tf.float32, name="params"), coords_spec])

    def signatures(self) -> dict:
        return {"serving_default": self.render, "render": self.render, "render_grid": self.render_grid,
                "params": self.params, "render_params": self.render_params}


class BakedImage(tf.Module):
    """One generated image as a resolution-free function: coords [N, 2] -> rgb [N, 3].

    Holds the image's flat INR params [1, P] and the INR's shared weights (FMM W_s), not the
    mapping or the hypernetwork, so the file is the size of one INR.
    """

    DYNAMIC_AXES = {"coords": ["points"], "rgb": ["points"]}

    def __init__(self, G, flat_params, name: str = "inr_gan_image"):
        super().__init__(name=name)
        self.inr_variables = [v.value for v in G.inr.weights]
        # A variable rather than a captured constant: tf2onnx turns captured eager tensors into inputs.
        self.flat_params = tf.Variable(tf.convert_to_tensor(flat_params, tf.float32), trainable=False,
                                       name="flat_params")  # [1, P]

        def render(coords):
            params = G.param_spec.unflatten(self.flat_params)
            return {"rgb": G.render(params, coords)[0]}  # [N, 3]

        self.render = tf.function(render, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="coords")])

    def signatures(self) -> dict:
        return {"serving_default": self.render, "render": self.render}
