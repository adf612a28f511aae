"""Export artifacts of CPU-sized generators: sizes, render latency and error, written as JSON.

    python tools/bench_export.py --out=bench/export.json [--resolutions=64,256] [--repeats=5]

For each presets.small_generator(R) (untrained, seed 0) it exports the generator and measures:
  * artifact sizes: SavedModel (pb + variables), TFLite float32 / float16 / dynamic-range int8,
    ONNX; and one image baked in (--seeds) against PNGs of that image at 256^2 and 1024^2;
  * render latency (median ms over --repeats after one warm-up, batch 1, one thread) of z ->
    rgb on the R x R grid and on the 64 x 64 grid: Keras (tf.function around G.render_grid, its
    cached static plan), SavedModel `render` (TF2 loader, coords input, in-graph plan), TFLite
    (ai_edge_litert, XNNPACK) and ONNX Runtime (CPU);
  * max and mean |error| of each artifact against Keras on the R x R grid, and PSNR in dB on
    the [-1, 1] range.
"""
import io
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # runs from a checkout without installing
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402


def _median_ms(fn, repeats):
    fn()  # warm-up: tracing, allocation
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return round(statistics.median(times), 2)


def _dir_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _errors(out, ref):
    import numpy as np

    err = np.abs(out - ref)
    mse = float(np.mean((np.clip(out, -1, 1) - np.clip(ref, -1, 1)) ** 2))
    return {"max_abs": float(err.max()), "mean_abs": float(err.mean()),
            "psnr_db": round(10 * np.log10(4.0 / mse), 1) if mse > 0 else None}


def bench_resolution(resolution, repeats, seed, workdir, log):
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from inr_gan_tf import coords, sampling
    from inr_gan_tf.export import convert, modules, savedmodel
    from inr_gan_tf.model import build_generator, presets

    G = build_generator(presets.small_generator(resolution), seed=0)
    result = {"generator": f"presets.small_generator({resolution})", "config": G.get_config(),
              "param_count": int(sum(np.prod(v.shape) for v in G.weights)), "sizes_bytes": {},
              "latency_ms": {}, "error_vs_keras": {}}
    sm_dir = os.path.join(workdir, f"g{resolution}")
    savedmodel.export_generator(G, sm_dir)
    result["sizes_bytes"]["saved_model"] = _dir_size(os.path.join(sm_dir, "variables")) + os.path.getsize(
        os.path.join(sm_dir, "saved_model.pb"))
    portable = modules.GeneratorExport(G, checked=False)
    runners = {"saved_model": None}
    for variant in convert.TFLITE_VARIANTS:
        blob = convert.to_tflite(portable, variant)
        result["sizes_bytes"][f"tflite_{variant}"] = len(blob)
        runners[f"tflite_{variant}"] = convert.TFLiteRunner(blob, num_threads=1)
    onnx_path = os.path.join(workdir, f"g{resolution}.onnx")
    result["sizes_bytes"]["onnx"] = len(convert.to_onnx(portable, onnx_path))
    runners["onnx"] = convert.OnnxRunner(onnx_path, num_threads=1)
    log(f"{resolution}: sizes {result['sizes_bytes']}")

    signature = tf.saved_model.load(sm_dir).signatures["render"]
    z = sampling.seed_latents([seed], G.z_dim)  # [1, z_dim]
    for size in sorted({64, resolution}):
        grid = coords.grid_np(size, size)[None]  # [1, size^2, 2]
        keras_fn = tf.function(lambda z: G.render_grid(G.params(z), size, size))
        ref = keras_fn(tf.constant(z)).numpy().reshape(1, -1, 3)
        calls = {"keras": lambda: keras_fn(tf.constant(z)),
                 "saved_model": lambda: signature(z=tf.constant(z), coords=tf.constant(grid))["rgb"]}
        for name, run in runners.items():
            if run is not None:
                calls[name] = lambda run=run: run(z=z, coords=grid)["rgb"]
        timings = {}
        for name, fn in calls.items():
            timings[name] = _median_ms(fn, repeats)
            if size == resolution and name != "keras":
                result["error_vs_keras"][name] = _errors(np.asarray(fn()), ref)
        result["latency_ms"][f"{size}x{size}"] = timings
        log(f"{resolution} rendered at {size}^2: {timings}")

    # One image as a resolution-free file, next to PNGs of the same image.
    flat = G.hypernet.flat(G.mapping(tf.constant(z)))
    image_module = modules.BakedImage(G, flat)
    image_dir = os.path.join(workdir, f"image{resolution}")
    savedmodel.export_image(G, flat, image_dir)
    single = {"params_float32": int(flat.shape[-1]) * 4,
              "inr_shared_weights_float32": int(4 * sum(np.prod(v.shape) for v in G.inr.weights)),
              "saved_model": _dir_size(os.path.join(image_dir, "variables")) + os.path.getsize(
                  os.path.join(image_dir, "saved_model.pb")),
              "tflite_float32": len(convert.to_tflite(image_module, "float32")),
              "tflite_float16": len(convert.to_tflite(image_module, "float16")),
              "onnx": len(convert.to_onnx(image_module, os.path.join(workdir, f"image{resolution}.onnx")))}
    for size in (256, 1024):
        buf = io.BytesIO()
        Image.fromarray(sampling.generate_images(G, [seed], size, size)[0]).save(buf, "PNG", optimize=True)
        single[f"png_{size}"] = buf.tell()
    result["single_image_bytes"] = single
    log(f"{resolution}: single image {single}")
    return result


def define(fv: flags.FlagValues) -> None:
    common.define(fv, "out", "bench/export.json", "The JSON report.")
    common.define(fv, "resolutions", "64,256", "presets.small_generator resolutions to export.")
    common.define(fv, "repeats", 5, "Timed renders, after one warm-up.")
    common.define(fv, "seeds", "0", "Exactly one: the rendered and baked image.")


def check(a: Args) -> Args:

    try:
        a.resolution_list = [int(r) for r in a.resolutions.split(",")]
    except ValueError:
        a.resolution_list = []
    if not a.resolution_list or min(a.resolution_list) < 1:
        raise UsageError(f"--resolutions: expected comma-separated integers >= 1, got {a.resolutions!r}")
    common.at_least(a, "repeats", 1)
    a.seed = common.one_seed(a, "one baked image")
    return a


def command_main(args: Args) -> int:
    check(args)
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)  # the reference CPU acts like one core
    tf.config.threading.set_inter_op_parallelism_threads(1)
    try:
        import onnx
        import onnxruntime
        import tf2onnx
        from ai_edge_litert import __version__ as litert_version
    except ImportError as e:
        return cli.fail(COMMAND, f"needs the export extra, pip install -e \".[export]\" ({e})", 1)

    report = {"threads": 1, "batch": 1, "repeats": args.repeats,
              "versions": {"tensorflow": tf.__version__, "ai_edge_litert": litert_version,
                           "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__,
                           "onnxruntime": onnxruntime.__version__},
              "results": []}
    with tempfile.TemporaryDirectory() as workdir:
        for r in args.resolution_list:
            report["results"].append(bench_resolution(r, args.repeats, args.seed, workdir, print))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {args.out}")
    return 0


# TensorFlow's and tf2onnx's INFO lines would drown the report.
COMMAND = cli.Command("python tools/bench_export.py", __doc__, define, command_main, aliases={"seed": "seeds"},
                      log_level="warning")


def main(argv=None) -> int:
    return cli.run(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
