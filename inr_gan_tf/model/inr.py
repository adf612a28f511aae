"""The multi-scale INR F_theta (paper Sec. 3.3, App. A) and its render(params, plan).

Block k runs at resolution r_k (see plan.py for where). Its input is its coordinate features
e_k (Fourier features of the points it runs at, App. C), concatenated at the start of the
block with the coarser block's features at those points: the parent cell's (nearest
replication, the paper) or the bilinear blend of the four cells around (`upsampling`,
plan.py). Inside a block e_k is concatenated to every hidden layer's input ("skip-connections
for coordinates", App. A). The finest block ends in a to-RGB layer.

Coordinate features of block k, in this order: the predicted Fourier features [sin Wp, cos Wp]
(`fourier`), then `log_frequencies` deterministic log-spaced ones per axis (layers.py); raw
(x, y) when there are neither. `fourier_cap` (a fraction of the Nyquist limit pi * r_k) bounds
the predicted frequencies smoothly and is where the log-spaced ones stop (without a cap at half
of Nyquist: four cells per period, the finest wave a block's cells show without a checkerboard).
None of the three is in the paper; their defaults leave the paper's INR unchanged.

`palette` K (not in the paper): the to-RGB layer gives K logits instead of rgb, and rgb is the
softmax of those (times PALETTE_LOGIT_GAIN) mixed over K colours the hypernetwork predicts per
sample (layer `colours`, a predicted K -> 3 dense layer; shared with modulation "shared"). A
flat colour is wherever one logit leads by a margin and an edge is where two cross, as steep as
the logits' ramp, at any density; a linear output must draw each colour with its ReLU pieces,
whose slopes are the blur of dense renders.

The same class expresses the rows of Table 1 through `modulation` and `fourier`:
  shared - latent-code-conditioned INR: shared weights, the latent concatenated to coordinates;
  full   - a hypernetwork predicts every weight directly;
  fmm    - hidden layers use FMM; the coordinate and to-RGB layers are predicted directly.
"""
import math
from typing import Dict, List, Optional, Sequence

import keras
import tensorflow as tf

from inr_gan_tf.model import plan as plan_lib
from inr_gan_tf.model.config import (check_cell, check_coord_gain, check_coord_scale, check_palette,
                                     check_raw_scales, check_saturation)
from inr_gan_tf.model.layers import FMMDense, FourierFeatures, HyperDense, LogFrequencyFeatures, SharedDense
from inr_gan_tf.model.param_spec import ParamSpec

MODULATIONS = ("shared", "full", "fmm")
BLOCK_KEYS = ("resolution", "width", "depth", "frequencies", "fourier_scale")
LOG_TOP_WITHOUT_CAP = 0.5  # log-spaced features stop at this fraction of Nyquist when there is no cap
OUTPUT_LAYERS = ("to_rgb", "colours")  # after the finest block: rgb (or palette logits), the palette
# At init the palette logits vary over the frame by about half their spread between colours (the
# ReLU features' mean): at gain 1 each image started one blend of colours K^-1/2 apart, 8x less
# spatial contrast than the linear output, and D won before G drew a shape (measured: one flat
# colour per sample at 10 kimg). Gain 2 makes the leading colour's share about 0.6 at init.
PALETTE_LOGIT_GAIN = 2.0


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


