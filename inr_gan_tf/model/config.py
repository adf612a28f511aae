"""The generator's one configuration: a typed, frozen GeneratorConfig, and the named presets.

Everything that needs a generator's shape takes this object or its dict: `Generator`
(constructor arguments), the MAC/parameter counter (complexity.py), `config.json` of a run
and every export (`to_dict()`, JSON). Defaults live here once; readers never re-default a
missing key (`GeneratorConfig.from_dict` fills them, and refuses unknown keys).

PRESETS is a flat table (edm2 `config_presets`, DiT `DiT_models`) selectable with
`--preset=NAME` (train, figures): the paper's generators by resolution (paper128/256/1024),
two-block ones sized for CPUs (small32...small256) and test-sized ones (tiny16, tiny32). Flagfiles keep data and run settings.
"""
import dataclasses
import math
import numbers
from typing import Dict, Optional, Sequence, Tuple

MODULATIONS = ("shared", "full", "fmm")
# How a finer INR block reads a coarser one (model/plan.py); the local ones blend the finer
# block's first layer (inr.MultiScaleINR.local_ensemble).
UPSAMPLINGS = ("nearest", "bilinear", "local", "local_diff")
LOCAL_UPSAMPLINGS = ("local", "local_diff")


@dataclasses.dataclass(frozen=True)
class Block:
    """One INR block (paper Sec. 3.3): runs at `resolution` cells per frame side."""
    resolution: int               # r_k: cells per frame side where the block runs (the last: R)
    width: int                    # hidden units
    depth: int                    # hidden layers
    frequencies: int = 128        # predicted Fourier features (App. C)
    fourier_scale: float = 10.0   # std of the Fourier matrix's initialisation

    def __post_init__(self):
        if min(self.resolution, self.width, self.depth, self.frequencies) < 1:
            raise ValueError(f"block {self}: resolution, width, depth and frequencies must be >= 1")
        if not math.isfinite(self.fourier_scale):
            raise ValueError(f"block {self}: fourier_scale must be finite")


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Generator constructor arguments (generator.py says what each does)."""
    resolution: int
    blocks: Tuple[Block, ...]
    z_dim: int = 512
    mapping_width: int = 1024
    mapping_layers: int = 3
    modulation: str = "fmm"
    fourier: bool = True
    rank: int = 10
    coord_skip: bool = True
    activation: str = "relu"
    fourier_lr_mult: float = 1.0
    upsampling: str = "nearest"
    log_frequencies: int = 0
    fourier_cap: Optional[float] = None
    antialias: int = 1
    coord_scale: Optional[float] = None
    coord_gain: Optional[float] = None
    saturation: Optional[float] = None
    cell: bool = False
    palette: int = 0

    def __post_init__(self):
        if not self.blocks:
            raise ValueError("a generator needs at least one INR block")
        if self.blocks[-1].resolution != self.resolution:
            raise ValueError(f"the last block's resolution ({self.blocks[-1].resolution}) must equal the "
                             f"training resolution ({self.resolution})")
        if self.modulation not in MODULATIONS:
            raise ValueError(f"modulation must be one of {MODULATIONS}, got {self.modulation!r}")
        check_antialias(self.antialias)
        check_coord_scale(self.coord_scale)
        check_coord_gain(self.coord_gain)
        check_raw_scales(self.fourier, self.log_frequencies, self.coord_scale, self.coord_gain)
        check_saturation(self.saturation)
        check_upsampling(self.upsampling)
        check_cell(self.cell, self.upsampling)
        check_palette(self.palette)

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        """A config.json / get_config() dict (extra key `name` ignored); unknown keys refused."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields - {"name"})
        if unknown:
            raise ValueError(f"unknown generator config keys {unknown}; known: {sorted(fields)}")
        values = {k: v for k, v in d.items() if k in fields}
        blocks = []
        for i, b in enumerate(values.get("blocks", ())):
            b = dict(b) if not isinstance(b, Block) else dataclasses.asdict(b)
            extra = sorted(set(b) - {f.name for f in dataclasses.fields(Block)})
            if extra:
                raise ValueError(f"block {i}: unknown keys {extra}")
            blocks.append(Block(**b))
        values["blocks"] = tuple(blocks)
        return cls(**values)

    def to_dict(self) -> dict:
        """JSON-able: what config.json and exports store, and what Generator(**...) takes."""
        d = dataclasses.asdict(self)
        d["blocks"] = [dict(b) for b in d["blocks"]]
        return d

    def replace(self, **changes) -> "GeneratorConfig":
        return dataclasses.replace(self, **changes)


