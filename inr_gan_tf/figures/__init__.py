"""Paper figures recomputed from a run or a config: data functions plus matplotlib plots.

    python -m inr_gan_tf.figures --figure=freq-norms --run_dir=runs/x --outdir=figs/   # Fig. 17
    python -m inr_gan_tf.figures --figure=lowres --outdir=figs/                        # Fig. 9

Data functions need only TensorFlow; plotting needs the `figures` extra (matplotlib, Agg backend).
Names load on first use, so that `python -m inr_gan_tf.figures --help` answers without TensorFlow.
"""
import importlib

_LAZY = {"conv_baseline": None, "freq_norms": None, "lowres": None, "ConvDecoder": "conv_baseline",
         "frequency_norms": "freq_norms", "macs_series": "lowres", "time_series": "lowres"}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"inr_gan_tf.figures.{_LAZY[name] or name}")
        return module if _LAZY[name] is None else getattr(module, name)
    raise AttributeError(f"module 'inr_gan_tf.figures' has no attribute {name!r}")
