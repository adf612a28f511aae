"""Generator configurations as dicts: Table 1's rows and generators sized for small machines.

Each is a dict of Generator constructor arguments (GeneratorConfig.to_dict's shape, with the
defaults left out); checkpoints and exports store the same dict, so it is also what
`Generator.from_config` takes. The paper's named generators are config.PRESETS.
"""
import copy
from typing import Dict, List

from inr_gan_tf.model import config as config_lib


def block(resolution, width, depth, frequencies, fourier_scale=10.0) -> dict:
    return {"resolution": resolution, "width": width, "depth": depth,
            "frequencies": frequencies, "fourier_scale": fourier_scale}


# The paper's generators live in config.PRESETS (one table); these views keep the dict API.
PAPER_BLOCKS: Dict[int, List[dict]] = {c.resolution: c.to_dict()["blocks"] for name, c in config_lib.PRESETS.items()
                                       if name.startswith("paper")}

PAPER_HYPERNET = {k: getattr(config_lib.PRESETS["paper256"], k) for k in ("z_dim", "mapping_width", "mapping_layers",
                                                                          "rank")}

# Table 1's single-scale rows: one block at the output resolution.
SINGLE_BLOCK = {"width": 512, "depth": 3, "frequencies": 256}

TABLE1_ROWS = ("latent", "hyper", "fourier", "fmm", "multiscale")
TABLE1_TITLES = {
    "latent": "Latent-code conditioned INR decoder",
    "hyper": "+ Hypernetwork-based decoder",
    "fourier": "+ Fourier embeddings",
    "fmm": "+ Factorized Multiplicative Modulation",
    "multiscale": "+ Multi-Scale INR",
}


# Options beyond the paper that make the INR continuous and band-limited (inr.py, plan.py): the
# authors' later bilinear transfer between blocks ("INR-GAN-bil") and log-spaced coordinate
# embeddings, and a cap at half of each block's Nyquist limit. Absent keys mean the paper's INR.
CONTINUOUS_OPTIONS = {"upsampling": "bilinear", "log_frequencies": 4, "fourier_cap": 0.5}


# Every option beyond the paper that tiny_generator takes.
INR_OPTIONS = tuple(CONTINUOUS_OPTIONS) + ("coord_scale", "coord_gain", "saturation", "cell", "palette")


def _options(options: dict) -> dict:
    unknown = sorted(set(options) - set(INR_OPTIONS))
    if unknown:
        raise ValueError(f"unknown INR options {unknown}; choose from {sorted(INR_OPTIONS)}")
    return dict(options)


def paper_generator(resolution: int) -> dict:
    """The paper's INR-GAN generator (FMM + multi-scale) for 128, 256 or 1024."""
    if resolution not in PAPER_BLOCKS:
        raise ValueError(f"the paper has generators for {sorted(PAPER_BLOCKS)}, not {resolution}")
    return {"resolution": resolution, "blocks": copy.deepcopy(PAPER_BLOCKS[resolution]),
            "modulation": "fmm", "fourier": True, **PAPER_HYPERNET}


def table1_generator(row: str, resolution: int) -> dict:
    """A row of Table 1 at a resolution, all on the same render API."""
    if row == "multiscale":
        return paper_generator(resolution)
    single = [block(resolution, **SINGLE_BLOCK)]
    rows = {"latent": ("shared", False), "hyper": ("full", False),
            "fourier": ("full", True), "fmm": ("fmm", True)}
    if row not in rows:
        raise ValueError(f"unknown Table 1 row {row!r}; choose from {TABLE1_ROWS}")
    modulation, fourier = rows[row]
    return {"resolution": resolution, "blocks": single, "modulation": modulation,
            "fourier": fourier, **PAPER_HYPERNET}


def _without_defaults(cfg: config_lib.GeneratorConfig, options: dict) -> dict:
    """The dict of a config, leaving out the options beyond the paper that were not asked for
    (so a run or test written before them keeps an identical config.json)."""
    d = cfg.to_dict()
    for k in set(CONTINUOUS_OPTIONS) - set(options):
        d.pop(k)
    return d


def small_generator(resolution: int, width: int = 128, mapping_width: int = 256,
                    z_dim: int = 128, depth: int = 2, frequencies: int = 32,
                    fourier_scale: float = 10.0, **options) -> dict:
    """config.small as a dict; `options` are the INR options beyond the paper (CONTINUOUS_OPTIONS keys)."""
    cfg = config_lib.small(resolution, width, mapping_width, z_dim, depth, frequencies, fourier_scale,
                           **_options(options))
    return _without_defaults(cfg, options)


def tiny_generator(resolution: int = 16, modulation: str = "fmm", fourier: bool = True,
                   multiscale: bool = True, **options) -> dict:
    """config.tiny as a dict; `options` as in small_generator."""
    cfg = config_lib.tiny(resolution, multiscale, modulation=modulation, fourier=fourier, **_options(options))
    return _without_defaults(cfg, options)
