"""Generator configurations: the paper's (Table 1, App. A) and ones sized for small machines.

A preset is a plain dict of Generator constructor arguments; checkpoints and exports store the
same dict, so a preset is also what `Generator.from_config` takes.
"""
import copy
from typing import Dict, List


def block(resolution, width, depth, frequencies, fourier_scale=10.0) -> dict:
    return {"resolution": resolution, "width": width, "depth": depth,
            "frequencies": frequencies, "fourier_scale": fourier_scale}


# Multi-scale INRs of App. A. Where App. A is silent or ambiguous the per-resolution sizes follow
# the authors' reference configuration (block width and Fourier feature counts per resolution):
#   128^2  - blocks 64, 128 (Sec. 3.3: "we start with the resolution of 64x64")
#   256^2  - blocks 128 (4 x 512) and 256 (4 x 256)
#   1024^2 - App. A as written: blocks 128 and 256 with 3 layers of 512, 512 with 2 layers of
#            128, 1024 with 2 layers of 32 (its parameter count then matches Table 1 within 4%)
PAPER_BLOCKS: Dict[int, List[dict]] = {
    128: [block(64, 512, 3, 256), block(128, 512, 4, 256)],
    256: [block(128, 512, 4, 256), block(256, 256, 4, 128)],
    1024: [block(128, 512, 3, 256), block(256, 512, 3, 256), block(512, 128, 2, 32), block(1024, 32, 2, 8)],
}

PAPER_HYPERNET = {"z_dim": 512, "mapping_width": 1024, "mapping_layers": 3, "rank": 10}

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


def _options(options: dict) -> dict:
    unknown = sorted(set(options) - set(CONTINUOUS_OPTIONS))
    if unknown:
        raise ValueError(f"unknown INR options {unknown}; choose from {sorted(CONTINUOUS_OPTIONS)}")
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


def small_generator(resolution: int, width: int = 128, mapping_width: int = 256,
                    z_dim: int = 128, depth: int = 2, frequencies: int = 32,
                    fourier_scale: float = 10.0, **options) -> dict:
    """A two-block multi-scale generator sized for CPUs: blocks at R/2 and R of equal width.

    Equal widths make a block's per-point cost the same, so a render below the training
    resolution saves in proportion to its points (Fig. 9). `options` are the INR options
    beyond the paper (CONTINUOUS_OPTIONS keys).
    """
    if resolution < 2 or resolution % 2:
        raise ValueError(f"small_generator needs an even resolution >= 2, got {resolution}")
    blocks = [block(resolution // 2, width, depth, frequencies, fourier_scale),
              block(resolution, width, depth, frequencies, fourier_scale)]
    return {"resolution": resolution, "blocks": blocks, "modulation": "fmm", "fourier": True,
            "z_dim": z_dim, "mapping_width": mapping_width, "mapping_layers": 3, "rank": 10,
            **_options(options)}


def tiny_generator(resolution: int = 16, modulation: str = "fmm", fourier: bool = True,
                   multiscale: bool = True, **options) -> dict:
    """Test-sized generator (thousands of parameters) for contracts, not quality; `options` as in small_generator."""
    blocks = [block(resolution, 16, 2, 8)]
    if multiscale:
        blocks = [block(resolution // 4, 24, 2, 8), block(resolution // 2, 16, 2, 8), block(resolution, 8, 2, 4)]
    return {"resolution": resolution, "blocks": blocks, "modulation": modulation, "fourier": fourier,
            "z_dim": 16, "mapping_width": 32, "mapping_layers": 2, "rank": 3, **_options(options)}
