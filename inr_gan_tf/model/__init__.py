"""Model: coordinates -> multi-scale INR, hypernetwork generator, discriminator, presets."""
from inr_gan_tf.model.discriminator import Discriminator, SplitDiscriminator, build_discriminator
from inr_gan_tf.model.generator import Generator, build_generator
from inr_gan_tf.model.hypernet import Hypernet, Mapping
from inr_gan_tf.model.inr import MultiScaleINR
from inr_gan_tf.model.layers import FMMDense, FourierFeatures, HyperDense, LogFrequencyFeatures, SharedDense
from inr_gan_tf.model.param_spec import ParamSpec
from inr_gan_tf.model.plan import RenderPlan, make_plan

__all__ = ["Discriminator", "SplitDiscriminator", "build_discriminator", "Generator", "build_generator",
           "Hypernet", "Mapping", "MultiScaleINR", "FMMDense",
           "FourierFeatures", "HyperDense", "LogFrequencyFeatures", "SharedDense", "ParamSpec", "RenderPlan",
           "make_plan"]