def layer_layout(blocks, modulation, fourier, coord_skip, latent_dim=0, out_channels=3,
                 log_frequencies=0, upsampling="nearest", cell=False, palette=0):
    """Per block, the layers as (name, kind, in_dim, out_dim); kind is fourier|log|shared|hyper|fmm.

    The one description of the INR's shape, used to build it and to count its MACs/params.
    For "fourier" and "log", out_dim is the number of frequency rows (the layer emits 2x that).
    With upsampling "local" the first layer of every block after the first also takes the
    point's offset from a coarse cell's centre (2 more inputs, after the features). With `cell`
    the first layer of the finest block also takes the rendered pixel's size (2 more, after the
    coordinate features). With `palette` K the to-RGB layer gives K logits and a last layer
    "colours" maps their softmax to out_channels.
    """
    layout, prev_dim = [], 0
    raw = not fourier and not log_frequencies  # the coordinates themselves are the features
    for k, b in enumerate(blocks):
        rows = []
        feat_dim = 2 if raw else 0
        if fourier:
            rows.append((f"b{k}.fourier", "fourier", 2, b["frequencies"]))
            feat_dim += 2 * b["frequencies"]
        if log_frequencies:
            rows.append((f"b{k}.log", "log", 2, 2 * log_frequencies))  # x and y rows
            feat_dim += 4 * log_frequencies
        for j in range(b["depth"]):
            if j == 0:
                in_dim = prev_dim + feat_dim + (latent_dim if k == 0 else 0)
                if k > 0 and upsampling in plan_lib.LOCAL_UPSAMPLINGS:
                    in_dim += LOCAL_OFFSET_DIM
                if cell and k == len(blocks) - 1:
                    in_dim += CELL_DIM
            else:
                in_dim = b["width"] + (feat_dim if coord_skip else 0)
            coord_layer = k == 0 and j == 0 and raw  # takes raw (x, y): predicted directly
            kind = "shared" if modulation == "shared" else (
                "hyper" if modulation == "full" or coord_layer else "fmm")
            rows.append((f"b{k}.l{j}", kind, in_dim, b["width"]))
        prev_dim = b["width"]
        layout.append(rows)
    kind = "shared" if modulation == "shared" else "hyper"
    layout[-1].append(("to_rgb", kind, prev_dim, palette or out_channels))
    if palette:
        layout[-1].append(("colours", kind, palette, out_channels))
    return layout


LOCAL_OFFSET_DIM = 2  # upsampling "local": the (x, y) offset from a coarse cell's centre
CELL_DIM = 2          # cell: the rendered pixel's (width, height), in training pixels


def frequency_caps(blocks, fourier_cap: Optional[float]) -> List[Optional[float]]:
    """Per block the cap on predicted frequencies, fourier_cap * pi * r_k rad per frame unit (or None)."""
    return [None if fourier_cap is None else fourier_cap * math.pi * b["resolution"] for b in blocks]


def log_frequency_range(block, fourier_cap: Optional[float]):
    """(lowest, highest) log-spaced frequency of a block: pi (half a period per frame) up to its cap."""
    top = (LOG_TOP_WITHOUT_CAP if fourier_cap is None else fourier_cap) * math.pi * block["resolution"]
    return min(math.pi, top), top


