"""Training options: absl flags -> one validated, JSON-able run config.

Flagfiles in configs/ hold whole runs (`--flagfile=configs/ffhq.flags`); flags given after a
flagfile override it. The resolved config is written to the run directory as config.json, and
the generator part of it rebuilds G with no flags (export, sampling).
"""
import dataclasses
import math
from typing import Callable, Dict, List, Tuple

from absl import flags

from inr_gan_tf.cli import common
from inr_gan_tf.model import config as config_lib
from inr_gan_tf.model import presets


def define(fv: flags.FlagValues) -> None:
    """The run's flags (what config.json records) on the train command's FlagValues."""

    # -- run ----------------------------------------------------------------------------------
    common.define(fv, "run_dir", None, "Created, or resumed from its newest intact checkpoint: running the "
                  "same command again continues it.")
    common.define(fv, "data", "noto_emoji", "The training images.")
    common.define(fv, "resolution", 32, "The training resolution R.")
    common.define(fv, "batch_size", 16, "Global: split over replicas.")
    flags.DEFINE_float("total_kimg", 100.0, "Training length in thousands of real images shown to D.", flag_values=fv)
    common.define(fv, "seed", 0, "Initial weights, latents, data order and patch windows.")
    flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                      "Keras dtype policy. mixed_bfloat16 computes in bfloat16 with float32 weights (GPUs; "
                      "it was 1.4-2.2x slower on CPUs without native bfloat16); mixed_float16 adds "
                      "dynamic loss scaling, one scale per loss.", flag_values=fv)
    common.define(fv, "dry_run", False, "Prints the resolved configuration with MACs and parameters.")
    # -- generator (paper Sec. 3, App. A) -----------------------------------------------------
    common.define(fv, "preset", None, "Its fields replace the generator flags below that the command line "
                  "does not set.")
    flags.DEFINE_string("g_blocks", "16:128:2:32:3,32:128:2:32:3",
                        "INR blocks, comma-separated RES:WIDTH:DEPTH:FREQUENCIES:FOURIER_SCALE; the last "
                        "block's RES must equal --resolution; each RES must be a multiple of the one before and "
                        "larger, except that the last may equal the one before (a coarse block at "
                        "--resolution: each training pixel its own cell). With "
                        "--nofourier the blocks take raw (x, y) and the last two fields are unused.", flag_values=fv)
    common.define(fv, "z_dim", 512)
    flags.DEFINE_integer("mapping_width", 1024, "Hypernetwork width.", flag_values=fv)
    flags.DEFINE_integer("mapping_layers", 3, "Hypernetwork non-linear layers.", flag_values=fv)
    flags.DEFINE_enum("modulation", "fmm", ["fmm", "full", "shared"], "INR weight modulation (Table 1 rows).", flag_values=fv)
    flags.DEFINE_boolean("fourier", True, "Predicted Fourier coordinate features.", flag_values=fv)
    flags.DEFINE_integer("rank", 10, "FMM rank.", flag_values=fv)
    flags.DEFINE_boolean("coord_skip", True, "Concatenate coordinate features to every hidden layer.", flag_values=fv)
    flags.DEFINE_enum("upsampling", "nearest", list(config_lib.UPSAMPLINGS), "How a finer INR block reads a "
                      "coarser one: nearest (the paper: the cell's value), bilinear (blend of the 4 "
                      "cell centres around the point; no cell edges in renders), local (the finer "
                      "block's first layer run per cell on the point's offset from it, then blended: "
                      "LIIF's local ensemble) or local_diff (the offset acts only where cells differ)."
                      , flag_values=fv)
    flags.DEFINE_integer("log_frequencies", 0, "Deterministic log-spaced sin/cos coordinate features per axis "
                         "and block, added to the predicted ones (0: none, the paper).", flag_values=fv)
    flags.DEFINE_float("fourier_cap", None, "Cap every predicted frequency of block k smoothly at this fraction "
                       "of its Nyquist limit pi * r_k (unset: no cap, the paper).", flag_values=fv)
    flags.DEFINE_float("coord_scale", None, "With --nofourier and no log frequencies: raw (x, y) enter every block "
                       "after the first as (p - 0.5) * coord_scale, so a finer block sees where it is inside "
                       "a coarse cell (unset: p in frame units, as before).", flag_values=fv)
    flags.DEFINE_float("coord_gain", None, "With --nofourier and no log frequencies: raw (x, y) enter the first "
                       "block as (p - 0.5) * coord_gain, so a unit of predicted weight is a ramp coord_gain times "
                       "steeper (unset: p, as before).", flag_values=fv)
    flags.DEFINE_float("saturation", None, "The INR's rgb is tanh(saturation * its linear output): flat colours "
                       "where that is well past +-1, edges as steep as its ramp at any density (unset: linear, "
                       "the paper).", flag_values=fv)
    flags.DEFINE_bool("cell", False, "The finest INR block also takes the size of the pixel each point "
                      "stands for (LIIF's cell decoding): anti-aliased training pixels and sharp dense renders "
                      "from one INR (point sets render as training pixels).", flag_values=fv)
    flags.DEFINE_integer("palette", 0, "The INR's last layer gives K logits and its rgb is their softmax "
                         "mixing K colours predicted per sample: flat colours, edges as steep as the logits' "
                         "crossing at any density (0: rgb directly, the paper).", flag_values=fv)
    common.define(fv, "antialias", 1, "Here the model's, recorded in its config: training frames and patches, "
                  "renders, exports' render_grid (1: the paper); area-sampled data are made so.")
    flags.DEFINE_bool("jitter", False, "Each training pixel, real and fake, frame and patch, is the image at "
                      "one of its --antialias^2 points drawn at random per pixel and step (reals from the "
                      "source's point samples): an unbiased one-point estimate of the pixel every render "
                      "averages, at the cost of one point. Needs --antialias >= 2 and an exact source "
                      "(noto_emoji, procedural).", flag_values=fv)
    flags.DEFINE_float("fourier_lr_mult", 1.0, "Learning-rate multiplier of the predicted Fourier matrices "
                       "(1 = the paper; < 1 keeps frequencies from running away in short runs).", flag_values=fv)
    # -- discriminator ------------------------------------------------------------------------
    flags.DEFINE_integer("d_channel_base", 16384, "D feature maps: min(base // res, max); 16384 = config-e.", flag_values=fv)
    flags.DEFINE_integer("d_channel_max", 512, "Largest D feature-map count.", flag_values=fv)
    flags.DEFINE_integer("d_local", 0, "Resolution L of a D feature map (a power of two, 4 .. R/2) where a 1x1 head "
                         "also gives a logit per location, each judging about 10 input pixels at L = R/2, "
                         "conditioned on the view's scale as the global logit is (0: off, StyleGAN2's D).",
                         flag_values=fv)
    flags.DEFINE_float("d_local_weight", 1.0, "With --d_local: weight of the local logits' mean loss beside the "
                       "global logit's (R1 covers both with the same weights).", flag_values=fv)
    # -- patch training: continuous scales (AnyResGAN-style, training/losses.py) --------------
    common.define(fv, "patch_ratio", 0.0, "A step renders as many points as without.")
    flags.DEFINE_float("patch_min_scale", 0.25, "Smallest patch window side s in frame units (the largest is 1); "
                       "a patch samples the image at density R / s.", flag_values=fv)
    flags.DEFINE_enum("patch_scale", "uniform", ["uniform", "log"], "Distribution of the patch window side s: "
                      "uniform in s, or uniform in log s (as many patches per octave).", flag_values=fv)
    flags.DEFINE_enum("patch_cond", "projection", ["projection", "none"], "How D knows a view's scale with "
                      "--patch_ratio > 0: projection (StyleGAN2-ADA's conditional D, on log2(1/s); frames "
                      "have s = 1) or none (D sees patches and frames alike).", flag_values=fv)
    flags.DEFINE_bool("patch_d", False, "With --patch_ratio > 0: patches go to a second D of the same size "
                      "(told s as --patch_cond says), frames to StyleGAN2's unconditioned D; the same MACs "
                      "per step, twice D's parameters.", flag_values=fv)
    # -- render consistency (with --cell; training/losses.py) ---------------------------------
    flags.DEFINE_float("consistency", 0.0, "Weight in the G loss of mean |a training pixel rendered at "
                       "--consistency_density^2 sub-pixels and averaged - the frame's pixel| (0: off): a "
                       "--cell model's dense renders then average back to its frames.", flag_values=fv)
    flags.DEFINE_integer("consistency_points", 16, "With --consistency: training pixels checked per frame and "
                         "G step (at most R^2).", flag_values=fv)
    flags.DEFINE_integer("consistency_density", 4, "With --consistency: k, each pixel checked at k x k sub-pixels "
                         "(4: the 4x render).", flag_values=fv)
    # -- spectral term (training/losses.py) ------------------------------------------------------
    flags.DEFINE_float("spectral", 0.0, "Weight in the G loss of the squared log10 gap, ring by ring, "
                       "between the mean power spectra of each step's fake and real views (Durall et al. "
                       "2020's spectral regularization, measured as the spectral metric does; 0: off).",
                       flag_values=fv)
    # -- optimization (App. A) ----------------------------------------------------------------
    flags.DEFINE_float("lr_hypernet", 5e-5, "Adam learning rate of the hypernetwork (mapping + connector).", flag_values=fv)
    flags.DEFINE_float("lr_inr", 5e-4, "Adam learning rate of the INR's shared parameters.", flag_values=fv)
    flags.DEFINE_float("lr_d", 3e-3, "Adam learning rate of D.", flag_values=fv)
    flags.DEFINE_float("lr_rampdown_kimg", 0.0, "Cosine ramp of all three learning rates down to 0 over the "
                       "last N kimg of --total_kimg (0: constant rates, the paper): the last steps move the "
                       "weights less, so the final checkpoint sits less on the GAN's oscillation. May change on "
                       "resume, as --total_kimg.", flag_values=fv)
    flags.DEFINE_float("adam_beta1", 0.0, "Adam beta_1 for G and D.", flag_values=fv)
    flags.DEFINE_float("adam_beta2", 0.99, "Adam beta_2 for G and D.", flag_values=fv)
    flags.DEFINE_float("r1_gamma", 10.0, "R1 penalty weight on real images.", flag_values=fv)
    flags.DEFINE_integer("r1_interval", 1, "Apply R1 every N D steps (1 = every step, App. A; >1 = lazy R1).", flag_values=fv)
    flags.DEFINE_float("ema_kimg", 10.0, "Half-life of the G EMA in thousands of images.", flag_values=fv)
    flags.DEFINE_float("ema_rampup", 0.05, "EMA ramp-up as a fraction of images seen (0 disables).", flag_values=fv)


