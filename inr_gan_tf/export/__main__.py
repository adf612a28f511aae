"""Export G_ema of a training run for serving: `python -m inr_gan_tf.export --run_dir=runs/quickstart`.

Writes saved_models/<name>/<version>/ in TF Serving's layout (see export/pipeline.py), and with
--formats the TFLite and ONNX files of the render signature beside it. --seed exports one
image instead of the generator: its INR with the params baked in, coordinates as its only input.

A bad command line exits 2 with one line naming the flag, before anything is written; an export
that cannot be written (version exists, disk full, another export running) exits 1 with one line.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

from absl import app, flags, logging  # noqa: E402

from inr_gan_tf.export.validate import (DEFAULT_MAX_BATCH, DEFAULT_MAX_POINTS, DEFAULT_TILE_POINTS,  # noqa: E402
                                        check_model_name)

PROG = "python -m inr_gan_tf.export"

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Training run directory (config.json + checkpoints/): "
                    "exports its latest checkpoint.")
flags.DEFINE_string("checkpoint", None, "One checkpoint prefix (e.g. runs/x/checkpoints/ckpt-2000) instead of "
                    "--run_dir; config.json is looked up beside it.")
flags.DEFINE_string("out_dir", "saved_models", "Model repository: the export goes to <out_dir>/<name>/<version>/.")
flags.DEFINE_string("name", None, "Model name, one folder name of letters, digits and ._- (default: the run "
                    "directory's name, plus _seed<S> with --seed).")
flags.DEFINE_integer("version", None, "Version number (default: the next free integer under <out_dir>/<name>/).",
                     lower_bound=1)
flags.DEFINE_list("formats", ["savedmodel"], "Artifacts to write: any of savedmodel, tflite, onnx.")
flags.DEFINE_list("tflite_variants", ["float32"], "TFLite weight formats: any of float32, float16, dynamic_int8.")
flags.DEFINE_integer("seed", None, "Export the one image of this seed (params baked in, coords the only input) "
                     "instead of the generator.", lower_bound=0)
flags.DEFINE_float("truncation", 1.0, "Truncation psi of the --seed image.")
flags.DEFINE_integer("max_points", DEFAULT_MAX_POINTS, "Most points (batch x points) one SavedModel request may "
                     "render; larger requests fail in the graph before anything is allocated.", lower_bound=1)
flags.DEFINE_integer("max_batch", DEFAULT_MAX_BATCH, "Most latents (or params) one SavedModel request may carry.",
                     lower_bound=1)
flags.DEFINE_integer("tile_points", DEFAULT_TILE_POINTS, "Points the SavedModel renders at once: a request's "
                     "memory follows this, not --max_points.", lower_bound=1)
flags.DEFINE_bool("overwrite", False, "Replace an existing <name>/<version>: the replacement is written as the next "
                  "version, then the old one is deleted (the served version is never missing).")
flags.DEFINE_bool("dry_run", False, "Print the resolved checkpoint, config and destination, then exit.")


def _usage_error(message: str):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(2)


def _parse_flags(argv):
    try:
        return FLAGS(argv)
    except flags.Error as e:  # absl prints two lines and exits 1; STYLE 15: one line, exit 2
        _usage_error(str(e))
    except SystemExit as e:  # --help: absl prints it and exits 1
        sys.exit(0 if e.code == 1 else e.code)


def main(argv):
    if len(argv) > 1:
        _usage_error(f"unexpected arguments: {argv[1:]}")
    if bool(FLAGS.run_dir) == bool(FLAGS.checkpoint):
        _usage_error("give exactly one of --run_dir or --checkpoint")
    if FLAGS.name is not None:
        try:
            check_model_name(FLAGS.name)
        except ValueError as e:
            _usage_error(f"--name: {e}")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's and tf2onnx's INFO lines drown the summary
    from inr_gan_tf.export import pipeline
    from inr_gan_tf.export.checkpoint import resolve_checkpoint

    parsed = {}
    for flag, allowed, what in (("formats", pipeline.FORMATS, "formats"),
                                ("tflite_variants", pipeline.convert.TFLITE_VARIANTS, "TFLite variants")):
        try:
            parsed[flag] = pipeline.parse_list(FLAGS[flag].value, allowed, what)
        except ValueError as e:
            _usage_error(f"--{flag}: {e}")
    options = dict(run_dir=FLAGS.run_dir, checkpoint=FLAGS.checkpoint, out_dir=FLAGS.out_dir, name=FLAGS.name,
                   version=FLAGS.version, seed=FLAGS.seed, truncation=FLAGS.truncation,
                   max_points=FLAGS.max_points, max_batch=FLAGS.max_batch, tile_points=FLAGS.tile_points,
                   overwrite=FLAGS.overwrite, **parsed)
    try:
        ckpt, config_path = resolve_checkpoint(FLAGS.run_dir, FLAGS.checkpoint)
    except FileNotFoundError as e:
        _usage_error(f"--{'run_dir' if FLAGS.run_dir else 'checkpoint'}: {e}")
    try:  # the default name comes from the run directory, and must be a plain name too
        export_dir = pipeline.destination(ckpt, FLAGS.out_dir, FLAGS.name, FLAGS.version, FLAGS.seed)
    except ValueError as e:
        _usage_error(f"--name: {e}")
    if FLAGS.dry_run:
        with open(config_path) as f:
            generator = json.load(f)["generator"]
        print(json.dumps({**options, "checkpoint": ckpt, "export_dir": export_dir, "generator": generator}, indent=1))
        return 0
    from inr_gan_tf.export.savedmodel import DiskFullError, ExportLockedError

    try:
        summary = pipeline.export_run(**options)
    except (FileExistsError, DiskFullError, ExportLockedError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 0


def run():
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    sys.exit(run())