@keras.saving.register_keras_serializable(package="inr_gan_tf")
class MultiScaleINR(keras.layers.Layer):
    """F_theta: K blocks of growing resolution; params come from the hypernetwork."""

    def __init__(self, blocks: Sequence[dict],       # per block: resolution, width, depth, frequencies, fourier_scale
                 modulation: str = "fmm",            # shared | full | fmm (Table 1 rows)
                 fourier: bool = True,               # predicted Fourier coordinate features (neither: raw x, y)
                 rank: int = 10,                     # FMM rank (Sec. 3.2)
                 coord_skip: bool = True,            # concatenate coordinate features to hidden inputs
                 latent_dim: int = 0,                # shared modulation: size of the latent fed with coords
                 out_channels: int = 3,              # RGB
                 activation: str = "relu",           # hidden activation (paper: ReLU)
                 upsampling: str = "nearest",        # coarse -> fine transfer: nearest (paper) | bilinear | local | local_diff
                 log_frequencies: int = 0,           # deterministic log-spaced frequencies per axis (0: none)
                 fourier_cap: Optional[float] = None,  # cap on frequencies, fraction of pi * r_k (None: off)
                 coord_scale: Optional[float] = None,  # raw coordinates: (p - 0.5) * coord_scale (None: p)
                 coord_gain: Optional[float] = None,   # the first block's raw coordinates: (p - 0.5) * coord_gain
                 saturation: Optional[float] = None,   # rgb = tanh(saturation * to_rgb) (None: linear, the paper)
                 cell: bool = False,                 # the finest block also takes the rendered pixel's size
                 palette: int = 0,                   # rgb = softmax(K logits) mixing K predicted colours (0: off)
                 **kwargs):
        super().__init__(**kwargs)
        if modulation not in MODULATIONS:
            raise ValueError(f"modulation must be one of {MODULATIONS}, got {modulation!r}")
        if (modulation == "shared") != (latent_dim > 0):
            raise ValueError("latent_dim > 0 is required by, and only valid with, modulation='shared'")
        plan_lib.check_upsampling(upsampling)
        if int(log_frequencies) < 0:
            raise ValueError(f"log_frequencies must be >= 0, got {log_frequencies}")
        if fourier_cap is not None and not float(fourier_cap) > 0:
            raise ValueError(f"fourier_cap must be > 0 (a fraction of the Nyquist limit) or None, got {fourier_cap}")
        self.blocks = normalize_blocks(blocks)
        self.modulation, self.fourier, self.rank = modulation, bool(fourier), int(rank)
        self.coord_skip, self.latent_dim = bool(coord_skip), int(latent_dim)
        self.out_channels, self.activation = int(out_channels), activation
        self.upsampling, self.log_frequencies = upsampling, int(log_frequencies)
        self.fourier_cap = None if fourier_cap is None else float(fourier_cap)
        self.coord_scale = check_coord_scale(coord_scale)
        self.coord_gain = check_coord_gain(coord_gain)
        self.saturation = check_saturation(saturation)
        self.cell = check_cell(cell, upsampling)
        self.palette = check_palette(palette)
        check_raw_scales(self.fourier, self.log_frequencies, self.coord_scale, self.coord_gain)
        self.coarse_resolutions = [b["resolution"] for b in self.blocks[:-1]]
        caps = frequency_caps(self.blocks, self.fourier_cap)

        # Each layer is its own attribute: tf.train.Checkpoint does not follow Keras 3's
        # tracked lists, so layers kept only in a list would be silently left out of checkpoints.
        self._layout = layer_layout(self.blocks, modulation, self.fourier, self.coord_skip,
                                    self.latent_dim, self.out_channels, self.log_frequencies,
                                    self.upsampling, self.cell, self.palette)
        for k, block_layers in enumerate(self._layout):
            for name, kind, in_dim, out_dim in block_layers:
                if kind == "fourier":
                    layer = FourierFeatures(out_dim, self.blocks[k]["fourier_scale"],
                                            predicted=modulation != "shared", cap=caps[k], name=name)
                elif kind == "log":
                    low, high = log_frequency_range(self.blocks[k], self.fourier_cap)
                    layer = LogFrequencyFeatures(self.log_frequencies, high, low, name=name)
                elif name in OUTPUT_LAYERS:
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
    def log_features(self):
        """Per block, its LogFrequencyFeatures layer or None."""
        return [next((getattr(self, _attr(n)) for n, kind, *_ in rows if kind == "log"), None)
                for rows in self._layout]

    @property
    def hidden(self):
        """Per block, its hidden layers in order."""
        return [[getattr(self, _attr(n)) for n, kind, *_ in rows if kind not in ("fourier", "log") and n not in OUTPUT_LAYERS]
                for rows in self._layout]

    def _named_layers(self):
        for k in range(len(self.blocks)):
            if self.features[k] is not None:
                yield self.features[k].name, self.features[k]
            for layer in self.hidden[k]:
                yield layer.name, layer
        yield "to_rgb", self.to_rgb
        if self.palette:
            yield "colours", self.colours

    def _spec_entries(self):
        entries = [("latent", (self.latent_dim,))] if self.latent_dim else []
        for prefix, layer in self._named_layers():
            entries += [(f"{prefix}.{n}", s) for n, s in layer.param_shapes().items()]
        return entries

    # -- rendering -------------------------------------------------------------------------
    def plan(self, coords) -> plan_lib.RenderPlan:
        """Plan for an arbitrary point set [N, 2] or [B, N, 2] (built in-graph)."""
        return plan_lib.make_plan(coords, self.coarse_resolutions, self.upsampling)

    def static_plan(self, coords) -> plan_lib.RenderPlan:
        """Plan for a fixed point set, computed once eagerly (constant in graphs)."""
        return plan_lib.static_plan(coords, self.coarse_resolutions, self.upsampling)

    def render(self, params: Dict[str, tf.Tensor], plan: plan_lib.RenderPlan, pixel=None) -> tf.Tensor:
        """rgb [B, N, out_channels] of each sample's INR at the plan's points (`pixel`: forward)."""
        return self.forward(params, plan, pixel)[-1]

    def forward(self, params: Dict[str, tf.Tensor], plan: plan_lib.RenderPlan, pixel=None) -> List[tf.Tensor]:
        """Each block's output where it runs ([B, U_k, width_k] at plan.centres[k]; the finest
        block's [B, N, width] at the points), then rgb [B, N, out_channels].

        pixel: with `cell`, the (width, height) in frame units of the area each point stands
        for, [2] or [Bp, 1, 2] (None: a training pixel, 1 / R); ignored without `cell`."""
        reader = self.param_spec.reader(params)
        batch = tf.shape(next(iter(params.values())))[0]

        def run(prefix, layer, x):
            return layer(x, **{n: reader.take(f"{prefix}.{n}") for n in layer.param_shapes()})

        def to_batch(t):  # [Bp, M, C] -> [B, M, C]
            return tf.broadcast_to(t, tf.concat([[batch], tf.shape(t)[1:]], 0))

        x, outputs = None, []
        for k, block in enumerate(self.blocks):
            last = k == len(self.blocks) - 1
            pts = plan.points if last else plan.centres[k][None]  # [Bp | 1, M, 2]
            feat, logf = self.features[k], self.log_features[k]
            if logf is None:
                e = to_batch(run(feat.name, feat, pts) if feat is not None else self.raw_coordinates(pts, k))  # [B, M, F]
            else:
                parts = [run(feat.name, feat, pts)] if feat is not None else []
                parts.append(tf.cast(logf(pts), parts[0].dtype if parts else logf.compute_dtype))
                e = tf.concat([to_batch(t) for t in parts], -1)  # [B, M, F]
            if self.cell and last:
                e0 = tf.concat([e, tf.cast(to_batch(self.cell_features(pixel, pts)), e.dtype)], -1)
            else:
                e0 = e  # the first layer's coordinate input
            first = 0  # the first hidden layer run below (the local ensemble runs layer 0 itself)
            if k == 0:
                h = e0
                if self.latent_dim:
                    latent = reader.take("latent")[:, None, :]  # [B, 1, L]
                    h = tf.concat([e0, tf.broadcast_to(latent, tf.concat([tf.shape(e)[:2], [self.latent_dim]], 0))], -1)
            elif self.upsampling in plan_lib.LOCAL_UPSAMPLINGS:
                layer = self.hidden[k][0]
                h = self.local_ensemble(layer, {n: reader.take(f"{layer.name}.{n}") for n in layer.param_shapes()},
                                        x, e, plan, k)
                first = 1
            else:
                h = tf.concat([self.transfer(x, plan, k), tf.cast(e0, x.dtype)], -1)
            for j, layer in enumerate(self.hidden[k][first:], start=first):
                if j > 0 and self.coord_skip:
                    h = tf.concat([h, tf.cast(e, h.dtype)], -1)
                h = run(layer.name, layer, h)  # [B, M, width_k]
            x = h
            outputs.append(x)
        rgb = run("to_rgb", self.to_rgb, x)  # [B, N, 3] (palette: [B, N, K] logits)
        if self.palette:
            mix = tf.nn.softmax(PALETTE_LOGIT_GAIN * rgb, axis=-1)  # [B, N, K], sums to 1
            # x sqrt(K): the layer's fan-in scale 1 / sqrt(K) expects unit-scale inputs, so the
            # predicted colours start at unit scale, as the linear output's rgb does.
            rgb = run("colours", self.colours, mix * math.sqrt(self.palette))  # [B, N, 3]
        if self.saturation is not None:
            # Emoji are flat colours on white: a saturating output makes each flat region
            # wherever the pre-activation is well past +-1, and its edge where it crosses 0, so
            # an edge is as steep as the pre-activation's ramp through [-1/g, 1/g] at any
            # density, while a linear output must draw the colour itself, as exactly as the
            # ReLU pieces allow (their slopes are the blur of 4x renders, docs/quickstart.md).
            rgb = tf.tanh(tf.cast(self.saturation, rgb.dtype) * rgb)
        reader.close()
        return outputs + [rgb]

    def cell_features(self, pixel, pts) -> tf.Tensor:
        """[Bp | 1, M, 2]: the pixel size each point stands for, in training pixels (1 at R, 1/4 at 4x).

        LIIF's cell decoding (Chen et al., CVPR 2021). The training frames are coverage-
        anti-aliased: a point-sampled INR must draw each edge as a ramp one training pixel wide
        to match them, which a 4x render then shows as blur, while 4x patches ask for ramps a
        quarter as wide. Told the area a point stands for, one INR can draw both.
        """
        R = float(self.blocks[-1]["resolution"])
        if pixel is None:
            size = tf.ones([1, 1, 2], tf.float32)
        else:
            size = tf.reshape(tf.cast(pixel, tf.float32) * R, [-1, 1, 2])  # [2] | [Bp, 1, 2] -> [Bp, 1, 2]
        return tf.broadcast_to(size, tf.concat([tf.shape(size)[:1], tf.shape(pts)[1:2], [CELL_DIM]], 0))

    def raw_coordinates(self, pts, k: int):
        """Block k's features in an INR without coordinate features: p; for block 0 with
        coord_gain, (p - 0.5) * coord_gain; for k > 0 with coord_scale, (p - 0.5) * coord_scale.

        Raw p in frame units changes by 1/r across a cell of a block of resolution r: next to
        the coarse block's features (of unit scale at init) a finer block barely sees where in
        the cell it is, and renders the coarse cells (measured: docs/quickstart.md). Centred and
        scaled, one unit of input is 1 / coord_scale of the frame (coord_scale = r_0: one coarse
        cell). coord_scale leaves the first block alone: its coordinate layer is predicted whole.

        coord_gain, for the first block: (p - 0.5) * coord_gain. Its coordinate layer is
        predicted per sample, and one unit of predicted weight is a ramp of slope coord_gain
        across the frame: an edge one 4x pixel wide asks a slope of ~128 per unit of colour,
        which at gain 1 the hypernetwork must reach by itself (docs/quickstart.md measures it).
        """
        if k == 0:
            return pts if self.coord_gain is None else (pts - 0.5) * self.coord_gain
        if self.coord_scale is None:
            return pts
        return (pts - 0.5) * self.coord_scale

    @staticmethod
    def _rows(x, idx, last: bool) -> tf.Tensor:
        """Rows idx ([U_k] or [Bp, N]) of a coarse block's x [B, U, C] -> [B, U_k | N, C]."""
        if not last:
            return tf.gather(x, idx, axis=1)
        if idx.shape[0] == 1:
            return tf.gather(x, idx[0], axis=1)
        return tf.gather(x, idx, batch_dims=1)  # per-sample points: Bp == B

    def _neighbours(self, plan: plan_lib.RenderPlan, k: int):
        """Where block k reads block k-1: indices [Bp, N(, 4)] or [U_k(, 4)], and the weights (or None)."""
        last = k == len(self.blocks) - 1
        idx = plan.point_parents if last else plan.parents[k - 1]
        if self.upsampling == "nearest":
            return idx, None
        return idx, (plan.point_weights if last else plan.weights[k - 1])

    def transfer(self, x, plan: plan_lib.RenderPlan, k: int) -> tf.Tensor:
        """Block k-1's features x [B, U_{k-1}, C] (at its plan cells), read where block k runs
        (nearest or bilinear; "local" blends the first layer's outputs instead: local_ensemble)."""
        last = k == len(self.blocks) - 1
        idx, w = self._neighbours(plan, k)
        if w is None:
            return self._rows(x, idx, last)
        w = tf.cast(w, x.dtype)
        # One neighbour at a time: a [B, N, 4, C] gather would hold 4x the finest block's input.
        # unstack/expand_dims rather than slices that add axes: TFLite has builtins for them.
        out = None
        for i, wi in zip(tf.unstack(idx, 4, axis=-1), tf.unstack(w, 4, axis=-1)):
            term = self._rows(x, i, last) * tf.expand_dims(wi, -1)  # [B, M, C]
            out = term if out is None else out + term
        return out

    def local_ensemble(self, layer, layer_params, x, e, plan: plan_lib.RenderPlan, k: int) -> tf.Tensor:
        """Block k's first layer with upsampling "local" (LIIF's local ensemble) or "local_diff"
        -> [B, M, width_k].

        For each of the four cells of block k-1 around a point (the bilinear rule's), the layer
        runs on [the cell's features, the point's features e, the point's offset from the cell's
        centre in cell units], and the four outputs are blended with the bilinear weights. The
        offset lets the block place an edge anywhere inside a coarse cell; the blend keeps the
        image continuous (a cell leaves the four only where its weight is 0). The layer is
        affine before its activation, so the cells' share of the product runs once per cell of
        block k-1 and only the offset's (2 inputs) once per neighbour and point. local_diff:
        act(blend + e-term) + sum_i w_i [act(cell_i + e-term + offset_i) - act(blend + e-term +
        offset_i)], with blend the bilinear blend of the cells' shares.
        """
        last = k == len(self.blocks) - 1
        w, b = layer.affine(**layer_params)  # [B | 1, out, in], [B | 1, out]
        c, f = x.shape[-1], e.shape[-1]
        w_cell, w_feat, w_off = w[:, :, :c], w[:, :, c:c + f], w[:, :, c + f:]
        cell_term = tf.matmul(tf.cast(x, w.dtype), w_cell, transpose_b=True)  # [B, U_{k-1}, out]
        point_term = tf.matmul(tf.cast(e, w.dtype), w_feat, transpose_b=True) + b[:, None, :]  # [B, M, out]
        pts = plan.points if last else plan.centres[k][None]  # [Bp | 1, M, 2]
        centres, r = plan.centres[k - 1], float(self.blocks[k - 1]["resolution"])
        idx, weights = self._neighbours(plan, k)
        neighbours = list(zip(tf.unstack(idx, 4, axis=-1),
                              [tf.expand_dims(tf.cast(wi, w.dtype), -1) for wi in tf.unstack(weights, 4, axis=-1)]))
        if self.upsampling == "local_diff":
            # The offset acts only through how a cell differs from the blend of the four, so
            # where they agree (a flat background) the block sees the blend alone and draws no
            # pattern repeated in every cell.
            blend = tf.add_n([self._rows(cell_term, i, last) * wi for i, wi in neighbours])  # [B, M, out]
            out = layer.activate(blend + point_term)
        else:
            out = None
        for i, wi in neighbours:
            offset = tf.matmul(tf.cast((pts - tf.gather(centres, i)) * r, w.dtype), w_off, transpose_b=True)
            term = layer.activate(self._rows(cell_term, i, last) + point_term + offset)  # [B, M, out]
            if self.upsampling == "local_diff":
                term -= layer.activate(blend + point_term + offset)
            out = term * wi if out is None else out + term * wi
        return out

    def get_config(self):
        return {**super().get_config(), "blocks": [dict(b) for b in self.blocks],
                "modulation": self.modulation, "fourier": self.fourier, "rank": self.rank,
                "coord_skip": self.coord_skip, "latent_dim": self.latent_dim,
                "out_channels": self.out_channels, "activation": self.activation,
                "upsampling": self.upsampling, "log_frequencies": self.log_frequencies,
                "fourier_cap": self.fourier_cap, "coord_scale": self.coord_scale, "coord_gain": self.coord_gain,
                "saturation": self.saturation, "cell": self.cell, "palette": self.palette}
