"""Fig. 9: accelerated low-resolution inference, MACs and wall time vs output resolution.

An INR renders an r x r image by evaluating on an r x r grid (`G.render_grid`), and a
multi-scale INR below its training resolution also runs its coarse blocks at fewer cells
(plan.py), so its cost falls with r. A convolutional decoder (conv_baseline.py) must compute
its full R x R output and then downsample, so its cost is flat below R. Above R (super-
resolution) the INR costs more; the conv decoder would need an upsampler and is shown flat.
"""
import os
import statistics
import time
from typing import Dict, List, Sequence

import tensorflow as tf

from inr_gan_tf import seeds as seeds_lib
from inr_gan_tf.figures import conv_baseline
from inr_gan_tf.figures.common import pyplot, write_json
from inr_gan_tf.model import build_generator, complexity

RESOLUTIONS = (32, 64, 128, 256)


def check_resolutions(resolutions: Sequence[int]) -> List[int]:
    res = sorted({int(r) for r in resolutions})
    if not res or res[0] < 1:
        raise ValueError(f"resolutions must be positive integers, got {list(resolutions)}")
    return res


def macs_series(inr_config: dict, conv_config: dict, resolutions: Sequence[int]) -> Dict[str, list]:
    """Per-image MACs of the INR (complexity.macs on an r x r grid) and of its conv baseline."""
    res = check_resolutions(resolutions)
    return {"resolutions": res,
            "inr_macs": [complexity.macs(inr_config, r, r)["total"] for r in res],
            "conv_macs": [conv_baseline.macs(conv_config, r)["total"] for r in res]}


def timed_seconds(fn, reps: int) -> List[float]:
    """Wall times of fn() over `reps` runs after one warm-up (tracing, allocator growth)."""
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def time_series(G, conv, resolutions: Sequence[int], batch: int = 8, reps: int = 5,
                seed: int = 0) -> Dict[str, list]:
    """Milliseconds per image (median of `reps` batches) for G and the conv decoder at each r.

    Both include their mapping/hypernetwork; threads are whatever the caller configured (the CLI
    uses one, the steadiest setting on small machines, as tools/bench_generator.py does).
    """
    res = check_resolutions(resolutions)
    z_inr = tf.constant(seeds_lib.seed_latents(range(seed, seed + batch), G.z_dim))
    z_conv = tf.constant(seeds_lib.seed_latents(range(seed, seed + batch), conv.z_dim))
    out = {"resolutions": res, "batch": batch, "reps": reps}
    for key in ("inr_ms_per_image", "conv_ms_per_image", "inr_ms_per_image_min", "conv_ms_per_image_min"):
        out[key] = []
    for r in res:
        inr_fn = tf.function(lambda z, r=r: G.render_grid(G.params(z), r, r))
        conv_fn = tf.function(lambda z, r=r: conv.render(z, r))
        for name, fn, z in (("inr", inr_fn, z_inr), ("conv", conv_fn, z_conv)):
            ms = [1000 * t / batch for t in timed_seconds(lambda: fn(z).numpy(), reps)]
            out[f"{name}_ms_per_image"].append(statistics.median(ms))
            # The least disturbed run: on a shared machine the median can carry other jobs' load.
            out[f"{name}_ms_per_image_min"].append(min(ms))
    return out


def plot(data: dict, path: str) -> str:
    """Left: GMACs vs resolution per model pair; right: ms/image (when timed). Log-log axes."""
    plt = pyplot()
    timed = [s for s in data["series"] if "time" in s]
    fig, axes = plt.subplots(1, 2 if timed else 1, figsize=(12 if timed else 6.5, 5.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def panel(ax, key, scale, ylabel, title, series):
        for i, s in enumerate(series):
            d = s["macs"] if key.endswith("macs") else s["time"]
            x = d["resolutions"]
            c = colors[i % len(colors)]
            ax.plot(x, [v * scale for v in d["inr" + key]], "o-", color=c, lw=2,
                    label=f"INR-GAN {s['name']} (trained {s['resolution']}$^2$)")
            ax.plot(x, [v * scale for v in d["conv" + key]], "s--", color=c, lw=1.5,
                    label=f"conv decoder {s['conv_name']} (full {s['resolution']}$^2$ + resize)")
            ax.axvline(s["resolution"], color=c, ls=":", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ticks = sorted({r for s in series for r in (s["macs"] if key.endswith("macs") else s["time"])["resolutions"]})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("output resolution r (r x r image)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # off the curves

    panel(axes[0, 0], "_macs", 1e-9, "GMACs per image", "multiply-accumulates (analytic); dotted: training size", data["series"])
    if timed:
        t = timed[0]["time"]
        panel(axes[0, 1], "_ms_per_image", 1.0, "ms per image",
              f"wall time, CPU, {data.get('threads') or 'all'} thread(s), batch {t['batch']}, "
              f"median of {t['reps']}", timed)
    fig.suptitle("Accelerated low-resolution inference (cf. paper Fig. 9): INR evaluates a sparser "
                 "grid,\na conv decoder renders its full size then downsamples", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(out_dir: str, macs_presets: Dict[str, dict], time_presets: Dict[str, dict] = None,
        resolutions: Sequence[int] = RESOLUTIONS, batch: int = 8, reps: int = 5, seed: int = 0,
        threads=None, plot_png: bool = True) -> dict:
    """Writes lowres.json (and lowres.png); returns the JSON data.

    macs_presets: name -> INR config, counted analytically against `matched_config`'s decoder;
    time_presets: name -> INR config that is also built (random init: weights do not change the
    time) and timed, together with its matched conv decoder.
    """
    time_presets = time_presets or {}
    load_start = os.getloadavg()[0]  # above 1 on a one-core machine: the timings shared the CPU
    series = []
    for name, cfg in {**macs_presets, **time_presets}.items():
        conv_cfg = conv_baseline.matched_config(cfg)
        conv_name = "StyleGAN2-f" if conv_cfg == conv_baseline.stylegan2_config(cfg["resolution"]) else \
            f"C<={conv_cfg['channel_max']}"
        res = check_resolutions(list(resolutions) + [cfg["resolution"]])  # always show the full size
        s = {"name": name, "resolution": int(cfg["resolution"]), "inr_config": cfg,
             "conv_name": conv_name, "conv_config": conv_cfg, "macs": macs_series(cfg, conv_cfg, res)}
        if name in time_presets:
            G = build_generator(cfg, seed=seed)
            conv = conv_baseline.ConvDecoder(**conv_cfg)
            s["time"] = time_series(G, conv, res, batch=batch, reps=reps, seed=seed)
        series.append(s)
    data = {"figure": "paper Fig. 9: MACs and time vs output resolution", "threads": threads,
            "load_average_1min": [load_start, os.getloadavg()[0]],
            "conv_baseline": conv_baseline.__doc__.strip().splitlines()[0], "series": series}
    write_json(f"{out_dir}/lowres.json", data)
    if plot_png:
        plot(data, f"{out_dir}/lowres.png")
    return data
