"""`python -m inr_gan_tf.figures`: the figures command, defined in inr_gan_tf/cli/figures.py."""
import sys

from inr_gan_tf.cli.figures import COMMAND, run  # noqa: F401 -- the command and its entry point

if __name__ == "__main__":
    sys.exit(run())
