"""Weighted regression losses for the center heatmap and the center offsets.

Both are weighted means, normalised by the sum of the per-pixel weights
(a pixel weight of 0 removes the pixel, e.g. crowd regions or stuff pixels):

    center MSE  = sum_i w_i * (p_i - t_i)^2                 / sum_i w_i
    offset L1   = sum_i w_i * (|dy_i - ty_i| + |dx_i - tx_i|) / sum_i w_i

The L1 term sums the two offset channels of a pixel (it is the L1 norm of
the offset error), then averages over weighted pixels. When the weights sum
to 0 (no thing pixel, everything ignored) the loss is a finite 0 with zero
gradients. Everything is computed in float32.
"""

from typing import Optional

import tensorflow as tf


def _pixel_weights(weights: Optional[tf.Tensor], like: tf.Tensor) -> tf.Tensor:
  """Returns float32 weights [batch, height, width] (ones when None)."""
  if weights is None:
    return tf.ones(tf.shape(like)[:3], tf.float32)
  weights = tf.cast(weights, tf.float32)
  if weights.shape.rank == 4:
    weights = tf.squeeze(weights, axis=-1)
  if weights.shape.rank != 3:
    raise ValueError(f'weights: expected [batch, height, width] or '
                     f'[batch, height, width, 1], got shape {weights.shape}.')
  return weights


def weighted_mse(targets: tf.Tensor,
                 predictions: tf.Tensor,
                 weights: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Center-heatmap loss: weighted mean of squared errors.

  Args:
    targets: [batch, height, width, 1] (or [batch, height, width]) heatmap.
    predictions: same shape as `targets`, any float dtype.
    weights: optional [batch, height, width] (or [..., 1]) pixel weights.

  Returns:
    A float32 scalar; 0 when the weights sum to 0.
  """
  targets = tf.cast(targets, tf.float32)
  predictions = tf.cast(predictions, tf.float32)
  if predictions.shape.rank == 3:
    predictions = predictions[..., tf.newaxis]
  if targets.shape.rank == 3:
    targets = targets[..., tf.newaxis]
  w = _pixel_weights(weights, predictions)
  err = tf.reduce_sum(tf.math.squared_difference(predictions, targets), -1)
  return tf.math.divide_no_nan(tf.reduce_sum(w * err), tf.reduce_sum(w))


def masked_l1(targets: tf.Tensor,
              predictions: tf.Tensor,
              weights: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Offset loss: weighted mean over pixels of the L1 norm of the error.

  Args:
    targets: [batch, height, width, 2] offsets (dy, dx) in pixels.
    predictions: [batch, height, width, 2], any float dtype.
    weights: optional [batch, height, width] (or [..., 1]) pixel weights,
      typically 1 on thing pixels and 0 elsewhere.

  Returns:
    A float32 scalar; 0 when the weights sum to 0.
  """
  targets = tf.cast(targets, tf.float32)
  predictions = tf.cast(predictions, tf.float32)
  w = _pixel_weights(weights, predictions)
  err = tf.reduce_sum(tf.abs(predictions - targets), axis=-1)
  return tf.math.divide_no_nan(tf.reduce_sum(w * err), tf.reduce_sum(w))
