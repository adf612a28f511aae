"""Project a real image into a trained generator and render the fit at other coordinates.

    python -m inr_gan_tf.project --run_dir=runs/quickstart --target=img.png --outdir=proj --space=w

Writes to --outdir:
  target.png                the target as fitted (centre-cropped and resized to R)
  projected.png             the fit at the training resolution R
  superres_<K>x.png         the same INR on a K times denser grid (G.render_grid)
  zoomout_<F>.png           a view F times wider than the frame (coords.zoom_bounds), same pixel size
  projection.npz            space, the latent as "z" or "w" (none for theta), theta [1, P], target,
                            and each INR parameter as "params/<name>"
  loss.csv                  step, loss, learning rate, noise std (of the final phase with
                            --space=theta --theta_init=w; the w phase runs at w's defaults)
  projection.json           settings, provenance of G, final loss, PSNR at R, time
"""
import csv
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402,F401 -- UsageError: in-process callers catch it

# projection (TensorFlow) loads inside the functions: --help answers without it.


def define(fv: flags.FlagValues) -> None:
    common.define_model(fv)
    flags.DEFINE_string("target", None, "Image file to project (PNG, JPEG, ...; alpha composited on white).",
                        flag_values=fv)
    common.define(fv, "outdir", "projection")
    common.define(fv, "space", "w")
    common.define(fv, "theta_init", "w")
    common.define(fv, "steps", 1000, "StyleGAN2's default.", lower_bound=1)
    common.define(fv, "lr", None, "Peak of the schedule (default: per space, projection.DEFAULT_LR).")
    flags.DEFINE_float("noise", None, "Initial latent noise factor (default: per space, projection.DEFAULT_NOISE).",
                       flag_values=fv)
    flags.DEFINE_float("pyramid_weight", None, "Weight of the Laplacian-pyramid L1 term (default: per space).",
                       flag_values=fv)
    common.define(fv, "seed", 0, "Here: the latent noise.")
    common.define(fv, "superres", 4.0, "Here an integer K >= 1: superres_<K>x.png.")
    common.define(fv, "zoom", 1.6, "Writes zoomout_<F>.png at the frame's pixel size.")
    common.define(fv, "log_every", 100, "Here: the projection loss.", lower_bound=0)


def load_image(path: str) -> np.ndarray:
    """uint8 [H, W, 3] of an image file; clear errors for a missing or unreadable file."""
    from inr_gan_tf.data.decode import decode_rgb
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"target image {path!r} does not exist")
    with open(path, "rb") as f:
        data = f.read()
    try:
        return decode_rgb(data)
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ...
        raise ValueError(f"cannot read {path} as an image ({type(e).__name__}: {e})") from None


def project_file(G, target: str, outdir: str, space: str = "w", steps: int = 1000,
                 theta_init: str = "w", superres: int = 4, zoom: float = 1.6, seed: int = 0,
                 provenance=None, log_every: int = 0, **project_kwargs) -> dict:
    """Runs the projection of one image file and writes the outputs listed in the module doc."""

    from inr_gan_tf import coords, projection
    from inr_gan_tf.animate import save_png
    from inr_gan_tf.metrics.pixels import psnr
    from inr_gan_tf.seeds import to_uint8

    projection.check_space(space)
    if theta_init not in ("w_avg", "w"):
        raise ValueError(f"theta_init must be 'w_avg' or 'w', got {theta_init!r}")
    if int(superres) < 1:
        raise ValueError(f"superres must be >= 1, got {superres}")
    bounds = coords.zoom_bounds(zoom)  # validates zoom before the long part
    image = load_image(target)
    os.makedirs(outdir, exist_ok=True)
    start = time.perf_counter()
    init = None
    if space == "theta" and theta_init == "w":
        init = projection.project(G, image, "w", steps, seed=seed, verbose_every=log_every).theta
    res = projection.project(G, image, space, steps, seed=seed, init=init, verbose_every=log_every,
                             **project_kwargs)
    seconds = time.perf_counter() - start

    R, params = G.resolution, res.tf_params()
    zoom_size = max(1, int(round(zoom * R)))  # keeps the frame's pixel size
    views = {"target.png": res.target, "projected.png": res.images,
             f"superres_{superres}x.png": G.render_grid(params, superres * R, superres * R),
             f"zoomout_{zoom:g}.png": G.render_grid(params, zoom_size, zoom_size, bounds)}
    for name, im in views.items():
        save_png(os.path.join(outdir, name), to_uint8(np.asarray(im))[0])

    arrays = {"space": np.array(space), "theta": res.theta, "target": res.target,
              **{f"params/{k}": v for k, v in res.params.items()}}
    if res.latent is not None:
        arrays[space] = res.latent
    np.savez(os.path.join(outdir, "projection.npz"), **arrays)

    with open(os.path.join(outdir, "loss.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss", "lr", "noise_std"])
        for i, (loss, lr, noise) in enumerate(zip(res.loss[:, 0], res.learning_rates, res.noise_stds)):
            writer.writerow([i, f"{loss:.6g}", f"{lr:.6g}", f"{noise:.6g}"])
    summary = {"target": os.path.abspath(target), "space": space, "steps": steps,
               "theta_init": theta_init if space == "theta" else None, "seed": seed,
               "final_loss": float(res.final_loss[0]),
               "psnr_at_R_db": float(psnr((res.images + 1) / 2, (res.target + 1) / 2)[0]),
               "resolution": R, "superres": superres, "zoom": zoom,
               "seconds": round(seconds, 2), "generator": provenance,
               "settings": {k: v for k, v in project_kwargs.items() if v is not None}}
    with open(os.path.join(outdir, "projection.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def check(a: Args) -> Args:
    """Checks the parsed flags together; bad values raise UsageError naming the flag."""
    from inr_gan_tf import coords
    from inr_gan_tf.projection import SPACES

    common.one_model(a)
    common.output_path(a, "outdir", folder=True)
    if not a.target:
        raise UsageError("--target is required")
    if a.space not in SPACES:
        raise UsageError(f"--space must be one of {', '.join(SPACES)}, got {a.space!r}")
    if a.theta_init not in ("w", "w_avg"):
        raise UsageError(f"--theta_init must be w or w_avg, got {a.theta_init!r}")
    common.integer_factor(a, "superres", 1)
    with common.flag_errors("--zoom"):
        coords.zoom_bounds(a.zoom)
    common.at_least(a, "lr", 0)
    try:  # a bad target should fail before the generator is loaded
        load_image(a.target)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(f"--target: {e}") from None
    return a


def project_main(a: Args) -> dict:
    """Projects as the checked flags ask; prints and returns the summary."""
    G, provenance = common.load_model(a)
    summary = project_file(G, a.target, a.outdir, a.space, a.steps, a.theta_init, a.superres, a.zoom, a.seed,
                           provenance, a.log_every, lr=a.lr, noise=a.noise, pyramid_weight=a.pyramid_weight)
    print(json.dumps({k: v for k, v in summary.items() if k != "generator"}, indent=1))
    return summary


COMMAND = cli.Command("python -m inr_gan_tf.project", __doc__, define, project_main, check=check)


# Entry points: parse_args (checked flags), main (in-process: the work's result), run (exit status).
parse_args, main, run = COMMAND.parse_args, COMMAND.call, COMMAND.run


if __name__ == "__main__":
    sys.exit(run())
