"""Images, interpolations and zoom-outs of a trained run: `python -m inr_gan_tf.generate --run_dir=runs/x`.

Every output is G_ema rendered on a pixel grid (sampling.generate_images / render_tiled); size,
region and truncation are only other arguments of that one render. Files in --outdir:

    seed0007.png                              one per seed (always)
    grid.png                                  all seeds in one picture (--grid)
    interp-<mode>-seed0003-seed0009.gif|mp4   each consecutive seed pair (--interpolate), with its
    interp-<mode>-seed0003-seed0009/          frames as frame0000.png, ...
    interp-compare-seed0003-seed0009.png      one labelled row per mode (paper Fig. 5)
    zoom-seed0007.gif|mp4, zoom-seed0007/     view widening from [0, 1]^2 to --zoom_animation

Files of the same names are overwritten and a frame folder keeps only the latest frames;
nothing else in --outdir is touched.
"""
import argparse
import json
import math
import os
import sys
from typing import List, Optional

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

# argparse rather than absl flags: absl's registry is process-global, so a second module defining
# --run_dir or --seeds (train, export) would clash when tests import them side by side.


class UsageError(ValueError):
    """A bad command line; the message names the flag."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # raise instead of exiting, so in-process callers can catch it
        if "--bounds" in message and "expected one argument" in message:
            message += " (a negative value needs '=': --bounds=-0.3,-0.3,1.3,1.3)"
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m inr_gan_tf.generate", description=__doc__.split("\n")[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_argument_group("model (exactly one)")
    src.add_argument("--run_dir", default=None,
                     help="Training run (config.json + checkpoints/): its latest checkpoint.")
    src.add_argument("--checkpoint", default=None, help="One checkpoint prefix, e.g. runs/x/checkpoints/ckpt-2000.")
    p.add_argument("--outdir", default="generated", help="Output folder (created if missing).")
    p.add_argument("--seeds", default="0-7", help="Seeds, e.g. 0-7,12; image k depends on seed k only.")
    p.add_argument("--truncation", type=float, default=1.0, help="Truncation psi: w <- w_avg + psi (w - w_avg).")
    view = p.add_argument_group("size and region (all render the same INR on another grid)")
    view.add_argument("--height", type=int, default=None, help="Output height (default: training resolution).")
    view.add_argument("--width", type=int, default=None, help="Output width (default: training resolution); "
                      "H != W stretches the region, widen --bounds to keep pixels square.")
    view.add_argument("--superres", type=float, default=None, help="Render at K x the training resolution "
                      "(excludes --height/--width; K < 1 renders a cheaper low-resolution image).")
    view.add_argument("--bounds", default=None, help="Region x0,y0,x1,y1 (training frame 0,0,1,1; y down). "
                      "Write --bounds=-0.5,... when x0 is negative.")
    view.add_argument("--zoom", type=float, default=None, help="Square region F times the training frame, "
                      "centred: 1.6 is [-0.3, 1.3]^2 (paper Fig. 2). Excludes --bounds.")
    view.add_argument("--frame_box", action="store_true", help="Outline the [0, 1]^2 training frame in blue "
                      "(Fig. 2): shows what --zoom, --bounds and --zoom_animation add around it.")
    p.add_argument("--grid", action="store_true", help="Also write grid.png of all seeds.")
    p.add_argument("--grid_cols", type=int, default=0, help="Columns of grid.png (0: about square).")
    anim = p.add_argument_group("animations")
    anim.add_argument("--interpolate", default="none", choices=["none", "z", "w", "theta", "pixel", "all"],
                      help="Interpolate each consecutive seed pair: z (slerp), w (lerp), theta (lerp of "
                      "INR params, Fig. 5b), pixel (image blend, Fig. 5a), all four.")
    anim.add_argument("--zoom_animation", type=float, default=None, metavar="MAX",
                      help="Per seed, frames zooming from [0, 1]^2 out to zoom MAX (e.g. 2.0).")
    anim.add_argument("--frames", type=int, default=16, help="Frames per interpolation or zoom animation.")
    anim.add_argument("--video", default="gif", choices=["gif", "mp4", "none"],
                      help="Animation file beside the frame PNGs; mp4 needs the video extra "
                      "(imageio, imageio-ffmpeg).")
    anim.add_argument("--fps", type=float, default=12.0, help="Frames per second of GIF/MP4.")
    perf = p.add_argument_group("memory")
    perf.add_argument("--batch_size", type=int, default=8, help="Seeds or frames rendered together.")
    perf.add_argument("--tile_size", type=int, default=256, help="Render tiles of at most this many pixels a "
                      "side, bounding memory for large images (0: each image in one piece).")
    p.add_argument("--dry_run", action="store_true", help="Print the resolved options and exit.")
    return p


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parses and checks a command line; bad values raise UsageError naming the flag."""
    a = build_parser().parse_args(argv)
    # Imported after parsing so that --help answers without loading TensorFlow.
    from inr_gan_tf import coords as coords_lib
    from inr_gan_tf.animate import check_video
    from inr_gan_tf.seeds import parse_seeds

    if bool(a.run_dir) == bool(a.checkpoint):
        raise UsageError("give exactly one of --run_dir or --checkpoint")
    try:
        a.seed_list = parse_seeds(a.seeds)
    except ValueError as e:
        raise UsageError(f"--seeds: {e}") from None
    for name in ("height", "width"):
        if getattr(a, name) is not None and getattr(a, name) < 1:
            raise UsageError(f"--{name} must be >= 1, got {getattr(a, name)}")
    if a.superres is not None:
        if a.height is not None or a.width is not None:
            raise UsageError("--superres sets the size: give it or --height/--width, not both")
        if not (math.isfinite(a.superres) and a.superres > 0):
            raise UsageError(f"--superres must be > 0, got {a.superres}")
    if a.bounds is not None and a.zoom is not None:
        raise UsageError("--bounds and --zoom both set the region: give one")
    try:
        if a.zoom is not None:
            a.region = coords_lib.zoom_bounds(a.zoom)
        elif a.bounds is not None:
            a.region = coords_lib.check_bounds([float(v) for v in a.bounds.split(",")])
        else:
            a.region = coords_lib.UNIT_BOUNDS
    except ValueError as e:
        raise UsageError(f"--{'zoom' if a.zoom is not None else 'bounds'}: {e}") from None
    if not math.isfinite(a.truncation):
        raise UsageError(f"--truncation must be finite, got {a.truncation}")
    if a.frames < 2:
        raise UsageError(f"--frames must be >= 2, got {a.frames}")
    if a.interpolate != "none" and len(a.seed_list) < 2:
        raise UsageError(f"--interpolate needs at least 2 seeds (e.g. --seeds 3,9), got {a.seeds!r}")
    if a.zoom_animation is not None and not (math.isfinite(a.zoom_animation) and a.zoom_animation > 0
                                             and a.zoom_animation != 1):
        raise UsageError(f"--zoom_animation must be a zoom > 0 other than 1, got {a.zoom_animation}")
    for name, low in (("batch_size", 1), ("tile_size", 0), ("grid_cols", 0)):
        if getattr(a, name) < low:
            raise UsageError(f"--{name} must be >= {low}, got {getattr(a, name)}")
    if not (math.isfinite(a.fps) and a.fps > 0):
        raise UsageError(f"--fps must be > 0, got {a.fps}")
    try:
        check_video(a.video if (a.interpolate != "none" or a.zoom_animation) else "none")
    except ValueError as e:
        raise UsageError(str(e)) from None
    a.modes = ["z", "w", "theta", "pixel"] if a.interpolate == "all" else (
        [] if a.interpolate == "none" else [a.interpolate])
    return a


