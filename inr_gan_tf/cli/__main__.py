"""The project's commands: `python -m inr_gan_tf.cli` lists them; `--out=docs/cli.md` writes the flag table."""
import sys

from absl import flags

from inr_gan_tf import cli
from inr_gan_tf.cli import Args, common


def define(fv: flags.FlagValues) -> None:
    common.define(fv, "out", None, "Write the table of every command's flags (markdown) here instead of "
                  "listing the commands.")


def command_main(a: Args) -> None:
    from inr_gan_tf.cli import commands
    if a.out is None:
        for name in commands.installed_names():
            command = commands.load(name)
            print(f"{command.prog:42s} {command.doc.strip().splitlines()[0][:90]}")
        return
    from inr_gan_tf.paths import write_atomic
    write_atomic(a.out, commands.table())
    print(f"wrote {a.out}")


COMMAND = cli.Command("python -m inr_gan_tf.cli", __doc__, define, command_main)


def run(argv=None) -> int:
    return cli.run(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(run())
