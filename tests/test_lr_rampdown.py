"""Learning-rate ramp-down (--lr_rampdown_kimg): all three rates go down by a cosine to 0 over the
last kimg of the run.

Contracts: the factor's shape (1 before the ramp, 0.5 at its middle, 0 at the end, clamped); the
flag makes an "optim" entry only when set and refuses negatives; the optimizers' rates follow the
factor step by step and change the weights; a run stopped by a signal mid-ramp and resumed ends
where an uninterrupted one does.
"""
import glob
import math
import shutil
import signal

import numpy as np
import pytest
import tensorflow as tf
from helpers import _all_weights, tiny_train_config, trainer_for
from test_patch_training import _parse

from inr_gan_tf.training.loop import learning_rate_scale


def test_the_factor_is_one_then_a_cosine_to_zero_at_the_end():
    assert learning_rate_scale(0, 96, 0) == 1.0                  # off
    assert learning_rate_scale(80_000, 96, 16) == 1.0            # the ramp's start
    assert learning_rate_scale(50_000, 96, 16) == 1.0            # before it
    assert math.isclose(learning_rate_scale(88_000, 96, 16), 0.5)
    assert learning_rate_scale(96_000, 96, 16) == 0.0
    assert learning_rate_scale(99_000, 96, 16) == 0.0            # past the end: clamped
    # A ramp longer than the run: the run is its last part.
    assert math.isclose(learning_rate_scale(0, 1, 4), 0.5 - 0.5 * math.cos(math.pi / 4))
    f = [learning_rate_scale(n, 96, 16) for n in range(80_000, 96_001, 1000)]
    assert all(a > b for a, b in zip(f, f[1:]))


def test_the_flag_adds_an_optim_entry_only_when_set():
    base = _parse()
    assert "lr_rampdown_kimg" not in base["optim"]               # earlier runs keep their config.json
    assert _parse("--lr_rampdown_kimg=0") == base
    cfg = _parse("--lr_rampdown_kimg=16")
    assert cfg == dict(base, optim=dict(base["optim"], lr_rampdown_kimg=16.0))
    with pytest.raises(ValueError, match="^--lr_rampdown_kimg must be finite and >= 0, got -1.0$"):
        _parse("--lr_rampdown_kimg=-1")


def _config(rampdown):
    cfg = tiny_train_config()
    cfg["optim"]["lr_rampdown_kimg"] = rampdown
    return cfg


