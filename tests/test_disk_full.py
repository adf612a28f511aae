"""Issue 10: a disk that fills up loses nothing, on a real (small) filesystem.

The fast tests simulate ENOSPC; these mount a tmpfs, fill it with a filler file and run the real
commands in subprocesses. They need permission to mount (root in a container that allows it)
and skip otherwise.
"""
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow

TINY = ["--data=procedural", "--resolution=16", "--g_blocks=8:16:1:8:3,16:16:1:8:3", "--z_dim=16",
        "--mapping_width=32", "--d_channel_base=128", "--d_channel_max=16", "--batch_size=4",
        "--sample_every=0", "--swd_every=0", "--log_every=0", "--ckpt_every=0"]
STEP = 0.004  # kimg of one step of batch 4


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(mnt, leave: int):
    """A filler file that leaves about `leave` bytes free on the filesystem of `mnt`."""
    st = os.statvfs(mnt)
    size = max(st.f_bavail * st.f_frsize - leave, 0)
    path = mnt / f"filler-{uuid.uuid4().hex}"
    with open(path, "wb") as f:
        f.truncate(0)
        f.write(b"\0" * size)  # tmpfs counts written pages, not a sparse size
    return path


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _tree(d):
    return sorted(os.path.relpath(os.path.join(p, n), d) for p, ds, fs in os.walk(d) for n in ds + fs)


def test_training_save_on_a_full_disk_keeps_the_last_checkpoint_and_resumes(tmpfs):
    run = tmpfs / "run"
    first = _run("inr_gan_tf.train", *TINY, f"--run_dir={run}", f"--total_kimg={STEP}")
    assert first.returncode == 0, first.stderr[-2000:]
    ckpt = run / "checkpoints"
    before = {n: (ckpt / n).read_bytes() for n in os.listdir(ckpt) if n.startswith("ckpt-1.")}
    size = sum(len(b) for b in before.values())
    filler = _fill(tmpfs, size // 2)  # too little for the next checkpoint

    full = _run("inr_gan_tf.train", *TINY, f"--run_dir={run}", f"--total_kimg={2 * STEP}")
    assert full.returncode != 0
    message = full.stderr.strip().splitlines()[-1]
    assert "space" in message.lower(), full.stderr[-2000:]
    # The last good checkpoint is untouched and nothing partial is left behind.
    assert {n: (ckpt / n).read_bytes() for n in before} == before
    assert not [n for n in _tree(run) if "ckpt-2" in n or "_temp" in n or ".tmp" in n], _tree(run)

    os.remove(filler)  # space again: the same command resumes from step 1 and saves step 2
    again = _run("inr_gan_tf.train", *TINY, f"--run_dir={run}", f"--total_kimg={2 * STEP}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert (ckpt / "ckpt-2.index").exists() and (ckpt / "ckpt-1.index").exists()


def test_export_to_a_full_disk_writes_nothing_and_a_rerun_works(tmpfs, tmp_path):
    run = tmp_path / "run"
    trained = _run("inr_gan_tf.train", *TINY, f"--run_dir={run}", f"--total_kimg={STEP}")
    assert trained.returncode == 0, trained.stderr[-2000:]
    models = tmpfs / "saved_models"
    models.mkdir()
    filler = _fill(tmpfs, 64 * 1024)
    export = ["inr_gan_tf.export", f"--run_dir={run}", f"--outdir={models}", "--name=tiny",
              "--formats=savedmodel"]
    full = _run(*export)
    assert full.returncode != 0
    assert "space" in full.stderr.strip().splitlines()[-1].lower(), full.stderr[-2000:]
    assert not [n for n in _tree(models) if n not in ("tiny",)], _tree(models)

    os.remove(filler)
    again = _run(*export)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (models / "tiny" / "1" / "saved_model.pb").exists()
