"""Export contracts on a tiny generator: every artifact renders what the Keras model renders.

Parity is checked on four coordinate sets (a non-square grid, a 2x super-resolution grid, a
zoom-out over [-0.5, 1.5]^2 and 1000 random points per sample) against G.render, for the
SavedModel (TF2 loader and the TF1 loader of `saved_model_cli run`), TFLite through
ai_edge_litert and ONNX through onnxruntime. Each artifact is built once per module.
"""
import contextlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf

from inr_gan_tf import coords as coords_lib
from inr_gan_tf.export import RequestError, validate_grid_request, validate_render_request
from inr_gan_tf.export import modules, pipeline, savedmodel
from inr_gan_tf.model import build_generator, presets
from helpers import ROOT, write_run_dir

sys.path.insert(0, os.path.join(ROOT, "tools"))
import serving_client  # noqa: E402

TOL = 1e-4
# Quantized TFLite changes the hypernetwork's weights, and predicted Fourier frequencies amplify
# that (README "Export and serving"); the bounds are on rgb of about unit scale.
FLOAT16_MAX_ERR = 0.1
INT8_MEAN_ERR = 0.1
MAX_POINTS = 4096
B = 2


def _coord_sets():
    rng = np.random.default_rng(1)
    grids = {"non_square_12x20": coords_lib.grid_np(12, 20),
             "superres_2x_32x32": coords_lib.grid_np(32, 32),
             "zoom_out_-0.5_1.5": coords_lib.grid_np(16, 16, (-0.5, -0.5, 1.5, 1.5))}
    sets = {k: np.broadcast_to(g[None], (B,) + g.shape).copy() for k, g in grids.items()}
    sets["random_1000"] = rng.uniform(-0.5, 1.5, (B, 1000, 2)).astype(np.float32)  # one set per sample
    return sets


COORDS = _coord_sets()



@pytest.fixture(scope="module")
def z(G):
    return np.random.default_rng(0).standard_normal((B, G.z_dim)).astype(np.float32)


@pytest.fixture(scope="module")
def reference(G, z):
    params = G.params(z)
    return {k: G.render(params, c).numpy() for k, c in COORDS.items()}


@pytest.fixture(scope="module")
def run_dir(G, tmp_path_factory):
    """A training run as the trainer leaves it: config.json + checkpoints/ with G, G_ema, step."""
    other = build_generator(presets.tiny_generator(16), seed=1)  # "G": must not be exported
    return write_run_dir(tmp_path_factory.mktemp("runs") / "tiny", G, 7, other_G=other, max_to_keep=2)


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    """saved_models/tiny/1 from the run directory: SavedModel only (conversions are below)."""
    out = tmp_path_factory.mktemp("saved_models")
    summary = pipeline.export_run(run_dir=str(run_dir), out_dir=str(out), max_points=MAX_POINTS,
                                  log=lambda s: None)
    return summary


@pytest.fixture(scope="module")
def portable(G):
    return modules.GeneratorExport(G, checked=False)


# -- plan and layout ---------------------------------------------------------------------------
def test_plan_parent_indices_stay_exact_past_float32_integers():
    """Parents travel as two float32 parts (exported graphs need float segment maxima)."""
    from inr_gan_tf.model.plan import _parents
    prev = tf.constant([2 ** 24 + 1, 2 ** 24 + 1, 2 ** 30 - 3, 7], tf.int32)
    idx = tf.constant([0, 0, 1, 2], tf.int32)
    np.testing.assert_array_equal(_parents(prev, idx, 3).numpy(), [2 ** 24 + 1, 2 ** 30 - 3, 7])


def test_export_layout_assets_and_provenance(exported, run_dir, G):
    d = exported["export_dir"]
    assert d.endswith(os.path.join("tiny", "1"))
    for f in ("saved_model.pb", "variables/variables.index", "assets/model_config.json",
              "assets/provenance.json", "export_summary.json"):
        assert os.path.exists(os.path.join(d, f)), f
    with open(os.path.join(d, "assets", "model_config.json")) as f:
        assert build_generator(json.load(f)).get_config() == G.get_config()
    with open(os.path.join(d, "assets", "provenance.json")) as f:
        prov = json.load(f)
    assert prov["step"] == 7 and prov["checkpoint"].endswith("ckpt-7") and prov["max_points"] == MAX_POINTS
    import hashlib
    assert prov["config_sha256"] == hashlib.sha256((run_dir / "config.json").read_bytes()).hexdigest()
    assert savedmodel.next_version(os.path.dirname(d)) == 2
    assert not [e for e in os.listdir(os.path.dirname(d)) if e.startswith(".tmp")]  # staged, then renamed


