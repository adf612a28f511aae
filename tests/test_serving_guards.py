"""Hostile serving requests and unsafe exports (issue 10, parts 4 and 5), on the tiny generator.

Serving: every SavedModel signature refuses bad sizes, batches and non-finite inputs before it
allocates anything (checked in a subprocess by its peak RSS), the numpy validator that guards
TFLite/ONNX refuses the same requests, and a request at the cap renders tile by tile.
Export: --name is one plain folder name, versions are readable by other users, --overwrite never
leaves the served version missing or partial, leftovers of killed exports are removed, and a
full disk leaves nothing behind.
"""
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf

from inr_gan_tf.export import modules, savedmodel
from inr_gan_tf.export import validate as V
from helpers import write_run_dir

NAN = float("nan")
UNIT = [0.0, 0.0, 1.0, 1.0]


@pytest.fixture(scope="module")
def export_dir(G, tmp_path_factory):
    """saved_models/tiny/1 with the default limits (DEFAULT_MAX_POINTS, _MAX_BATCH, _TILE_POINTS)."""
    return savedmodel.export_generator(G, str(tmp_path_factory.mktemp("saved_models") / "tiny" / "1"))


@pytest.fixture(scope="module")
def signatures(export_dir):
    return tf.saved_model.load(export_dir).signatures


# -- hostile requests: (signature, inputs) -------------------------------------------------------
def _z(batch, value=0.0):
    return np.full((batch, 16), value, np.float32)


def _grid(z, height, width, bounds=UNIT, truncation=1.0):
    return {"z": z, "height": np.int32(height), "width": np.int32(width),
            "bounds": np.asarray(bounds, np.float32), "truncation": np.float32(truncation)}


def _coords(batch, n, value=0.5):
    return np.full((batch, n, 2), value, np.float32)


def _with(a, index, value):
    a = a.copy()
    a[index] = value
    return a


HUGE = V.DEFAULT_MAX_BATCH * 1024  # 65536 latents: 5.9 GB from `params` before the batch cap
HOSTILE = {  # name: (signature, inputs, what the graph says)
    "negative height, huge width": ("render_grid", _grid(_z(1), -1, 2 ** 31 - 1), "height must be"),
    "B*H*W wraps to 0 in int64": ("render_grid", _grid(_z(16), 2 ** 30, 2 ** 30), "height|width|batch"),
    "huge batch to params": ("params", {"z": _z(HUGE), "truncation": np.float32(1)}, "max_batch"),
    "huge batch to render_grid": ("render_grid", _grid(_z(HUGE), 64, 64), "max_batch|max_points"),
    "side above MAX_SIDE": ("render_grid", _grid(_z(1), V.MAX_SIDE + 1, 1), "height must be"),
    "points above max_points": ("render", {"z": _z(1), "coords": _coords(1, V.DEFAULT_MAX_POINTS + 1)}, "max_points"),
    "NaN z (render)": ("render", {"z": _z(2, NAN), "coords": _coords(2, 5)}, "z must be finite"),
    "NaN z (render_grid)": ("render_grid", _grid(_z(1, NAN), 8, 8), "z must be finite"),
    "NaN z (params)": ("params", {"z": _z(1, NAN), "truncation": np.float32(1)}, "z must be finite"),
    "NaN truncation (render_grid)": ("render_grid", _grid(_z(1), 8, 8, truncation=NAN), "truncation must be finite"),
    "NaN truncation (params)": ("params", {"z": _z(1), "truncation": np.float32(NAN)}, "truncation must be finite"),
    "inf coords (render)": ("render", {"z": _z(2), "coords": _with(_coords(2, 5), (1, 3, 0), -np.inf)},
                            "coords must be finite"),
    "NaN coords (render_params)": ("render_params", {"params": 0.0, "coords": _with(_coords(1, 5), (0, 0, 1), NAN)},
                                   "coords must be finite"),
    "NaN params (render_params)": ("render_params", {"params": NAN, "coords": _coords(1, 5)}, "params must be finite"),
    "NaN bounds": ("render_grid", _grid(_z(1), 8, 8, bounds=[0, 0, NAN, 1]), "bounds must be finite"),
    "reversed bounds": ("render_grid", _grid(_z(1), 8, 8, bounds=[1, 0, 0, 1]), "x0 < x1"),
    "coords batch differs from z": ("render", {"z": _z(2), "coords": _coords(1, 5)}, "batch of z"),
}


