"""Fig. 17: the frequencies the hypernetwork picks for each block's Fourier features (App. C).

Block k embeds a point p as e(p) = [sin(W_k p), cos(W_k p)] (Eq. 1) with W_k [n_k, 2] predicted
per image; the effective matrix is `FourierFeatures.frequencies`: the block's fourier_scale times
the raw hypernetwork output, then the generator's frequency cap if it has one. Row i is a plane wave of angular frequency ||W_k[i]|| radians per frame
unit (the frame [0, 1]^2 is the training image), i.e. ||W_k[i]|| / 2 pi periods per image. The
paper samples 128 images and plots the distribution of row norms per block: coarse blocks keep
low frequencies, the last block uses high ones.

Block k runs at points 1/r_k apart, so waves above its Nyquist rate pi * r_k rad/unit alias on
its own grid; the share of such rows is reported as `above_nyquist` (a hint for the "texture"
artifacts the paper mentions in Sec. 6).
"""
import math
from typing import Dict, List

import numpy as np
import tensorflow as tf

from inr_gan_tf import seeds as seeds_lib
from inr_gan_tf.figures.common import pyplot, write_json


def frequency_norms(G, num: int = 128, seed: int = 0, truncation: float = 1.0,
                    batch: int = 64) -> List[dict]:
    """Per block with Fourier features: its config and `norms` [num, n_k] in rad per frame unit.

    Latent k comes from seed `seed + k` (seeds.seed_latents), so results do not depend on batch.
    """
    if num < 1 or batch < 1:
        raise ValueError(f"num and batch must be >= 1, got num={num}, batch={batch}")
    features = G.inr.features
    if all(f is None for f in features):
        raise ValueError("this generator has no Fourier features (fourier=False); Fig. 17 needs them")
    z = seeds_lib.seed_latents(range(seed, seed + num), G.z_dim)  # [num, z_dim]
    chunks = {k: [] for k, f in enumerate(features) if f is not None}
    for start in range(0, num, batch):
        zb = z[start:start + batch]
        params = G.params(zb, truncation) if any(f.predicted for f in features if f) else None
        for k in chunks:
            f = features[k]
            if f.predicted:
                raw = params[f"{f.name}.matrix"].numpy()  # [b, n, 2]
            else:  # shared W (latent-conditioned INR): the same for every image
                raw = np.broadcast_to(f.matrix.numpy()[None], (len(zb), f.num_frequencies, 2))
            w = f.frequencies(tf.constant(raw, tf.float32)).numpy()  # the layer's own scale and cap
            chunks[k].append(np.linalg.norm(w.astype(np.float64), axis=-1))  # [b, n]
    out = []
    for k, parts in chunks.items():
        b = G.inr.blocks[k]
        out.append({"block": k, "resolution": b["resolution"], "frequencies": b["frequencies"],
                    "fourier_scale": b["fourier_scale"], "norms": np.concatenate(parts, 0)})
    return out


def summarize(entries: List[dict]) -> List[Dict]:
    """JSON-ready per-block statistics of the norms (rad per frame unit unless named)."""
    rows = []
    for e in entries:
        n = e["norms"]
        nyquist = math.pi * e["resolution"]
        rows.append({
            "block": e["block"], "resolution": e["resolution"], "frequencies": e["frequencies"],
            "fourier_scale": e["fourier_scale"], "samples": int(n.shape[0]),
            "mean": float(n.mean()), "median": float(np.median(n)), "std": float(n.std()),
            "min": float(n.min()), "p10": float(np.percentile(n, 10)),
            "p90": float(np.percentile(n, 90)), "max": float(n.max()),
            "mean_periods_per_image": float(n.mean() / (2 * math.pi)),
            "nyquist": nyquist, "above_nyquist": float((n > nyquist).mean()),
        })
    return rows


def plot(entries: List[dict], path: str, title: str = "") -> str:
    """Left: histogram of all norms per block. Right: per-image sorted norms, mean and 10-90% band."""
    plt = pyplot()
    fig, (ax_h, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    top = max(float(e["norms"].max()) for e in entries)
    bins = np.linspace(0.0, top * 1.02, 60)
    for i, e in enumerate(entries):
        c = colors[i % len(colors)]
        label = f"block {e['block']} ({e['resolution']}$^2$, n={e['frequencies']}, scale {e['fourier_scale']:g})"
        ax_h.hist(e["norms"].ravel(), bins=bins, density=True, histtype="step", lw=1.8, color=c, label=label)
        if math.pi * e["resolution"] <= bins[-1]:
            ax_h.axvline(math.pi * e["resolution"], color=c, ls=":", lw=1)
        srt = -np.sort(-e["norms"], axis=1)  # [num, n], descending per image
        rank = (np.arange(srt.shape[1]) + 0.5) / srt.shape[1]
        ax_s.plot(rank, srt.mean(0), color=c, lw=1.8, label=f"block {e['block']}")
        ax_s.fill_between(rank, np.percentile(srt, 10, 0), np.percentile(srt, 90, 0), color=c, alpha=0.2)
    ax_h.set_xlabel(r"frequency $\|W_k[i]\|$ (rad per image side)")
    ax_h.set_ylabel("density")
    ax_h.set_title("distribution over rows and images (dotted: block Nyquist $\\pi r_k$)", fontsize=9)
    ax_h.legend(fontsize=8)
    ax_s.set_xlabel("rank of the row within its image (fraction, highest first)")
    ax_s.set_ylabel("frequency (rad per image side)")
    ax_s.set_title("sorted per image: mean, 10-90% band", fontsize=9)
    ax_s.legend(fontsize=8)
    n_img = entries[0]["norms"].shape[0]
    fig.suptitle(title or f"Fourier feature frequencies per block ({n_img} images; cf. paper Fig. 17)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(G, out_dir: str, num: int = 128, seed: int = 0, truncation: float = 1.0,
        source: dict = None, plot_png: bool = True) -> dict:
    """Writes freq_norms.json (and freq_norms.png) to out_dir; returns the JSON data."""
    entries = frequency_norms(G, num=num, seed=seed, truncation=truncation)
    data = {"figure": "paper Fig. 17: Fourier frequency norms per block",
            "units": "rad per frame unit (the training image spans 1); divide by 2 pi for periods per image",
            "num_images": num, "seed": seed, "truncation": truncation, "source": source or {},
            "blocks": summarize(entries)}
    write_json(f"{out_dir}/freq_norms.json", data)
    if plot_png:
        plot(entries, f"{out_dir}/freq_norms.png")
    return data
