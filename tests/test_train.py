"""Training contracts on a tiny configuration: flags, steps, checkpoints, exact resume, NaN restore."""
import json
import os
import signal
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from helpers import ROOT, assert_mirrored_equals_single, train_config
from helpers import tiny_train_config as _tiny_config

from inr_gan_tf.training import options  # noqa: F401  (defines the flags)

PAPER_FLAGFILES = ["ffhq", "ffhq_256", "lsun_bedroom_256", "lsun_bedroom_128", "church_256"]


@pytest.mark.parametrize("name", PAPER_FLAGFILES)
def test_paper_flagfiles_resolve_to_app_a(name):
    cwd = os.getcwd()
    os.chdir(ROOT)  # nested flagfiles are relative to the repository root
    try:
        cfg = train_config(f"--flagfile=configs/{name}.flags")
    finally:
        os.chdir(cwd)
    assert cfg["optim"]["betas"] == [0.0, 0.98] and cfg["loss"]["r1_gamma"] == 10
    assert cfg["optim"]["lr_inr"] == 5e-4 and cfg["optim"]["lr_d"] == 3e-3
    g = cfg["generator"]
    assert g["mapping_width"] == 1024 and g["z_dim"] == 512 and g["rank"] == 10
    if name == "ffhq":
        assert [b["resolution"] for b in g["blocks"]] == [128, 256, 512, 1024]
    assert cfg["discriminator"]["channel_base"] == 16384


PAPER_PRESETS = {"ffhq": "paper1024", "ffhq_256": "paper256", "church_256": "paper256",
                 "lsun_bedroom_256": "paper256", "lsun_bedroom_128": "paper128"}


@pytest.mark.parametrize("name", sorted(PAPER_PRESETS))
def test_paper_flagfiles_resolve_to_their_preset(name, monkeypatch):
    from inr_gan_tf.model.config import PRESETS, GeneratorConfig
    monkeypatch.chdir(ROOT)
    g = train_config(f"--flagfile=configs/{name}.flags")["generator"]
    assert GeneratorConfig.from_dict(g) == PRESETS[PAPER_PRESETS[name]]
    assert set(PAPER_PRESETS) | {"quickstart", "paper_common"} == {f[:-6] for f in os.listdir(ROOT + "/configs")}


def test_flags_override_a_preset():
    g = train_config("--preset=paper256", "--z_dim=64", "--upsampling=bilinear", "--data=procedural")["generator"]
    assert g["z_dim"] == 64 and g["upsampling"] == "bilinear" and g["mapping_width"] == 1024
    assert [b["resolution"] for b in g["blocks"]] == [128, 256]
    with pytest.raises(ValueError, match="--preset"):
        train_config("--preset=paper512")


def test_inconsistent_flags_are_named():
    with pytest.raises(ValueError, match="--resolution"):
        train_config("--resolution=64")  # default --g_blocks ends at 32
    with pytest.raises(ValueError, match="--g_blocks part"):
        train_config("--g_blocks=16:128:2")
    with pytest.raises(ValueError, match="--lr_d"):
        train_config("--lr_d=0")


def test_palette_reaches_the_config_only_when_set():
    assert "palette" not in train_config("--data=procedural")["generator"]
    assert train_config("--data=procedural", "--palette=8")["generator"]["palette"] == 8


def test_coord_gain_reaches_the_config_only_when_set():
    assert "coord_gain" not in train_config("--data=procedural", "--nofourier")["generator"]
    assert train_config("--data=procedural", "--nofourier", "--coord_gain=4")["generator"]["coord_gain"] == 4.0


@pytest.mark.parametrize("flag", ["--coord_gain=4", "--coord_scale=8"])
@pytest.mark.parametrize("features", [[], ["--nofourier", "--log_frequencies=2"]])
def test_coordinate_scales_without_raw_coordinates_are_refused_in_flag_words(flag, features):
    name = flag.split("=")[0]
    words = f"^{name} scales raw coordinates; it needs --nofourier and --log_frequencies=0$"
    with pytest.raises(ValueError, match=words):
        train_config("--data=procedural", flag, *features)


def test_saturation_reaches_the_config_only_when_set():
    """Unset, the key stays out of config.json, so runs from before the option still resume."""
    assert "saturation" not in train_config("--data=procedural")["generator"]
    assert train_config("--data=procedural", "--saturation=2")["generator"]["saturation"] == 2.0