def _inputs(inputs, param_size):
    if "params" in inputs:  # render_params: inputs["params"] is the fill of a [1, P] row
        inputs = {**inputs, "params": np.full((1, param_size), inputs["params"], np.float32)}
    return inputs


def _validate(signature, inputs, max_points=V.DEFAULT_MAX_POINTS, max_batch=V.DEFAULT_MAX_BATCH):
    """The numpy validator's verdict on one request, as a TFLite/ONNX client would call it."""
    limits = dict(max_points=max_points, max_batch=max_batch)
    if signature == "render":
        V.validate_render_request(inputs["z"], inputs["coords"], 16, **limits)
    elif signature == "render_grid":
        z = V.validate_latents(inputs["z"], 16, max_batch)
        V.validate_grid_request(len(z), int(inputs["height"]), int(inputs["width"]), inputs["bounds"],
                                inputs["truncation"], **limits)
    elif signature == "params":
        V.validate_params_request(inputs["z"], inputs["truncation"], 16, max_batch)
    else:
        V.validate_render_params_request(inputs["params"], inputs["coords"], inputs["params"].shape[1], **limits)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_request_refused_by_savedmodel_and_validator(case, signatures, G):
    signature, inputs, message = HOSTILE[case]
    inputs = _inputs(inputs, G.param_spec.size)
    with pytest.raises(V.RequestError):
        _validate(signature, inputs)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})


_CHILD = r"""
import json, os, resource, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
sigs = tf.saved_model.load(sys.argv[1]).signatures
requests = json.loads(sys.argv[2])

def inputs(spec):
    sig = sigs[spec["signature"]].structured_input_signature[1]
    out = {}
    for k, v in spec["inputs"].items():
        shape, fill = v if isinstance(v, list) and len(v) == 2 and isinstance(v[0], list) else (None, v)
        dtype = sig[k].dtype.as_numpy_dtype
        if shape is not None:  # -1: that axis of the signature (z_dim), so any export can be probed
            shape = [sig[k].shape[i] if d == -1 else d for i, d in enumerate(shape)]
        out[k] = tf.constant(np.full(shape, fill, dtype) if shape is not None else np.asarray(fill, dtype))
    return out

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

for spec in requests["warm"]:  # idle = loaded and traced, as a server after its first request
    sigs[spec["signature"]](**inputs(spec))
report = {"idle_mb": peak_mb(), "results": {}}
for name, spec in requests["hostile"].items():
    try:
        sigs[spec["signature"]](**inputs(spec))
        report["results"][name] = "accepted"
    except tf.errors.InvalidArgumentError:
        report["results"][name] = "refused"
    report["results"][name] += f" (peak {peak_mb():.0f} MB)"
report["peak_mb"] = peak_mb()
print(json.dumps(report))
"""


