"""GAN losses: non-saturating logistic G loss, logistic D loss and R1 on reals (paper Sec. 4, App. A).

The loss object owns the GAN phases, as stylegan3's `StyleGAN2Loss` does; the trainer only
opens the outer tapes and applies the optimizers:

    G step: L_G = E_z softplus(-D(G(z)))
    D step: L_D = E_z softplus(D(G(z))) + E_x softplus(-D(x))  [+ R1 when due]
    R1:     r1_gamma / 2 * E_x ||grad_x D(x)||^2                 (Mescheder et al. 2018)

App. A applies R1 on every D step (r1_interval=1) instead of lazily, because its D is the small
config-e StyleGAN2 discriminator. With r1_interval=k > 1 the penalty is applied every k-th
step and multiplied by k, so its expected gradient per step is unchanged (StyleGAN2 Sec. 3.1;
we fold it into the one D step instead of a separate "Dreg" optimizer step).

Everything the losses return is float32, whatever the Keras dtype policy: logits are cast
before softplus, and R1 differentiates with respect to a float32 copy of the reals.
"""
from typing import Dict, Tuple, Union

import tensorflow as tf


def _float_logits(logits) -> tf.Tensor:
    return tf.cast(logits, tf.float32)  # [B, 1]


def real_logits_and_r1(D, reals) -> Tuple[tf.Tensor, tf.Tensor]:
    """D(reals) [B, 1] and R1's per-sample ||grad_x D(x)||^2 [B], from one D forward pass.

    The inner tape watches the reals; any tape the caller holds around this call records the
    inner gradient computation too, so differentiating the penalty w.r.t. D's variables gives
    the second-order term R1 needs.
    """
    reals = tf.cast(reals, tf.float32)  # a float32 leaf: gradients w.r.t. it come back float32
    with tf.GradientTape() as tape:
        tape.watch(reals)
        logits = _float_logits(D(reals))                       # [B, 1]
        # The gradient of the sum gives each sample's gradient w.r.t. its own pixels (plus the
        # minibatch-stddev coupling to its group, as in StyleGAN2's r1 on a batch).
        total = tf.reduce_sum(logits)
    grads = tape.gradient(total, reals)                          # [B, R, R, C]
    penalty = tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])    # [B]
    return logits, penalty


def r1_penalty(D, reals) -> tf.Tensor:
    """Per-sample squared gradient norms ||grad_x D(x)||^2 [B] (R1 before gamma / 2 and mean)."""
    return real_logits_and_r1(D, reals)[1]


class GANLoss:
    """Losses of the G and D steps of an INR-GAN, with R1 on real images."""

    def __init__(self, G,                       # Generator: mapping -> hypernet -> render
                 D,                             # images [B, R, R, C] -> logits [B, 1]
                 r1_gamma: float = 10.0,        # R1 weight (App. A: 10); 0 disables R1
                 r1_interval: int = 1):         # R1 every k D steps, scaled by k (1 = App. A)
        if r1_gamma < 0:
            raise ValueError(f"r1_gamma must be >= 0, got {r1_gamma}")
        if int(r1_interval) != r1_interval or r1_interval < 1:
            raise ValueError(f"r1_interval must be an integer >= 1, got {r1_interval}")
        self.G, self.D = G, D
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)

    # -- variables -----------------------------------------------------------------------
    def g_variables_groups(self):
        """(hypernetwork vars, INR shared vars W_s): App. A trains W_s with its own learning rate."""
        G = self.G
        return G.mapping.trainable_variables + G.hypernet.trainable_variables, G.inr.trainable_variables

    def d_variables(self):
        return self.D.trainable_variables

    # -- forward passes ------------------------------------------------------------------
    def run_G(self, z) -> Tuple[tf.Tensor, tf.Tensor]:
        """Images [B, R, R, 3] and w [B, width]; w goes back to the trainer for w_avg."""
        G = self.G
        w = G.mapping(z)                                          # [B, width]
        images = G.render_grid(G.hypernet(w), G.resolution, G.resolution)  # [B, R, R, 3]
        return images, w

    def run_D(self, images) -> tf.Tensor:
        return _float_logits(self.D(images))                      # [B, 1]

    # -- the phases ----------------------------------------------------------------------
    def generator_loss(self, z) -> Tuple[tf.Tensor, Dict[str, tf.Tensor], tf.Tensor]:
        """Non-saturating logistic loss mean softplus(-D(G(z))); returns (loss, stats, w)."""
        images, w = self.run_G(z)
        logits = self.run_D(images)                               # [B, 1]
        loss = tf.reduce_mean(tf.nn.softplus(-logits))
        stats = {"G/scores_fake": tf.reduce_mean(logits),
                 "G/signs_fake": tf.reduce_mean(tf.sign(logits))}
        return loss, stats, tf.cast(w, tf.float32)  # w_avg is float32 under any policy

    def discriminator_loss(self, z, reals,
                           do_r1: Union[bool, tf.Tensor] = True) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
        """Logistic D loss on G(z) and reals, plus R1 on the reals when `do_r1`.

        `do_r1` may be a Python bool (chosen while tracing: no R1 work on steps without it) or
        a boolean tensor (one traced step for both kinds of iteration; R1 is computed and
        masked). The stats always hold the same keys, with zero R1 on steps without it, so a
        traced step's outputs keep one structure.
        """
        # Fakes are inputs to D here: no gradient may reach G from the D step.
        fakes = tf.stop_gradient(self.run_G(z)[0])                # [B, R, R, 3]
        fake_logits = self.run_D(fakes)                           # [B, 1]
        real_logits, penalty = self._real_pass(reals, do_r1)      # [B, 1], [B]

        loss_fake = tf.reduce_mean(tf.nn.softplus(fake_logits))
        loss_real = tf.reduce_mean(tf.nn.softplus(-real_logits))
        r1_mean = tf.reduce_mean(penalty)
        loss_r1 = r1_mean * (self.r1_gamma / 2.0 * self.r1_interval)
        loss = loss_fake + loss_real + loss_r1
        stats = {"D/scores_fake": tf.reduce_mean(fake_logits),
                 "D/scores_real": tf.reduce_mean(real_logits),
                 "D/loss_adv": loss_fake + loss_real,
                 "D/r1_penalty": r1_mean,
                 "D/loss_r1": loss_r1}
        return loss, stats

    def _real_pass(self, reals, do_r1):
        """(D(reals) [B, 1], R1 per sample [B] or zeros) from one D forward pass on the reals."""
        if self.r1_gamma == 0.0 or (isinstance(do_r1, (bool, int)) and not do_r1):
            logits = self.run_D(reals)                            # no inner tape to record
            return logits, tf.zeros(tf.shape(logits)[:1], tf.float32)
        logits, penalty = real_logits_and_r1(self.D, reals)
        if isinstance(do_r1, (bool, int)):
            return logits, penalty
        # A tensor flag masks R1 rather than skipping it: the gradient of a tf.cond around the
        # nested tape fails to compile under XLA (TF 2.21, minibatch-stddev reshapes), and App. A
        # runs R1 on every step anyway. Lazy R1 that also saves the work passes a Python bool.
        return logits, penalty * tf.cast(do_r1, tf.float32)
