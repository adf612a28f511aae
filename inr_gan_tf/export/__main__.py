"""Export G_ema of a training run for serving: `python -m inr_gan_tf.export --run_dir=runs/quickstart`.

Writes saved_models/<name>/<version>/ in TF Serving's layout (see export/pipeline.py), and with
--formats the TFLite and ONNX files of the render signature beside it. --seed exports one
image instead of the generator: its INR with the params baked in, coordinates as its only input.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

from absl import app, flags, logging  # noqa: E402

from inr_gan_tf.export.validate import DEFAULT_MAX_POINTS  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Training run directory (config.json + checkpoints/): "
                    "exports its latest checkpoint.")
flags.DEFINE_string("checkpoint", None, "One checkpoint prefix (e.g. runs/x/checkpoints/ckpt-2000) instead of "
                    "--run_dir; config.json is looked up beside it.")
flags.DEFINE_string("out_dir", "saved_models", "Model repository: the export goes to <out_dir>/<name>/<version>/.")
flags.DEFINE_string("name", None, "Model name (default: the run directory's name, plus _seed<S> with --seed).")
flags.DEFINE_integer("version", None, "Version number (default: the next free integer under <out_dir>/<name>/).",
                     lower_bound=1)
flags.DEFINE_list("formats", ["savedmodel"], "Artifacts to write: any of savedmodel, tflite, onnx.")
flags.DEFINE_list("tflite_variants", ["float32"], "TFLite weight formats: any of float32, float16, dynamic_int8.")
flags.DEFINE_integer("seed", None, "Export the one image of this seed (params baked in, coords the only input) "
                     "instead of the generator.", lower_bound=0)
flags.DEFINE_float("truncation", 1.0, "Truncation psi of the --seed image.")
flags.DEFINE_integer("max_points", DEFAULT_MAX_POINTS, "Most points (batch x points) one SavedModel request may "
                     "render; larger requests fail in the graph (0: no limit).", lower_bound=0)
flags.DEFINE_bool("overwrite", False, "Replace an existing <name>/<version>.")
flags.DEFINE_bool("dry_run", False, "Print the resolved checkpoint, config and destination, then exit.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if bool(FLAGS.run_dir) == bool(FLAGS.checkpoint):
        raise app.UsageError("give exactly one of --run_dir or --checkpoint")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's and tf2onnx's INFO lines drown the summary
    from inr_gan_tf.export import pipeline
    from inr_gan_tf.export.checkpoint import resolve_checkpoint

    try:
        formats = pipeline.parse_list(FLAGS.formats, pipeline.FORMATS, "formats")
        variants = pipeline.parse_list(FLAGS.tflite_variants, pipeline.convert.TFLITE_VARIANTS, "TFLite variants")
    except ValueError as e:
        raise app.UsageError(str(e))
    options = dict(run_dir=FLAGS.run_dir, checkpoint=FLAGS.checkpoint, out_dir=FLAGS.out_dir, name=FLAGS.name,
                   version=FLAGS.version, formats=formats, tflite_variants=variants, seed=FLAGS.seed,
                   truncation=FLAGS.truncation, max_points=FLAGS.max_points, overwrite=FLAGS.overwrite)
    if FLAGS.dry_run:
        ckpt, config_path = resolve_checkpoint(FLAGS.run_dir, FLAGS.checkpoint)
        with open(config_path) as f:
            generator = json.load(f)["generator"]
        export_dir = pipeline.destination(ckpt, FLAGS.out_dir, FLAGS.name, FLAGS.version, FLAGS.seed)
        print(json.dumps({**options, "checkpoint": ckpt, "export_dir": export_dir, "generator": generator}, indent=1))
        return 0
    summary = pipeline.export_run(**options)
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    sys.exit(run())
