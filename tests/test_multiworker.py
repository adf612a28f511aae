"""Training in a MultiWorkerMirroredStrategy cluster: two worker processes on loopback agree
with one device, and stop together on a signal or a failure that reaches one of them (slow:
each test starts two or three TensorFlow processes)."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers import ROOT, script_env
from helpers import tiny_train_config as _tiny_config


def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # ~35 s alone: three TensorFlow processes; MirroredStrategy's check runs by default
def test_multiworker_two_local_processes_on_loopback_agree_with_one_device(tmp_path):
    cfg = _tiny_config()
    cfg["discriminator"]["mbstd_group_size"] = 1  # as in the mirrored test
    script = os.path.join(ROOT, "tests", "scripts", "multiworker.py")
    ports = f"{_free_port()},{_free_port()}"
    workers = [subprocess.Popen([sys.executable, script, json.dumps(cfg), str(tmp_path / "run"),
                                 str(tmp_path / f"w{i}.npz"), "worker", str(i), ports],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env()) for i in range(2)]
    single = subprocess.run([sys.executable, script, json.dumps(cfg), str(tmp_path / "single"),
                             str(tmp_path / "s.npz"), "single"], capture_output=True, text=True, timeout=600,
                            env=script_env())
    assert single.returncode == 0, single.stderr[-3000:]
    reports = []
    for proc in workers:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["chief"] for r in reports] == [True, False] and all(r["replicas"] == 2 for r in reports)
    ref, w0, w1 = (np.load(tmp_path / n) for n in ("s.npz", "w0.npz", "w1.npz"))
    assert max(np.abs(w0[k] - w1[k]).max() for k in ref) == 0.0  # one all-reduced update everywhere
    assert max(np.abs(w0[k] - ref[k]).max() for k in ref) < 5e-6
    # The chief writes the run's checkpoints and logs; the other worker only its scratch copy.
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-2")
    assert os.path.isdir(tmp_path / "run" / "workers" / "worker-1" / "checkpoints")


@pytest.mark.slow  # ~30 s alone: two TensorFlow processes
def test_a_signal_to_one_worker_stops_the_whole_cluster_after_the_same_step(tmp_path):
    """Preemption may reach one machine of a cluster: every worker stops after the step in which
    it arrived and saves (a worker stopping alone would wait in save() for the others, which
    wait in the next step's collective, forever)."""
    cfg = _tiny_config()
    script = os.path.join(ROOT, "tests", "scripts", "multiworker.py")
    ports = f"{_free_port()},{_free_port()}"
    workers = [subprocess.Popen([sys.executable, script, json.dumps(cfg), str(tmp_path / "run"),
                                 str(tmp_path / f"w{i}.npz"), "worker", str(i), ports, "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env()) for i in range(2)]
    reports = []
    try:
        for proc in workers:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in workers:
            proc.kill()
    assert [r["step"] for r in reports] == [2, 2]  # of 4: both stopped after the signalled step
    assert [r["stopped_by"] for r in reports] == [signal.SIGTERM] * 2
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-2")


@pytest.mark.slow  # ~30 s alone each: two TensorFlow processes
@pytest.mark.parametrize("step", [2, 4])  # of 4: mid-run, and the last step (no step follows it)
def test_a_failure_on_one_worker_stops_the_whole_cluster_with_an_error(tmp_path, step):
    """A chief's callback (or any worker's save) that raises must not leave the other workers
    waiting in the next collective: all stop after that step and exit with an error naming it."""
    cfg = _tiny_config()
    script = os.path.join(ROOT, "tests", "scripts", "multiworker.py")
    ports = f"{_free_port()},{_free_port()}"
    workers = [subprocess.Popen([sys.executable, script, json.dumps(cfg), str(tmp_path / "run"),
                                 str(tmp_path / f"w{i}.npz"), "worker", str(i), ports, f"fail:{step}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env()) for i in range(2)]
    errs = []
    try:
        for proc in workers:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode != 0, err[-3000:]
            errs.append(err)
    finally:
        for proc in workers:
            proc.kill()
    assert f"OSError: callback failed at step {step}" in errs[0]
    assert "another worker of the cluster failed" in errs[1]
    # Nothing already saved is lost: the step's checkpoint came before the failing callback.
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith(f"ckpt-{step}")


@pytest.mark.slow  # ~30 s alone: two TensorFlow processes
def test_workers_given_different_flags_all_refuse_before_the_first_step(tmp_path):
    """Each worker checks only its own flags against config.json, and the ramp (like total_kimg)
    may change on resume: workers told different ramps would step at different rates. All stop
    with the same one-line error before training, and no checkpoint is written."""
    script = os.path.join(ROOT, "tests", "scripts", "multiworker.py")
    ports = f"{_free_port()},{_free_port()}"
    cfgs = [_tiny_config(), _tiny_config()]
    cfgs[1]["optim"]["lr_rampdown_kimg"] = 0.004
    workers = [subprocess.Popen([sys.executable, script, json.dumps(cfgs[i]), str(tmp_path / "run"),
                                 str(tmp_path / f"w{i}.npz"), "worker", str(i), ports],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env()) for i in range(2)]
    try:
        for proc in workers:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode != 0
            assert "ValueError: the workers of this cluster were given different training flags" in err, err[-3000:]
    finally:
        for proc in workers:
            proc.kill()
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")) is None
