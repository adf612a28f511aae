"""Ask a TF Serving instance for a render and write it as a PNG (or .npy for a point set).

    # the server renders an H x W grid over bounds (signature render_grid):
    python tools/serving_client.py --name=quickstart --seeds=7 --size=512 --out=seed7.png
    python tools/serving_client.py --name=quickstart --seeds=7 --size=256 --bounds=-0.3,-0.3,1.3,1.3 --out=zoom.png
    # any point set from a .npy of [N, 2] (signature render), rgb written as .npy:
    python tools/serving_client.py --name=quickstart --seeds=7 --points=pts.npy --out=rgb.npy

REST (JSON over HTTP, standard library only) by default; --protocol=grpc uses the
tensorflow-serving-api package (`pip install -e ".[export]"`). Requests are validated here
before they are sent, with inr_gan_tf.export.validate: shapes, dtypes, finite z, coords, bounds
and truncation, 1 <= height, width <= MAX_SIDE, batch <= max_batch and at most --max_points
points, a grid's pixels counted as the k x k points each averages (k: the model's antialias, the
shape of its `pixel_points` signature in the metadata). The SavedModel's signatures run the same
checks, with the same constants, in the graph.
The flags are checked, and the request validated, before the server is asked to render (over
REST the model's metadata is read first, for z_dim and k): a bad flag or a request the server
would refuse exits 2 with one line naming the flag.
"""
import json
import os
import sys
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # runs from a checkout without installing
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from inr_gan_tf import cli  # noqa: E402
from inr_gan_tf.cli import Args, UsageError, common  # noqa: E402
from inr_gan_tf.export.validate import (DEFAULT_MAX_POINTS, RequestError, check_model_name,  # noqa: E402
                                        validate_grid_request, validate_latents, validate_render_request)
from inr_gan_tf.seeds import seed_latents, to_uint8  # noqa: E402


def seed_latent(seed: int, z_dim: int) -> np.ndarray:
    """z [1, z_dim] of a seed (image k depends on seed k only)."""
    return seed_latents([seed], z_dim)


def grid_request(z, z_dim, height, width, bounds, truncation=1.0, max_points=DEFAULT_MAX_POINTS,
                 antialias=1) -> dict:
    """Inputs of the render_grid signature, validated (antialias: the model's k, k x k points a pixel)."""
    z = validate_latents(z, z_dim)
    height, width, bounds, truncation = validate_grid_request(len(z), height, width, bounds, truncation, max_points,
                                                              antialias=antialias)
    return {"z": z, "height": np.int32(height), "width": np.int32(width), "bounds": bounds,
            "truncation": np.float32(truncation)}


def points_request(z, coords, z_dim, max_points=DEFAULT_MAX_POINTS) -> dict:
    """Inputs of the render signature, validated; one [N, 2] set is shared by the batch."""
    z, coords = validate_render_request(z, coords, z_dim, max_points)
    return {"z": z, "coords": coords}


