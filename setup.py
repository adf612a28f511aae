"""inr_gan_tf: GANs that generate images as continuous functions (INR-GAN) in TensorFlow/Keras."""
from setuptools import find_packages, setup

setup(
    name="inr_gan_tf",
    version="0.1.0",
    description="INR-GAN (Adversarial Generation of Continuous Images) in TensorFlow/Keras",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["inr_gan_tf", "inr_gan_tf.*"]),
    include_package_data=True,
    package_data={"inr_gan_tf": ["data/noto_emoji/*"]},
    # The tested stack: TensorFlow 2.21 with Keras 3.
    install_requires=[
        "tensorflow==2.21.0",
        "keras>=3.15,<4",
        "absl-py>=2.1",
        "numpy>=1.26,<3",
        "pillow>=10",
        "tensorboard>=2.20",  # tf.summary needs it for training logs
        "scipy>=1.10",  # matrix square root of FID; the metrics CLI imports it
        "resvg-py==0.5.0",  # rasterizes the vector noto_emoji set; renders are cached by version
    ],
    # One per command beside `python -m inr_gan_tf.NAME` (inr_gan_tf/cli/commands.py; tests check they agree).
    entry_points={"console_scripts": [
        "inr-gan = inr_gan_tf.cli.__main__:run",
        "inr-gan-train = inr_gan_tf.cli.train:run",
        "inr-gan-generate = inr_gan_tf.cli.generate:run",
        "inr-gan-metrics = inr_gan_tf.cli.metrics:run",
        "inr-gan-export = inr_gan_tf.cli.export:run",
        "inr-gan-project = inr_gan_tf.cli.project:run",
        "inr-gan-superres = inr_gan_tf.cli.superres:run",
        "inr-gan-figures = inr_gan_tf.cli.figures:run",
    ]},
    extras_require={
        "test": ["pytest>=8", "tensorflow-datasets==4.9.10", "importlib_resources>=6", "matplotlib>=3.8"],
        # tensorflow-datasets 4.9.10 imports importlib_resources without declaring it.
        "tfds": ["tensorflow-datasets==4.9.10", "importlib_resources>=6"],
        "lsun": ["lmdb>=1.4"],
        "export": ["tf2onnx==1.17.0", "onnx==1.23.2", "onnxruntime==1.31.1", "ai-edge-litert==2.3.0",
                   "tensorflow-serving-api==2.21.0"],  # tested set; leaves TF, Keras, numpy, protobuf as they are
        "tb": ["xprof>=2.20"],  # profiler traces in TensorBoard
        "video": ["imageio>=2.31", "imageio-ffmpeg>=0.5"],  # MP4 animations (GIF needs nothing)
        "figures": ["matplotlib>=3.8"],  # python -m inr_gan_tf.figures
    },
)
