"""Analytic multiply-accumulates (MACs) and parameter counts of a generator config, and the
MACs of a discriminator config on one view.

Counted from the config alone (no weights are built, so the 2-billion-parameter rows of
Table 1 can be counted too), from the same `layer_layout` the INR is built from. MACs are
those of matrix products: dense layers, the FMM product A @ B, the Fourier and log-frequency
projections and the connector; element-wise work (activations, sigmoid, sin/cos, biases, the
frequency cap, bilinear blends of four gathered rows) is not counted, as in the paper's MAC
figures. A test checks the count against TensorFlow's own FLOP profile.
"""
import dataclasses
import inspect
from typing import Dict, Sequence

import numpy as np

from inr_gan_tf import coords as coords_lib
from inr_gan_tf.model import plan as plan_lib
from inr_gan_tf.model.discriminator import Discriminator, channels_at, split_config
from inr_gan_tf.model.inr import LOCAL_OFFSET_DIM, layer_layout, normalize_blocks
from inr_gan_tf.model.config import GeneratorConfig, as_config


def _layout(c: GeneratorConfig):
    blocks = normalize_blocks([dataclasses.asdict(b) for b in c.blocks])
    latent = c.mapping_width if c.modulation == "shared" else 0
    return blocks, layer_layout(blocks, c.modulation, c.fourier, c.coord_skip, latent,
                                log_frequencies=c.log_frequencies, upsampling=c.upsampling, cell=c.cell,
                                palette=c.palette)


def _predicted_and_shared(kind, in_dim, out_dim, rank, modulation):
    """(values predicted per sample, shared trainable values) of one INR layer."""
    if kind == "fourier":
        return (0, out_dim * 2) if modulation == "shared" else (out_dim * 2, 0)
    if kind == "log":
        return 0, 0  # fixed by the config
    if kind == "fmm":
        return (out_dim + in_dim) * rank + out_dim, out_dim * in_dim
    if kind == "hyper":
        return out_dim * in_dim + out_dim, 0
    return 0, in_dim * out_dim + out_dim  # shared


def params(config) -> Dict[str, int]:
    """Trainable parameters: hypernetwork (mapping + connector), shared INR weights, total.

    `config`: a GeneratorConfig or its dict. `predicted` is the size of theta, the per-sample
    output of the connector.
    """
    c = as_config(config)
    _, layout = _layout(c)
    rank, modulation, z_dim, width, layers = c.rank, c.modulation, c.z_dim, c.mapping_width, c.mapping_layers
    predicted = shared = 0
    for rows in layout:
        for _, kind, i, o in rows:
            p, s = _predicted_and_shared(kind, i, o, rank, modulation)
            predicted, shared = predicted + p, shared + s
    if modulation == "shared":
        predicted = width  # the connector emits the latent fed to the INR
    mapping = z_dim * width + width + (layers - 1) * (width * width + width)
    connector = width * predicted + predicted
    return {"mapping": mapping, "connector": connector, "hypernet": mapping + connector,
            "inr_shared": shared, "predicted": predicted,
            "total": mapping + connector + shared}


def points_per_block(blocks: Sequence[dict], coords: np.ndarray, upsampling: str = "nearest") -> list:
    """How many points each block runs at for a point set: distinct cells, then all points."""
    if upsampling != "nearest":  # cells of 4-neighbourhoods, level by level: the render plan itself
        plan = plan_lib.make_plan(coords, [b["resolution"] for b in blocks[:-1]], upsampling)
        return [int(c.shape[0]) for c in plan.centres] + [len(coords)]
    counts = []
    for b in blocks[:-1]:
        cells = np.floor(coords.astype(np.float64) * b["resolution"]).astype(np.int64)
        counts.append(len(np.unique(cells, axis=0)))
    return counts + [len(coords)]


def macs(config, height: int = None, width: int = None,
         bounds=coords_lib.UNIT_BOUNDS) -> Dict[str, int]:
    """MACs to generate one image of height x width (default: the training grid); `config`:
    a GeneratorConfig or its dict."""
    c = as_config(config)
    blocks, layout = _layout(c)
    height = height or c.resolution
    width = width or c.resolution
    rank, z_dim, hw, n_layers = c.rank, c.z_dim, c.mapping_width, c.mapping_layers
    # With antialias aa a pixel is aa x aa points: those of the aa times denser grid.
    aa = c.antialias
    counts = points_per_block(blocks, coords_lib.grid_np(aa * height, aa * width, bounds), c.upsampling)
    inr = modulate = 0
    for k, (rows, m) in enumerate(zip(layout, counts)):
        for name, kind, i, o in rows:
            if k > 0 and c.upsampling in plan_lib.LOCAL_UPSAMPLINGS and name == f"b{k}.l0":
                # inr.local_ensemble: the coarse features once per coarse cell, the coordinate
                # features once per point, the offset once per point and neighbour.
                cells, offset = counts[k - 1], LOCAL_OFFSET_DIM
                inr += cells * blocks[k - 1]["width"] * o + m * (i - blocks[k - 1]["width"] - offset) * o
                inr += 4 * m * offset * o
            else:
                inr += m * i * o
            if kind == "fmm":
                modulate += o * rank * i  # A @ B, once per image
    mapping = z_dim * hw + (n_layers - 1) * hw * hw
    connector = hw * params(c)["predicted"]
    hypernet = mapping + connector + modulate
    return {"hypernet": hypernet, "inr": inr, "total": hypernet + inr,
            "points_per_block": counts}


# Discriminator's own defaults, for the arguments a config leaves out.
_D_DEFAULTS = {name: p.default for name, p in inspect.signature(Discriminator.__init__).parameters.items()
               if p.default is not p.empty}


def discriminator_macs(config: dict) -> int:
    """MACs of D on one R x R view, `config`: Discriminator's arguments (config.json's
    "discriminator"). Its convolutions and dense layers; the [1, 3, 3, 1] blur before each
    strided convolution is a depthwise filter and, like the generator's element-wise work, is
    not counted. At the quickstart's size D costs more per view than the INR (docs/quickstart.md)."""
    # A split D (separate_patches) sends each view through one D of this size: the same per view
    # (the patch D's, conditioned as the config says; the frame D's has no embedding).
    d = {**_D_DEFAULTS, **split_config(config)[1]}
    R, base, cap = int(d["resolution"]), int(d["channel_base"]), int(d["channel_max"])
    nf = lambda r: channels_at(r, base, cap)  # noqa: E731
    total = R * R * int(d["channels"]) * nf(R)                       # from_rgb, 1 x 1
    r = R
    while r > 4:                                                     # ResNet blocks r -> r / 2
        cin, cout, half = nf(r), nf(r // 2), (r // 2) ** 2
        total += r * r * 9 * cin * cin + half * 9 * cin * cout + half * cin * cout  # conv0, conv1, skip
        r //= 2
    c4 = nf(4)
    cmap = c4 if d["scale_conditioning"] == "projection" else 0
    total += 16 * 9 * (c4 + int(d["mbstd_num_channels"])) * c4 + 16 * c4 * c4 + c4 * (cmap or 1)  # conv4, fc, out
    embed = lambda units: (1 + 2 * int(d["scale_frequencies"])) * units + units * units  # noqa: E731
    if cmap:
        total += embed(cmap)
    L = int(d["local_resolution"])
    if L:
        cl = nf(L)
        total += L * L * cl * (cl if cmap else 1) + (embed(cl) if cmap else 0)
    return total