# -- ranges: every flag is checked before anything is built or written ---------------------
Rule = Tuple[str, Callable[[float], bool]]  # (what the flag must be, test)


def at_least(low: int) -> Rule:
    return f">= {low}", lambda v: v >= low


POSITIVE: Rule = ("finite and > 0", lambda v: math.isfinite(v) and v > 0)
NONNEGATIVE: Rule = ("finite and >= 0", lambda v: math.isfinite(v) and v >= 0)
BETA: Rule = ("in [0, 1)", lambda v: 0 <= v < 1)
# keras.utils.set_random_seed (numpy's legacy seeding) refuses anything outside [0, 2**32).
SEED: Rule = ("in [0, 2**32)", lambda v: 0 <= v < 2 ** 32)

RUN_RULES: Dict[str, Rule] = {
    "batch_size": at_least(1), "r1_interval": at_least(1), "seed": SEED,
    "z_dim": at_least(1), "mapping_width": at_least(1), "mapping_layers": at_least(1),
    "rank": at_least(1), "d_channel_max": at_least(1),
    "total_kimg": POSITIVE, "lr_hypernet": POSITIVE, "lr_inr": POSITIVE, "lr_d": POSITIVE,
    "fourier_lr_mult": POSITIVE, "ema_kimg": POSITIVE, "r1_gamma": NONNEGATIVE,
    "ema_rampup": NONNEGATIVE, "lr_rampdown_kimg": NONNEGATIVE, "adam_beta1": BETA, "adam_beta2": BETA, "log_frequencies": at_least(0),
    "antialias": at_least(1), "patch_ratio": ("in [0, 1)", lambda v: 0 <= v < 1),
    "patch_min_scale": ("in (0, 1]", lambda v: 0 < v <= 1),
    "d_local": at_least(0), "d_local_weight": NONNEGATIVE,
    "consistency": NONNEGATIVE, "spectral": NONNEGATIVE, "consistency_points": at_least(1), "consistency_density": at_least(2),
}


