"""Dynamic loss scaling for `--precision=mixed_float16`, one scale per loss.

float16 gradients underflow unless the loss is multiplied by a large factor before the backward
pass (Micikevicius et al. 2018). Keras' LossScaleOptimizer keeps one scale per optimizer, but
here one G loss feeds two Adams (hypernetwork and INR shared weights, App. A): two scales would
let one half of G step while the other skips. So the scale belongs to the loss:

    grads, finite = scale.gradients(tape, loss, variables)   # unscaled, float32
    tf.cond(finite, apply_all_optimizers, no_op)              # skip the whole update on overflow
    scale.update(finite)                                      # x0.5 on overflow, x2 after N good steps

`finite` is agreed by all replicas (an all-reduce of the local flags), so every replica skips
or applies together and the scale stays one value everywhere. float32 and bfloat16 (same
exponent range as float32) need no scaling: the trainer then takes a plain tape.gradient and
applies unconditionally.
"""
import tensorflow as tf


class DynamicLossScale(tf.Module):
    """A loss scale that halves on non-finite gradients and doubles after `growth_steps` good ones."""

    def __init__(self, initial_scale: float = 2.0 ** 15,   # Keras' LossScaleOptimizer default
                 growth_steps: int = 2000,                  # good steps before doubling (Keras default)
                 name: str = "loss_scale"):
        super().__init__(name=name)
        if initial_scale <= 0 or growth_steps < 1:
            raise ValueError(f"need initial_scale > 0 and growth_steps >= 1, got {initial_scale}, {growth_steps}")
        self.growth_steps = int(growth_steps)
        # Every replica computes the same update from the agreed `finite`, so the first replica's
        # value is the value (assignments in replica context need an aggregation mode).
        agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.scale = tf.Variable(float(initial_scale), trainable=False, dtype=tf.float32,
                                 aggregation=agg, name="scale")
        self.good_steps = tf.Variable(0, trainable=False, dtype=tf.int64, aggregation=agg, name="good_steps")

    def gradients(self, tape: tf.GradientTape, loss, variables):
        """(float32 gradients of `loss`, all finite on every replica) with scaling around the backward pass."""
        scale = tf.identity(self.scale)
        # Seeding the backward pass with the scale is d(scale * loss): no op inside the tape needed.
        grads = tape.gradient(loss, variables, output_gradients=tf.cast(scale, loss.dtype))
        grads = [tf.cast(g, tf.float32) / scale for g in grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
        return grads, all_replicas(finite)

    def update(self, finite) -> None:
        """x2 after `growth_steps` finite steps in a row; x0.5 (floor 1) on a non-finite one.

        Branch-free: assigning a mirrored variable inside a tf.cond in replica context is a merge
        call that TensorFlow refuses there.
        """
        good = tf.where(finite, self.good_steps + 1, tf.zeros_like(self.good_steps))
        grow = good >= self.growth_steps
        scale = tf.where(finite, tf.where(grow, self.scale * 2.0, self.scale), tf.maximum(self.scale * 0.5, 1.0))
        self.scale.assign(scale)
        self.good_steps.assign(tf.where(grow, tf.zeros_like(good), good))


def all_replicas(flag) -> tf.Tensor:
    """A boolean that holds on every replica (AND over replicas; itself outside a strategy)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return flag
    failed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(flag, tf.float32))  # no MIN op
    return failed < 0.5



def apply_if(flag, apply_fn, grads) -> None:
    """apply_fn(grads) when `flag` (the same on every replica), else nothing.

    Optimizers all-reduce gradients inside `apply`; under MirroredStrategy that all-reduce is a
    merge_call, which may not sit in a tf.cond in replica context. So, as Keras'
    LossScaleOptimizer does, the cond runs in cross-replica context and calls back into each
    replica; strategies without merge calls (collective all-reduce) take the cond directly.
    """
    def no_op():
        return None  # both branches return nothing

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(flag, lambda: apply_fn(grads), no_op)
        return

    def cross_replica(distribution, flag, grads):
        flag = distribution.experimental_local_results(flag)[0]  # agreed by all replicas
        tf.cond(flag, lambda: distribution.extended.call_for_each_replica(apply_fn, args=(grads,)), no_op)
    tf.distribute.get_replica_context().merge_call(cross_replica, args=(flag, grads))
