"""The one command-line convention, checked on every command and tool (inr_gan_tf/cli)."""
import ast
import importlib
import os
import re
import shlex
import subprocess
import sys

import pytest

from inr_gan_tf import cli
from inr_gan_tf.cli import commands, common
from helpers import ROOT

NAMES = commands.all_names()


@pytest.fixture(scope="module")
def loaded():
    return {name: commands.load(name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_help_exits_0_and_lists_every_flag(name, loaded, capsys):
    command = loaded[name]
    assert cli.run(command, ["--help"]) == 0
    out = capsys.readouterr().out
    assert command.prog in out
    for flag_name, _ in cli.flag_items(command.flag_values()):
        assert f"--{flag_name}:" in out or f"--[no]{flag_name}:" in out


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_flag_exits_2_with_one_line_naming_it(name, loaded, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written: the folder stays empty
    assert cli.run(loaded[name], ["--no_such_flag=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no_such_flag" in err and err.startswith(f"{cli.short(loaded[name])}: ")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_value_exits_2_naming_the_flag(name, loaded, capsys, tmp_path, monkeypatch):
    """The first integer or float flag of each command, given a word."""
    monkeypatch.chdir(tmp_path)
    typed = [n for n, f in cli.flag_items(loaded[name].flag_values())
             if f.flag_type() in ("int", "float") and not n.startswith("_")]
    if not typed:
        pytest.skip(f"{name} has no numeric flag")
    assert cli.run(loaded[name], [f"--{typed[0]}=abc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"--{typed[0]}" in err
    assert os.listdir(tmp_path) == []


def test_a_flag_name_means_one_thing_across_commands(loaded):
    """A name used by two commands comes from common.SHARED: same type, help opening with its meaning."""
    seen = {}
    for name, command in loaded.items():
        for flag_name, flag in cli.flag_items(command.flag_values()):
            seen.setdefault(flag_name, []).append((name, flag))
    kinds = {"string": ("string", "list", "enum"), "integer": ("int",), "float": ("float",), "boolean": ("bool",)}
    for flag_name, uses in seen.items():
        if len(uses) < 2 and flag_name not in common.SHARED:
            continue
        assert flag_name in common.SHARED, f"--{flag_name} is defined by {[n for n, _ in uses]} outside common.SHARED"
        kind, meaning = common.SHARED[flag_name]
        for name, flag in uses:
            assert flag.help.startswith(meaning), f"{name} --{flag_name}: help must open with {meaning!r}"
            assert flag.flag_type() in kinds[kind], f"{name} --{flag_name}: {flag.flag_type()} is not {kind}"


def test_aliases_name_real_flags(loaded):
    for name, command in loaded.items():
        names = {n for n, _ in cli.flag_items(command.flag_values())}
        for old, new in command.aliases.items():
            assert new.removeprefix("no") in names and old not in names, (name, old, new)


def test_an_old_spelling_warns_and_still_works(capsys):
    command = commands.load("export")
    args = cli.parse(command, ["--run_dir=r", "--out_dir=models", "--seed=3"])
    assert args.outdir == "models" and args.seeds == "3" and args.given("outdir")
    err = capsys.readouterr().err
    assert "--out_dir is deprecated, use --outdir" in err and "--seed is deprecated, use --seeds" in err


def test_flagfiles_work_and_later_flags_override(tmp_path):
    flagfile = tmp_path / "f.flags"
    flagfile.write_text("--run_dir=runs/a\n--seeds=1-3\n")
    args = cli.parse(commands.load("generate"), [f"--flagfile={flagfile}", "--seeds=9"])
    assert args.run_dir == "runs/a" and args.seeds == "9"


def test_docs_table_is_current():
    with open(os.path.join(ROOT, "docs", "cli.md")) as f:
        assert f.read() == commands.table(), "run: python -m inr_gan_tf.cli --out=docs/cli.md"


def test_setup_installs_one_console_script_per_command():
    tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
    scripts = next(ast.literal_eval(k.value)["console_scripts"] for node in ast.walk(tree)
                   if isinstance(node, ast.Call) for k in node.keywords if k.arg == "entry_points")
    assert scripts == commands.console_scripts()


def test_python_m_entry_points_answer_help_in_a_fresh_process():
    for module in ("inr_gan_tf.cli", "inr_gan_tf.generate"):
        proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
        assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr[-2000:]


def test_the_animation_library_run_as_a_module_names_its_command():
    proc = subprocess.run([sys.executable, "-m", "inr_gan_tf.animate"], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "python -m inr_gan_tf.generate --interpolate" in last, proc.stderr[-2000:]


def test_every_documented_python_m_module_runs_its_cli_command():
    """`python -m inr_gan_tf.NAME` (and `.metrics`, `.export`, `.figures` packages) stay the
    commands' entry points after the move into cli/: each entry module runs that command."""
    import importlib
    for name, module in commands.MODULES.items():
        entry = importlib.import_module(f"inr_gan_tf.{name}.__main__" if name in ("metrics", "export", "figures")
                                        else f"inr_gan_tf.{name}")
        target = importlib.import_module(module)
        assert entry.run is target.run and entry.COMMAND is target.COMMAND, name
        assert target.COMMAND.prog == f"python -m inr_gan_tf.{name}", name


def test_train_without_flags_says_what_to_run(capsys):
    assert cli.run(commands.load("train"), []) == 2
    assert "--flagfile=configs/quickstart.flags" in capsys.readouterr().err


def _readme_commands():
    """Every `python -m inr_gan_tf.NAME ...` / `python tools/NAME.py ...` line of the README and docs/,
    from code blocks and inline code (continuations joined, trailing comments dropped)."""
    docs = [os.path.join(ROOT, "docs", n) for n in sorted(os.listdir(os.path.join(ROOT, "docs"))) if n.endswith(".md")]
    text = "\n".join(open(p).read() for p in [os.path.join(ROOT, "README.md"), *docs])
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [line for b in blocks for line in b.replace("\\\n", " ").splitlines()]
    # inline code may wrap anywhere, even between "-m" and the module, so whitespace is any run of it
    lines += [" ".join(m.split()) for m in re.findall(r"`(python\s+(?:-m\s+inr_gan_tf|tools/)[^`]*)`", text)]
    found = []
    for line in lines:
        m = re.search(r"python (?:-m inr_gan_tf\.(\w+)|tools/(\w+)\.py)(.*)", line)
        if not m:
            continue
        args = shlex.split(m.group(3).split(" #")[0])
        if (m.group(1) or m.group(2)) == "NAME" or any("[" in a or a.endswith("NAME.flags") for a in args):  # a template
            continue
        found.append((m.group(1) or m.group(2), args))
    return found


README_COMMANDS = _readme_commands()


def test_the_readme_shows_commands():
    assert len(README_COMMANDS) > 20 and {name for name, _ in README_COMMANDS} >= {"train", "generate", "metrics"}


@pytest.mark.parametrize("name, args", README_COMMANDS, ids=[" ".join([n, *a])[:60] for n, a in README_COMMANDS])
def test_every_readme_command_parses_with_todays_flags(name, args, loaded, capsys, monkeypatch):
    """Flags exist, values have their types, and no deprecated spelling is taught."""
    monkeypatch.chdir(ROOT)  # flagfiles are relative to the repository root
    command = loaded[name] if name in loaded else importlib.import_module(f"inr_gan_tf.{name}.__main__").COMMAND
    cli.parse(command, args)
    assert "deprecated" not in capsys.readouterr().err