def check_ranges(a, rules: Dict[str, Rule]) -> None:
    """Raises ValueError naming the first flag outside its rule."""
    for name, (rule, ok) in rules.items():
        value = getattr(a, name)
        if not ok(value):
            raise ValueError(f"--{name} must be {rule}, got {value}")


def parse_blocks(spec: str, fourier: bool = True) -> List[dict]:
    """'16:128:2:32:3,32:...' -> block dicts; errors name the bad part.

    FREQUENCIES must be >= 1 even without Fourier features (the INR checks it); FOURIER_SCALE
    must be finite (it is stored in config.json) and > 0 where it is used.
    """
    blocks = []
    for part in spec.split(","):
        fields = part.strip().split(":")
        if len(fields) != 5:
            raise ValueError(f"--g_blocks part {part!r} must be RES:WIDTH:DEPTH:FREQUENCIES:FOURIER_SCALE")
        try:
            res, width, depth, freq = (int(f) for f in fields[:4])
            scale = float(fields[4])
        except ValueError:
            raise ValueError(f"--g_blocks part {part!r} has a non-numeric field") from None
        if min(res, width, depth, freq) < 1:
            raise ValueError(f"--g_blocks part {part!r}: RES, WIDTH, DEPTH and FREQUENCIES must be >= 1")
        if not math.isfinite(scale) or (fourier and scale <= 0):
            raise ValueError(f"--g_blocks part {part!r}: FOURIER_SCALE must be finite"
                             + (" and > 0" if fourier else ""))
        blocks.append(presets.block(res, width, depth, freq, scale))
    try:
        config_lib.check_resolutions([b["resolution"] for b in blocks])
    except ValueError as e:
        raise ValueError(f"--g_blocks: {e}") from None
    return blocks