def output_size(a, resolution: int):
    """(height, width) from --superres / --height / --width and the training resolution."""
    if a.superres is not None:
        size = max(1, round(a.superres * resolution))
        return size, size
    return a.height or resolution, a.width or resolution


def _name(seed: int) -> str:
    return f"seed{seed:04d}"


def generate(a: argparse.Namespace, log=print) -> dict:
    """Renders everything the parsed options ask for; returns {kind: [paths]}."""
    from inr_gan_tf import animate, sampling
    from inr_gan_tf.export.checkpoint import restore_generator

    G, provenance = restore_generator(run_dir=a.run_dir, checkpoint=a.checkpoint)
    H, W = output_size(a, G.resolution)
    os.makedirs(a.outdir, exist_ok=True)
    box = animate.draw_frame_box if a.frame_box else (lambda images, bounds: images)
    region = ",".join(f"{b:g}" for b in a.region)
    log(f"{provenance['checkpoint']} (step {provenance['step']}): {H}x{W} over {region}, psi={a.truncation:g}")
    out = {"stills": [], "grid": [], "interpolations": [], "zoom": []}

    seeds = list(dict.fromkeys(a.seed_list))  # a repeated seed is one file
    images = box(sampling.generate_images(G, seeds, H, W, a.region, a.truncation, a.batch_size,
                                          a.tile_size or max(H, W)), a.region)
    out["stills"] = [animate.save_png(os.path.join(a.outdir, _name(s) + ".png"), im)
                     for s, im in zip(seeds, images)]
    if a.grid:
        out["grid"] = [animate.save_png(os.path.join(a.outdir, "grid.png"),
                                        animate.image_grid(images, a.grid_cols))]

    for s0, s1 in zip(a.seed_list[:-1], a.seed_list[1:]):
        rows = {}
        for mode in a.modes:
            rows[mode] = box(animate.interpolate(G, s0, s1, mode, a.frames, H, W, a.region, a.truncation,
                                                 a.batch_size, a.tile_size), a.region)
            stem = os.path.join(a.outdir, f"interp-{mode}-{_name(s0)}-{_name(s1)}")
            out["interpolations"] += animate.write_animation(stem, rows[mode], a.video, a.fps)
        if rows:
            path = os.path.join(a.outdir, f"interp-compare-{_name(s0)}-{_name(s1)}.png")
            out["interpolations"].append(animate.save_png(path, animate.comparison_strip(rows)))

    if a.zoom_animation:
        for i in range(0, len(seeds), a.batch_size):
            chunk = seeds[i:i + a.batch_size]
            frames, bounds = animate.zoom_animation(G, chunk, a.zoom_animation, a.frames, H, W,
                                                    a.truncation, a.tile_size)
            if a.frame_box:
                frames = np.stack([animate.draw_frame_box(frames[:, f], b) for f, b in enumerate(bounds)], 1)
            for s, f in zip(chunk, frames):
                out["zoom"] += animate.write_animation(os.path.join(a.outdir, f"zoom-{_name(s)}"), f,
                                                       a.video, a.fps)
    log("wrote " + ", ".join(f"{len(v)} {k} files" for k, v in out.items() if v) + f" to {a.outdir}")
    return out


def main(argv: Optional[List[str]] = None) -> dict:
    """In-process entry: parse, check and generate (UsageError on a bad command line)."""
    a = parse_args(argv)
    if a.dry_run:
        from inr_gan_tf.export.checkpoint import resolve_checkpoint
        checkpoint, config_path = resolve_checkpoint(a.run_dir, a.checkpoint)
        with open(config_path) as f:
            resolution = json.load(f)["generator"]["resolution"]
        size = dict(zip(("height", "width"), output_size(a, resolution)))
        print(json.dumps({**vars(a), **size, "checkpoint": checkpoint}, indent=1, default=str))
        return {}
    return generate(a)


def run() -> int:
    try:
        main(sys.argv[1:])
    except UsageError as e:
        build_parser().print_usage(sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run())
