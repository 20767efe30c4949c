"""A straightforward reference formulation of position-sensitive attention.

Benchmark-only (never imported by the package). It computes the same
function as `axial_deeplab_tf.layers.PositionSensitiveAxialAttention`
the way public TF implementations do:

* gather the `[L, L, depth]` relative embeddings `r[p - o]` from each table
  with `tf.gather` (index `clip(p - o) + max_distance`);
* three einsums for the similarity terms, stacked to
  `[batch', heads, 3, L, L]` and normalised by a stock batch norm with
  statistics per (head, term), then summed;
* softmax, two einsums for the retrieval, stacked and normalised per
  (head, term, channel), summed.

Local spans are computed as masked global attention (quadratic memory),
as the straightforward formulation would.
"""

import tensorflow as tf
import tf_keras


class ReferenceAxialAttention(tf_keras.layers.Layer):
  """Gather + einsum axial attention along one axis.

  Input `[batch, height, width, channels]` -> `[batch, height, width,
  value_depth]`.

  Args:
    axis: 'height' or 'width'.
    key_depth, value_depth, num_heads, span, max_distance: as in
      `PositionSensitiveAxialAttention`.
  """

  def __init__(self, axis, key_depth, value_depth=None, num_heads=8,
               span=None, max_distance=254, **kwargs):
    super().__init__(**kwargs)
    self.axis = axis
    self.key_depth = key_depth
    self.value_depth = value_depth or 2 * key_depth
    self.num_heads = num_heads
    self.span = span
    self.max_distance = max_distance

  def build(self, input_shape):
    self.qkv = tf_keras.layers.Conv2D(2 * self.key_depth + self.value_depth,
                                      1, use_bias=False, name='qkv')
    self.qkv_bn = tf_keras.layers.BatchNormalization(name='qkv_bn')
    # [batch', heads, terms, L, L]: statistics per (head, term).
    self.similarity_bn = tf_keras.layers.BatchNormalization(
        axis=[1, 2], name='similarity_bn')
    # [batch', L, heads, terms, depth]: per (head, term, channel).
    self.output_bn = tf_keras.layers.BatchNormalization(
        axis=[2, 3, 4], name='output_bn')
    rows = 2 * self.max_distance + 1
    dk = self.key_depth // self.num_heads
    dv = self.value_depth // self.num_heads
    init = tf_keras.initializers.TruncatedNormal(stddev=1.0)
    self.query_table = self.add_weight('query_rpe', [rows, dk],
                                       initializer=init)
    self.key_table = self.add_weight('key_rpe', [rows, dk], initializer=init)
    self.value_table = self.add_weight('value_rpe', [rows, dv],
                                       initializer=init)
    super().build(input_shape)

  def call(self, inputs, training=None):
    x = self.qkv_bn(self.qkv(inputs), training=training)
    if self.axis == 'height':
      x = tf.transpose(x, [0, 2, 1, 3])
    shape = tf.shape(x)
    batch, other, length = shape[0], shape[1], shape[2]
    x = tf.reshape(x, [batch * other, length, x.shape[-1]])
    n, kd = self.num_heads, self.key_depth
    split = lambda t, d: tf.reshape(t, [batch * other, length, n, d // n])  # pylint: disable=g-long-lambda
    q = split(x[..., :kd], kd)
    k = split(x[..., kd:2 * kd], kd)
    v = split(x[..., 2 * kd:], self.value_depth)
    positions = tf.range(length)
    offsets = positions[None, :] - positions[:, None]  # [o, p]: p - o
    index = tf.clip_by_value(offsets, -self.max_distance,
                             self.max_distance) + self.max_distance
    rq = tf.gather(self.query_table, index)  # [L, L, dk]
    rk = tf.gather(self.key_table, index)
    rv = tf.gather(self.value_table, index)
    qk = tf.einsum('bohd,bphd->bhop', q, k)
    qr = tf.einsum('bohd,opd->bhop', q, rq)
    kr = tf.einsum('bphd,opd->bhop', k, rk)
    logits = self.similarity_bn(tf.stack([qk, qr, kr], axis=2),
                                training=training)
    logits = tf.reduce_sum(logits, axis=2)
    if self.span is not None:
      half = (self.span - 1) // 2
      logits = tf.where(tf.abs(offsets) <= half, logits, -1e9)
    weights = tf.nn.softmax(logits, axis=-1)
    out_v = tf.einsum('bhop,bphd->bohd', weights, v)
    out_r = tf.einsum('bhop,opd->bohd', weights, rv)
    out = self.output_bn(tf.stack([out_v, out_r], axis=3),
                         training=training)
    out = tf.reduce_sum(out, axis=3)
    out = tf.reshape(out, [batch, other, length, self.value_depth])
    if self.axis == 'height':
      out = tf.transpose(out, [0, 2, 1, 3])
    return out
