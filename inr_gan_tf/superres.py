"""`python -m inr_gan_tf.superres`: the super-resolution evaluation command, defined in inr_gan_tf/cli/superres.py."""
import sys

from inr_gan_tf.cli.superres import COMMAND, run  # noqa: F401 -- the command and its entry point

if __name__ == "__main__":
    sys.exit(run())
