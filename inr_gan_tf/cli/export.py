"""Export G_ema of a training run for serving: `python -m inr_gan_tf.export --run_dir=runs/quickstart`.

Writes saved_models/<name>/<version>/ in TF Serving's layout (see export/pipeline.py), and with
--formats the TFLite and ONNX files of the render signature beside it. --seeds=S exports one
image instead of the generator: its INR with the params baked in, coordinates as its only input.

A bad command line exits 2 with one line naming the flag, before anything is written; an export
that cannot be written (version exists, disk full, another export running) exits 1 with one line.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

from absl import flags, logging  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, common  # noqa: E402
from inr_gan_tf.export.validate import (DEFAULT_MAX_BATCH, DEFAULT_MAX_POINTS, DEFAULT_TILE_POINTS,  # noqa: E402
                                        check_model_name)


def define(fv: flags.FlagValues) -> None:
    common.define_model(fv)
    common.define(fv, "outdir", "saved_models", "The model repository: the export goes to "
                  "<outdir>/<name>/<version>/.")
    common.define(fv, "name", None, "Default: the run directory's name, plus _seed<S> with --seeds.")
    common.define(fv, "version", None, "Default: the next free integer under <outdir>/<name>/.", lower_bound=1)
    flags.DEFINE_list("formats", ["savedmodel"], "Artifacts to write: any of savedmodel, tflite, onnx. Every "
                      "version holds the SavedModel (TF Serving's layout), so it is always written; tflite "
                      "and onnx go beside it.", flag_values=fv)
    flags.DEFINE_list("tflite_variants", ["float32"], "TFLite weight formats: any of float32, float16, "
                      "dynamic_int8.", flag_values=fv)
    common.define(fv, "seeds", None, "Exactly one here: export that seed's image (its INR with the params "
                  "baked in, coordinates the only input) instead of the generator.")
    common.define(fv, "truncation", 1.0, "Of the --seeds image.")
    common.define(fv, "max_points", DEFAULT_MAX_POINTS, "A larger SavedModel request fails in the graph before "
                  "anything is allocated.", lower_bound=1)
    flags.DEFINE_integer("max_batch", DEFAULT_MAX_BATCH, "Most latents (or params) one SavedModel request may "
                         "carry.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("tile_points", DEFAULT_TILE_POINTS, "Points the SavedModel renders at once: a request's "
                         "memory follows this, not --max_points.", lower_bound=1, flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "Replace an existing <name>/<version>: the replacement is written as the "
                      "next version, then the old one is deleted (the served version is never missing).",
                      flag_values=fv)
    common.define(fv, "dry_run", False, "Prints the resolved checkpoint, config and destination.")


def command_main(a: Args) -> int:
    common.one_model(a)
    if a.name is not None:
        with common.flag_errors("--name"):
            check_model_name(a.name)
    seed = None if a.seeds is None else common.one_seed(a, "an export holds one image")
    logging.set_verbosity(logging.WARNING)  # TensorFlow's and tf2onnx's INFO lines drown the summary
    from inr_gan_tf.export import pipeline

    parsed = {}
    for flag, allowed, what in (("formats", pipeline.FORMATS, "formats"),
                                ("tflite_variants", pipeline.convert.TFLITE_VARIANTS, "TFLite variants")):
        with common.flag_errors(f"--{flag}"):
            parsed[flag] = pipeline.parse_list(getattr(a, flag), allowed, what)
    parsed["formats"] = pipeline.version_formats(parsed["formats"])  # as export_run writes them
    options = dict(run_dir=a.run_dir, checkpoint=a.checkpoint, out_dir=a.outdir, name=a.name,
                   version=a.version, seed=seed, truncation=a.truncation,
                   max_points=a.max_points, max_batch=a.max_batch, tile_points=a.tile_points,
                   overwrite=a.overwrite, antialias=a.antialias, **parsed)
    ckpt, config = common.model_config(a)  # a run it cannot read: one line, before anything is written
    with common.flag_errors("--name"):  # the default name comes from the run directory, and must be a plain name too
        export_dir = pipeline.destination(ckpt, a.outdir, a.name, a.version, seed)
    if a.dry_run:
        generator = config["generator"]
        if a.antialias is not None:
            generator["antialias"] = a.antialias
        print(json.dumps({**options, "checkpoint": ckpt, "export_dir": export_dir, "generator": generator}, indent=1))
        return 0
    from inr_gan_tf.export.savedmodel import DiskFullError, ExportLockedError

    try:
        with common.model_errors(a):  # weights that do not fit config.json: found when G is built
            summary = pipeline.export_run(**options)
    except (FileExistsError, DiskFullError, ExportLockedError) as e:
        return cli.fail(COMMAND, str(e), 1)
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 0


# out_dir and seed: the spellings before the one command-line convention.
COMMAND = cli.Command("python -m inr_gan_tf.export", __doc__, define, command_main,
                      aliases={"out_dir": "outdir", "seed": "seeds"})


run = COMMAND.run


if __name__ == "__main__":
    sys.exit(run())
