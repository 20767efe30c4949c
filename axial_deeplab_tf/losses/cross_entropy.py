"""Bootstrapped (hardest top-k %) weighted softmax cross-entropy.

Formula, per image b of the batch:

    valid pixels  V_b = {i : label_i != ignore_label}
    pixel loss    l_i = w_i * CE(softmax(logits_i), label_i)   for i in V_b
    k_b           = ceil(top_k_percent * |V_b|)
    S_b           = the k_b largest l_i over V_b

    loss = (sum_b sum_{i in S_b} l_i) / (sum_b k_b)      (0 if sum_b k_b == 0)

Pixels are ranked by their *weighted* loss, so a pixel weight both scales a
pixel's loss and makes it more likely to be selected. With
`top_k_percent=1.0` this is the plain weighted mean over valid pixels
(normalised by the number of valid pixels, not by the sum of weights).
Everything is computed in float32, whatever the logits' dtype.
"""

from typing import Optional

import tensorflow as tf

# k_b is computed in integers as ceil(n * p_num / _DEN) so that it is exact
# (a float32 product such as 0.2 * 5 = 1.0000000298 would round up to 2).
_DEN = 1_000_000


def _squeeze_labels(labels: tf.Tensor) -> tf.Tensor:
  """[B, H, W] or [B, H, W, 1] -> [B, H, W] int32."""
  labels = tf.convert_to_tensor(labels)
  if labels.shape.rank == 4:
    labels = tf.squeeze(labels, axis=-1)
  if labels.shape.rank != 3:
    raise ValueError(
        f'labels: expected rank 3 [batch, height, width] or rank 4 '
        f'[batch, height, width, 1], got shape {labels.shape}.')
  return tf.cast(labels, tf.int32)


def _check_top_k_percent(top_k_percent: float) -> float:
  if not 0.0 < top_k_percent <= 1.0:
    raise ValueError(
        f'top_k_percent: expected a fraction in (0, 1], got {top_k_percent}.')
  return float(top_k_percent)


def bootstrapped_cross_entropy(labels: tf.Tensor,
                               logits: tf.Tensor,
                               weights: Optional[tf.Tensor] = None,
                               ignore_label: int = 255,
                               top_k_percent: float = 0.2) -> tf.Tensor:
  """Weighted softmax cross-entropy over the hardest pixels of each image.

  Args:
    labels: int [batch, height, width] or [batch, height, width, 1] class ids
      in [0, num_classes) or `ignore_label`.
    logits: [batch, height, width, num_classes], any float dtype.
    weights: optional float [batch, height, width] (or [..., 1]) per-pixel
      weights (>= 0). None means 1 everywhere.
    ignore_label: label of pixels that never contribute.
    top_k_percent: fraction in (0, 1] of the valid pixels of each image kept
      (the hardest by weighted loss).

  Returns:
    A float32 scalar; 0 (finite, with zero gradients) when no pixel is valid.
  """
  top_k_percent = _check_top_k_percent(top_k_percent)
  labels = _squeeze_labels(labels)
  logits = tf.cast(logits, tf.float32)
  if logits.shape.rank != 4:
    raise ValueError(f'logits: expected rank 4 [batch, height, width, '
                     f'num_classes], got shape {logits.shape}.')
  batch = tf.shape(logits)[0]

  valid = tf.not_equal(labels, ignore_label)
  safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
  pixel_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=safe_labels, logits=logits)
  if weights is not None:
    weights = tf.cast(weights, tf.float32)
    if weights.shape.rank == 4:
      weights = tf.squeeze(weights, axis=-1)
    pixel_loss = pixel_loss * weights
  # Invalid pixels get -1, below every valid (non-negative) loss, so they sort
  # last and are never among the k_b <= |V_b| selected ones.
  pixel_loss = tf.where(valid, pixel_loss, -tf.ones_like(pixel_loss))
  flat = tf.reshape(pixel_loss, [batch, -1])

  if top_k_percent >= 1.0:
    selected = tf.where(flat >= 0.0, flat, tf.zeros_like(flat))
    count = tf.reduce_sum(tf.cast(valid, tf.float32))
    return tf.math.divide_no_nan(tf.reduce_sum(selected), count)

  num_valid = tf.reduce_sum(
      tf.cast(tf.reshape(valid, [batch, -1]), tf.int64), axis=1)  # [B]
  p_num = int(round(top_k_percent * _DEN))
  k = (num_valid * p_num + (_DEN - 1)) // _DEN  # [B], exact ceil.
  num_pixels = tf.shape(flat)[1]
  ranked, _ = tf.math.top_k(flat, k=num_pixels, sorted=True)  # descending
  rank = tf.range(num_pixels, dtype=tf.int64)[tf.newaxis, :]
  keep = rank < k[:, tf.newaxis]
  total = tf.reduce_sum(tf.where(keep, ranked, tf.zeros_like(ranked)))
  return tf.math.divide_no_nan(total, tf.cast(tf.reduce_sum(k), tf.float32))


class BootstrappedCrossEntropy:
  """Callable, configurable form of `bootstrapped_cross_entropy`.

  Args:
    ignore_label: label of pixels that never contribute (default 255).
    top_k_percent: fraction in (0, 1] of each image's valid pixels kept, the
      hardest by weighted loss (default 0.2).
  """

  def __init__(self, ignore_label: int = 255, top_k_percent: float = 0.2):
    self.ignore_label = int(ignore_label)
    self.top_k_percent = _check_top_k_percent(top_k_percent)

  def __call__(self, labels, logits, weights=None) -> tf.Tensor:
    """See `bootstrapped_cross_entropy` for shapes; returns a float32 scalar."""
    return bootstrapped_cross_entropy(labels, logits, weights,
                                      ignore_label=self.ignore_label,
                                      top_k_percent=self.top_k_percent)

  def get_config(self) -> dict:
    return {'ignore_label': self.ignore_label,
            'top_k_percent': self.top_k_percent}

  @classmethod
  def from_config(cls, config: dict) -> 'BootstrappedCrossEntropy':
    return cls(**config)
