"""Super-resolution by the INR prior, scored against ground truth (paper Sec. 4.2, Fig. 3, 10).

The library of `python -m inr_gan_tf.superres` (inr_gan_tf/cli/superres.py):

    pairs = load_pairs("procedural", num=32, resolution=G.resolution, factor=2)
    report, images = evaluate(G, pairs.low, pairs.high)       # PSNR/SSIM per method

For N images with ground truth at r (G's training resolution) and at factor x r (--superres), each r image is
projected into G (`projection.project`), rendered at factor x r by `G.render_grid` on a denser grid,
and scored by PSNR and SSIM against the ground truth, beside nearest / bilinear / bicubic
upsampling of the same r image (`tf.image.resize`, antialias off). The paper scores its samples
by UpsampledFID (Fig. 10), which needs Inception weights; with ground truth a per-image
score needs nothing downloaded.

Ground truth. `procedural` images are analytic: `render_procedural(k, r, r)` and
`render_procedural(k, fr, fr)` are both exact area averages of the same scene (procedural.py),
so the high-resolution truth is exact; so is every other exact source (`noto_emoji`: vector
renders at r and f x r, `Source.view`). For a raster source the truth is the dataset image
through the training pipeline's resize at f x r, and the input is its area downsample to r:
exact only where the source is stored at f x r or above; "exact_ground_truth" in the JSON says
which.

Space. Projecting in theta (INR parameters, default; started from a w-projection) measures the
INR prior: any image G's INR can express is rendered at the denser grid by the same function.
A GAN latent (w, z) of a model not trained on this data cannot fit these images, so its
super-resolution would mostly measure the fit; `--space=w` is the GAN-style evaluation for a
model trained on the data itself (and needs a well-trained one: the 20 kimg emoji quickstart
fits its own emoji to only about 19 dB in w).

Metrics on [0, 1] floats with max_val=1.0 (PSNR = 10 log10(1 / MSE); SSIM with an 11x11
Gaussian window, smaller for images under 11 pixels). Every prediction is clipped to [0, 1]
first (bicubic and the INR overshoot at edges; a stored image would be clipped too). Identical
images have infinite PSNR; values are capped at PSNR_CAP dB so means stay finite and the JSON
standard ("num_capped" counts them). Lower-resolution fit quality is the PSNR of the projection
at r against its input.
"""
import time
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from inr_gan_tf.metrics.pixels import PSNR_CAP, psnr, ssim
from inr_gan_tf.progress import Progress
from inr_gan_tf.seeds import seed_latents

# TensorFlow loads inside the functions: the command's --help answers without it.

BASELINES = ("nearest", "bilinear", "bicubic")
METHODS = BASELINES + ("inr",)
DEFAULT_STEPS = 500


def upsample(images, size: int, method: str) -> np.ndarray:
    """Baseline upsampling of [N, r, r, 3] images in [0, 1] to size x size, clipped to [0, 1]."""
    import tensorflow as tf
    if method not in BASELINES:
        raise ValueError(f"unknown upsampling method {method!r}; choose from {BASELINES}")
    out = tf.image.resize(tf.constant(images, tf.float32), [size, size], method=method, antialias=False)
    return np.clip(out.numpy(), 0.0, 1.0)


def summarize(values: Sequence[float]) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}


# -- data --------------------------------------------------------------------------------------
class Pairs(NamedTuple):
    low: np.ndarray    # float32 [N, r, r, 3] in [0, 1]: the input
    high: np.ndarray   # float32 [N, fr, fr, 3] in [0, 1]: the ground truth
    exact: bool        # whether `high` is the exact image at fr (procedural) or a resized file


