"""Export a trained generator for serving: same as `python -m inr_gan_tf.export` (see --help)."""
import sys

from inr_gan_tf.export.__main__ import run

if __name__ == "__main__":
    sys.exit(run())