def test_signatures_in_the_proto(exported, G):
    table = savedmodel.signature_table(exported["export_dir"])
    assert set(table) == set(modules.SIGNATURES)
    coords, z = ("float32", [-1, -1, 2]), ("float32", [-1, G.z_dim])
    for name in ("serving_default", "render"):
        assert table[name] == {"inputs": {"z": z, "coords": coords}, "outputs": {"rgb": ("float32", [-1, -1, 3])}}
    assert table["render_grid"]["inputs"] == {"z": z, "height": ("int32", []), "width": ("int32", []),
                                              "bounds": ("float32", [4]), "truncation": ("float32", [])}
    assert table["render_grid"]["outputs"] == {"image": ("float32", [-1, -1, -1, 3])}
    assert table["params"]["outputs"] == {"params": ("float32", [-1, G.param_spec.size])}
    assert table["render_params"]["inputs"] == {"params": ("float32", [-1, G.param_spec.size]), "coords": coords}


# -- SavedModel parity -------------------------------------------------------------------------
def test_saved_model_tf2_parity(exported, G, z, reference):
    m = tf.saved_model.load(exported["export_dir"])
    sig = m.signatures
    for name, c in COORDS.items():
        out = sig["render"](z=tf.constant(z), coords=tf.constant(c))["rgb"].numpy()
        np.testing.assert_allclose(out, reference[name], atol=TOL, err_msg=name)
    flat = sig["params"](z=tf.constant(z), truncation=tf.constant(0.7))["params"]
    np.testing.assert_allclose(flat, G.hypernet.flat(G.mapping(z, truncation=0.7)), atol=TOL)
    rgb = sig["render_params"](params=flat, coords=tf.constant(COORDS["random_1000"]))["rgb"]
    np.testing.assert_allclose(rgb, G.render(G.param_spec.unflatten(flat), COORDS["random_1000"]), atol=TOL)
    for h, w, bounds in ((12, 20, (0, 0, 1, 1)), (32, 32, (0, 0, 1, 1)), (16, 16, (-0.5, -0.5, 1.5, 1.5))):
        image = sig["render_grid"](z=tf.constant(z), height=tf.constant(h), width=tf.constant(w),
                                   bounds=tf.constant(bounds, tf.float32), truncation=tf.constant(1.0))["image"]
        np.testing.assert_allclose(image, G.render_grid(G.params(z), h, w, bounds), atol=TOL)


def test_saved_model_guards(exported, z):
    sig = tf.saved_model.load(exported["export_dir"]).signatures["render"]
    bad = COORDS["random_1000"].copy()
    bad[1, 5, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="coords must be finite"):
        sig(z=tf.constant(z), coords=tf.constant(bad))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_points"):
        sig(z=tf.constant(z), coords=tf.zeros([B, MAX_POINTS, 2]))


def _saved_model_cli(export_dir, signature, inputs, outdir):
    exprs = ";".join(f"{k}={np.asarray(v).tolist()!r}" for k, v in inputs.items())
    cmd = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir", export_dir,
           "--tag_set", "serve", "--signature_def", signature, "--input_exprs", exprs,
           "--outdir", str(outdir), "--overwrite"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow  # ~15 s alone: saved_model_cli starts TensorFlow again; the TF2 loader is checked by default
def test_saved_model_cli_run_tf1_loader(exported, z, reference, tmp_path, G):
    """The TF1 session loader (what TF Serving uses) finds every variable and matches Keras."""
    c = COORDS["random_1000"]
    _saved_model_cli(exported["export_dir"], "serving_default", {"z": z, "coords": c}, tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "rgb.npy"), reference["random_1000"], atol=TOL)
    _saved_model_cli(exported["export_dir"], "render_grid",
                     {"z": z, "height": 12, "width": 20, "bounds": [0.0, 0.0, 1.0, 1.0], "truncation": 1.0}, tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "image.npy"), G.render_grid(G.params(z), 12, 20), atol=TOL)


