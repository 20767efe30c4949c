"""Batch norm over a sum of terms, with per-(term, channel) statistics.

Axial attention normalises its three similarity terms with statistics per
(term, head) and its two retrieved outputs with statistics per (term,
channel), then sums them (as both public implementations do). Stacking the
terms and running a stock batch norm would copy every term; this layer
normalises each term with its own statistics and sums, which is the same
function without the copy. Its call normalises the retrieved outputs;
`affine_from_moments` serves callers that compute the moments themselves:
the similarity terms, whose statistics both attention layouts compute
without materialising the terms (the global one from Gram matrices, the
local one from sums over the valid (query, key) pairs, added up over
chunks). In folded inference (`modeling/folding.py`) neither runs. With
`synchronized=True` the sums behind the statistics are all-reduced over
the replicas of a `tf.distribute` strategy.

Computation is in float32 whatever the dtype policy (the layer's own
policy is float32).

`BatchNormalization` is the stock Keras batch norm that every layer of
this project builds; it and `TermBatchNormalization` leave their moving
statistics alone while a recomputed part runs again for its gradients
(`layers.recompute`), so that a training step with recompute updates
them exactly once, as one without.
"""

import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import recompute


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class BatchNormalization(tf_keras.layers.BatchNormalization):
  """`tf_keras.layers.BatchNormalization`, with no moving-statistics
  update while `recompute.is_recomputing()` (same arguments, weights and
  checkpoint layout)."""

  def _assign_moving_average(self, variable, value, momentum, inputs_size):
    if recompute.is_recomputing():
      return variable
    return super()._assign_moving_average(variable, value, momentum,
                                          inputs_size)

  def _assign_new_value(self, variable, value):
    if recompute.is_recomputing():
      return variable
    return super()._assign_new_value(variable, value)


