"""Shared by the figures: generator sources, matplotlib on demand, JSON output."""
import json
import os

from inr_gan_tf.model import config as config_lib

INSTALL_HINT = 'plotting needs matplotlib: pip install "inr_gan_tf[figures]" (or pip install matplotlib)'
PRESET_HELP = ", ".join(sorted(config_lib.PRESETS))


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or an ImportError saying how to install it."""
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    matplotlib.use("Agg")  # figures go to files; no display is needed or wanted
    import matplotlib.pyplot as plt
    return plt


def preset_config(name: str) -> dict:
    """A named generator of model/config.py's PRESETS, as a dict."""
    return config_lib.preset(name).to_dict()


def load_generator(run_dir: str = None, preset: str = None, seed: int = 0):
    """(G, description): G_ema of a run, or a preset at random init (seeded)."""
    if bool(run_dir) == bool(preset):
        raise ValueError("give exactly one of run_dir or preset")
    if run_dir:
        from inr_gan_tf.restore import restore_generator
        restored = restore_generator(run_dir=run_dir)
        return restored.G, {"run_dir": os.path.abspath(run_dir), **restored.provenance}
    from inr_gan_tf.model import build_generator
    return build_generator(preset_config(preset), seed=seed), {"preset": preset, "init_seed": seed}


def write_json(path: str, data) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    return path
