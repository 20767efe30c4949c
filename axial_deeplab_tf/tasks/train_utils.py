"""Small training helpers shared by the tasks."""

import tensorflow as tf
import tf_keras


def gradient_step(loss_fn, model, optimizer):
  """One optimizer step on `loss_fn`'s loss, replica- and loss-scaled.

  The loss is divided by the number of replicas (gradients are summed
  across replicas) and, under a `LossScaleOptimizer` (mixed float16),
  scaled up before and unscaled after the backward pass.

  Args:
    loss_fn: callable() -> (loss float32 scalar, extra), run under the tape.
    model: its trainable variables are updated.
    optimizer: a tf_keras optimizer.

  Returns:
    `(loss, extra, step)`: the unscaled loss, `extra` as returned by
    `loss_fn`, and the 1-based global step this update makes (int64).
  """
  scaling = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
  with tf.GradientTape() as tape:
    loss, extra = loss_fn()
    scaled_loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
    if scaling:
      scaled_loss = optimizer.get_scaled_loss(scaled_loss)
  variables = model.trainable_variables
  grads = tape.gradient(scaled_loss, variables)
  if scaling:
    grads = optimizer.get_unscaled_gradients(grads)
  step = tf.cast(optimizer.iterations, tf.int64) + 1
  optimizer.apply_gradients(list(zip(grads, variables)))
  return loss, extra, step


class NonFiniteStep(tf_keras.metrics.Metric):
  """The first step (1-based global step) whose loss was NaN or infinite.

  -1 while every loss was finite. Reset at the end of each train loop like
  the other train metrics; `train.actions.DivergenceStop` stops training
  when it is >= 0 and removes it from the loop's output, so it is not
  logged nor written to TensorBoard. update_state(loss scalar, step int64
  scalar).
  """

  def __init__(self, name='nonfinite_loss_step', **kwargs):
    super().__init__(name=name, dtype=tf.float32, **kwargs)
    self.step = self.add_weight(
        'step', initializer=tf_keras.initializers.Constant(-1.0),
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def update_state(self, loss, step):  # pylint: disable=arguments-differ
    bad = tf.logical_not(tf.math.is_finite(tf.cast(loss, tf.float32)))
    first = tf.logical_and(bad, self.step < 0)
    self.step.assign(tf.where(first, tf.cast(step, tf.float32), self.step))

  def result(self):
    return tf.identity(self.step)

  def reset_state(self):
    self.step.assign(-1.0)


def create_optimizer_slots(optimizer, variables):
  """Creates the optimizer's slot and hyperparameter variables now.

  A tf_keras optimizer creates them lazily, in its first
  `apply_gradients`. Inside a `tf.function` (Orbit's train loop) variables
  created on the first call make TensorFlow trace the function a second
  time, so the whole train step would be traced twice. Call this in the
  strategy's scope after building the model and before the first step.

  Args:
    optimizer: a tf_keras optimizer (legacy or new, loss-scaled or not).
    variables: the variables it will update (`model.trainable_variables`).
  """
  if hasattr(optimizer, '_create_all_weights'):  # legacy OptimizerV2 / LSO
    with tf.name_scope(optimizer._name):  # pylint: disable=protected-access
      with tf.init_scope():
        optimizer._create_all_weights(variables)  # pylint: disable=protected-access
  else:
    optimizer.build(variables)
