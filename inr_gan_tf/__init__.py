"""inr_gan_tf: GANs that generate images as continuous functions (INR-GAN, CVPR 2021).

Data flow: data -> training -> model (mapping -> hypernet -> INR params -> render(params,
coords)) -> discriminator / losses -> metrics, sampling, export.
"""
import os

# Keras 3 picks its backend at import time; this library is TensorFlow-only.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