# The flags that shape G; --preset supplies those the command line does not set.
GENERATOR_FLAGS = ("resolution", "g_blocks", "z_dim", "mapping_width", "mapping_layers", "modulation", "fourier",
                   "rank", "coord_skip", "fourier_lr_mult", "upsampling", "log_frequencies", "fourier_cap",
                   "antialias", "coord_scale", "coord_gain", "saturation", "cell", "palette")


# The generator flags beyond the paper: config.json records each only when it is not its default.
CONTINUOUS_FLAGS = ("upsampling", "log_frequencies", "fourier_cap", "antialias", "coord_scale", "coord_gain",
                    "saturation", "cell", "palette")


def format_blocks(blocks) -> str:
    """Blocks -> the --g_blocks spelling RES:WIDTH:DEPTH:FREQUENCIES:FOURIER_SCALE,..."""
    return ",".join(f"{b.resolution}:{b.width}:{b.depth}:{b.frequencies}:{b.fourier_scale:g}" for b in blocks)


def with_preset(a):
    """The generator flags' values: --preset's fields, then whatever the command line sets."""
    if not a.preset:
        return a
    try:
        cfg = config_lib.preset(a.preset)
    except ValueError as e:
        raise ValueError(f"--preset: {e}") from None
    values = {name: getattr(cfg, name) for name in GENERATOR_FLAGS if name != "g_blocks"}
    values["g_blocks"] = format_blocks(cfg.blocks)
    return a.replace(**{k: v for k, v in values.items() if not a.given(k)})


def generator_config(a) -> dict:
    """config.json's "generator": the Generator's arguments, options beyond the paper only when set."""
    return {"resolution": a.resolution, "blocks": parse_blocks(a.g_blocks, a.fourier),
            "z_dim": a.z_dim, "mapping_width": a.mapping_width,
            "mapping_layers": a.mapping_layers, "modulation": a.modulation,
            "fourier": a.fourier, "rank": a.rank, "coord_skip": a.coord_skip,
            "fourier_lr_mult": a.fourier_lr_mult, **continuous_options(a)}


def continuous_options(a) -> dict:
    """The INR options beyond the paper, only where set: a run started before they existed
    keeps an identical config.json and so still resumes."""
    if a.fourier_cap is not None and not (math.isfinite(a.fourier_cap) and a.fourier_cap > 0):
        raise ValueError(f"--fourier_cap must be finite and > 0 (or unset), got {a.fourier_cap}")
    for check in (lambda: config_lib.check_coord_scale(a.coord_scale),  # the Generator's own checks
                  lambda: config_lib.check_coord_gain(a.coord_gain),
                  lambda: config_lib.check_raw_scales(a.fourier, a.log_frequencies, a.coord_scale,
                                                      a.coord_gain, needs="--nofourier and --log_frequencies=0"),
                  lambda: config_lib.check_saturation(a.saturation),
                  lambda: config_lib.check_cell(a.cell, a.upsampling),
                  lambda: config_lib.check_palette(a.palette)):
        try:
            check()
        except ValueError as e:
            raise ValueError(f"--{e}") from None
    # "Unset" is the GeneratorConfig's own default: one place says what the paper's INR is.
    defaults = {f.name: f.default for f in dataclasses.fields(config_lib.GeneratorConfig)}
    chosen = {k: getattr(a, k) for k in CONTINUOUS_FLAGS}
    return {k: v for k, v in chosen.items() if v != defaults[k]}


