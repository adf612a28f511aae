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
import json
import math
import os
import sys

import numpy as np
from absl import flags

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402,F401 -- UsageError: in-process callers catch it


def define(fv: flags.FlagValues) -> None:
    common.define_model(fv)
    common.define(fv, "outdir", "generated")
    common.define(fv, "seeds", "0-7")
    common.define(fv, "truncation", 1.0)
    # size and region: all render the same INR on another grid
    common.define(fv, "height", None, "Default: the training resolution.")
    common.define(fv, "width", None, "Default: the training resolution; H != W stretches the region, "
                  "widen --bounds to keep pixels square.")
    common.define(fv, "superres", None, "Excludes --height/--width.")
    common.define(fv, "bounds", None, "Default: the training frame.")
    common.define(fv, "zoom", None, "Excludes --bounds.")
    flags.DEFINE_boolean("frame_box", False, "Outline the [0, 1]^2 training frame in blue (Fig. 2): shows what "
                         "--zoom, --bounds and --zoom_animation add around it.", flag_values=fv)
    flags.DEFINE_boolean("grid", False, "Also write grid.png of all seeds.", flag_values=fv)
    flags.DEFINE_integer("grid_cols", 0, "Columns of grid.png (0: about square).", flag_values=fv)
    # animations
    flags.DEFINE_enum("interpolate", "none", ["none", "z", "w", "theta", "pixel", "all"],
                      "Interpolate each consecutive seed pair: z (slerp), w (lerp), theta (lerp of INR params, "
                      "Fig. 5b), pixel (image blend, Fig. 5a), all four.", flag_values=fv)
    flags.DEFINE_float("zoom_animation", None, "Per seed, frames zooming from [0, 1]^2 out to this zoom "
                       "(e.g. 2.0).", flag_values=fv)
    flags.DEFINE_integer("frames", 16, "Frames per interpolation or zoom animation.", flag_values=fv)
    flags.DEFINE_enum("video", "gif", ["gif", "mp4", "none"], "Animation file beside the frame PNGs; mp4 needs "
                      "the video extra (imageio, imageio-ffmpeg).", flag_values=fv)
    flags.DEFINE_float("fps", 12.0, "Frames per second of GIF/MP4.", flag_values=fv)
    # memory
    common.define(fv, "batch_size", 8, "Seeds or frames rendered together.")
    flags.DEFINE_integer("tile_size", 256, "Render tiles of at most this many pixels a side, bounding memory for "
                         "large images (0: each image in one piece; with antialias k, k times fewer pixels: the "
                         "same points).", flag_values=fv)
    common.define(fv, "dry_run", False)


def check(a: Args) -> Args:
    """Checks the parsed flags together; bad values raise UsageError naming the flag."""
    # Imported here so that --help answers without loading TensorFlow.
    from inr_gan_tf import coords as coords_lib
    from inr_gan_tf.animate import check_video

    common.one_model(a)
    common.output_path(a, "outdir", folder=True)
    a.seed_list = common.seed_list(a)
    for name in ("height", "width"):
        common.at_least(a, name, 1)
    if a.superres is not None:
        if a.height is not None or a.width is not None:
            raise UsageError("--superres sets the size: give it or --height/--width, not both")
        common.positive(a, "superres")
    if a.bounds is not None and a.zoom is not None:
        raise UsageError("--bounds and --zoom both set the region: give one")
    with common.flag_errors("--zoom" if a.zoom is not None else "--bounds"):
        if a.zoom is not None:
            a.region = coords_lib.zoom_bounds(a.zoom)
        elif a.bounds is not None:
            a.region = coords_lib.check_bounds([float(v) for v in a.bounds.split(",")])
        else:
            a.region = coords_lib.UNIT_BOUNDS
    if not math.isfinite(a.truncation):
        raise UsageError(f"--truncation must be finite, got {a.truncation}")
    common.at_least(a, "frames", 2)
    if a.interpolate != "none" and len(a.seed_list) < 2:
        raise UsageError(f"--interpolate needs at least 2 seeds (e.g. --seeds 3,9), got {a.seeds!r}")
    if a.zoom_animation is not None and not (math.isfinite(a.zoom_animation) and a.zoom_animation > 0
                                             and a.zoom_animation != 1):
        raise UsageError(f"--zoom_animation must be a zoom > 0 other than 1, got {a.zoom_animation}")
    for name, low in (("batch_size", 1), ("tile_size", 0), ("grid_cols", 0)):
        common.at_least(a, name, low)
    common.positive(a, "fps")
    try:
        check_video(a.video if (a.interpolate != "none" or a.zoom_animation) else "none")
    except ValueError as e:
        raise UsageError(str(e)) from None
    a.modes = ["z", "w", "theta", "pixel"] if a.interpolate == "all" else (
        [] if a.interpolate == "none" else [a.interpolate])
    return a


def output_size(a, resolution: int):
    """(height, width) from --superres / --height / --width and the training resolution; a side
    above the exports' MAX_SIDE is a UsageError (common.image_side)."""
    if a.superres is not None:
        size = max(1, round(a.superres * resolution))
        common.image_side(f"--superres {a.superres:g} x {resolution}", size)
        return size, size
    for name in ("height", "width"):
        common.image_side(f"--{name}", getattr(a, name) or 0)
    return a.height or resolution, a.width or resolution


def _name(seed: int) -> str:
    return f"seed{seed:04d}"


def generate(a: Args, log=print) -> dict:
    """Renders everything the parsed options ask for; returns {kind: [paths]}."""
    from inr_gan_tf import animate, sampling

    G, provenance = common.load_model(a)
    H, W = output_size(a, G.resolution)
    os.makedirs(a.outdir, exist_ok=True)
    box = animate.draw_frame_box if a.frame_box else (lambda images, bounds: images)
    region = ",".join(f"{b:g}" for b in a.region)
    log(f"{provenance['checkpoint']} (step {provenance['step']}): {H}x{W} over {region}, psi={a.truncation:g}")
    out = {"stills": [], "grid": [], "interpolations": [], "zoom": []}

    seeds = list(dict.fromkeys(a.seed_list))  # a repeated seed is one file
    images = box(sampling.generate_images(G, seeds, H, W, a.region, a.truncation, a.batch_size,
                                          a.tile_size or sampling.whole(G, H, W), progress=None), a.region)
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


def dry_run(a: Args) -> None:
    checkpoint, config = common.model_config(a)
    size = dict(zip(("height", "width"), output_size(a, config["generator"].get("resolution", 0))))
    shown = dict(vars(a))
    seeds = shown.pop("seed_list")  # a range of 10^5 seeds is a count and its ends, not 10^5 lines
    shown["seed_list"] = seeds if len(seeds) <= 16 else {"count": len(seeds), "first": seeds[:8], "last": seeds[-8:]}
    print(json.dumps({**shown, **size, "checkpoint": checkpoint}, indent=1, default=str))


def command_main(a: Args) -> dict:
    """Generates as the checked flags ask; returns what was written ({} for --dry_run)."""
    if a.dry_run:
        dry_run(a)
        return {}
    return generate(a)


COMMAND = cli.Command("python -m inr_gan_tf.generate", __doc__, define, command_main, check=check)


# Entry points: parse_args (checked flags), main (in-process: the work's result), run (exit status).
parse_args, main, run = COMMAND.parse_args, COMMAND.call, COMMAND.run


if __name__ == "__main__":
    sys.exit(run())
