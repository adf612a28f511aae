"""Paper figures as PNG + JSON.

    python -m inr_gan_tf.figures freq-norms --run_dir runs/x --out figs/          # Fig. 17
    python -m inr_gan_tf.figures freq-norms --preset paper256 --out figs/         # random init
    python -m inr_gan_tf.figures lowres --out figs/ [--macs_presets paper256,paper1024]
        [--time_presets small256] [--resolutions 32,64,128,256] [--batch 8] [--reps 5]   # Fig. 9

Plotting needs matplotlib (pip install "inr_gan_tf[figures]"); --no_plot writes the JSON only.
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _names(text):
    return [s for s in (p.strip() for p in text.split(",")) if s]


def main(argv=None):
    from inr_gan_tf.figures.common import INSTALL_HINT, PRESET_HELP

    ap = argparse.ArgumentParser(prog="python -m inr_gan_tf.figures", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="figure", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", default="figures", help="output folder for the PNG and JSON")
    common.add_argument("--seed", type=int, default=0, help="first latent seed (and init seed of presets)")
    common.add_argument("--threads", type=int, default=1, help="TF intra-op threads (timings: 1 is steadiest)")
    common.add_argument("--no_plot", action="store_true", help="write the JSON only (no matplotlib needed)")

    f17 = sub.add_parser("freq-norms", parents=[common], help="Fig. 17: Fourier frequency norms per block")
    f17.add_argument("--run_dir", help="training run (config.json + checkpoints/): its G_ema")
    f17.add_argument("--preset", help=f"or a preset at random init: {PRESET_HELP}")
    f17.add_argument("--num", type=int, default=128, help="images (latents) to sample (paper: 128)")
    f17.add_argument("--truncation", type=float, default=1.0, help="truncation psi of the latents")

    f9 = sub.add_parser("lowres", parents=[common], help="Fig. 9: MACs and time vs output resolution")
    f9.add_argument("--macs_presets", default="paper256,paper1024",
                    help=f"comma list of presets counted analytically: {PRESET_HELP}")
    f9.add_argument("--time_presets", default="small256",
                    help="comma list of presets also built and timed on this machine ('' for none)")
    f9.add_argument("--resolutions", default="32,64,128,256", help="comma list of output resolutions")
    f9.add_argument("--batch", type=int, default=8, help="images per timed call")
    f9.add_argument("--reps", type=int, default=5, help="timed calls per point (median)")
    args = ap.parse_args(argv)

    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialized (main() called in-process): keep its setting
        pass
    threads = tf.config.threading.get_intra_op_parallelism_threads()  # 0: TF's default, all cores
    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print(f"error: {INSTALL_HINT}; or pass --no_plot for the JSON alone", file=sys.stderr)
            return 2

    from inr_gan_tf.figures import common as common_lib, freq_norms, lowres
    if args.figure == "freq-norms":
        try:  # e.g. a run without Fourier features (the quickstart): one line, not a traceback
            G, source = common_lib.load_generator(args.run_dir, args.preset, seed=args.seed)
            data = freq_norms.run(G, args.out, num=args.num, seed=args.seed, truncation=args.truncation,
                                  source=source, plot_png=not args.no_plot)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        for b in data["blocks"]:
            print(f"block {b['block']} ({b['resolution']:4d}^2, n={b['frequencies']:3d}): "
                  f"mean {b['mean']:8.2f}  median {b['median']:8.2f}  max {b['max']:8.2f} rad/unit  "
                  f"above Nyquist {100 * b['above_nyquist']:.2f}%")
    else:
        macs = {n: common_lib.preset_config(n) for n in _names(args.macs_presets)}
        timed = {n: common_lib.preset_config(n) for n in _names(args.time_presets)}
        res = [int(r) for r in _names(args.resolutions)]
        data = lowres.run(args.out, macs, timed, res, batch=args.batch, reps=args.reps,
                          seed=args.seed, threads=threads, plot_png=not args.no_plot)
        for s in data["series"]:
            m, t = s["macs"], s.get("time")
            for i, r in enumerate(m["resolutions"]):
                line = (f"{s['name']:>10s} r={r:5d}: INR {m['inr_macs'][i] / 1e9:9.3f} GMACs, "
                        f"conv {m['conv_macs'][i] / 1e9:9.3f} GMACs")
                if t:
                    line += (f" | INR {t['inr_ms_per_image'][i]:8.2f} ms/img, "
                             f"conv {t['conv_ms_per_image'][i]:8.2f} ms/img")
                print(line)
    print(f"wrote {os.path.abspath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
