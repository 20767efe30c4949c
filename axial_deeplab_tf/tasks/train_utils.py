"""Small training helpers shared by the tasks."""

import tensorflow as tf
import tf_keras


class NonFiniteStep(tf_keras.metrics.Metric):
  """The first step (1-based global step) whose loss was NaN or infinite.

  -1 while every loss was finite. Reset at the end of each train loop like
  the other train metrics; the trainer stops training when it is >= 0.
  update_state(loss scalar, step int64 scalar).
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
