"""`python -m inr_gan_tf.metrics`: the metrics command, defined in inr_gan_tf/cli/metrics.py."""
import sys

from inr_gan_tf.cli.metrics import COMMAND, run  # noqa: F401 -- the command and its entry point

if __name__ == "__main__":
    sys.exit(run())
