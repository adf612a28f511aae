"""Paper figures recomputed from a run or a config: data functions plus matplotlib plots.

    python -m inr_gan_tf.figures freq-norms --run_dir runs/x --out figs/   # Fig. 17
    python -m inr_gan_tf.figures lowres --out figs/                        # Fig. 9

Data functions need only TensorFlow; plotting needs the `figures` extra (matplotlib, Agg backend).
"""
from inr_gan_tf.figures import conv_baseline, freq_norms, lowres
from inr_gan_tf.figures.conv_baseline import ConvDecoder
from inr_gan_tf.figures.freq_norms import frequency_norms
from inr_gan_tf.figures.lowres import macs_series, time_series

__all__ = ["conv_baseline", "freq_norms", "lowres", "ConvDecoder", "frequency_norms",
           "macs_series", "time_series"]
