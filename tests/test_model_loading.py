"""Readers of a run (generate, metrics, superres, project, figures, export) refuse a run they
cannot load, and an output path they cannot write, with one line (exit 2) and write nothing."""
import json
import os
import shutil

import pytest

from inr_gan_tf import cli
from inr_gan_tf.restore import ModelLoadError, restore_generator
from inr_gan_tf.cli import export, generate, metrics, project, superres
from inr_gan_tf.model import build_generator, presets
from inr_gan_tf.paths import check_writable
from helpers import write_run_dir

R = 16


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return str(write_run_dir(str(tmp_path_factory.mktemp("runs") / "tiny"), build_generator(presets.tiny_generator(R)), 3))


def _broken(run, tmp_path, how):
    bad = str(tmp_path / how)
    shutil.copytree(run, bad)
    path = os.path.join(bad, "config.json")
    if how == "garbage":
        open(path, "w").write("{garbage")
    elif how == "empty":
        open(path, "w").close()
    elif how == "list":
        open(path, "w").write("[]")
    elif how == "other_model":  # a config.json of another generator beside these weights
        config = json.load(open(path))
        config["generator"]["z_dim"] = 2 * config["generator"]["z_dim"]
        json.dump(config, open(path, "w"))
    elif how == "no_checkpoint":
        shutil.rmtree(os.path.join(bad, "checkpoints"))
    elif how == "truncated":
        for name in os.listdir(os.path.join(bad, "checkpoints")):
            if ".data-" in name:
                open(os.path.join(bad, "checkpoints", name), "wb").close()
    return bad


@pytest.mark.parametrize("how", ["garbage", "empty", "list", "other_model", "no_checkpoint", "truncated"])
def test_restore_generator_one_error_for_every_unloadable_run(run, tmp_path, how):
    with pytest.raises(ModelLoadError) as e:
        restore_generator(_broken(run, tmp_path, how))
    assert "\n" not in str(e.value)


def test_missing_file_and_folder_runs(run, tmp_path):
    (tmp_path / "afile").write_text("x")
    for path in (tmp_path / "nonexistent", tmp_path / "afile", tmp_path):
        with pytest.raises(ModelLoadError):
            restore_generator(str(path))
    with pytest.raises(ModelLoadError, match="not a checkpoint prefix"):
        restore_generator(checkpoint=os.path.join(run, "checkpoints", "ckpt-99"))


def test_every_reader_exits_2_naming_the_flag(run, tmp_path, capsys):
    bad = _broken(run, tmp_path, "other_model")
    target = tmp_path / "t.png"
    from PIL import Image
    Image.new("RGB", (R, R)).save(target)
    out = tmp_path / "out"
    commands = [
        (generate.COMMAND, [f"--run_dir={bad}", f"--outdir={out}", "--seeds=0"]),
        (metrics.COMMAND, [f"--run_dir={bad}", "--metrics=swd", "--num=4", f"--cache_dir={tmp_path / 'cache'}"]),
        (superres.COMMAND, [f"--run_dir={bad}", "--num=0", "--sample_grid", f"--out={out}/s.json"]),
        (project.COMMAND, [f"--run_dir={bad}", f"--target={target}", "--steps=1", f"--outdir={out}"]),
        (generate.COMMAND, [f"--run_dir={tmp_path / 'nonexistent'}", f"--outdir={out}", "--seeds=0"]),
        (export.COMMAND, [f"--run_dir={bad}", f"--outdir={out}"]),
        (export.COMMAND, [f"--run_dir={_broken(run, tmp_path, 'empty')}", f"--outdir={out}", "--dry_run"]),
        (generate.COMMAND, [f"--run_dir={_broken(run, tmp_path, 'garbage')}", f"--outdir={out}", "--seeds=0",
                            "--dry_run"]),
    ]
    for command, argv in commands:
        assert cli.run(command, argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "--run_dir" in err, err
    assert not out.exists()  # refused before anything was written


def test_output_paths_checked_before_work(run, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    for argv in ([f"--outdir={afile}"], [f"--outdir={afile}/sub"]):
        assert cli.run(generate.COMMAND, [f"--run_dir={run}", "--seeds=0", *argv]) == 2
        assert "--outdir" in capsys.readouterr().err
    assert cli.run(superres.COMMAND, [f"--run_dir={run}", "--num=0", "--sample_grid", f"--out={tmp_path}"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert afile.read_text() == "keep"
    check_writable(str(tmp_path / "new" / "deeper"), folder=True)  # missing folders are fine
    check_writable(str(tmp_path / "new.json"), folder=False)


def test_absurd_sizes_refused_before_rendering(run, tmp_path, capsys):
    out = tmp_path / "g"
    for argv in (["--superres=1000000"], ["--height=100000", "--width=100000"]):
        assert cli.run(generate.COMMAND, [f"--run_dir={run}", f"--outdir={out}", "--seeds=0", *argv]) == 2
        err = capsys.readouterr().err
        assert "a side" in err or "<=" in err, err
    assert not out.exists()
    from inr_gan_tf.data.noto_emoji.render import check_memory
    with pytest.raises(ValueError, match="GiB"):
        check_memory(1731, 1 << 20, 1 << 20)
    check_memory(1731, 32, 32)