def _peak_rss(export_dir, warm, hostile):
    """Runs requests in a fresh process: {"idle_mb", "peak_mb", "results"}. Shapes travel as [shape, fill]."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, export_dir, json.dumps({"warm": warm, "hostile": hostile})],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _spec(signature, **inputs):
    return {"signature": signature, "inputs": inputs}


def _grid_spec(batch, height, width, bounds=UNIT):
    return _spec("render_grid", z=[[batch, -1], 0.0], height=height, width=width, bounds=bounds, truncation=1.0)


WARM = [_grid_spec(1, 8, 8), _spec("params", z=[[1, -1], 0.0], truncation=1.0),
        _spec("render", z=[[1, -1], 0.0], coords=[[1, 8, 2], 0.5])]


@pytest.mark.slow  # ~8 s: a child process measures memory; refusals: test_hostile_request_refused_by_savedmodel_and_validator
def test_refused_requests_allocate_nothing(export_dir):
    """The memory ones of the issue: before the fix each took 6 GB or more; now < 1.5x the idle process."""
    hostile = {"negative height, huge width": _grid_spec(1, -1, 2 ** 31 - 1),
               "B*H*W wraps to 0 in int64": _grid_spec(16, 2 ** 30, 2 ** 30),
               "huge batch to params": _spec("params", z=[[HUGE, -1], 0.0], truncation=1.0),
               "huge batch to render_grid, refused after params before": _grid_spec(HUGE, 64, 64),
               "NaN truncation": _spec("params", z=[[1, -1], 0.0], truncation=NAN)}
    report = _peak_rss(export_dir, WARM, hostile)
    assert all(r.startswith("refused") for r in report["results"].values()), report
    assert report["peak_mb"] < 1.5 * report["idle_mb"], report


@pytest.mark.slow  # ~9 s: a child process measures memory; tiling itself: test_cap_is_exact_and_tiles_render_what_one_call_renders
def test_request_at_the_cap_renders_in_tiles_within_memory(export_dir):
    """2048^2 points (DEFAULT_MAX_POINTS) in one request: untiled this model took +1.1 GB over idle."""
    side = int(np.sqrt(V.DEFAULT_MAX_POINTS))
    report = _peak_rss(export_dir, WARM, {"at the cap": _grid_spec(1, side, side)})
    assert report["results"]["at the cap"].startswith("accepted"), report
    assert report["peak_mb"] < 1.5 * report["idle_mb"], report


def test_cap_is_exact_and_tiles_render_what_one_call_renders(G):
    """At max_points both accept, one more point both refuse; tiles of 50 points match G.render."""
    m = modules.GeneratorExport(G, max_points=480, max_batch=2, tile_points=100)
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    inputs = _grid(z, 12, 20, (-0.5, -0.5, 1.5, 1.5))  # 2 x 240 points: 5 tiles of 2 x 50
    _validate("render_grid", inputs, max_points=480, max_batch=2)
    np.testing.assert_allclose(m.render_grid(**inputs)["image"], G.render_grid(G.params(z), 12, 20, inputs["bounds"]),
                               atol=1e-5)
    coords = np.random.default_rng(1).uniform(-0.5, 1.5, (2, 240, 2)).astype(np.float32)
    np.testing.assert_allclose(m.render(z=z, coords=coords)["rgb"], G.render(G.params(z), coords), atol=1e-5)
    too_many = _grid(z, 12, 21)
    with pytest.raises(V.RequestError, match="more than the maximum of 480"):
        _validate("render_grid", too_many, max_points=480, max_batch=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_points=480"):
        m.render_grid(**too_many)


def test_no_limit_is_not_an_option(G):
    """max_points=0 used to mean "no limit" and also turned the finiteness checks off."""
    with pytest.raises(ValueError, match="max_points must be an integer >= 1"):
        modules.GeneratorExport(G, max_points=0)
    proc = _cli("--run_dir=/nonexistent", "--max_points=0")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--max_points" in proc.stderr


# -- export ----------------------------------------------------------------------------------------
def _cli(*args):
    """The export command in-process (its `python -m` entry: test_cli.py), as a finished process."""
    import contextlib
    import io
    import types

    from inr_gan_tf.cli import export
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = export.run(list(args))
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs", "a/b", "..", ".", "", "tiny model"])
def test_name_must_be_a_plain_folder_name(name, tmp_path):
    out = tmp_path / "saved_models"
    proc = _cli("--run_dir=/nonexistent", f"--name={name}", f"--outdir={out}")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "--name" in proc.stderr, proc.stderr
    assert not out.exists()
    with pytest.raises(ValueError):
        V.check_model_name(name)


def test_name_from_the_run_directory_is_checked_too(G, tmp_path):
    from inr_gan_tf.export import pipeline
    run = write_run_dir(tmp_path / "my run", G, 3)
    with pytest.raises(ValueError, match="pass --name"):
        pipeline.destination(str(run / "checkpoints" / "ckpt-3"), str(tmp_path / "out"))
    assert pipeline.destination(str(run / "checkpoints" / "ckpt-3"), str(tmp_path / "out"), name="ok_1.v-2")


@pytest.mark.parametrize("formats", ["", "tflite"])
def test_every_version_holds_a_savedmodel(G, tmp_path, formats):
    """A numbered folder is what TF Serving loads as the newest version: whatever --formats
    names, the SavedModel is written (an empty list or tflite alone used to leave a version
    without saved_model.pb)."""
    if formats:
        pytest.importorskip("ai_edge_litert", reason="tflite needs the export extra")
    run = write_run_dir(tmp_path / "run", G, 3)
    out = tmp_path / "saved_models"
    proc = _cli(f"--run_dir={run}", f"--outdir={out}", "--name=tiny", f"--formats={formats}")
    assert proc.returncode == 0, proc.stderr
    version = out / "tiny" / "1"
    assert (version / "saved_model.pb").exists() and (version / "variables").is_dir()
    assert (version / "render.tflite").exists() == bool(formats)
    from inr_gan_tf.export import pipeline
    assert pipeline.version_formats(formats) == ["savedmodel"] + ([formats] if formats else [])


def _modes(root):
    return {os.path.relpath(os.path.join(d, n), root): stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode)
            for d, dirs, files in os.walk(root) for n in dirs + files}


def test_version_folders_are_readable_by_other_users(export_dir):
    assert stat.S_IMODE(os.stat(export_dir).st_mode) == 0o755
    modes = _modes(export_dir)
    assert "saved_model.pb" in modes
    assert all(m == (0o755 if os.path.isdir(os.path.join(export_dir, p)) else 0o644) for p, m in modes.items()), modes


def test_overwrite_never_shows_a_missing_or_partial_version(G, tmp_path):
    """A reader polling the newest version (what TF Serving loads) always finds saved_model.pb."""
    model = tmp_path / "tiny"
    savedmodel.export_generator(G, str(model / "1"))
    bad, polls, stop = [], [0], threading.Event()

    def reader():
        while not stop.is_set():
            versions = [int(d) for d in os.listdir(model) if d.isdigit()]
            newest = model / str(max(versions, default=0))
            complete = (newest / "saved_model.pb").exists() and (newest / "variables" / "variables.index").exists()
            # A listed version that is gone by the check was renamed aside after a newer one appeared:
            # a stale listing, not a gap (no version at all shows as versions == []).
            if not versions or (not complete and newest.exists()):
                bad.append(sorted(os.listdir(model)))
            polls[0] += 1

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        written = savedmodel.export_generator(G, str(model / "1"), overwrite=True)
    finally:
        stop.set()
        thread.join()
    assert not bad and polls[0] > 10, (bad[:3], polls)
    assert written == str(model / "2") and sorted(os.listdir(model)) == ["2"]  # the old version is gone, no leftovers


def test_leftovers_of_killed_exports_are_removed(G, tmp_path):
    model = tmp_path / "tiny"
    for leftover in (".tmp-killed/variables/variables_temp", ".old-1", "ckpt-3_temp"):
        (model / leftover).mkdir(parents=True)
    (model / ".tmp-killed" / "saved_model.pb").write_bytes(b"partial")
    savedmodel.export_generator(G, str(model / "1"))
    assert sorted(os.listdir(model)) == ["1"]


def test_a_running_export_keeps_its_temp_folder(G, tmp_path):
    model = tmp_path / "tiny"
    model.mkdir()
    with savedmodel._locked(str(model)):
        (model / ".tmp-live").mkdir()
        with pytest.raises(savedmodel.ExportLockedError, match="another export"):
            savedmodel.export_generator(G, str(model / "1"))
    assert sorted(os.listdir(model)) == [".tmp-live"]


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                                   tf.errors.ResourceExhaustedError(None, None, "write failed: No space left on device")])
def test_disk_full_removes_the_partial_output(G, tmp_path, monkeypatch, error):
    model = tmp_path / "tiny"
    real_save = savedmodel.save_module

    def save_until_full(module, path, assets=None):
        os.makedirs(os.path.join(path, "variables", "variables_temp"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"\0" * 1000)
        raise error

    monkeypatch.setattr(savedmodel, "save_module", save_until_full)
    with pytest.raises(savedmodel.DiskFullError) as info:
        savedmodel.export_generator(G, str(model / "1"))
    message = str(info.value)
    assert "\n" not in message and "needs more than 16" in message and "MB is free" in message, message
    assert not model.exists()  # nothing partial, not even the model folder this export created
    monkeypatch.setattr(savedmodel, "save_module", real_save)
    assert os.path.exists(os.path.join(savedmodel.export_generator(G, str(model / "1")), "saved_model.pb"))


def test_too_little_space_is_refused_before_writing(G, tmp_path, monkeypatch):
    monkeypatch.setattr(savedmodel.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10 << 30, 10 << 30, 1000))
    with pytest.raises(savedmodel.DiskFullError, match="needs about 16.*MB and 0.0 MB is free"):
        savedmodel.export_generator(G, str(tmp_path / "tiny" / "1"))
    assert not (tmp_path / "tiny").exists()
