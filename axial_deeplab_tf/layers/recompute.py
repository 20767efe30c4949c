"""Recompute in the backward pass (gradient checkpointing) of a network part.

`recompute(fn, *inputs)` returns `fn(*inputs)` but keeps only `inputs` for
the backward pass: there `fn` runs again, under a tape, and its gradients
come from that second run. The part's intermediate tensors (a residual
block's convolutions, batch norms, attention) then live only while the
part itself is differentiated, one part at a time, so a training step holds
the parts' inputs and one part's tensors instead of every tensor of the
network: much less memory for about one more forward pass per step.

Exactness: the second run must compute what the first did.

* Batch norms: while `fn` runs again, `is_recomputing()` is True and the
  project's batch norms (`normalization.BatchNormalization`,
  `normalization.TermBatchNormalization`) skip their moving-statistics
  update, which the first run made; their batch statistics (and, when
  synchronized, their all-reduce) are computed again, identically.
* Randomness: `fn` must be deterministic; a residual block applies drop
  path outside its recomputed part (`layers.blocks`).
* Eager execution: the first run is not recorded on the gradient tapes,
  which would otherwise keep its tensors.
* Order: the second run waits for the output gradients through a data
  dependency (not only a control dependency, which XLA may reorder), so
  the graph executor cannot start it early, in the forward pass, and keep
  its tensors until the backward pass.

`maybe_recompute` is what the layers call: it recomputes only in training.
"""

import threading

import tensorflow as tf
from tensorflow.python.eager import record  # pylint: disable=g-direct-tensorflow-import

_STATE = threading.local()


def is_recomputing():
  """True while a `recompute`d function runs again for its gradients."""
  return getattr(_STATE, 'depth', 0) > 0


def _after(tensors, gradient):
  """`tensors`, each made to depend on `gradient` through its data (adds a
  zero computed from one element of `gradient`; NaN or inf there stays a
  zero)."""
  first = tf.reshape(gradient, [-1])[:1]
  # Any value (NaN included) casts to a bool equal to itself: always 0.
  flag = tf.cast(tf.reduce_max(tf.cast(first, tf.float32)), tf.bool)
  zero = tf.where(tf.equal(flag, flag), 0.0, 1.0)
  return [t + tf.cast(zero, t.dtype) for t in tensors]


def recompute(fn, *inputs):
  """`fn(*inputs)`, keeping only `inputs` for the backward pass.

  Args:
    fn: callable of float tensors returning a tensor or a (nested) list or
      tuple of float tensors; deterministic; may read variables (their
      gradients are computed by the second run).
    *inputs: float tensors.

  Returns:
    What `fn(*inputs)` returns.
  """
  inputs = [tf.convert_to_tensor(x) for x in inputs]

  @tf.custom_gradient
  def run(*args):
    # Eagerly, a tape would otherwise record (and keep) every op of the
    # first run as well (`tf.recompute_grad` does the same).
    with record.stop_recording():
      outputs = fn(*args)

    def gradient(*output_gradients, variables=None):
      variables = list(variables or [])
      again_inputs = _after(args, output_gradients[0])
      with tf.GradientTape() as tape:
        tape.watch(again_inputs)
        tape.watch(variables)
        _STATE.depth = getattr(_STATE, 'depth', 0) + 1
        try:
          again = tf.nest.flatten(fn(*again_inputs))
        finally:
          _STATE.depth -= 1
      grads = tape.gradient(
          again, again_inputs + variables,
          output_gradients=list(output_gradients),
          unconnected_gradients=tf.UnconnectedGradients.ZERO)
      return grads[:len(args)], grads[len(args):]

    return outputs, gradient

  return run(*inputs)


def maybe_recompute(enabled, training, fn, *inputs):
  """`fn(*inputs, training=training)`, recomputed (`recompute`) when
  `enabled` and `training` is True (a Python bool); as is otherwise."""
  if enabled and training is True:
    return recompute(lambda *x: fn(*x, training=True), *inputs)
  return fn(*inputs, training=training)