def test_cli_dry_run(run_dir, tmp_path, capsys):
    from inr_gan_tf.cli import export
    assert export.run([f"--run_dir={run_dir}", f"--outdir={tmp_path}", "--dry_run"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["checkpoint"].endswith("ckpt-7") and resolved["export_dir"] == str(tmp_path / "tiny" / "1")
    assert not os.listdir(tmp_path)


# -- TFLite ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tflite_models(portable):
    pytest.importorskip("ai_edge_litert")
    from inr_gan_tf.export import convert
    return {v: convert.to_tflite(portable, v) for v in convert.TFLITE_VARIANTS}


def test_tflite_parity_dynamic_shapes(tflite_models, z, reference, G):
    from inr_gan_tf.export.convert import TFLiteRunner
    run = TFLiteRunner(tflite_models["float32"])
    assert run.input_shape_signature("coords") == [-1, -1, 2] and run.input_shape_signature("z") == [-1, G.z_dim]
    for name, c in COORDS.items():  # each set is a new [B, N]: resize_tensor_input + allocate_tensors
        np.testing.assert_allclose(run(z=z, coords=c)["rgb"], reference[name], atol=TOL, err_msg=name)
    one = run(z=z[:1], coords=COORDS["random_1000"][:1, :7])["rgb"]  # another batch size and point count
    np.testing.assert_allclose(one, reference["random_1000"][:1, :7], atol=TOL)


def test_tflite_quantized_variants(tflite_models, z, reference):
    from inr_gan_tf.export.convert import TFLiteRunner
    sizes = {v: len(b) for v, b in tflite_models.items()}
    assert sizes["float16"] < sizes["float32"] and sizes["dynamic_int8"] < sizes["float16"]
    err16 = np.abs(TFLiteRunner(tflite_models["float16"])(z=z, coords=COORDS["random_1000"])["rgb"]
                   - reference["random_1000"])
    err8 = np.abs(TFLiteRunner(tflite_models["dynamic_int8"])(z=z, coords=COORDS["random_1000"])["rgb"]
                  - reference["random_1000"])
    assert err16.max() < FLOAT16_MAX_ERR and err8.mean() < INT8_MEAN_ERR, (err16.max(), err8.mean())


# -- ONNX --------------------------------------------------------------------------------------
def test_onnx_parity_dynamic_axes(portable, z, reference, tmp_path):
    pytest.importorskip("tf2onnx")
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from inr_gan_tf.export.convert import ONNX_OPSET, OnnxRunner, to_onnx
    path = str(tmp_path / "render.onnx")
    to_onnx(portable, path)
    model = onnx.load(path)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == ONNX_OPSET >= 17
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(model.graph.input) + list(model.graph.output)}
    assert dims == {"z": ["batch", 16], "coords": ["batch", "points", 2], "rgb": ["batch", "points", 3]}
    run = OnnxRunner(path)
    for name, c in COORDS.items():
        np.testing.assert_allclose(run(z=z, coords=c)["rgb"], reference[name], atol=TOL, err_msg=name)
    one = run(z=z[:1], coords=COORDS["random_1000"][:1, :7])["rgb"]
    np.testing.assert_allclose(one, reference["random_1000"][:1, :7], atol=TOL)


# -- one image as a resolution-free file -------------------------------------------------------
EXTRAS = {"savedmodel": (), "tflite": ("ai_edge_litert",), "onnx": ("tf2onnx", "onnx", "onnxruntime")}


def require_extra(fmt):
    """Skip (visibly, naming the package) where the export extra for `fmt` is not installed."""
    for package in EXTRAS[fmt]:
        pytest.importorskip(package, reason=f"{fmt} needs the export extra: pip install -e \".[export]\"")


def test_seed_export_bakes_one_image_in_tflite_and_onnx(G, tmp_path):
    for fmt in ("tflite", "onnx"):  # a missing extra skips visibly, naming it
        require_extra(fmt)
    # Without the SavedModel (test_seed_export_bakes_one_image has it): the portable files alone,
    # with the model's description beside them.
    summary = pipeline.export_artifacts(G, str(tmp_path / "img" / "1"), {"step": 0},
                                        formats=["tflite", "onnx"], seed=3, truncation=0.8, log=lambda s: None)
    assert set(summary["max_abs_error"]) == {"render.tflite", "render.onnx"}
    assert max(summary["max_abs_error"].values()) < TOL
    assert not (tmp_path / "img" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "img" / "1" / "assets" / "model_config.json").exists()


def test_seed_export_bakes_one_image(G, tmp_path):
    formats = ["savedmodel"]
    summary = pipeline.export_artifacts(G, str(tmp_path / "img" / "1"), {"step": 0}, formats=formats, seed=3,
                                        truncation=0.8, log=lambda s: None)
    assert set(summary["max_abs_error"]) == {"saved_model"} | {f"render.{f}" for f in formats[1:]}
    assert max(summary["max_abs_error"].values()) < TOL
    from inr_gan_tf import sampling
    z = tf.constant(sampling.seed_latents([3], G.z_dim))
    params = G.params(z, truncation=0.8)
    sig = tf.saved_model.load(str(tmp_path / "img" / "1")).signatures["serving_default"]
    grid = coords_lib.grid_np(24, 40, (-0.5, -0.5, 1.5, 1.5))
    np.testing.assert_allclose(sig(coords=tf.constant(grid))["rgb"], G.render(params, grid)[0], atol=TOL)
    # Only the INR is stored: no mapping or hypernetwork weights.
    inr_bytes = 4 * sum(int(np.prod(v.shape)) for v in G.inr.weights) + summary["params_bytes_float32"]
    assert summary["artifacts"]["saved_model"] < inr_bytes + 200_000
    assert set(summary["previews"]) == {"image_256.png", "image_1024.png"}


# -- request validation and the serving client -------------------------------------------------
@pytest.mark.parametrize("z, coords, message", [
    (np.zeros((2, 16)), np.zeros((2, 5)), r"coords must have shape \[B, N, 2\]"),          # wrong rank/size
    (np.zeros((2, 16)), np.zeros((2, 5, 3)), r"coords must have shape"),
    (np.zeros((16,)), np.zeros((1, 5, 2)), r"z must have shape \[B, 16\]"),
    (np.zeros((2, 8)), np.zeros((2, 5, 2)), r"z must have shape \[B, 16\]"),
    (np.zeros((2, 16)), np.array([[["a", "b"]]]), r"coords must be a numeric array"),     # wrong dtype
    (np.zeros((2, 16)), np.zeros((3, 5, 2)), r"coords has batch 3 but z has batch 2"),
    (np.zeros((2, 16)), np.full((2, 5, 2), np.inf), r"coords has 20 non-finite"),         # non-finite
    (np.full((2, 16), np.nan), np.zeros((2, 5, 2)), r"z has 32 non-finite"),
    (np.zeros((2, 16)), np.zeros((2, 3000, 2)), r"6000 points .* more than the maximum of 5000"),
])
def test_render_request_validation(z, coords, message):
    with pytest.raises(RequestError, match=message):
        validate_render_request(z, coords, z_dim=16, max_points=5000)


def test_valid_requests_pass_as_float32():
    z, c = validate_render_request(np.zeros((2, 16)), np.zeros((7, 2)), z_dim=16)  # shared set broadcast
    assert z.dtype == c.dtype == np.float32 and c.shape == (2, 7, 2)
    h, w, b, t = validate_grid_request(2, 8, 12, (-0.5, -0.5, 1.5, 1.5), 0.7)
    assert (h, w, t) == (8, 12, 0.7) and b.dtype == np.float32


@pytest.mark.parametrize("args, message", [
    ((1, 0, 8, (0, 0, 1, 1)), "height must be an integer >= 1"),
    ((1, 8, 2.5, (0, 0, 1, 1)), "width must be an integer >= 1"),
    ((4, 64, 64, (0, 0, 1, 1)), "16384 points, more than the maximum of 10000"),
    ((1, 8, 8, (0, 0, 1)), r"bounds must be \(x0, y0, x1, y1\)"),
    ((1, 8, 8, (1, 0, 0, 1)), "x0 < x1"),
    ((1, 8, 8, (0, 0, np.nan, 1)), "bounds has 1 non-finite"),
])
def test_grid_request_validation(args, message):
    with pytest.raises(RequestError, match=message):
        validate_grid_request(*args, max_points=10_000)


def _tensor_info(spec) -> dict:
    """A TensorSpec as TF Serving's metadata JSON writes it (int64 sizes as strings, -1 unknown)."""
    return {"dtype": "DT_" + spec.dtype.name.upper(),
            "tensor_shape": {"dim": [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape]}}


class _FakeServing(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST predict and metadata endpoints (JSON) over a SavedModel, on loopback only."""
    signatures = None
    predictions = 0  # predict requests answered

    def do_GET(self):  # noqa: N802 - http.server's naming
        assert self.path.endswith("/metadata"), self.path
        defs = {name: {"inputs": {k: _tensor_info(v) for k, v in sig.structured_input_signature[1].items()},
                       "outputs": {k: _tensor_info(v) for k, v in sig.structured_outputs.items()}}
                for name, sig in self.signatures.items()}
        self._reply({"metadata": {"signature_def": {"signature_def": defs}}})

    def do_POST(self):  # noqa: N802 - http.server's naming
        type(self).predictions += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        sig = self.signatures[body["signature_name"]]
        feeds = {k: tf.constant(v, sig.structured_input_signature[1][k].dtype) for k, v in body["inputs"].items()}
        outputs = {k: v.numpy().tolist() for k, v in sig(**feeds).items()}
        self._reply({"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs})

    def _reply(self, message: dict):
        reply = json.dumps(message).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serving(export_dir):
    """A loopback _FakeServing of export_dir; yields its host:port."""
    _FakeServing.signatures = tf.saved_model.load(export_dir).signatures
    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeServing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_serving_client_rest_writes_png(exported, G, tmp_path, capsys):
    from PIL import Image
    with _serving(exported["export_dir"]) as address:
        out = tmp_path / "seed7.png"
        assert serving_client.main([f"--server={address}", "--name=tiny", "--seeds=7",
                                    f"--z_dim={G.z_dim}", "--height=12", "--width=20",
                                    "--bounds=-0.5,-0.5,1.5,1.5", f"--out={out}"]) == 0
        capsys.readouterr()
        refused = tmp_path / "refused.png"
        assert serving_client.main([f"--server={address}", "--name=tiny",
                                    f"--z_dim={G.z_dim}", "--size=128", "--max_points=1000", f"--out={refused}"]) == 2
        err = capsys.readouterr().err
        assert re.fullmatch(r"serving_client: --max_points: invalid request: .* more than the maximum .*\n", err), err
        assert not refused.exists()
    z = serving_client.seed_latent(7, G.z_dim)
    expected = serving_client.to_uint8(G.render_grid(G.params(z), 12, 20, (-0.5, -0.5, 1.5, 1.5))[0])
    got = np.asarray(Image.open(out))
    assert got.shape == (12, 20, 3) and np.abs(got.astype(int) - expected).max() <= 1


def test_serving_client_counts_the_points_of_antialiased_pixels_as_the_server(tmp_path, capsys):
    """A model with antialias k: the client reads k (and z_dim) from the metadata and refuses, before
    any predict, the grid requests the SavedModel's render_grid refuses: H x W x k^2 points."""
    from PIL import Image
    G2 = build_generator(dict(presets.tiny_generator(16), antialias=2), seed=0)
    export_dir = savedmodel.export_generator(G2, str(tmp_path / "aa" / "1"), max_points=1000)
    signatures = tf.saved_model.load(export_dir).signatures
    np.testing.assert_allclose(signatures["pixel_points"]()["offsets"], coords_lib.subpixel_offsets(2))
    grid = dict(z=tf.zeros([1, G2.z_dim]), bounds=tf.constant([0.0, 0, 1, 1]), truncation=tf.constant(1.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="more points than max_points=1000"):
        signatures["render_grid"](height=tf.constant(20), width=tf.constant(20), **grid)  # 1600 points
    with _serving(export_dir) as address:
        _FakeServing.predictions = 0
        argv = [f"--server={address}", "--name=aa", "--seeds=3", "--max_points=1000"]
        assert serving_client.main([*argv, "--size=20", f"--out={tmp_path / 'big.png'}"]) == 2
        err = capsys.readouterr().err
        assert re.fullmatch(r"serving_client: --max_points: invalid request: a 1 x 20 x 20 render has 1600 "
                            r"points \(2 x 2 a pixel\), more than the maximum of 1000 .*\n", err), err
        assert _FakeServing.predictions == 0 and not (tmp_path / "big.png").exists()  # nothing sent
        out = tmp_path / "small.png"
        assert serving_client.main([*argv, "--size=15", f"--out={out}"]) == 0  # 900 points
        assert _FakeServing.predictions == 1
    z = serving_client.seed_latent(3, G2.z_dim)
    expected = serving_client.to_uint8(G2.render_grid(G2.params(z), 15, 15)[0])
    assert np.abs(np.asarray(Image.open(out)).astype(int) - expected).max() <= 1
    assert serving_client.signature_antialias({"render": {}}) == 1  # an export from before pixel_points


def test_serving_client_flags(tmp_path, capsys):
    """Flags are checked before any server is asked (none runs here); old spellings still work."""
    from inr_gan_tf import cli
    a = serving_client.check(cli.parse(serving_client.COMMAND, ["--model=tiny", "--seed=7", "--size=8"]))
    assert (a.name, a.seed, a.height, a.width) == ("tiny", 7, 8, 8)
    assert "--model is deprecated, use --name" in capsys.readouterr().err
    pts = tmp_path / "pts.npy"
    np.save(pts, np.full((5, 2), np.nan, np.float32))
    for argv, flag in (([], "--name"), (["--name=../x"], "--name"), (["--name=m", "--seeds=1,2"], "--seeds"),
                       (["--name=m", "--protocol=grpc"], "--z_dim"), (["--name=m", "--bounds=0,0,1"], "--bounds"),
                       (["--name=m", f"--points={pts}"], "--points"), (["--name=m", "--height=0"], "--height"),
                       (["--name=m", "--width=20000"], "--width"), (["--name=m", "--timeout=-1"], "--timeout"),
                       (["--name=m", "--antialias=0"], "--antialias")):
        assert serving_client.main([*argv, "--server=127.0.0.1:1", f"--out={tmp_path / 'x.png'}"]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"serving_client: {flag}"), (argv, err)
    assert not (tmp_path / "x.png").exists()


def test_serving_client_grpc(exported, G):
    """The gRPC path against a loopback PredictionService that runs the SavedModel."""
    grpc = pytest.importorskip("grpc")
    apis = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
    from tensorflow_serving.apis import predict_pb2
    signatures = tf.saved_model.load(exported["export_dir"]).signatures

    class Servicer(apis.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 - gRPC's naming
            assert request.model_spec.name == "tiny"
            sig = signatures[request.model_spec.signature_name]
            outputs = sig(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
            reply = predict_pb2.PredictResponse()
            for k, v in outputs.items():
                reply.outputs[k].CopyFrom(tf.make_tensor_proto(v.numpy()))
            return reply

    from concurrent import futures
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    apis.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        z = serving_client.seed_latent(5, G.z_dim)
        inputs = serving_client.points_request(z, COORDS["random_1000"][0], G.z_dim)
        rgb = serving_client.grpc_predict(f"127.0.0.1:{port}", "tiny", "render", inputs, "rgb", timeout=30)
    finally:
        server.stop(grace=None)
    np.testing.assert_allclose(rgb, G.render(G.params(z), COORDS["random_1000"][0]), atol=TOL)


def test_models_config_parses():
    pytest.importorskip("tensorflow_serving")
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2
    with open(os.path.join(ROOT, "saved_models", "models.config")) as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    assert all(c.base_path == f"/models/{c.name}" for c in config.model_config_list.config)