def check_upsampling(upsampling: str) -> None:
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}")


def check_resolutions(resolutions: Sequence[int]) -> None:
    """INR block resolutions: each a multiple of the one before and larger (every cell has one
    parent), except that the last may equal the one before. The finest block runs at the points
    themselves, so its resolution (R) names no cells: a coarse block at R gives each training
    pixel a cell. Errors name the offending pair (`--g_blocks` prefixes its flag)."""
    for r in resolutions:
        if int(r) < 1:
            raise ValueError(f"block resolutions must be >= 1, got {list(resolutions)}")
    last = len(resolutions) - 2
    for i, (a, b) in enumerate(zip(resolutions[:-1], resolutions[1:])):
        if b < a or b % a:
            raise ValueError(f"each block's resolution must be larger than the one before, which must divide it "
                             f"(every cell has one parent), got {a} then {b}")
        if b == a and i != last:
            raise ValueError(f"only the last block's resolution may equal the one before (it runs at the "
                             f"points), got {a} twice")


def check_local_resolution(value, resolution: int, name: str = "local_resolution") -> int:
    """D's local head `value` at input resolution R: 0 (off) or a power of two in [4, R/2] (the
    output of one of its blocks); returned as int. `name` heads the error (`--d_local` for the flag)."""
    r = int(resolution)
    L = int(value) if isinstance(value, numbers.Real) and math.isfinite(value) else -1  # an integral number
    if L != value or not (L == 0 or (4 <= L <= r // 2 and not L & (L - 1))):
        raise ValueError(f"{name} must be 0 (off) or a power of two in [4, {r // 2}] (a D feature map at "
                         f"resolution {r}), got {value!r}")
    return L


def _positive_or_none(name: str, value) -> Optional[float]:
    """None, or a finite real number > 0 (not a bool) returned as float; ValueError naming `name`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 or None, got {value!r}")
    return float(value)


def check_coord_scale(value) -> Optional[float]:
    """`coord_scale`: None (raw coordinates as they are) or a finite number > 0."""
    return _positive_or_none("coord_scale", value)


def check_coord_gain(value) -> Optional[float]:
    """`coord_gain`: None (the first block takes p as it is) or a finite number > 0."""
    return _positive_or_none("coord_gain", value)


def check_raw_scales(fourier: bool, log_frequencies: int, coord_scale=None, coord_gain=None,
                     needs: str = "fourier=False and log_frequencies=0") -> None:
    """coord_scale and coord_gain multiply the raw (x, y) a block takes; with coordinate features
    there are none to scale. `needs` words the remedy: the flag layer passes its flag names."""
    for name, value in (("coord_scale", coord_scale), ("coord_gain", coord_gain)):
        if value is not None and (fourier or log_frequencies):
            raise ValueError(f"{name} scales raw coordinates; it needs {needs}")


def check_cell(value, upsampling: str = "nearest") -> bool:
    """`cell`: a bool; the local ensembles run the finest block's first layer themselves, without it."""
    if not isinstance(value, bool):
        raise ValueError(f"cell must be true or false, got {value!r}")
    if value and upsampling in LOCAL_UPSAMPLINGS:
        raise ValueError(f"cell does not combine with upsampling {upsampling!r} (use nearest or bilinear)")
    return value


def check_saturation(value) -> Optional[float]:
    """`saturation`: None (a linear output, the paper) or a finite gain g > 0 (rgb = tanh(g * out))."""
    return _positive_or_none("saturation", value)


def check_palette(value) -> int:
    """`palette`: 0 (the INR's output is its rgb, the paper) or K >= 2 colours it mixes by a softmax."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (value != 0 and value < 2):
        raise ValueError(f"palette must be 0 (off) or an integer >= 2 (colours), got {value!r}")
    return int(value)


def check_antialias(value) -> int:
    """`antialias` (points per pixel side): an integer >= 1, not a bool; returned as int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"antialias must be an integer >= 1, got {value!r}")
    return int(value)


def as_config(config) -> GeneratorConfig:
    """A GeneratorConfig from itself or from its dict."""
    return config if isinstance(config, GeneratorConfig) else GeneratorConfig.from_dict(config)


# -- presets ---------------------------------------------------------------------------------
# The paper's hypernetwork (App. A) and multi-scale INRs. Where App. A is silent or ambiguous the
# per-resolution sizes follow the authors' reference configuration:
#   128^2  - blocks 64, 128 (Sec. 3.3: "we start with the resolution of 64x64")
#   256^2  - blocks 128 (4 x 512) and 256 (4 x 256)
#   1024^2 - App. A as written: blocks 128 and 256 with 3 layers of 512, 512 with 2 layers of
#            128, 1024 with 2 layers of 32 (its parameter count then matches Table 1 within 4%)
_PAPER = dict(z_dim=512, mapping_width=1024, mapping_layers=3, rank=10, modulation="fmm", fourier=True)

def small(resolution: int, width: int = 128, mapping_width: int = 256, z_dim: int = 128, depth: int = 2,
          frequencies: int = 32, fourier_scale: float = 10.0, **options) -> GeneratorConfig:
    """Sized for CPUs: blocks at R/2 and R of equal width, so a render below the training
    resolution saves in proportion to its points (Fig. 9). `options`: other fields."""
    if resolution < 2 or resolution % 2:
        raise ValueError(f"a small generator needs an even resolution >= 2, got {resolution}")
    blocks = (Block(resolution // 2, width, depth, frequencies, fourier_scale),
              Block(resolution, width, depth, frequencies, fourier_scale))
    return GeneratorConfig(resolution, blocks, z_dim=z_dim, mapping_width=mapping_width, **options)


def tiny(resolution: int = 16, multiscale: bool = True, **options) -> GeneratorConfig:
    """Test-sized (thousands of parameters): for contracts, not quality. `options`: other fields."""
    blocks = (Block(resolution, 16, 2, 8),)
    if multiscale:
        blocks = (Block(resolution // 4, 24, 2, 8), Block(resolution // 2, 16, 2, 8), Block(resolution, 8, 2, 4))
    return GeneratorConfig(resolution, blocks, **{"z_dim": 16, "mapping_width": 32, "mapping_layers": 2,
                                                   "rank": 3, **options})


PRESETS: Dict[str, GeneratorConfig] = {
    "paper128": GeneratorConfig(128, (Block(64, 512, 3, 256), Block(128, 512, 4, 256)), **_PAPER),
    "paper256": GeneratorConfig(256, (Block(128, 512, 4, 256), Block(256, 256, 4, 128)), **_PAPER),
    "paper1024": GeneratorConfig(1024, (Block(128, 512, 3, 256), Block(256, 512, 3, 256), Block(512, 128, 2, 32),
                                        Block(1024, 32, 2, 8)), **_PAPER),
    **{f"small{r}": small(r) for r in (32, 64, 128, 256)},
    **{f"tiny{r}": tiny(r) for r in (16, 32)},
}


def preset(name: str) -> GeneratorConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]