def load_pairs(data: str, num: int, resolution: int, factor: int, first: int = 0) -> Pairs:
    """N (input at r, truth at factor x r) pairs from `data` (see the module docstring).

    Procedural images are indices first .. first + N - 1; other sources are read in a fixed
    seeded order, from position `first`. Exact sources (noto_emoji) give both from
    `Source.view`, so `high` is their own render at factor x r, not a resize.
    """
    if num < 1 or factor < 1 or first < 0:
        raise ValueError(f"need num >= 1, factor >= 1, first >= 0; got {num}, {factor}, {first}")
    r, fr = int(resolution), int(resolution) * int(factor)
    if data == "procedural" or data.startswith("procedural:"):
        from inr_gan_tf.data.procedural import render_procedural
        idx = range(first, first + num)
        return Pairs(np.stack([render_procedural(k, r, r) for k in idx]),
                     np.stack([render_procedural(k, fr, fr) for k in idx]), True)
    from inr_gan_tf.data import make_dataset, resolve_source
    source = resolve_source(data)
    if source.exact:
        # A seeded permutation, so the sample is spread over the source (the emoji are sorted
        # by name: the first ten are digits) and still the same on every run.
        order = np.random.default_rng(0).permutation(source.num_examples)[first:first + num]
        if len(order) < num:
            raise ValueError(f"{data} has {source.num_examples} images; asked for {first} + {num}")
        views = [(source.view(k, r, r), source.view(k, fr, fr)) for k in order]
        if any(low is None or high is None for low, high in views):
            raise ValueError(f"{data}: unreadable images among {list(order)}: {source.stats.bad}")
        return Pairs(np.stack([v[0] for v in views]) / np.float32(255),
                     np.stack([v[1] for v in views]) / np.float32(255), True)
    # A seeded shuffle, so the sample is spread over the source and the same on every run.
    import tensorflow as tf
    ds = make_dataset(source, fr, first + num, seed=0, shuffle=True, flip=False, repeat=False)
    high = next(iter(ds)).numpy()[first:]
    if len(high) < num:
        raise ValueError(f"{data} has {len(high) + first} images; asked for {first} + {num}")
    high = (high + 1.0) / 2.0
    low = tf.image.resize(high, [r, r], method="area").numpy()  # the pipeline's downscale
    return Pairs(low.astype(np.float32), high.astype(np.float32), False)


