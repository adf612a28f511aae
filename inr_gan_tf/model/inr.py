"""The multi-scale INR F_theta (paper Sec. 3.3, App. A) and its render(params, plan).

Block k runs at resolution r_k (see plan.py for where). Its input is its coordinate features
e_k (Fourier features of the points it runs at, App. C), concatenated at the start of the
block with the coarser block's features gathered at the parent cell (nearest replication).
Inside a block e_k is concatenated to every hidden layer's input ("skip-connections for
coordinates", App. A). The finest block ends in a to-RGB layer.

The same class expresses the rows of Table 1 through `modulation` and `fourier`:
  shared - latent-code-conditioned INR: shared weights, the latent concatenated to coordinates;
  full   - a hypernetwork predicts every weight directly;
  fmm    - hidden layers use FMM; the coordinate and to-RGB layers are predicted directly.
"""
from typing import Dict, List, Sequence

import keras
import tensorflow as tf

from inr_gan_tf.model import plan as plan_lib
from inr_gan_tf.model.layers import FMMDense, FourierFeatures, HyperDense, SharedDense
from inr_gan_tf.model.param_spec import ParamSpec

MODULATIONS = ("shared", "full", "fmm")
BLOCK_KEYS = ("resolution", "width", "depth", "frequencies", "fourier_scale")


def normalize_blocks(blocks: Sequence[dict]) -> List[dict]:
    """Validates block dicts {resolution, width, depth, frequencies, fourier_scale}."""
    if not blocks:
        raise ValueError("an INR needs at least one block")
    out = []
    for i, b in enumerate(blocks):
        unknown = set(b) - set(BLOCK_KEYS)
        missing = {"resolution", "width", "depth"} - set(b)
        if unknown or missing:
            raise ValueError(f"block {i}: unknown keys {sorted(unknown)}, missing {sorted(missing)}")
        nb = {"resolution": int(b["resolution"]), "width": int(b["width"]), "depth": int(b["depth"]),
              "frequencies": int(b.get("frequencies", 128)),
              "fourier_scale": float(b.get("fourier_scale", 10.0))}
        if nb["width"] < 1 or nb["depth"] < 1 or nb["frequencies"] < 1:
            raise ValueError(f"block {i}: width, depth and frequencies must be >= 1, got {nb}")
        out.append(nb)
    plan_lib.check_resolutions([b["resolution"] for b in out])
    return out


_DENSE = {"shared": SharedDense, "hyper": HyperDense, "fmm": FMMDense}


def _attr(name: str) -> str:
    return name.replace(".", "_")