def test_cell_reaches_the_config_only_when_set():
    assert "cell" not in train_config("--data=procedural")["generator"]
    assert train_config("--data=procedural", "--cell", "--upsampling=bilinear")["generator"]["cell"] is True


def test_dry_run_cli_prints_config_macs_and_params(capsys, monkeypatch, tmp_path):
    from inr_gan_tf.cli import train
    monkeypatch.chdir(ROOT)
    run_dir = f"--run_dir={tmp_path / 'run'}"
    assert train.run(["--flagfile=configs/quickstart.flags", "--dry_run", run_dir]) == 0
    out = capsys.readouterr().out
    assert "G MACs/image" in out and "G params" in out and "D MACs/view" in out and '"noto_emoji"' in out
    assert train.run(["--resolution=64", "--dry_run"]) == 2
    assert "--resolution is 64" in capsys.readouterr().err
    # The dry run resolves the data too: a spec the run would refuse fails here, writing nothing.
    assert train.run(["--flagfile=configs/quickstart.flags", "--dry_run", run_dir,
                      f"--data={tmp_path / 'missing'}"]) == 2
    assert "--data=" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_dry_run_checks_the_batch_splits_over_the_replicas(capsys, monkeypatch, tmp_path):
    """What the run would refuse on this machine's replicas the dry run refuses (two replicas,
    as MirroredStrategy gives on two GPUs)."""
    from inr_gan_tf.cli import train
    from inr_gan_tf.training import callbacks
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(callbacks, "local_replicas", lambda kind: 2)
    monkeypatch.setattr(callbacks, "make_strategy", lambda kind: pytest.fail("a dry run creates no strategy"))
    args = ["--flagfile=configs/quickstart.flags", "--dry_run", f"--run_dir={tmp_path / 'run'}", "--strategy=mirrored"]
    assert train.run(args) == 0
    capsys.readouterr()
    assert train.run(args + ["--batch_size=7"]) == 2
    assert "--batch_size 7 is not divisible by 2 replicas" in capsys.readouterr().err
    assert train.run(args + ["--batch_size=6"]) == 2  # 3 patches of 6
    assert "--patch_ratio 0.5 gives 3 patches per batch, not divisible by 2 replicas" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _trainer(cfg, run_dir):
    from inr_gan_tf.training.loop import Trainer, training_data
    from inr_gan_tf.checkpoint import write_config
    from inr_gan_tf.training.state import TrainState
    write_config(run_dir, cfg)
    state = TrainState(cfg, run_dir)
    state.restore_latest()
    return Trainer(state), state, training_data(cfg, cfg["data"], int(state.step.numpy()))


def test_training_data_resumes_at_whole_steps_of_every_replica():
    """MirroredStrategy on 2 devices takes 2 per-replica batches from its one pipeline per step."""
    from inr_gan_tf.training.loop import training_data
    cfg = _tiny_config()
    ctx = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    stream = [b.numpy() for b in training_data(cfg, "procedural", 0, ctx).take(4)]
    resumed = [b.numpy() for b in training_data(cfg, "procedural", 1, ctx).take(2)]
    assert stream[0].shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(np.stack(resumed), np.stack(stream[2:]))


def _weights(state):
    return [v.numpy().copy() for v in state.G.weights + state.D.weights + state.G_ema.weights]


