"""`python -m inr_gan_tf.generate`: the sampling command, defined in inr_gan_tf/cli/generate.py."""
import sys

from inr_gan_tf.cli.generate import COMMAND, run  # noqa: F401 -- the command and its entry point

if __name__ == "__main__":
    sys.exit(run())