def test_the_rates_follow_the_factor_and_change_the_weights(tmp_path):
    cfg = _config(0.016)  # the whole run: 4 steps of 4 images
    trainer, state, ds = trainer_for(cfg, str(tmp_path / "ramp"))
    seen = []

    def record(step, writer, final=False):
        if not final:
            seen.append([float(o.learning_rate.numpy()) for o in (state.opt_hyper, state.opt_inr, state.opt_d)])

    trainer.fit(iter(ds), total_kimg=0.016, ckpt_every=0, log_every=1, callbacks=[record])
    o = cfg["optim"]
    for i, rates in enumerate(seen):  # the rate of step i + 1, set from the 4 * i images before it
        f = learning_rate_scale(4 * i, 0.016, 0.016)
        np.testing.assert_allclose(rates, [o["lr_hypernet"] * f, o["lr_inr"] * f, o["lr_d"] * f], rtol=1e-6)
    assert len(seen) == 4 and seen[0][2] == pytest.approx(o["lr_d"]) and seen[-1][2] < 0.2 * o["lr_d"]
    logged = {}  # TensorBoard's train/lr_scale: the factor of the step after each logged one
    for f in glob.glob(str(tmp_path / "ramp" / "logs" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(f):
            for v in event.summary.value:
                if v.tag == "train/lr_scale":
                    logged[event.step] = float(tf.make_ndarray(v.tensor))
    assert sorted(logged) == [1, 2, 3, 4]
    for step, f in logged.items():
        assert f == pytest.approx(learning_rate_scale(4 * step, 0.016, 0.016), abs=1e-6)
    plain, plain_state, plain_ds = trainer_for(tiny_train_config(), str(tmp_path / "plain"))
    plain.fit(iter(plain_ds), total_kimg=0.016, ckpt_every=0, log_every=0)
    assert float(plain_state.opt_d.learning_rate.numpy()) == pytest.approx(o["lr_d"])  # untouched without
    diff = max(np.abs(a - b).max() for a, b in zip(_all_weights(state), _all_weights(plain_state)))
    assert diff > 1e-6  # the same latents and data: only the rates differ


def test_a_run_stopped_mid_ramp_resumes_to_the_uninterrupted_weights(tmp_path):
    cfg = _config(0.012)
    whole, whole_state, ds = trainer_for(cfg, str(tmp_path / "whole"))
    whole.fit(iter(ds), total_kimg=0.016, ckpt_every=0, log_every=0)
    cut, _, ds_cut = trainer_for(cfg, str(tmp_path / "cut"))

    def stop_at_2(step, writer, final=False):
        if step == 2 and not final:
            cut._on_signal(signal.SIGTERM)  # as a kill would: save after this step, then stop

    cut.fit(iter(ds_cut), total_kimg=0.016, ckpt_every=0, log_every=0, callbacks=[stop_at_2])
    assert cut.stopped_by == signal.SIGTERM
    shutil.copytree(tmp_path / "cut", tmp_path / "resumed")
    resumed, resumed_state, ds_r = trainer_for(cfg, str(tmp_path / "resumed"))
    assert int(resumed_state.step.numpy()) == 2
    resumed.fit(ds_r, total_kimg=0.016, ckpt_every=0, log_every=0)
    for a, b in zip(_all_weights(whole_state), _all_weights(resumed_state)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_ramp_may_change_on_resume_and_the_rates_follow_the_new_config(tmp_path, caplog):
    """lr_rampdown_kimg is a resumable key (as total_kimg): added, moved or dropped on resume, and
    a run that ended its ramp (rates near 0 in the checkpoint) continues without one at the
    config's rates, not at the checkpointed ones. Other optim keys still refuse the resume."""
    import json
    from inr_gan_tf import checkpoint
    run = str(tmp_path / "run")
    ramped = _config(0.016)
    trainer, state, ds = trainer_for(ramped, run)
    trainer.fit(iter(ds), total_kimg=0.016, ckpt_every=0, log_every=0)
    assert float(state.opt_d.learning_rate.numpy()) < 0.2 * ramped["optim"]["lr_d"]  # checkpointed so
    checkpoint.write_config(run, ramped)
    plain = tiny_train_config()
    for changed in (plain, _config(0.004)):
        with caplog.at_level("INFO"):
            checkpoint.check_config(run, changed)
        assert "resuming with --lr_rampdown_kimg" in caplog.text
    other = _config(0.016)
    other["optim"]["lr_d"] *= 2
    with pytest.raises(ValueError, match=r"differs in \['optim'\]"):
        checkpoint.check_config(run, other)
    checkpoint.write_config(run, plain)
    with open(tmp_path / "run" / "config.json") as f:
        assert "lr_rampdown_kimg" not in json.load(f)["optim"]
    resumed, resumed_state, ds_r = trainer_for(plain, run)
    assert int(resumed_state.step.numpy()) == 4
    resumed.fit(ds_r, total_kimg=0.024, ckpt_every=0, log_every=0)
    assert float(resumed_state.opt_d.learning_rate.numpy()) == pytest.approx(plain["optim"]["lr_d"])
    (tmp_path / "run" / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"config.json is not a configuration \(a JSON list\)"):
        checkpoint.check_config(run, plain)


@pytest.mark.slow  # two TensorFlow start-ups
def test_mirrored_ramp_equals_one_device(tmp_path):
    from helpers import assert_mirrored_equals_single
    assert_mirrored_equals_single(_config(0.008), tmp_path)  # two steps: rates x1, then x0.5