def rest_body(signature: str, inputs: dict) -> bytes:
    """TF Serving's columnar JSON request ({"signature_name", "inputs": {name: nested lists}})."""
    return json.dumps({"signature_name": signature,
                       "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}).encode()


def rest_output(response: dict, name: str) -> np.ndarray:
    """The named output of a columnar response (a lone output comes without its name)."""
    if "error" in response:
        raise RuntimeError(f"server error: {response['error']}")
    outputs = response["outputs"]
    if isinstance(outputs, dict):
        outputs = outputs[name]
    return np.asarray(outputs, np.float32)


def _url(server: str, model: str, version, verb: str) -> str:
    base = server if "://" in server else f"http://{server}"
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "")
    return f"{base}{path}{verb}"


def rest_predict(server, model, signature, inputs, output, version=None, timeout=60.0) -> np.ndarray:
    request = urllib.request.Request(_url(server, model, version, ":predict"), data=rest_body(signature, inputs),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return rest_output(json.load(reply), output)
    except urllib.error.HTTPError as e:  # TF Serving puts the reason in a JSON body
        raise RuntimeError(f"HTTP {e.code} from {request.full_url}: {e.read().decode(errors='replace')}") from None


def rest_signatures(server, model, version=None, timeout=10.0) -> dict:
    """The served model's signature defs, from its metadata."""
    with urllib.request.urlopen(_url(server, model, version, "/metadata"), timeout=timeout) as reply:
        return json.load(reply)["metadata"]["signature_def"]["signature_def"]


def _dims(tensor_info: dict) -> list:
    return [int(d["size"]) for d in tensor_info["tensor_shape"]["dim"]]  # sizes come as strings


def signature_z_dim(signatures: dict) -> int:
    """z_dim: the z input of the render signature."""
    return _dims(signatures["render"]["inputs"]["z"])[1]


def signature_antialias(signatures: dict) -> int:
    """k of the model (render_grid pixels average k x k points): the `pixel_points` output is
    [k*k, 2]; exports from before that signature render grids at k = 1, as counted then."""
    if "pixel_points" not in signatures:
        return 1
    n = _dims(signatures["pixel_points"]["outputs"]["offsets"])[0]
    k = int(round(n ** 0.5)) if n >= 1 else 0  # a dynamic (-1) size is no k x k either
    if k < 1 or k * k != n:
        raise KeyError(f"pixel_points offsets of {n} rows: not a k x k pixel")
    return k


def grpc_predict(server, model, signature, inputs, output, version=None, timeout=60.0) -> np.ndarray:
    """The same request through gRPC (port 8500 by default); needs tensorflow-serving-api."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version:
        request.model_spec.version.value = int(version)
    for k, v in inputs.items():
        request.inputs[k].CopyFrom(tf.make_tensor_proto(v))
    with grpc.insecure_channel(server) as channel:
        reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
    return tf.make_ndarray(reply.outputs[output]).astype(np.float32)


def write_png(path: str, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(to_uint8(image)).save(path)


def define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("server", "localhost:8501", "host:port of TF Serving (REST 8501, gRPC 8500).", flag_values=fv)
    flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "REST JSON or gRPC.", flag_values=fv)
    common.define(fv, "name", None, "The served model to ask (required).")
    common.define(fv, "version", None, "Default: the version the server serves.")
    common.define(fv, "seeds", "0", "Exactly one: --out is one image (z as sampling.seed_latents).")
    common.define(fv, "z_dim", None, "Default: read from the model's metadata; required with --protocol=grpc.")
    common.define(fv, "antialias", None, "Here the served model's, which makes a grid request H x W x "
                  "antialias^2 points. Default: read from the model's metadata; 1 with --protocol=grpc (the "
                  "server's own check still applies).")
    flags.DEFINE_integer("size", 256, "Square output size (overridden by --height/--width).", flag_values=fv)
    common.define(fv, "height", None, "Default: --size.")
    common.define(fv, "width", None, "Default: --size.")
    common.define(fv, "bounds", "0,0,1,1")
    common.define(fv, "truncation", 1.0)
    flags.DEFINE_string("points", None, "A .npy of [N, 2] points: render them (signature render, no truncation) "
                        "instead of a grid.", flag_values=fv)
    common.define(fv, "max_points", DEFAULT_MAX_POINTS, "Larger requests are refused here.")
    common.define(fv, "timeout", 120.0, "For the server's reply.")
    common.define(fv, "out", "render.png", "A PNG (grid) or .npy (--points).")


# The first word of a validate.RequestError -> the flag it is about; the rest are point counts.
_REQUEST_FLAGS = {"height": "height", "width": "width", "bounds": "bounds", "truncation": "truncation",
                  "coords": "points", "z": "seeds", "antialias": "antialias"}


def _request_error(e: Exception, given: Args) -> UsageError:
    name = _REQUEST_FLAGS.get(str(e).split(" ", 1)[0], "max_points")
    if name in ("height", "width") and not given.given(name):
        name = "size"
    return UsageError(f"--{name}: invalid request: {e}")


def check(a: Args) -> Args:
    """Checks the flags and validates the request (without z, which needs z_dim); UsageError names the flag."""
    if not a.name:
        raise UsageError("--name is required: the served model to ask")
    try:  # it becomes a URL path segment: no '/', '..'
        check_model_name(a.name)
    except ValueError as e:
        raise UsageError(f"--name: {e}") from None
    a.seed = common.one_seed(a, "per call: --out is one image")
    for name in ("version", "z_dim", "antialias", "size", "height", "width"):
        common.at_least(a, name, 1)
    common.positive(a, "timeout")
    if not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        raise UsageError(f"--out: folder {os.path.dirname(os.path.abspath(a.out))} does not exist")
    if a.z_dim is None and a.protocol != "rest":
        raise UsageError("--z_dim is required with --protocol=grpc")
    try:
        if a.points:
            try:
                a.coords = np.load(a.points)
            except (OSError, ValueError) as e:
                raise UsageError(f"--points: cannot read {a.points!r}: {cli.one_line(e)}") from None
            validate_render_request(np.zeros((1, 1), np.float32), a.coords, 1, a.max_points)
        else:
            try:
                a.bounds_list = [float(b) for b in a.bounds.split(",")]
            except ValueError:
                raise UsageError(f"--bounds must be 4 numbers x0,y0,x1,y1, got {a.bounds!r}") from None
            a.height, a.width = a.height or a.size, a.width or a.size
            validate_grid_request(1, a.height, a.width, a.bounds_list, a.truncation, a.max_points,
                                  antialias=a.antialias or 1)
    except RequestError as e:
        raise _request_error(e, a) from None
    return a


def command_main(args: Args) -> int:
    args = check(args)
    predict = rest_predict if args.protocol == "rest" else grpc_predict
    try:
        z_dim, k = args.z_dim, args.antialias
        if args.protocol == "rest" and (z_dim is None or (k is None and not args.points)):
            signatures = rest_signatures(args.server, args.name, args.version)
            z_dim, k = z_dim or signature_z_dim(signatures), k or signature_antialias(signatures)
        z = seed_latent(args.seed, z_dim)
        if args.points:
            inputs = points_request(z, args.coords, z_dim, args.max_points)
            rgb = predict(args.server, args.name, "render", inputs, "rgb", args.version, args.timeout)
        else:
            inputs = grid_request(z, z_dim, args.height, args.width, args.bounds_list, args.truncation,
                                  args.max_points, antialias=k or 1)
            image = predict(args.server, args.name, "render_grid", inputs, "image", args.version, args.timeout)
    except RequestError as e:
        raise _request_error(e, args) from None
    except (OSError, RuntimeError, KeyError, ValueError) as e:  # no server, HTTP/server error, odd metadata
        return cli.fail(COMMAND, f"{args.server}: {cli.one_line(e)}", 1)
    if args.points:
        np.save(args.out, rgb[0])
    else:
        write_png(args.out, image[0])
    print(f"wrote {args.out}")
    return 0


COMMAND = cli.Command("python tools/serving_client.py", __doc__, define, command_main,
                      aliases={"model": "name", "seed": "seeds"}, log_level="warning")


def main(argv=None) -> int:
    """Exit status 0 (written), 1 (the server failed), 2 (bad flag or invalid request; nothing sent)."""
    return cli.run(COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
