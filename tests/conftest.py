"""Shared test setup: quiet TensorFlow, one thread (the CI machine acts like one core)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="module")
def G():
    """The tiny 16x16 generator at seed 0, built once per test module."""
    from inr_gan_tf.model import build_generator, presets
    return build_generator(presets.tiny_generator(16), seed=0)
