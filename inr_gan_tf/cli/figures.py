"""Paper figures as PNG + JSON.

    python -m inr_gan_tf.figures --figure=freq-norms --run_dir=runs/x --outdir=figs/   # Fig. 17
    python -m inr_gan_tf.figures --figure=freq-norms --preset=paper256 --outdir=figs/  # random init
    python -m inr_gan_tf.figures --figure=lowres --outdir=figs/ [--macs_presets=paper256,paper1024]
        [--time_presets=small256] [--resolutions=32,64,128,256] [--batch_size=8] [--repeats=5]   # Fig. 9

Plotting needs matplotlib (pip install "inr_gan_tf[figures]"); --noplot writes the JSON only.
The figure name as the first argument (`figures lowres ...`) still works, deprecated.
"""
import os
import sys
from typing import List, Optional

from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402,F401 -- UsageError: in-process callers catch it

FIGURES = ("freq-norms", "lowres")
# The flags of one figure only; the other figure rejects them (as its own command line did).
ONLY = {"freq-norms": ("run_dir", "preset", "num", "truncation"),
        "lowres": ("macs_presets", "time_presets", "resolutions", "batch_size", "repeats")}
PRESET_HELP = "names as in --preset"  # the PRESETS table, listed once in --preset's help


def define(fv: flags.FlagValues) -> None:
    flags.DEFINE_enum("figure", None, list(FIGURES), "Which figure: freq-norms (Fig. 17: Fourier frequency "
                      "norms per block) or lowres (Fig. 9: MACs and time vs output resolution).", flag_values=fv)
    common.define(fv, "outdir", "figures", "Receives the PNG and JSON.")
    flags.DEFINE_integer("first_seed", 0, "Latent k of a figure comes from seed first_seed + k; also the init "
                         "seed of presets.", flag_values=fv)
    common.define(fv, "threads", 1, "Default 1: the steadiest timings.", lower_bound=0)
    flags.DEFINE_boolean("plot", True, "Plot the PNG (needs matplotlib); --noplot writes the JSON only.",
                         flag_values=fv)
    # freq-norms
    common.define(fv, "run_dir", None, "freq-norms: its G_ema.")
    common.define(fv, "preset", None, "freq-norms: this generator at random init instead of --run_dir.")
    common.define(fv, "num", 128, "freq-norms: latents to sample (paper: 128).", lower_bound=1)
    common.define(fv, "truncation", 1.0, "freq-norms.")
    # lowres
    flags.DEFINE_string("macs_presets", "paper256,paper1024", f"lowres: comma list of presets counted "
                        f"analytically: {PRESET_HELP}.", flag_values=fv)
    flags.DEFINE_string("time_presets", "small256", "lowres: comma list of presets also built and timed on this "
                        "machine ('' for none).", flag_values=fv)
    common.define(fv, "resolutions", "32,64,128,256", "lowres: the output resolutions.")
    common.define(fv, "batch_size", 8, "lowres: images per timed call.", lower_bound=1)
    common.define(fv, "repeats", 5, "lowres: timed calls per point.", lower_bound=1)


def _names(text):
    return [s for s in (p.strip() for p in text.split(",")) if s]


def check(a: Args) -> Args:
    """Checks the parsed flags together; bad values raise UsageError naming the flag."""
    from inr_gan_tf.figures.common import INSTALL_HINT, preset_config
    from inr_gan_tf.figures.lowres import check_resolutions

    common.output_path(a, "outdir", folder=True)
    if a.figure is None:
        raise UsageError(f"--figure is required: one of {', '.join(FIGURES)}")
    for other, names in ONLY.items():
        given = [n for n in names if other != a.figure and a.given(n)]
        if given:
            raise UsageError(f"--{given[0]} is a flag of --figure={other}, not of --figure={a.figure}")
    if a.figure == "freq-norms" and bool(a.run_dir) == bool(a.preset):
        raise UsageError("--figure=freq-norms needs exactly one of --run_dir or --preset")
    presets = {"preset": [a.preset] if a.preset else []} if a.figure == "freq-norms" else {
        "macs_presets": _names(a.macs_presets), "time_presets": _names(a.time_presets)}
    configs = {}
    for name, values in presets.items():
        with common.flag_errors(f"--{name}"):
            configs[name] = {n: preset_config(n) for n in values}
    a.macs, a.timed = configs.get("macs_presets"), configs.get("time_presets")
    if a.figure == "lowres":
        with common.flag_errors("--resolutions"):
            a.resolution_list = check_resolutions([int(r) for r in _names(a.resolutions)])
    if a.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError(f"{INSTALL_HINT}; or pass --noplot for the JSON alone") from None
    return a


def command_main(a: Args) -> int:
    a = check(a)
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialized (run in-process): keep its setting
        pass
    threads = tf.config.threading.get_intra_op_parallelism_threads()  # 0: TF's default, all cores

    from inr_gan_tf.figures import common as common_lib, freq_norms, lowres
    if a.figure == "freq-norms":
        try:  # e.g. a run without Fourier features (the quickstart): one line, not a traceback
            G, source = common_lib.load_generator(a.run_dir, a.preset, seed=a.first_seed)
            data = freq_norms.run(G, a.outdir, num=a.num, seed=a.first_seed, truncation=a.truncation,
                                  source=source, plot_png=a.plot)
        except ValueError as e:
            raise UsageError(str(e)) from None
        for b in data["blocks"]:
            print(f"block {b['block']} ({b['resolution']:4d}^2, n={b['frequencies']:3d}): "
                  f"mean {b['mean']:8.2f}  median {b['median']:8.2f}  max {b['max']:8.2f} rad/unit  "
                  f"above Nyquist {100 * b['above_nyquist']:.2f}%")
    else:
        data = lowres.run(a.outdir, a.macs, a.timed, a.resolution_list, batch=a.batch_size, reps=a.repeats,
                          seed=a.first_seed, threads=threads, plot_png=a.plot)
        for s in data["series"]:
            m, t = s["macs"], s.get("time")
            for i, r in enumerate(m["resolutions"]):
                line = (f"{s['name']:>10s} r={r:5d}: INR {m['inr_macs'][i] / 1e9:9.3f} GMACs, "
                        f"conv {m['conv_macs'][i] / 1e9:9.3f} GMACs")
                if t:
                    line += (f" | INR {t['inr_ms_per_image'][i]:8.2f} ms/img, "
                             f"conv {t['conv_ms_per_image'][i]:8.2f} ms/img")
                print(line)
    print(f"wrote {os.path.abspath(a.outdir)}")
    return 0


COMMAND = cli.Command("python -m inr_gan_tf.figures", __doc__, define, command_main,
                      aliases={"out": "outdir", "seed": "first_seed", "no_plot": "noplot", "batch": "batch_size",
                               "reps": "repeats"})


def positional_figure(argv: List[str]) -> List[str]:
    """`figures lowres ...` (the old subcommand) -> `--figure=lowres ...`, with a deprecation warning."""
    if argv and argv[0] in FIGURES:
        print(f"{cli.short(COMMAND)}: the figure name as an argument is deprecated, use --figure={argv[0]}",
              file=sys.stderr)
        return [f"--figure={argv[0]}", *argv[1:]]
    return argv


def run(argv: Optional[List[str]] = None) -> int:
    return cli.run(COMMAND, positional_figure(list(sys.argv[1:] if argv is None else argv)))


def main(argv: Optional[List[str]] = None) -> int:
    """In-process entry, as `run`: exit status 0, or 2 with one line on stderr."""
    return run(argv)


if __name__ == "__main__":
    sys.exit(run())
