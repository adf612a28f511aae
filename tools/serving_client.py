"""Ask a TF Serving instance for a render and write it as a PNG (or .npy for a point set).

    # the server renders an H x W grid over bounds (signature render_grid):
    python tools/serving_client.py --model=quickstart --seed=7 --size=512 --out=seed7.png
    python tools/serving_client.py --model=quickstart --seed=7 --size=256 --bounds=-0.3,-0.3,1.3,1.3 --out=zoom.png
    # any point set from a .npy of [N, 2] (signature render), rgb written as .npy:
    python tools/serving_client.py --model=quickstart --seed=7 --points=pts.npy --out=rgb.npy

REST (JSON over HTTP, standard library only) by default; --protocol=grpc uses the
tensorflow-serving-api package (`pip install -e ".[export]"`). Requests are validated here
before they are sent, with inr_gan_tf.export.validate: shapes, dtypes, finite z, coords, bounds
and truncation, 1 <= height, width <= MAX_SIDE, batch <= max_batch and at most --max_points
points. The SavedModel's signatures run the same checks, with the same constants, in the graph.
"""
import argparse
import json
import sys
import urllib.error
import urllib.request

import numpy as np

from inr_gan_tf.export.validate import (DEFAULT_MAX_POINTS, RequestError, check_model_name, validate_grid_request,
                                        validate_latents, validate_render_request)
from inr_gan_tf.seeds import seed_latents, to_uint8


def seed_latent(seed: int, z_dim: int) -> np.ndarray:
    """z [1, z_dim] of a seed (image k depends on seed k only)."""
    return seed_latents([seed], z_dim)


def grid_request(z, z_dim, height, width, bounds, truncation=1.0, max_points=DEFAULT_MAX_POINTS) -> dict:
    """Inputs of the render_grid signature, validated."""
    z = validate_latents(z, z_dim)
    height, width, bounds, truncation = validate_grid_request(len(z), height, width, bounds, truncation, max_points)
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


def rest_z_dim(server, model, version=None, timeout=10.0) -> int:
    """z_dim from the model's metadata (the z input of its render signature)."""
    with urllib.request.urlopen(_url(server, model, version, "/metadata"), timeout=timeout) as reply:
        meta = json.load(reply)
    sig = meta["metadata"]["signature_def"]["signature_def"]["render"]
    return int(sig["inputs"]["z"]["tensor_shape"]["dim"][1]["size"])


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


def _model_name(name: str) -> str:
    try:  # it becomes a URL path segment: no '/', '..'
        return check_model_name(name)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="localhost:8501", help="host:port of TF Serving (REST 8501, gRPC 8500).")
    p.add_argument("--protocol", choices=["rest", "grpc"], default="rest", help="REST JSON or gRPC.")
    p.add_argument("--model", required=True, type=_model_name, help="Model name (as in models.config).")
    p.add_argument("--version", type=int, default=None, help="Model version (default: the served one).")
    p.add_argument("--seed", type=int, default=0, help="Latent seed (z as sampling.seed_latents).")
    p.add_argument("--z_dim", type=int, default=None, help="Latent size (default: read from the model's metadata; "
                   "required with --protocol=grpc).")
    p.add_argument("--size", type=int, default=256, help="Square output size (overridden by --height/--width).")
    p.add_argument("--height", type=int, default=None, help="Output height in pixels.")
    p.add_argument("--width", type=int, default=None, help="Output width in pixels.")
    p.add_argument("--bounds", default="0,0,1,1", help="Frame region x0,y0,x1,y1 ([0,1]^2: the training frame).")
    p.add_argument("--truncation", type=float, default=1.0, help="Truncation psi.")
    p.add_argument("--points", default=None, help="A .npy of [N, 2] points: render them (signature render, "
                   "no truncation) instead of a grid.")
    p.add_argument("--max_points", type=int, default=DEFAULT_MAX_POINTS, help="Refuse requests with more points.")
    p.add_argument("--timeout", type=float, default=120.0, help="Seconds to wait for the server.")
    p.add_argument("--out", default="render.png", help="Output: a PNG (grid) or .npy (points).")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    predict = rest_predict if args.protocol == "rest" else grpc_predict
    z_dim = args.z_dim
    if z_dim is None:
        if args.protocol != "rest":
            raise SystemExit("--z_dim is required with --protocol=grpc")
        z_dim = rest_z_dim(args.server, args.model, args.version)
    z = seed_latent(args.seed, z_dim)
    try:
        if args.points:
            inputs = points_request(z, np.load(args.points), z_dim, args.max_points)
            rgb = predict(args.server, args.model, "render", inputs, "rgb", args.version, args.timeout)
            np.save(args.out, rgb[0])
        else:
            bounds = [float(b) for b in args.bounds.split(",")]
            inputs = grid_request(z, z_dim, args.height or args.size, args.width or args.size, bounds,
                                  args.truncation, args.max_points)
            image = predict(args.server, args.model, "render_grid", inputs, "image", args.version, args.timeout)
            write_png(args.out, image[0])
    except RequestError as e:
        raise SystemExit(f"invalid request: {e}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
