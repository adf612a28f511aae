"""`python -m inr_gan_tf.train`: the training command, defined in inr_gan_tf/cli/train.py."""
import sys

from inr_gan_tf.cli.train import COMMAND, run  # noqa: F401 -- the command and its entry point

if __name__ == "__main__":
    sys.exit(run())
