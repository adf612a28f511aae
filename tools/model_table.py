"""Table 1 of the paper, recounted: G MACs and #params per configuration, next to the paper's.

    python tools/model_table.py                 # Table 1 + Fig. 9 (MACs at lower resolutions)
    python tools/model_table.py --out=out.json     # also the rows as JSON

Counts come from inr_gan_tf.model.complexity (analytic, checked against TensorFlow's profiler
in the tests). "MACs w/o skip" leaves out the coordinate-skip inputs of hidden layers: the
paper's multi-scale MAC figures agree with that way of counting (see README).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, common  # noqa: E402

RESOLUTIONS = (128, 256, 1024)
# Table 1 of the paper: (G MACs in G, #params in M) for LSUN 128, LSUN 256, FFHQ 1024.
PAPER_TABLE1 = {
    "latent": [(30.09, 7.1), (120.33, 7.1), (1925.22, 7.1)],
    "hyper": [(23.54, 2055.5), (88.01, 2055.5), (1377.52, 2055.5)],
    "fourier": [(28.02, 2312.02), (105.34, 2312.02), (1651.52, 2312.02)],
    "fmm": [(25.87, 108.2), (103.19, 108.2), (1649.37, 108.2)],
    "multiscale": [(21.58, 107.03), (38.76, 107.03), (47.35, 117.3)],
}


def table1_rows():
    from inr_gan_tf.model import complexity, presets  # imported here: --help answers without TensorFlow

    rows = []
    for row in presets.TABLE1_ROWS:
        for i, res in enumerate(RESOLUTIONS):
            cfg = presets.table1_generator(row, res)
            m, p = complexity.macs(cfg), complexity.params(cfg)
            m_noskip = complexity.macs(dict(cfg, coord_skip=False))
            paper_macs, paper_params = PAPER_TABLE1[row][i]
            rows.append({
                "row": row, "title": presets.TABLE1_TITLES[row], "resolution": res,
                "macs_g": m["total"] / 1e9, "macs_noskip_g": m_noskip["total"] / 1e9,
                "hypernet_macs_g": m["hypernet"] / 1e9, "inr_macs_g": m["inr"] / 1e9,
                "params_m": p["total"] / 1e6, "hypernet_params_m": p["hypernet"] / 1e6,
                "inr_params_m": p["inr_shared"] / 1e6, "predicted": p["predicted"],
                "paper_macs_g": paper_macs, "paper_params_m": paper_params,
            })
    return rows


def lowres_rows(resolution=1024, sizes=(1024, 512, 256, 128, 64, 32)):
    """Fig. 9: MACs of the paper's generator rendered below its training resolution."""
    from inr_gan_tf.model import complexity, presets

    cfg = presets.paper_generator(resolution)
    full = complexity.macs(cfg)["total"]
    return [{"resolution": s, "macs_g": complexity.macs(cfg, s, s)["total"] / 1e9,
             "fraction_of_full": complexity.macs(cfg, s, s)["total"] / full} for s in sizes]


def define(fv: flags.FlagValues) -> None:
    common.define(fv, "out", None, "Also write the rows there as JSON (default: print only).")


def check(a: Args) -> Args:
    if a.out and not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        raise cli.UsageError(f"--out: folder {os.path.dirname(os.path.abspath(a.out))} does not exist")
    return a


def command_main(args: Args) -> int:
    check(args)
    t1, low = table1_rows(), lowres_rows()
    print(f"{'Decoder':40s} {'res':>5s} {'G MACs':>9s} {'w/o skip':>9s} {'paper':>9s} "
          f"{'#params':>9s} {'paper':>9s} {'d params':>8s}")
    for r in t1:
        dp = (r["params_m"] / r["paper_params_m"] - 1) * 100
        print(f"{r['title']:40s} {r['resolution']:5d} {r['macs_g']:9.2f} {r['macs_noskip_g']:9.2f} "
              f"{r['paper_macs_g']:9.2f} {r['params_m']:8.2f}M {r['paper_params_m']:8.2f}M {dp:+7.1f}%")
    print("\nFig. 9: the FFHQ 1024 generator rendered at lower resolutions (no downsampling)")
    for r in low:
        print(f"  {r['resolution']:5d}^2: {r['macs_g']:8.2f} G MACs ({100 * r['fraction_of_full']:5.1f}% of 1024^2)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"table1": t1, "lowres": low}, f, indent=1)
    return 0


COMMAND = cli.Command("python tools/model_table.py", __doc__, define, command_main, aliases={"json": "out"},
                      log_level="warning")


def main(argv=None) -> int:
    return cli.run(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
