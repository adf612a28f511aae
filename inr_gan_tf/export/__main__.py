"""`python -m inr_gan_tf.export`: the export command, defined in inr_gan_tf/cli/export.py."""
import sys

from inr_gan_tf.cli.export import COMMAND, run  # noqa: F401 -- the command and its entry point

if __name__ == "__main__":
    sys.exit(run())