# -- evaluation --------------------------------------------------------------------------------
def evaluate(G, low, high, space: str = "theta", steps: int = DEFAULT_STEPS, seed: int = 0,
             batch_size: int = 32, theta_init: str = "w", **project_kwargs
             ) -> Tuple[dict, Dict[str, np.ndarray]]:
    """Scores INR super-resolution and the baselines on (low [N, r, r, 3], high [N, fr, fr, 3]).

    Returns (report, images): report holds per-method PSNR/SSIM summaries, per-image values and
    the fit at r; images maps "low", each method and "high" to float [N, ., ., 3] in [0, 1].
    theta_init: "w" (default) first runs a w-projection of `steps` steps and starts theta at its
    fit; "w_avg" starts theta at hypernet(w_avg). With the emoji model on 32 procedural images,
    500 + 500 steps from w beat 1000 from w_avg (2x PSNR 28.9 vs 28.5 dB; fit 41.6 vs 39.6 dB).
    """
    from inr_gan_tf import projection  # pylint: disable=import-outside-toplevel  (TensorFlow)
    projection.check_space(space)
    if theta_init not in ("w_avg", "w"):
        raise ValueError(f"theta_init must be 'w_avg' or 'w', got {theta_init!r}")
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    r, fr = G.resolution, high.shape[1]
    if low.shape[1:] != (r, r, 3) or high.shape[1:] != (fr, fr, 3) or len(low) != len(high) or fr % r:
        raise ValueError(f"need low [N, {r}, {r}, 3] (G's resolution) and high [N, k*{r}, k*{r}, 3], "
                         f"got {low.shape} and {high.shape}")
    images = {"low": low, "high": high, **{m: upsample(low, fr, m) for m in BASELINES}}
    inr, fit, losses = [], [], []
    start = time.perf_counter()
    bar = Progress(len(low), f"projecting {len(low)} images ({space}, {steps} steps each)")
    for i in range(0, len(low), batch_size):
        target = low[i:i + batch_size] * 2.0 - 1.0
        init = None
        if space == "theta" and theta_init == "w":
            w_fit = projection.project(G, target, "w", steps, seed=seed)
            init = w_fit.theta
        res = projection.project(G, target, space, steps, seed=seed, init=init, **project_kwargs)
        inr.append(G.render_grid(res.tf_params(), fr, fr).numpy())
        fit.append(res.images)
        losses.append(res.final_loss)
        bar.update(len(target))
    bar.close()
    seconds = time.perf_counter() - start
    images["inr"] = np.clip((np.concatenate(inr) + 1.0) / 2.0, 0.0, 1.0)
    fit = np.clip((np.concatenate(fit) + 1.0) / 2.0, 0.0, 1.0)

    per_image = {m: {"psnr": psnr(images[m], high), "ssim": ssim(images[m], high)} for m in METHODS}
    fit_psnr, fit_ssim = psnr(fit, low), ssim(fit, low)
    gain = per_image["inr"]["psnr"] - per_image["bicubic"]["psnr"]
    report = {
        "num": int(len(low)), "resolution": int(r), "factor": int(fr // r), "space": space,
        "steps": int(steps), "theta_init": theta_init if space == "theta" else None, "seed": int(seed),
        "metric_range": "[0, 1] floats, max_val=1.0, predictions clipped to [0, 1]",
        "psnr_cap_db": PSNR_CAP,
        "methods": {m: {"psnr": summarize(v["psnr"]), "ssim": summarize(v["ssim"]),
                        "num_capped": int(np.sum(v["psnr"] >= PSNR_CAP))}
                    for m, v in per_image.items()},
        "fit_at_r": {"psnr": summarize(fit_psnr), "ssim": summarize(fit_ssim),
                     "final_loss": summarize(np.concatenate(losses))},
        "inr_minus_bicubic_psnr": {**summarize(gain), "inr_wins": int(np.sum(gain > 0))},
        "projection_seconds": round(seconds, 2),
        "per_image": {m: {k: [round(float(x), 4) for x in v[k]] for k in v} for m, v in per_image.items()},
    }
    return report, images


# -- figures -----------------------------------------------------------------------------------
def compose_grid(rows: List[Tuple[str, np.ndarray]], cell: int, label_width: int = 96) -> np.ndarray:
    """uint8 figure: one labelled row per (label, images [M, h, w, 3] in [0, 1]), columns = images.

    Cells are shown at cell x cell with nearest-neighbour enlargement: display only, so that
    pixels stay visible and no method is smoothed by the figure itself.
    """
    from PIL import Image, ImageDraw

    cols, pad = max(len(im) for _, im in rows), 2
    fig = Image.new("RGB", (label_width + cols * (cell + pad), len(rows) * (cell + pad)), "white")
    draw = ImageDraw.Draw(fig)
    for i, (label, ims) in enumerate(rows):
        y = i * (cell + pad)
        draw.text((4, y + cell // 2 - 6), label, fill="black")
        for j, im in enumerate(ims):
            tile = Image.fromarray(np.clip(np.rint(np.asarray(im) * 255.0), 0, 255).astype(np.uint8))
            fig.paste(tile.resize((cell, cell), Image.NEAREST), (label_width + j * (cell + pad), y))
    return np.asarray(fig)


def comparison_grid(images: Dict[str, np.ndarray], factor: int, num: int = 8) -> np.ndarray:
    """Evaluation figure: rows LR input, nearest, bilinear, bicubic, INR, ground truth."""
    labels = [("low", f"input {images['low'].shape[1]}^2"), ("nearest", "nearest"),
              ("bilinear", "bilinear"), ("bicubic", "bicubic"), ("inr", f"INR {factor}x"),
              ("high", f"truth {images['high'].shape[1]}^2")]
    return compose_grid([(text, images[key][:num]) for key, text in labels], images["high"].shape[1])


ZOOM_BOUNDS = (-0.3, -0.3, 1.3, 1.3)  # the figure's zoom-out row: the frame and 0.3 around it


def sample_figure(G, seeds: Sequence[int], factors: Sequence[int] = (2, 4),
                  truncation: float = 1.0, reference: Optional[Pairs] = None,
                  zoom=ZOOM_BOUNDS) -> np.ndarray:
    """Fig. 3 for G's own samples: the r render upsampled by the baselines vs INR renders.

    Baselines upsample to the largest factor; there is no ground truth for generated images, so
    `reference` (real pairs at r and top x r, e.g. load_pairs of the training data) adds what
    the same rows look like for real images: r, bicubic to top x r, and the truth at top x r.
    `zoom` (bounds, or None) adds G's samples rendered over that window (a zoom-out: outside
    the training frame) at the cell's size.
    """
    import tensorflow as tf
    r, top = G.resolution, max(factors)
    params = G.params(tf.constant(seed_latents(seeds, G.z_dim)), truncation=truncation)
    to_unit = lambda x: np.clip((x.numpy() + 1.0) / 2.0, 0.0, 1.0)  # noqa: E731
    low = to_unit(G.render_grid(params, r, r))
    rows = [(f"G at {r}^2", low)] + [(f"{m} {top}x", upsample(low, top * r, m)) for m in BASELINES]
    for f in factors:
        rows.append((f"INR {f}x", to_unit(G.render_grid(params, f * r, f * r))))
    if zoom is not None:
        rows.append((f"INR [{zoom[0]:g}, {zoom[2]:g}]^2", to_unit(G.render_grid(params, top * r, top * r, zoom))))
    if reference is not None:
        if reference.high.shape[1] != top * r:
            raise ValueError(f"reference truth is {reference.high.shape[1]}^2; the figure needs {top * r}^2")
        rows += [(f"real {r}^2", reference.low), (f"real bicubic {top}x", upsample(reference.low, top * r, "bicubic")),
                 (f"real {top * r}^2" + (" exact" if reference.exact else ""), reference.high)]
    return compose_grid(rows, top * r, label_width=120)