def test_train_steps_checkpoint_and_exact_resume(tmp_path):
    cfg = _tiny_config()
    trainer, state, ds = _trainer(cfg, str(tmp_path / "a"))
    before = _weights(state)
    batches = iter(ds)  # one stream, as in a single process
    trainer.fit(batches, total_kimg=0.008, ckpt_every=2, log_every=1)  # 2 steps of 4 images, saved
    assert int(state.step.numpy()) == 2
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    trainer.fit(batches, total_kimg=0.016, ckpt_every=100, log_every=1)  # uninterrupted: steps 3-4
    changed = [not np.array_equal(a, b) for a, b in zip(before, _weights(state))]
    assert all(changed), "every G, D and G_ema variable moves"
    uninterrupted = _weights(state)

    resumed_trainer, resumed, ds_b = _trainer(cfg, str(tmp_path / "b"))  # a fresh process would do this
    assert int(resumed.step.numpy()) == 2
    resumed_trainer.fit(ds_b, total_kimg=0.016, ckpt_every=100, log_every=1)
    for a, b in zip(uninterrupted, _weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with open(tmp_path / "a" / "config.json") as f:
        assert json.load(f)["generator"] == cfg["generator"]
    assert tf.io.gfile.glob(str(tmp_path / "a" / "logs" / "*"))


def _fake_checkpoint(run_dir):
    """A checkpoint file in run_dir/checkpoints: the run is one to resume, not to replace."""
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    open(os.path.join(run_dir, "checkpoints", "ckpt-1.index"), "w").close()


def test_changed_config_in_an_existing_run_dir_is_refused(tmp_path):
    from inr_gan_tf.checkpoint import write_config
    write_config(str(tmp_path), _tiny_config())
    _fake_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        write_config(str(tmp_path), dict(_tiny_config(), batch_size=8))


def test_a_config_with_no_checkpoint_beside_it_is_replaced(tmp_path):
    """A run that failed before its first save holds nothing to resume: another config may start."""
    from inr_gan_tf.checkpoint import write_config
    write_config(str(tmp_path), _tiny_config())
    write_config(str(tmp_path), dict(_tiny_config(), batch_size=8))
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["batch_size"] == 8


def test_total_kimg_may_change_on_resume_and_is_recorded(tmp_path):
    """Extending a finished run is `--total_kimg=MORE` on the same run directory."""
    from inr_gan_tf.checkpoint import write_config
    write_config(str(tmp_path), _tiny_config())
    _fake_checkpoint(tmp_path)
    write_config(str(tmp_path), dict(_tiny_config(), total_kimg=80.0))
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["total_kimg"] == 80.0
    with pytest.raises(ValueError, match=r"\['batch_size'\]"):  # other keys still name themselves
        write_config(str(tmp_path), dict(_tiny_config(), total_kimg=90.0, batch_size=8))


def test_nonfinite_loss_restores_the_last_checkpoint(tmp_path):
    cfg = _tiny_config()
    trainer, state, ds = _trainer(cfg, str(tmp_path))
    trainer.fit(ds, total_kimg=0.004, ckpt_every=1, log_every=1)
    good = _weights(state)
    nan_batch = tf.data.Dataset.from_tensors(tf.fill([4, 16, 16, 3], np.nan)).repeat()
    with pytest.raises(FloatingPointError, match="non-finite"):
        trainer.fit(nan_batch, total_kimg=0.1, ckpt_every=1000, log_every=1)
    assert int(state.step.numpy()) == 1  # back at the last good state, not past it
    for a, b in zip(good, _weights(state)):
        np.testing.assert_array_equal(a, b)


def test_mirrored_step_on_two_logical_cpus_equals_one_device(tmp_path):
    assert_mirrored_equals_single(_tiny_config(), tmp_path)


def test_float16_overflow_skips_the_whole_update_and_halves_the_scale(tmp_path):
    import keras
    cfg = dict(_tiny_config(), precision="mixed_float16")
    try:
        trainer, state, ds = _trainer(cfg, str(tmp_path))
        batches = iter(ds)
        stats = trainer.step(next(batches))
        assert stats["loss_scale_g"] == 2.0 ** 15 and stats["skipped_g"] == 0 and np.isfinite(stats["loss_g"])
        assert state.G.inr.compute_dtype == "float16"
        state.g_scale.scale.assign(1e38)  # the scaled backward pass overflows
        g_before, d_before = ([v.numpy().copy() for v in m.trainable_variables] for m in (state.G, state.D))
        stats = trainer.step(next(batches))
        assert stats["skipped_g"] == 1 and stats["grad_norm_g"] == 0 and stats["skipped_d"] == 0
        assert state.g_scale.scale.numpy() == np.float32(5e37)
        # Both G optimizers skipped together; D (its own scale) still stepped.
        assert all(np.array_equal(a, v.numpy()) for a, v in zip(g_before, state.G.trainable_variables))
        assert not all(np.array_equal(a, v.numpy()) for a, v in zip(d_before, state.D.trainable_variables))
        state.save()  # the scales are training state: they come back on resume
        state.g_scale.scale.assign(1.0)
        state.restore_latest()
        assert state.g_scale.scale.numpy() == np.float32(5e37)
    finally:
        keras.mixed_precision.set_global_policy("float32")  # the policy is process-wide


def _cli(run_dir, *extra):
    return [sys.executable, "-m", "inr_gan_tf.train", "--data=procedural", "--resolution=16",
            "--g_blocks=8:16:1:8:3,16:16:1:8:3", "--z_dim=16", "--mapping_width=32",
            "--d_channel_base=128", "--d_channel_max=16", "--batch_size=4", "--total_kimg=0.032",
            "--ckpt_every=2", "--sample_every=0", "--swd_every=0", "--threads=1", f"--run_dir={run_dir}",
            *extra]


def _final_weights(run_dir):
    path = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return path, {n: tf.train.load_variable(path, n) for n, _ in tf.train.list_variables(path)
                  if n.endswith("VARIABLE_VALUE") and not n.startswith("save_counter")}


@pytest.mark.slow
def test_kill_9_then_rerun_matches_an_uninterrupted_run(tmp_path):
    """SIGKILL mid-run loses at most the steps since the last checkpoint, and nothing else."""
    full = str(tmp_path / "full")
    subprocess.run(_cli(full), cwd=ROOT, check=True, capture_output=True, timeout=600)
    killed = str(tmp_path / "killed")
    proc = subprocess.Popen(_cli(killed), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = os.path.join(killed, "checkpoints", "checkpoint")
    deadline = time.time() + 300
    while not os.path.exists(index) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    assert os.path.exists(index), "the run never wrote a checkpoint"
    subprocess.run(_cli(killed), cwd=ROOT, check=True, capture_output=True, timeout=600)
    (path_a, a), (path_b, b) = _final_weights(full), _final_weights(killed)
    assert path_a.endswith("ckpt-8") and path_b.endswith("ckpt-8")
    assert a.keys() == b.keys()
    for n in a:
        np.testing.assert_allclose(a[n], b[n], rtol=1e-5, atol=1e-6, err_msg=n)


def _wait_for(proc, text, timeout=300):
    """Reads proc's stderr until a line holds `text`; the lines read so far. A hung process is
    killed after `timeout` s (its stderr then ends), so the test fails instead of hanging."""
    import threading
    killer = threading.Timer(timeout, proc.kill)
    killer.daemon = True  # never keeps pytest alive
    killer.start()
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"never logged {text!r}:\n{''.join(lines[-20:])}")


def test_sigterm_saves_and_exits_143_so_a_scheduler_can_tell(tmp_path):
    """SIGTERM mid-run: a checkpoint of the step reached (--ckpt_every=0: only this save), exit
    128 + 15 rather than a finished run's 0, and the same command resumes from it."""
    run = str(tmp_path / "run")
    args = [a for a in _cli(run, "--log_every=1") if not a.startswith(("--total_kimg", "--ckpt_every"))]
    proc = subprocess.Popen([*args, "--total_kimg=10", "--ckpt_every=0"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(proc, "step 3 ")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "stopped by signal 15" in err and "the same command resumes" in err, err[-2000:]
    path, _ = _final_weights(run)
    assert path is not None and int(path.rsplit("-", 1)[1]) >= 3


_STUCK = """
import sys, threading
from inr_gan_tf.cli import train
from inr_gan_tf.training import loop

def stuck(self, reals):  # a step that never returns to Python: signal handlers cannot stop it
    print("stuck", flush=True)
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()

loop.Trainer.step = stuck
sys.exit(train.run(sys.argv[1:]))
"""


def test_a_second_signal_exits_at_once_from_a_stuck_step(tmp_path):
    """Python runs handlers only between bytecodes: the first SIGTERM is noted but the step never
    ends; a repeat within a second is the same stop; a later one ends the process (the watchdog
    on the wakeup fd) with 128 + 15."""
    proc = subprocess.Popen([sys.executable, "-c", _STUCK, *_cli(str(tmp_path / "run"))[3:]], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "stuck", proc.communicate(timeout=60)[1][-2000:]
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)  # at once: the same stop forwarded again (srun, a shell trap)
        time.sleep(1.5)
        assert proc.poll() is None  # one stop waits for the step (here: forever)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "again: exiting now" in err


def test_a_run_ending_off_the_sample_period_still_writes_its_final_grids(tmp_path):
    """Steps 1-3 with period 2: grids at step 2 (periodic) and 3 (the end), nothing twice."""
    from inr_gan_tf.training import callbacks as train
    trainer, state, ds = _trainer(_tiny_config(), str(tmp_path))  # batch 4: 0.012 kimg = 3 steps
    calls = []
    trainer.fit(ds, total_kimg=0.012, ckpt_every=100, log_every=100,
                callbacks=[train.sample_callback(state, every=2, seeds=range(2)),
                           lambda step, writer, final=False: calls.append((step, final))])
    assert sorted(n for n in os.listdir(tmp_path / "samples") if n.startswith("grid")) == [
        "grid-0000002.png", "grid-0000003.png"]
    assert calls == [(1, False), (2, False), (3, False), (3, True)]
    trainer.fit(ds, total_kimg=0.012, callbacks=[lambda *a, **k: calls.append(a)])  # nothing left to do
    assert len(calls) == 4
    before = sorted(os.listdir(tmp_path / "samples"))
    for off in (train.sample_callback(state, every=0), train.swd_callback(state, "procedural", 0, 8)):
        off(3, None, final=True)  # period 0 = never, also at the end
    assert sorted(os.listdir(tmp_path / "samples")) == before
    assert not os.path.exists(tmp_path / "metric-swd.jsonl")


def test_only_a_signal_before_total_kimg_counts_as_an_interruption(tmp_path):
    """A signal during the final save or callbacks leaves a complete run (exit 0); one mid-run
    stops it after the step in progress, with stopped_by set (the CLI exits 128 + signal)."""
    trainer, state, ds = _trainer(_tiny_config(), str(tmp_path))  # batch 4: 0.012 kimg = 3 steps

    def late(step, writer, final=False):
        if final:
            trainer._on_signal(signal.SIGTERM)
    assert trainer.fit(ds, total_kimg=0.004, callbacks=[late]) == 1 and trainer.stopped_by is None

    def early(step, writer, final=False):
        trainer._on_signal(signal.SIGINT)
    assert trainer.fit(ds, total_kimg=0.012, callbacks=[early]) == 2 and trainer.stopped_by == signal.SIGINT


def test_sample_grids_and_swd_are_written(tmp_path):
    from inr_gan_tf import data
    from inr_gan_tf.training import callbacks as train
    from inr_gan_tf.training.state import TrainState
    state = TrainState(_tiny_config(), str(tmp_path))
    writer = tf.summary.create_file_writer(str(tmp_path / "logs"))
    train.sample_callback(state, every=1, seeds=range(4))(1, writer)
    train.swd_callback(state, data.resolve_source("procedural"), every=1, num=32)(1, writer)
    names = sorted(os.listdir(tmp_path / "samples"))
    assert names == ["grid-0000001.png", "superres2x-0000001.png", "zoomout-0000001.png"]
    with open(tmp_path / "metric-swd.jsonl") as f:
        row = json.loads(f.readline())
    assert row["step"] == 1 and row["swd"]["mean"] > 0 and set(row["swd"]["levels"]) == {"16"}


@pytest.fixture(scope="module")
def profile_traces(tmp_path_factory):
    run = tmp_path_factory.mktemp("profile")
    trainer, state, ds = _trainer(_tiny_config(), str(run))
    trainer.fit(ds, total_kimg=0.012, ckpt_every=100, log_every=1, profile_steps=(2, 3))
    return tf.io.gfile.glob(str(run / "logs" / "plugins" / "profile" / "*" / "*.xplane.pb"))


def test_profile_steps_write_a_trace(profile_traces):
    assert len(profile_traces) == 1 and os.path.getsize(profile_traces[0]) > 0


def test_tensorboard_profile_plugin_reads_the_trace(profile_traces):
    raw_to_tool_data = pytest.importorskip("xprof.convert.raw_to_tool_data",
                                           reason='the profile plugin is the "tb" extra: pip install -e ".[tb]"')
    op_stats, _ = raw_to_tool_data.xspace_to_tool_data(profile_traces, "framework_op_stats", {})
    assert b"MatMul" in op_stats  # the INR's and hypernetwork's matmuls were traced


def test_profile_steps_flag_is_checked():
    from inr_gan_tf.cli import UsageError
    from inr_gan_tf.training import callbacks as train
    assert train.profile_steps(["2", "3"]) == (2, 3) and train.profile_steps([]) is None
    for bad in (["3", "2"], ["0", "1"], ["x", "2"], ["1"]):
        with pytest.raises(UsageError, match="--profile_steps"):
            train.profile_steps(bad)
