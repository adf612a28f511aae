"""One command-line convention for every command and tool (STYLE 15).

A command is a `Command`: `define(fv)` declares its flags on a FlagValues of its own (absl, as
the user writes `--flagfile=configs/ffhq.flags`; a registry per command so that commands can
be imported and run side by side in one process, as the tests do), and `main(args)` does the
work from the parsed values. `run(command, argv)` gives every command the same behaviour:

    --help, -h, --helpfull    the command's help on stdout, exit 0
    --flagfile=FILE           absl flagfiles; flags after it override it
    a bad flag or value       one line `prog: message` on stderr, exit 2, before any work
    cli.UsageError from main  the same (checks that need the flags together, files, models)
    an old spelling           rewritten to today's name with a one-line deprecation warning

Flags that several commands share are defined once, in `cli.flags`: a name means one thing.
"""
import dataclasses
import os
import sys
import types
from typing import Callable, Dict, List, Optional, Sequence

from absl import flags, logging

USAGE_EXIT = 2
HELP_ARGS = ("-h", "--help", "--helpfull", "-?")


class UsageError(ValueError):
    """A bad command line; the message names the flag. Exit 2, nothing written."""


@dataclasses.dataclass(frozen=True)
class Command:
    prog: str                                       # how the user runs it: "python -m inr_gan_tf.generate"
    doc: str                                        # what it does (first line) and details
    define: Callable[[flags.FlagValues], None]      # declares the command's flags on fv
    main: Callable[["Args"], object]                # does the work on checked flags; an int return is the
                                                    # exit status, anything else (a report, None) exit 0
    aliases: Dict[str, str] = dataclasses.field(default_factory=dict)  # deprecated name -> name
    log_level: str = "info"                         # absl logging verbosity while it runs
    check: Optional[Callable[["Args"], "Args"]] = None  # flags checked together (UsageError), if any

    def parse_args(self, argv: Optional[Sequence[str]] = None) -> "Args":
        """Parses (and checks) a command line; bad values raise UsageError naming the flag."""
        a = parse(self, list(sys.argv[1:] if argv is None else argv))
        return self.check(a) if self.check is not None else a

    def run(self, argv: Optional[Sequence[str]] = None) -> int:
        """The command's entry point (`python -m`, console script): exit status 0, 1 or 2."""
        return run(self, argv)

    def call(self, argv: Optional[Sequence[str]] = None):
        """In-process entry: parse, check and do the work; returns what `main` returns (a bad
        command line raises UsageError instead of exiting)."""
        return self.main(self.parse_args(argv))

    def flag_values(self) -> flags.FlagValues:
        fv = flags.FlagValues()
        self.define(fv)
        return fv

    def help(self) -> str:
        return f"{self.doc.strip()}\n\nusage: {self.prog} [--flag=value ...]\n\nflags:\n{describe(self.flag_values())}"


class Args(types.SimpleNamespace):
    """Parsed flag values by name; `given(name)` tells whether the command line set a flag."""

    def __init__(self, values: dict, present: Sequence[str] = ()):
        super().__init__(**values)
        object.__setattr__(self, "_present", frozenset(present))

    def given(self, name: str) -> bool:
        return name in self._present

    def replace(self, **changes) -> "Args":
        """A copy with other values (still "given" only where the command line set them)."""
        values = {k: v for k, v in vars(self).items() if k != "_present"}
        return Args({**values, **changes}, self._present)


def describe(fv: flags.FlagValues) -> str:
    """Every flag in definition order: `--name: help (default: ...)`."""
    lines = []
    for name, flag in flag_items(fv):
        prefix = "--[no]" if flag.boolean else "--"
        lines.append(f"  {prefix}{name}: {flag.help}")
        lines.append(f"    (default: {flag.default_as_str or 'none'})")
    lines.append("  --flagfile: Read flags from a file, one per line; flags after it override it.")
    return "\n".join(lines)


def flag_items(fv: flags.FlagValues):
    """(name, Flag) of each flag fv declares, in definition order (no absl specials)."""
    return [(name, flag) for name, flag in fv._flags().items()  # noqa: SLF001 -- absl has no public ordered view
            if name == flag.name and name not in ("flagfile", "undefok")]


def parse(command: Command, argv: Sequence[str]) -> Args:
    """Flags of argv (no program name) -> Args; raises UsageError naming the flag."""
    fv = command.flag_values()
    try:
        expanded = fv.read_flags_from_files([command.prog, *argv])
    except flags.Error as e:
        raise UsageError(one_line(e)) from None
    expanded = [expanded[0], *rename_aliases(expanded[1:], command)]
    try:
        rest = fv(expanded)
    except flags.Error as e:
        raise UsageError(one_line(e)) from None
    if len(rest) > 1:
        raise UsageError(f"unexpected arguments {rest[1:]}: every input is a --flag")
    present = [name for name, flag in flag_items(fv) if flag.present]
    return Args(fv.flag_values_dict(), present)


def rename_aliases(args: List[str], command: Command) -> List[str]:
    """--old=v / --noold -> today's name, warning once per spelling (kept for one release)."""
    out, warned = [], set()
    for arg in args:
        name, sep, value = arg.partition("=")
        bare = name.lstrip("-")
        negated = bare.startswith("no") and bare[2:] in command.aliases and name.startswith("--")
        key = bare[2:] if negated else bare
        if name.startswith("-") and key in command.aliases:
            new = command.aliases[key]
            if key not in warned:
                print(f"{short(command)}: --{key} is deprecated, use --{new}", file=sys.stderr)
                warned.add(key)
            arg = f"--{'no' if negated else ''}{new}{sep}{value}"
        out.append(arg)
    return out


def run(command: Command, argv: Optional[Sequence[str]] = None) -> int:
    """The one entry point of every command: exit status 0 (done), 1 (failed), 2 (usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in HELP_ARGS for a in argv):
        print(command.help())
        return 0
    try:
        args = parse(command, argv)
    except UsageError as e:
        return fail(command, str(e), USAGE_EXIT)
    _start_logging(command.log_level)
    try:
        code = command.main(command.check(args) if command.check is not None else args)
    except UsageError as e:
        return fail(command, str(e), USAGE_EXIT)
    return code if isinstance(code, int) else 0


def fail(command: Command, message: str, code: int) -> int:
    print(f"{short(command)}: {message}", file=sys.stderr)
    return code


def short(command: Command) -> str:
    """'python -m inr_gan_tf.export' -> 'export'; 'python tools/bench_train.py' -> 'bench_train'."""
    last = command.prog.split()[-1]
    if "/" in last or last.endswith(".py"):
        return os.path.splitext(os.path.basename(last))[0]
    return last.rsplit(".", 1)[-1]


def one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return "; ".join(line.strip() for line in lines if line.strip()) or type(e).__name__


def _start_logging(level: str) -> None:
    # absl's handler warns "logging before flag parsing" until the global registry is parsed;
    # commands keep their flags elsewhere, so the global one (absl's logging flags) takes defaults.
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    logging.use_absl_handler()
    logging.set_verbosity(level)
