"""Training options: absl flags -> one validated, JSON-able run config.

Flagfiles in configs/ hold whole runs (`--flagfile=configs/ffhq.flags`); flags given after a
flagfile override it. The resolved config is written to the run directory as config.json, and
the generator part of it rebuilds G with no flags (export, sampling).
"""
from typing import List

from absl import flags

from inr_gan_tf.model import presets

FLAGS = flags.FLAGS

# -- run ----------------------------------------------------------------------------------
flags.DEFINE_string("run_dir", "runs/quickstart", "Run directory: checkpoints, logs, samples. "
                    "Running the same command again resumes from its last checkpoint.")
flags.DEFINE_string("data", "noto_emoji", "Training images: noto_emoji, procedural, a folder, a "
                    ".zip, TFRecord shards, tfds:NAME[:SPLIT] or lsun:PATH.")
flags.DEFINE_integer("resolution", 32, "Training resolution R (images are R x R).")
flags.DEFINE_integer("batch_size", 16, "Global batch size (split over replicas).")
flags.DEFINE_float("total_kimg", 100.0, "Training length in thousands of real images shown to D.")
flags.DEFINE_integer("seed", 0, "Global random seed.")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Keras dtype policy. mixed_bfloat16 computes in bfloat16 with float32 weights (GPUs; "
                  "it was 1.4-2.2x slower on CPUs without native bfloat16); mixed_float16 adds "
                  "dynamic loss scaling, one scale per loss.")
flags.DEFINE_boolean("dry_run", False, "Print the resolved configuration with MACs and parameters, then exit.")
# -- generator (paper Sec. 3, App. A) -----------------------------------------------------
flags.DEFINE_string("g_blocks", "16:128:2:32:3,32:128:2:32:3",
                    "INR blocks, comma-separated RES:WIDTH:DEPTH:FREQUENCIES:FOURIER_SCALE; the last "
                    "block's RES must equal --resolution; each RES must divide the next. With "
                    "--nofourier the blocks take raw (x, y) and the last two fields are unused.")
flags.DEFINE_integer("z_dim", 512, "Latent size.")
flags.DEFINE_integer("mapping_width", 1024, "Hypernetwork width.")
flags.DEFINE_integer("mapping_layers", 3, "Hypernetwork non-linear layers.")
flags.DEFINE_enum("modulation", "fmm", ["fmm", "full", "shared"], "INR weight modulation (Table 1 rows).")
flags.DEFINE_boolean("fourier", True, "Predicted Fourier coordinate features.")
flags.DEFINE_integer("rank", 10, "FMM rank.")
flags.DEFINE_boolean("coord_skip", True, "Concatenate coordinate features to every hidden layer.")
flags.DEFINE_float("fourier_lr_mult", 1.0, "Learning-rate multiplier of the predicted Fourier matrices "
                   "(1 = the paper; < 1 keeps frequencies from running away in short runs).")
# -- discriminator ------------------------------------------------------------------------
flags.DEFINE_integer("d_channel_base", 16384, "D feature maps: min(base // res, max); 16384 = config-e.")
flags.DEFINE_integer("d_channel_max", 512, "Largest D feature-map count.")
# -- optimization (App. A) ----------------------------------------------------------------
flags.DEFINE_float("lr_hypernet", 5e-5, "Adam learning rate of the hypernetwork (mapping + connector).")
flags.DEFINE_float("lr_inr", 5e-4, "Adam learning rate of the INR's shared parameters.")
flags.DEFINE_float("lr_d", 3e-3, "Adam learning rate of D.")
flags.DEFINE_float("adam_beta1", 0.0, "Adam beta_1 for G and D.")
flags.DEFINE_float("adam_beta2", 0.99, "Adam beta_2 for G and D.")
flags.DEFINE_float("r1_gamma", 10.0, "R1 penalty weight on real images.")
flags.DEFINE_integer("r1_interval", 1, "Apply R1 every N D steps (1 = every step, App. A; >1 = lazy R1).")
flags.DEFINE_float("ema_kimg", 10.0, "Half-life of the G EMA in thousands of images.")
flags.DEFINE_float("ema_rampup", 0.05, "EMA ramp-up as a fraction of images seen (0 disables).")


def parse_blocks(spec: str) -> List[dict]:
    """'16:128:2:32:3,32:...' -> block dicts; errors name the bad part."""
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
        blocks.append(presets.block(res, width, depth, freq, scale))
    return blocks


def generator_config() -> dict:
    return {"resolution": FLAGS.resolution, "blocks": parse_blocks(FLAGS.g_blocks),
            "z_dim": FLAGS.z_dim, "mapping_width": FLAGS.mapping_width,
            "mapping_layers": FLAGS.mapping_layers, "modulation": FLAGS.modulation,
            "fourier": FLAGS.fourier, "rank": FLAGS.rank, "coord_skip": FLAGS.coord_skip,
            "fourier_lr_mult": FLAGS.fourier_lr_mult}


def run_config() -> dict:
    """The whole run as a JSON-able dict; raises ValueError naming inconsistent flags."""
    g = generator_config()
    if g["blocks"][-1]["resolution"] != FLAGS.resolution:
        raise ValueError(f"--g_blocks ends at resolution {g['blocks'][-1]['resolution']} but "
                         f"--resolution is {FLAGS.resolution}")
    r = FLAGS.resolution
    if r < 16 or r & (r - 1):
        raise ValueError(f"--resolution must be a power of two >= 16 (the discriminator's), got {r}")
    for name in ("batch_size", "r1_interval"):
        if getattr(FLAGS, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(FLAGS, name)}")
    for name in ("lr_hypernet", "lr_inr", "lr_d", "total_kimg", "fourier_lr_mult"):
        if not getattr(FLAGS, name) > 0:
            raise ValueError(f"--{name} must be > 0, got {getattr(FLAGS, name)}")
    return {
        "generator": g,
        "discriminator": {"resolution": r, "channel_base": FLAGS.d_channel_base,
                          "channel_max": FLAGS.d_channel_max},
        "data": FLAGS.data, "batch_size": FLAGS.batch_size, "total_kimg": FLAGS.total_kimg,
        "seed": FLAGS.seed, "precision": FLAGS.precision,
        "optim": {"lr_hypernet": FLAGS.lr_hypernet, "lr_inr": FLAGS.lr_inr, "lr_d": FLAGS.lr_d,
                  "betas": [FLAGS.adam_beta1, FLAGS.adam_beta2]},
        "loss": {"r1_gamma": FLAGS.r1_gamma, "r1_interval": FLAGS.r1_interval},
        "ema": {"ema_kimg": FLAGS.ema_kimg, "ema_rampup": FLAGS.ema_rampup},
    }
