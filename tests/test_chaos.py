"""Issue 10: never lose a run, and validate everything before writing anything.

The train command runs in-process (absl flags are global: parse, call main, unparse), so the
checks share one TensorFlow start-up. A tiny run trains twice in all: the template run below
and the --restart run; every other case resumes at its last step and trains nothing.
"""
import errno
import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from inr_gan_tf.cli import train
from inr_gan_tf import checkpoint as checkpoints

TINY = ["--data=procedural", "--resolution=16", "--g_blocks=8:16:1:8:3,16:16:1:8:3", "--z_dim=16",
        "--mapping_width=32", "--d_channel_base=128", "--d_channel_max=16", "--batch_size=4",
        "--sample_every=0", "--swd_every=0", "--log_every=0"]
STEP = 0.004  # kimg of one step of batch 4


def _train(run_dir, *extra):
    """`python -m inr_gan_tf.train TINY... --run_dir=RUN EXTRA...` in-process -> exit code."""
    return train.run([*TINY, f"--run_dir={run_dir}", *extra])  # logs at INFO: caplog sees them


def _files(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def _aside(run_dir, kind):
    return [os.path.join(run_dir, n) for n in _files(run_dir) if n.startswith(f"checkpoints.{kind}-")]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Two steps with a checkpoint after each: checkpoints/ckpt-1 and ckpt-2. The folder starts
    with a config.json of another run and no checkpoint (replaced) and a killed save's leftovers
    (removed)."""
    run = tmp_path_factory.mktemp("chaos") / "run"
    os.makedirs(run / "checkpoints" / "ckpt-7_temp")
    (run / "checkpoints" / "ckpt-7_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    (run / "config.json").write_text('{"batch_size": 99}')
    assert _train(run, f"--total_kimg={2 * STEP}", "--ckpt_every=1") == 0
    names = _files(run / "checkpoints")
    assert "ckpt-1.index" in names and "ckpt-2.index" in names and "ckpt-7_temp" not in names
    assert '"batch_size": 4' in (run / "config.json").read_text()
    return run


def _copy(template, tmp_path):
    shutil.copytree(template, tmp_path / "run")
    return tmp_path / "run"


def _truncate(path, keep=0.5):
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * keep))


CORRUPTIONS = {  # newest checkpoint damaged -> the step resumed from
    "truncated_data": (lambda c: _truncate(c / "ckpt-2.data-00000-of-00001"), 1),
    "missing_index": (lambda c: os.remove(c / "ckpt-2.index"), 1),
    "removed_by_hand": (lambda c: [os.remove(c / n) for n in _files(c) if n.startswith("ckpt-2.")], 1),
    "garbage_state_file": (lambda c: (c / "checkpoint").write_bytes(b"model_checkpoint_path: \xff{{\n"), 2),
}


@pytest.mark.parametrize("fault", sorted(CORRUPTIONS))
def test_rerun_resumes_from_the_newest_intact_checkpoint_and_deletes_nothing(template, tmp_path, caplog, fault):
    run = _copy(template, tmp_path)
    corrupt, step = CORRUPTIONS[fault]
    corrupt(run / "checkpoints")
    before = {n: (run / "checkpoints" / n).read_bytes() for n in _files(run / "checkpoints")
              if n.startswith("ckpt-")}
    caplog.set_level(logging.INFO)
    # total_kimg may change on resume: here it ends the run at the step it resumes, training nothing.
    assert _train(run, f"--total_kimg={step * STEP}") == 0
    assert f"resumed at step {step}" in caplog.text
    moved = {n: (d / n).read_bytes() for d in map(type(run), _aside(run, "corrupt")) for n in _files(d)}
    after = {n: (run / "checkpoints" / n).read_bytes() for n in _files(run / "checkpoints") if n.startswith("ckpt-")}
    assert {**after, **moved} == before  # every byte is still somewhere: in place or moved aside
    if fault in ("truncated_data", "missing_index"):  # one line says which was skipped and why
        assert "skipped checkpoint" in caplog.text and "ckpt-2" in caplog.text
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith(f"ckpt-{step}")  # state file rewritten


def test_nothing_restorable_refuses_with_one_line_and_restart_moves_it_aside(template, tmp_path, capsys):
    run = _copy(template, tmp_path)
    _truncate(run / "checkpoints" / "ckpt-1.data-00000-of-00001")
    os.remove(run / "checkpoints" / "ckpt-2.index")
    listing = _files(run / "checkpoints")
    assert _train(run, f"--total_kimg={2 * STEP}") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("train: --run_dir=")
    assert "ckpt-1.data-00000-of-00001" in err and "no ckpt-2.index" in err and "--restart" in err
    assert _files(run / "checkpoints") == listing and _files(run) == _files(template)

    # --restart with another configuration: the old run (checkpoints and config) moves aside.
    # --ckpt_every=0 and --log_every=0 (TINY) mean "at the end only" and "never".
    assert _train(run, f"--total_kimg={STEP}", "--restart", "--ckpt_every=0", "--z_dim=8") == 0
    [aside] = _aside(run, "aside")
    assert set(listing) <= set(_files(aside)) and "config.json" in _files(aside)
    assert [n for n in _files(run / "checkpoints") if n.endswith(".index")] == ["ckpt-1.index"]
    assert '"z_dim": 8' in (run / "config.json").read_text()


def test_another_configuration_on_a_run_with_checkpoints_is_refused_unchanged(template, tmp_path, capsys):
    run = _copy(template, tmp_path)
    assert _train(run, "--z_dim=8") == 2
    err = capsys.readouterr().err
    assert "another configuration" in err and "z_dim" not in err.split("differs in")[0] and "--restart" in err
    assert _files(run) == _files(template)


BAD_FLAGS = [
    ("--g_blocks=8:16:0:8:3,16:16:1:8:3", "--g_blocks"), ("--g_blocks=6:16:1:8:3,16:16:1:8:3", "--g_blocks"),
    ("--g_blocks=8:16:1:8:inf,16:16:1:8:3", "--g_blocks"), ("--r1_gamma=-1", "--r1_gamma"),
    ("--r1_gamma=nan", "--r1_gamma"), ("--ema_kimg=0", "--ema_kimg"), ("--ema_rampup=-0.1", "--ema_rampup"),
    ("--z_dim=0", "--z_dim"), ("--rank=0", "--rank"), ("--mapping_layers=0", "--mapping_layers"),
    ("--mapping_width=0", "--mapping_width"), ("--d_channel_base=8", "--d_channel_base"),
    ("--d_channel_max=0", "--d_channel_max"), ("--seed=-1", "--seed"), ("--seed=4294967296", "--seed"),
    ("--data=/no/such/images", "--data"), ("--threads=-3", "--threads"), ("--threads=abc", "--threads"),
    ("--ckpt_every=-1", "--ckpt_every"), ("--log_every=-5", "--log_every"), ("--sample_every=-1", "--sample_every"),
    ("--swd_every=-2", "--swd_every"), ("--swd_images=0", "--swd_images"), ("--total_kimg=inf", "--total_kimg"),
    ("--total_kimg=0", "--total_kimg"), ("--adam_beta1=2", "--adam_beta1"), ("--adam_beta2=1", "--adam_beta2"),
    ("--lr_d=inf", "--lr_d"), ("--lr_inr=nan", "--lr_inr"), ("--batch_size=0", "--batch_size"),
    ("--r1_interval=0", "--r1_interval"), ("--profile_steps=3,2", "--profile_steps"),
    ("--fourier_cap=0", "--fourier_cap"), ("--fourier_cap=nan", "--fourier_cap"),
    ("--log_frequencies=-1", "--log_frequencies"), ("--max_pixels=0", "--max_pixels"), ("--upsampling=cubic", "--upsampling"),
    ("--patch_ratio=1.5", "--patch_ratio"), ("--patch_min_scale=0", "--patch_min_scale"),
    ("--patch_min_scale=2", "--patch_min_scale"),
    ("--coord_scale=0", "--coord_scale"), ("--coord_scale=8", "--coord_scale"),  # the latter: with Fourier features
    ("--coord_gain=0", "--coord_gain"), ("--coord_gain=inf", "--coord_gain"), ("--coord_gain=4", "--coord_gain"),
    ("--saturation=0", "--saturation"), ("--saturation=nan", "--saturation"), ("--saturation=-2", "--saturation"),
    ("--palette=1", "--palette"), ("--palette=-4", "--palette"), ("--palette=x", "--palette"),
    ("--consistency=-1", "--consistency"), ("--consistency=nan", "--consistency"),
    ("--consistency=inf", "--consistency"),
    ("--spectral=-1", "--spectral"), ("--spectral=nan", "--spectral"), ("--spectral=inf", "--spectral"),
]


BAD_FLAG_PAIRS = [(("--cell", "--upsampling=local"), "--cell"), (("--cell", "--upsampling=local_diff"), "--cell"),
                  (("--consistency=1", "--consistency_points=0"), "--consistency_points"),
                  (("--consistency=1", "--consistency_density=1"), "--consistency_density"),
                  (("--consistency=1", "--consistency_points=100000"), "--consistency_points")]


def test_every_bad_flag_exits_2_with_one_line_before_writing_anything(tmp_path, capsys):
    run = tmp_path / "run"
    for flag, name in BAD_FLAGS + BAD_FLAG_PAIRS:
        flags_ = flag if isinstance(flag, tuple) else (flag,)
        assert _train(run, *flags_) == 2, flag
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("train: ") and name in err, (flag, err)
        assert not run.exists(), flag


# -- CheckpointStore on a small checkpoint: retention and failed saves ----------------------
def _store(tmp_path, max_to_keep=1):
    value = tf.Variable(np.zeros(256, np.float32))
    return checkpoints.CheckpointStore(tf.train.Checkpoint(v=value), str(tmp_path / "checkpoints"),
                                       str(tmp_path / "checkpoints"), max_to_keep), value


def _prefixes(d):
    return sorted(checkpoints.list_checkpoints(str(d)))


def test_store_never_deletes_the_last_good_state_nor_a_damaged_one(tmp_path, monkeypatch):
    store, v = _store(tmp_path, max_to_keep=3)
    for step in (1, 2, 3):
        v.assign(np.full(256, step, np.float32))
        store.save(step)
    ckpt = tmp_path / "checkpoints"
    _truncate(ckpt / "ckpt-1.data-00000-of-00001")  # an old one, damaged unnoticed
    _truncate(ckpt / "ckpt-3.data-00000-of-00001")  # the newest, damaged
    store, v = _store(tmp_path, max_to_keep=1)
    assert store.restore() == 2 and v.numpy()[0] == 2
    assert _prefixes(ckpt) == [1, 2]
    # A save that does not verify keeps everything older: there is no newer good state yet.
    real_verify = checkpoints.verify
    monkeypatch.setattr(checkpoints, "verify", lambda p: "bad" if p.endswith("ckpt-4") else real_verify(p))
    with pytest.raises(checkpoints.CheckpointError, match="ckpt-4 failed verification"):
        store.save(4)
    assert _prefixes(ckpt) == [1, 2]
    monkeypatch.setattr(checkpoints, "verify", real_verify)
    store.save(5)  # verified: now the older intact one may go; the damaged one moves aside
    assert _prefixes(ckpt) == [5]
    moved = [n for d in _aside(tmp_path, "corrupt") for n in _files(d)]
    assert {"ckpt-1.index", "ckpt-3.index", "ckpt-4.index"} <= set(moved)
    assert tf.train.latest_checkpoint(str(ckpt)).endswith("ckpt-5")


def test_a_failed_save_removes_its_partial_files_and_says_how_much_space(tmp_path, monkeypatch):
    store, v = _store(tmp_path)
    store.save(1)
    state = (tmp_path / "checkpoints" / "checkpoint").read_text()

    def disk_full(prefix):
        with open(prefix + ".data-00000-of-00001", "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(store.checkpoint, "write", disk_full)
    with pytest.raises(checkpoints.CheckpointError) as e:
        store.save(2)
    message = str(e.value)
    assert "\n" not in message and "disk full" in message and "MB" in message and "ckpt-1 is intact" in message
    assert _prefixes(tmp_path / "checkpoints") == [1]
    assert (tmp_path / "checkpoints" / "checkpoint").read_text() == state


# -- readers: generate, export, metrics ---------------------------------------------------
def test_readers_fall_back_past_a_damaged_newest_checkpoint(template, tmp_path):
    from inr_gan_tf.restore import ModelLoadError, resolve_checkpoint, restore_generator
    run = _copy(template, tmp_path)
    _truncate(run / "checkpoints" / "ckpt-2.data-00000-of-00001")
    checkpoint, _ = resolve_checkpoint(run_dir=str(run))
    assert checkpoint.endswith("ckpt-1")
    assert restore_generator(run_dir=str(run)).provenance["step"] == 1
    with pytest.raises(ModelLoadError, match=r"ckpt-2\.data-00000-of-00001 truncated"):
        restore_generator(checkpoint=str(run / "checkpoints" / "ckpt-2"))
    assert _files(run / "checkpoints") == _files(template / "checkpoints")  # readers move nothing