class TermBatchNormalization(tf_keras.layers.Layer):
  """`sum_t BN_t(x_t)` with statistics per (term, channel).

  In training each term's mean and (biased) variance over all but the
  channel axes normalise it and move the
  moving statistics (`moving = momentum * moving + (1 - momentum) *
  batch`); in inference the moving statistics normalise.

  Args:
    num_terms: number of terms, each with its own statistics and affine.
    axis: int or list of non-negative ints, the channel axes of a term
      (e.g. 1 for `[batch, heads, ...]`, (2, 3) for `[batch, L, heads, d]`).
    momentum, epsilon: as in `tf_keras.layers.BatchNormalization`.
    synchronized: all-reduce the statistics over the replicas of the
      current `tf.distribute` replica context.
    gamma_initializer: of the per-(term, channel) scale.

  Weights: `gamma`, `beta`, `moving_mean`, `moving_variance`, each
  `[num_terms, channels...]`.

  Call arguments:
    terms: list of `num_terms` tensors of one shape `[batch, ...]`.
    training: Python bool or None (Keras learning phase).

  Returns:
    float32 tensor of the terms' shape.
  """

  def __init__(self, num_terms, axis=1, momentum=0.99, epsilon=1e-3,
               synchronized=False, gamma_initializer='ones', **kwargs):
    kwargs['dtype'] = 'float32'
    super().__init__(**kwargs)
    if num_terms < 1:
      raise ValueError(f'num_terms must be >= 1, got {num_terms}.')
    self.num_terms = num_terms
    self.axis = [axis] if isinstance(axis, int) else list(axis)
    if any(a < 0 for a in self.axis):
      raise ValueError(f'axis must be non-negative (terms may differ in '
                       f'rank), got {axis}.')
    self.momentum = momentum
    self.epsilon = epsilon
    self.synchronized = synchronized
    self.gamma_initializer = tf_keras.initializers.get(gamma_initializer)

  def build(self, input_shape):
    shape = tf.TensorShape(input_shape[0])
    channels = [shape[a] for a in self.axis]
    if any(c is None for c in channels):
      raise ValueError(f'{self.name}: channel axes {self.axis} of the terms '
                       f'must be known, got shape {shape}.')
    param_shape = [self.num_terms] + channels
    self.gamma = self.add_weight('gamma', param_shape,
                                 initializer=self.gamma_initializer)
    self.beta = self.add_weight('beta', param_shape, initializer='zeros')
    on_read = dict(trainable=False,
                   synchronization=tf.VariableSynchronization.ON_READ,
                   aggregation=tf.VariableAggregation.MEAN)
    self.moving_mean = self.add_weight('moving_mean', param_shape,
                                       initializer='zeros', **on_read)
    self.moving_variance = self.add_weight('moving_variance', param_shape,
                                           initializer='ones', **on_read)
    super().build(input_shape)

  def _broadcast(self, param, rank):
    """`[channels...]` -> shape broadcastable to a term of rank `rank`."""
    shape = [1] * rank
    for axis, size in zip(self.axis, param.shape):
      shape[axis] = size
    return tf.reshape(param, shape)

  def _moments(self, x):
    """Mean and variance over all but the channel axes, float32.

    Args:
      x: a float32 term.

    Returns:
      `(mean, variance)`, each `[channels...]`.
    """
    rank = x.shape.rank
    reduce_axes = [a for a in range(rank) if a not in self.axis]
    channels = 1
    for axis in self.axis:
      channels *= x.shape[axis]
    size = x.shape.num_elements()  # None unless static
    count = (size if size is not None else
             tf.cast(tf.size(x), tf.float32)) / channels
    count = tf.fill([x.shape[a] for a in self.axis], count)
    total = tf.reduce_sum(x, reduce_axes)
    replica = tf.distribute.get_replica_context()
    sync = self.synchronized and replica is not None
    if sync:
      count, total = replica.all_reduce('sum', [count, total])
    count = tf.maximum(count, 1.0)
    mean = total / count
    centred = x - self._broadcast(mean, rank)
    squares = tf.reduce_sum(tf.square(centred), reduce_axes)
    if sync:
      squares = replica.all_reduce('sum', squares)
    return mean, squares / count

  def call(self, terms, training=None):
    if len(terms) != self.num_terms:
      raise ValueError(f'{self.name}: expected {self.num_terms} terms, got '
                       f'{len(terms)}.')
    if training is None:
      training = tf_keras.backend.learning_phase()
    terms = [tf.cast(t, tf.float32) for t in terms]
    if training:
      means, variances = zip(*[self._moments(x) for x in terms])
      scales, shifts = self._scale_shift(tf.stack(means), tf.stack(variances))
    else:
      scales, shifts = self._scale_shift()
    result = None
    for index, x in enumerate(terms):
      y = x * self._broadcast(scales[index], x.shape.rank)
      result = y if result is None else result + y
    return result + self._broadcast(tf.reduce_sum(shifts, 0),
                                    result.shape.rank)

  def affine_from_moments(self, count=None, total=None, sum_squares=None,
                          training=None):
    """Per-term scales and summed shift, from externally computed moments.

    For callers that never materialise the terms (the fused global
    attention computes the statistics from Gram matrices): the result is
    applied as `sum_t scales[t] * x_t + shift`, the same function as
    `call`. In training the batch moments update the moving statistics
    exactly as `call` does (sums are all-reduced when synchronized).

    Args:
      count: `[num_terms, channels...]` float32, entries per statistic.
      total: `[num_terms, channels...]` float32, sum of each term.
      sum_squares: `[num_terms, channels...]` float32, sum of squares.
      training: Python bool or None (Keras learning phase).

    Returns:
      `(scales, shift)`: float32 `[num_terms, channels...]` and
      `[channels...]`.
    """
    if training is None:
      training = tf_keras.backend.learning_phase()
    if training:
      replica = tf.distribute.get_replica_context()
      if self.synchronized and replica is not None:
        count, total, sum_squares = replica.all_reduce(
            'sum', [count, total, sum_squares])
      count = tf.maximum(count, 1.0)
      means = total / count
      variances = tf.maximum(sum_squares / count - tf.square(means), 0.0)
      scales, shifts = self._scale_shift(means, variances)
    else:
      scales, shifts = self._scale_shift()
    return scales, tf.reduce_sum(shifts, 0)

  def _scale_shift(self, means=None, variances=None):
    """Per-(term, channel) scale and shift of the normalisation.

    With batch statistics `[terms, channels...]`, also updates the moving
    averages; without, uses the moving averages (inference).
    """
    if means is None:
      means, variances = self.moving_mean, self.moving_variance
    elif not recompute.is_recomputing():
      decay = 1.0 - self.momentum
      self.moving_mean.assign(self.moving_mean * self.momentum + means * decay)
      self.moving_variance.assign(
          self.moving_variance * self.momentum + variances * decay)
    scales = self.gamma * tf.math.rsqrt(variances + self.epsilon)
    return scales, self.beta - means * scales

  def get_config(self):
    config = super().get_config()
    config.pop('dtype', None)
    config.update(num_terms=self.num_terms, axis=self.axis,
                  momentum=self.momentum, epsilon=self.epsilon,
                  synchronized=self.synchronized,
                  gamma_initializer=tf_keras.initializers.serialize(
                      self.gamma_initializer))
    return config
