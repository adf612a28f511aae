"""`python -m inr_gan_tf.project`: the projection command, defined in inr_gan_tf/cli/project.py."""
import sys

from inr_gan_tf.cli.project import COMMAND, run  # noqa: F401 -- the command and its entry point

if __name__ == "__main__":
    sys.exit(run())