def layer_layout(blocks, modulation, fourier, coord_skip, latent_dim=0, out_channels=3):
    """Per block, the layers as (name, kind, in_dim, out_dim); kind is fourier|shared|hyper|fmm.

    The one description of the INR's shape, used to build it and to count its MACs/params.
    For "fourier", out_dim is the number of frequencies (the layer emits 2x that).
    """
    layout, prev_dim = [], 0
    for k, b in enumerate(blocks):
        rows = []
        feat_dim = 2
        if fourier:
            rows.append((f"b{k}.fourier", "fourier", 2, b["frequencies"]))
            feat_dim = 2 * b["frequencies"]
        for j in range(b["depth"]):
            if j == 0:
                in_dim = prev_dim + feat_dim + (latent_dim if k == 0 else 0)
            else:
                in_dim = b["width"] + (feat_dim if coord_skip else 0)
            coord_layer = k == 0 and j == 0 and not fourier  # takes raw (x, y): predicted directly
            kind = "shared" if modulation == "shared" else (
                "hyper" if modulation == "full" or coord_layer else "fmm")
            rows.append((f"b{k}.l{j}", kind, in_dim, b["width"]))
        prev_dim = b["width"]
        layout.append(rows)
    layout[-1].append(("to_rgb", "shared" if modulation == "shared" else "hyper", prev_dim, out_channels))
    return layout


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class MultiScaleINR(keras.layers.Layer):
    """F_theta: K blocks of growing resolution; params come from the hypernetwork."""

    def __init__(self, blocks: Sequence[dict],       # per block: resolution, width, depth, frequencies, fourier_scale
                 modulation: str = "fmm",            # shared | full | fmm (Table 1 rows)
                 fourier: bool = True,               # Fourier coordinate features (else raw x, y)
                 rank: int = 10,                     # FMM rank (Sec. 3.2)
                 coord_skip: bool = True,            # concatenate coordinate features to hidden inputs
                 latent_dim: int = 0,                # shared modulation: size of the latent fed with coords
                 out_channels: int = 3,              # RGB
                 activation: str = "relu",           # hidden activation (paper: ReLU)
                 **kwargs):
        super().__init__(**kwargs)
        if modulation not in MODULATIONS:
            raise ValueError(f"modulation must be one of {MODULATIONS}, got {modulation!r}")
        if (modulation == "shared") != (latent_dim > 0):
            raise ValueError("latent_dim > 0 is required by, and only valid with, modulation='shared'")
        self.blocks = normalize_blocks(blocks)
        self.modulation, self.fourier, self.rank = modulation, bool(fourier), int(rank)
        self.coord_skip, self.latent_dim = bool(coord_skip), int(latent_dim)
        self.out_channels, self.activation = int(out_channels), activation
        self.coarse_resolutions = [b["resolution"] for b in self.blocks[:-1]]

        # Each layer is its own attribute: tf.train.Checkpoint does not follow Keras 3's
        # tracked lists, so layers kept only in a list would be silently left out of checkpoints.
        self._layout = layer_layout(self.blocks, modulation, self.fourier, self.coord_skip,
                                    self.latent_dim, self.out_channels)
        for k, block_layers in enumerate(self._layout):
            for name, kind, in_dim, out_dim in block_layers:
                if kind == "fourier":
                    layer = FourierFeatures(out_dim, self.blocks[k]["fourier_scale"],
                                            predicted=modulation != "shared", name=name)
                elif name == "to_rgb":
                    layer = _DENSE[kind](out_dim, in_dim, "linear", name=name)
                else:
                    extra = (self.rank,) if kind == "fmm" else ()
                    layer = _DENSE[kind](out_dim, in_dim, *extra, activation, name=name)
                setattr(self, _attr(name), layer)
        self.param_spec = ParamSpec(self._spec_entries())
        self.built = True  # all state is created above

    @property
    def features(self):
        """Per block, its FourierFeatures layer or None."""
        return [next((getattr(self, _attr(n)) for n, kind, *_ in rows if kind == "fourier"), None)
                for rows in self._layout]

    @property
    def hidden(self):
        """Per block, its hidden layers in order."""
        return [[getattr(self, _attr(n)) for n, kind, *_ in rows if kind != "fourier" and n != "to_rgb"]
                for rows in self._layout]

    def _named_layers(self):
        for k in range(len(self.blocks)):
            if self.features[k] is not None:
                yield self.features[k].name, self.features[k]
            for layer in self.hidden[k]:
                yield layer.name, layer
        yield "to_rgb", self.to_rgb

    def _spec_entries(self):
        entries = [("latent", (self.latent_dim,))] if self.latent_dim else []
        for prefix, layer in self._named_layers():
            entries += [(f"{prefix}.{n}", s) for n, s in layer.param_shapes().items()]
        return entries

    # -- rendering -------------------------------------------------------------------------
    def plan(self, coords) -> plan_lib.RenderPlan:
        """Plan for an arbitrary point set [N, 2] or [B, N, 2] (built in-graph)."""
        return plan_lib.make_plan(coords, self.coarse_resolutions)

    def static_plan(self, coords) -> plan_lib.RenderPlan:
        """Plan for a fixed point set, computed once eagerly (constant in graphs)."""
        return plan_lib.static_plan(coords, self.coarse_resolutions)

    def render(self, params: Dict[str, tf.Tensor], plan: plan_lib.RenderPlan) -> tf.Tensor:
        """rgb [B, N, out_channels] of each sample's INR at the plan's points."""
        reader = self.param_spec.reader(params)
        batch = tf.shape(next(iter(params.values())))[0]

        def run(prefix, layer, x):
            return layer(x, **{n: reader.take(f"{prefix}.{n}") for n in layer.param_shapes()})

        def to_batch(t):  # [Bp, M, C] -> [B, M, C]
            return tf.broadcast_to(t, tf.concat([[batch], tf.shape(t)[1:]], 0))

        x = None
        for k, block in enumerate(self.blocks):
            last = k == len(self.blocks) - 1
            pts = plan.points if last else plan.centres[k][None]  # [Bp | 1, M, 2]
            feat = self.features[k]
            e = to_batch(run(feat.name, feat, pts) if feat is not None else pts)  # [B, M, F]
            if k == 0:
                h = e
                if self.latent_dim:
                    latent = reader.take("latent")[:, None, :]  # [B, 1, L]
                    h = tf.concat([e, tf.broadcast_to(latent, tf.concat([tf.shape(e)[:2], [self.latent_dim]], 0))], -1)
            else:
                h = tf.concat([self._gather_parent(x, plan, k, last), tf.cast(e, x.dtype)], -1)
            for j, layer in enumerate(self.hidden[k]):
                if j > 0 and self.coord_skip:
                    h = tf.concat([h, tf.cast(e, h.dtype)], -1)
                h = run(layer.name, layer, h)  # [B, M, width_k]
            x = h
        rgb = run("to_rgb", self.to_rgb, x)  # [B, N, 3]
        reader.close()
        return rgb

    @staticmethod
    def _gather_parent(x, plan, k, last):
        """Features of block k-1 at the parent cell of each point block k runs at."""
        if not last:
            return tf.gather(x, plan.parents[k - 1], axis=1)  # [B, U_k, C]
        idx = plan.point_parents  # [Bp, N]
        if idx.shape[0] == 1:
            return tf.gather(x, idx[0], axis=1)  # [B, N, C]
        return tf.gather(x, idx, batch_dims=1)  # per-sample points: Bp == B

    def get_config(self):
        return {**super().get_config(), "blocks": [dict(b) for b in self.blocks],
                "modulation": self.modulation, "fourier": self.fourier, "rank": self.rank,
                "coord_skip": self.coord_skip, "latent_dim": self.latent_dim,
                "out_channels": self.out_channels, "activation": self.activation}