def run_config(a) -> dict:
    """The whole run as a JSON-able dict; raises ValueError naming the first bad flag."""
    a = with_preset(a)
    check_ranges(a, RUN_RULES)
    g = generator_config(a)
    if g["blocks"][-1]["resolution"] != a.resolution:
        raise ValueError(f"--g_blocks ends at resolution {g['blocks'][-1]['resolution']} but "
                         f"--resolution is {a.resolution}")
    r = a.resolution
    if r < 16 or r & (r - 1):
        raise ValueError(f"--resolution must be a power of two >= 16 (the discriminator's), got {r}")
    if a.d_channel_base < r:  # D has d_channel_base // res feature maps at res: none below R
        raise ValueError(f"--d_channel_base must be >= --resolution ({r}), got {a.d_channel_base}")
    config_lib.check_local_resolution(a.d_local, r, "--d_local")
    if not a.data:
        raise ValueError("--data must name a source")
    config = {
        "generator": g,
        "discriminator": {"resolution": r, "channel_base": a.d_channel_base,
                          "channel_max": a.d_channel_max},
        "data": a.data, "batch_size": a.batch_size, "total_kimg": a.total_kimg,
        "seed": a.seed, "precision": a.precision,
        "optim": {"lr_hypernet": a.lr_hypernet, "lr_inr": a.lr_inr, "lr_d": a.lr_d,
                  "betas": [a.adam_beta1, a.adam_beta2]},
        "loss": {"r1_gamma": a.r1_gamma, "r1_interval": a.r1_interval},
        "ema": {"ema_kimg": a.ema_kimg, "ema_rampup": a.ema_rampup},
    }
    if a.lr_rampdown_kimg:  # only when set, as the patch section: earlier runs keep their config.json
        config["optim"]["lr_rampdown_kimg"] = a.lr_rampdown_kimg
    if a.patch_ratio > 0:
        # Only with patches: a run without them keeps an identical config.json and still resumes.
        config["patch"] = patch_config(a)
        if a.patch_cond != "none":
            config["discriminator"]["scale_conditioning"] = a.patch_cond
        if a.patch_d:  # only when set: earlier runs keep their config.json
            config["discriminator"]["separate_patches"] = True
    elif a.patch_d:
        raise ValueError("--patch_d needs patches: set --patch_ratio > 0")
    if a.jitter:  # only when set, as the patch section: earlier runs keep their config.json
        if a.antialias < 2:
            raise ValueError("--jitter needs --antialias >= 2, the points each pixel draws one of "
                             "(or pass --nojitter)")
        if a.consistency > 0:  # its target, a frame's pixel, would be one random point of it
            raise ValueError("--jitter and --consistency do not go together: a jittered frame pixel is one "
                             "random point, not the pixel the term averages back to (pass --nojitter)")
        config["jitter"] = True
    if a.consistency > 0:  # only when set, as the patch section: earlier runs keep their config.json
        if a.consistency_points > r * r:
            raise ValueError(f"--consistency_points must be at most R^2 = {r * r}, got {a.consistency_points}")
        from inr_gan_tf.training.losses import Consistency  # TensorFlow: imported only when used
        config["loss"]["consistency"] = Consistency(a.consistency, a.consistency_points,
                                                    a.consistency_density).config()
    if a.spectral > 0:  # only when set, as the patch section: earlier runs keep their config.json
        config["loss"]["spectral"] = a.spectral
    if a.d_local:  # only when set, as the patch section: earlier runs keep their config.json
        config["discriminator"]["local_resolution"] = a.d_local
        config["loss"]["local_weight"] = a.d_local_weight
    return config


def patch_config(a) -> dict:
    """The "patch" section (losses.Patches' arguments); every batch holds a patch and a frame."""
    from inr_gan_tf.training.losses import Patches  # TensorFlow: imported only when used
    patches = Patches(a.patch_ratio, a.patch_min_scale, a.patch_scale)
    n = patches.count(a.batch_size)
    if not 1 <= n < a.batch_size:
        raise ValueError(f"--patch_ratio {a.patch_ratio} gives {n} patches in a batch of {a.batch_size}; "
                         "each batch needs at least one patch and one full frame")
    return patches.config()
