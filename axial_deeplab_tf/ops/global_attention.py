"""Global position-sensitive axial attention (paper eq. 4), fused.

Every query attends to every key of its axis. The relative embeddings of
all (o, p) pairs, expanded once per layer call from the tables
(`relative_positions.pair_operands`: `[L, depth, L]`, gather-free,
batch-independent) and shared by every chunk, are contracted with queries, keys
or weights row by row (`attention_products.row_matmul`) in the `[batch,
heads, L, L]` layout of the content product and the softmax, so no
batch-sized tensor is ever skewed, and the only batch-sized transpose of
the forward pass is the r^k term's (its rows are keys). The similarity batch norm is folded in:
`similarity_affine` computes its batch statistics from Gram matrices
(`_pair_moments`, over the whole batch), `attend` multiplies the small q/k
operands by its per-(term, head) scale and adds its shift through one
extra contraction column (training only: a shift per head cancels in the
softmax). Only the summed logits and the attention weights are `[batch,
heads, L, L]`; `softmax_retrieve` gives the softmax and both retrievals one
gradient. In inference compiled by XLA, heads of at most 16 channels
sum the three terms elementwise instead (`_elementwise_logits`: XLA's CPU
matmuls that contract so few channels are the slowest part of the
forward). `ops/axial_attention.py` runs `attend` on chunks of sequences.
Arguments and outputs follow the contract of `ops/axial_attention.py`.
"""

import tensorflow as tf

from axial_deeplab_tf.ops import shapes
from axial_deeplab_tf.ops.attention_products import row_matmul
from axial_deeplab_tf.ops.attention_products import softmax_retrieve

# Inference under XLA sums the similarity terms elementwise
# (`_elementwise_logits`) up to this query/key depth per head, where the
# products are matmuls contracting so few channels that they run at a
# few GFLOP/s: at stage 1 of Axial-ResNet-S (depth 4, L = 56) the logits
# of a 150-sequence chunk take 9.6 ms elementwise and 10.6 ms for the
# content matmul alone (of three). At depth 16 both forms measured alike.
_ELEMENTWISE_MAX_DEPTH = 16


def _pair_moments(x, right):
  """Sum and sum of squares of `x_i . e[i, j]` over batch, i and j, per head.

  Never forms the `[..., L, L]` products: with `M_i = sum_j e_ij e_ij^T`
  (`[L, depth, depth]`, batch-independent) the sum of squares is
  `sum_{b, i} x_bi^T M_i x_bi`, one matmul batched over i on x-sized data.

  Args:
    x: `[batch, heads, L, depth]` float32; row `i` (a query for the r^q
      term, a key for the r^k term).
    right: `[L_i, depth, L_j]`, the term's operand of `pair_operands`
      (`right[i, :, j] = e[i, j]`).

  Returns:
    `(total, sum_squares)`, each `[heads]`.
  """
  total = tf.einsum('hid,id->h', tf.reduce_sum(x, 0),
                    tf.reduce_sum(right, 2))
  second = tf.matmul(right, right, transpose_b=True)  # [i, depth, depth]
  x_i = tf.transpose(x, [2, 0, 1, 3])  # [i, batch, heads, depth]
  shape = shapes.dims(x_i)
  flat = tf.reshape(x_i, [shape[0], -1, shape[3]])
  projected = tf.reshape(tf.matmul(flat, second), shape)
  return total, tf.reduce_sum(projected * x_i, [0, 1, 3])


def _content_moments(q, k):
  """Sum and sum of squares of `q_o . k_p` over batch, o and p, per head.

  Args:
    q, k: `[batch, heads, L, depth]` float32.

  Returns:
    `(total, sum_squares)`, each `[heads]`.
  """
  total = tf.reduce_sum(tf.reduce_sum(q, 2) * tf.reduce_sum(k, 2), [0, 2])
  q_gram = tf.matmul(q, q, transpose_a=True)
  k_gram = tf.matmul(k, k, transpose_a=True)
  return total, tf.reduce_sum(q_gram * k_gram, [0, 2, 3])


def _with_shift(left, right, shift, right_axis):
  """Appends `shift` (per head) to `left` and ones to `right` along the
  contraction axis, so that the product gains `+ shift[head]`.

  Args:
    left: `[..., heads, rows, depth]`, head on axis -3.
    right: contraction on `right_axis`.
    shift: `[heads]`.
    right_axis: contraction axis of `right`.

  Returns:
    `(left', right')` with depth + 1.
  """
  column = tf.broadcast_to(shift[:, None, None],
                           shapes.dims(left)[:-1] + [1])
  left = tf.concat([left, tf.cast(column, left.dtype)], -1)
  ones_shape = shapes.dims(right)
  ones_shape[right_axis] = 1
  right = tf.concat([right, tf.ones(ones_shape, right.dtype)], right_axis)
  return left, right


def similarity_affine(q, k, operands, use_content, similarity_norm,
                      training):
  """Per-(term, head) scales and per-head shift of the similarity norm.

  In training the batch statistics come from Gram matrices
  (`_content_moments`, `_pair_moments`) and
  `similarity_norm.affine_from_moments` turns them into the affine (and
  updates the moving statistics). In inference it reads the moving
  statistics.

  Args:
    q, k, use_content, similarity_norm, training: the contract of
      `ops/axial_attention.py`; `similarity_norm` is only asked for its
      affine (`affine_from_moments`).
    operands: `relative_positions.pair_operands` of the tables, for the
      whole axis.

  Returns:
    `(scales [terms, heads], shift [heads])`, float32.
  """
  if not training:
    return similarity_norm.affine_from_moments(training=False)
  batch, _, length, _ = shapes.dims(q)
  qf, kf = tf.cast(q, tf.float32), tf.cast(k, tf.float32)
  moments = []
  if use_content:
    moments.append(_content_moments(qf, kf))
  for right, x in zip(operands[:2], (qf, kf)):
    if right is not None:
      moments.append(_pair_moments(x, right))
  total, sum_squares = (tf.stack(m) for m in zip(*moments))
  count = tf.cast(batch * length * length, tf.float32)
  return similarity_norm.affine_from_moments(
      tf.fill(shapes.dims(total), count), total, sum_squares, training=True)


def elementwise(depth, training):
  """Whether `attend` sums the similarity terms elementwise
  (`_elementwise_logits`): inference under XLA with shallow heads. Its
  caller then gives `attend` the relative operands channel-major
  (`pair_operands(..., channel_major=True)`).

  Args:
    depth: the query/key depth per head (static: a Python int, or None).
    training: Python bool.
  """
  return (not training and shapes.in_xla() and isinstance(depth, int) and
          depth <= _ELEMENTWISE_MAX_DEPTH)


def _channel_major(x):
  """`x` `[batch, heads, L, depth]` as `[depth, batch, heads, L]`, written
  out by a matmul with the identity (exact for finite x: an inf or NaN
  channel makes the row's other channels NaN, through 0 * inf).

  Not a transpose: XLA on CPU fuses a transpose into the elementwise
  logits that consume it, which then read every operand element through
  the layout changes before it (a key of the height layer 56 x 128 floats
  from the next); a matmul's result is always written out, so the logits
  read each channel's `[batch, heads, L]` contiguously. Measured on one
  stage-1 height layer (224 x 224, batch 8, one thread): 283 -> 212 ms.
  """
  dims = shapes.dims(x)
  depth = dims[-1]
  flat = tf.matmul(tf.eye(depth, dtype=x.dtype), tf.reshape(x, [-1, depth]),
                   transpose_b=True)
  return tf.reshape(flat, [depth] + dims[:-1])


def _elementwise_logits(q, k, operands, use_content, scaled):
  """The summed similarity terms `[batch, heads, L, L]` as one elementwise
  sum over the query/key channels (which XLA fuses into a single pass that
  writes the logits once), not as matmuls; for shallow heads.

  Args:
    q, k: `[batch, heads, L, depth]` float32.
    operands: the channel-major `(q_right [depth, L_o, L_p], k_right
      [depth, L_o, L_p], rv)` of `pair_operands`.
    use_content: whether the content term is on.
    scaled: `scaled(x, index, heads_axis)`, `x` times the scale of
      similarity term `index` (content, r^q, r^k order among the terms in
      use).

  Returns:
    `[batch, heads, L, L]` float32.
  """
  q_right, k_right, _ = operands
  qc, kc = _channel_major(q), _channel_major(k)  # [depth, batch, heads, L]
  queries = lambda x: x[..., None]  # [.., L_o, 1]
  keys = lambda x: x[..., None, :]  # [.., 1, L_p]
  parts, index = [], 0
  if use_content:
    left = scaled(qc, index, -2)
    parts.append(lambda c, left=left: queries(left[c]) * keys(kc[c]))
    index += 1
  if q_right is not None:
    left = scaled(qc, index, -2)
    parts.append(lambda c, left=left: queries(left[c]) * q_right[c])
    index += 1
  if k_right is not None:
    right = scaled(kc, index, -2)
    parts.append(lambda c: keys(right[c]) * k_right[c])
  logits = None
  for channel in range(shapes.dims(q)[-1]):
    for part in parts:
      term = part(channel)
      logits = term if logits is None else logits + term
  return logits


def attend(q, k, v, operands, use_content, scales, shift, training=True):
  """Every query attends to every key of its sequence, with the similarity
  norm's affine given.

  Args:
    q, k, v, use_content: the contract of `ops/axial_attention.py` (q, k
      `[batch, heads, L, depth_qk]`, v `[batch, heads, L, depth_v]`).
    operands: `relative_positions.pair_operands` of the tables, for the
      whole axis (None for a term that is off); channel-major where
      `elementwise(depth_qk, training)`.
    scales: `[terms, heads]` float32, one row per similarity term in use
      (content, r^q, r^k order); or a list of such rows, None for a term
      used unscaled (the folded path).
    shift: `[heads]` float32, added to the summed logits; None for none.
    training: Python bool: inference (False) under XLA with shallow heads
      sums the terms elementwise (`_elementwise_logits`); see also
      `attention_products.softmax_retrieve`.

  Returns:
    List of `[batch, heads, L, depth_v]` output terms (content, r^v).
  """
  q_right, k_right, rv = operands
  qf, kf = tf.cast(q, tf.float32), tf.cast(k, tf.float32)
  def scaled(x, index, heads_axis=-3):
    scale = scales[index]
    if scale is None:
      return x
    return x * tf.reshape(scale, [-1] + [1] * (-heads_axis - 1))
  if elementwise(q.shape[-1], training):
    logits = _elementwise_logits(qf, kf, operands, use_content, scaled)
    if shift is not None:
      logits += shift[:, None, None]
    return softmax_retrieve(logits, v, rv, training)
  terms, index = [], 0
  if use_content:
    left, right = scaled(qf, index), kf
    if shift is not None:
      left, right = _with_shift(left, right, shift, -1)
    terms.append(tf.matmul(left, right, transpose_b=True))
    index += 1
  for right, xf, query_rows in ((q_right, qf, True), (k_right, kf, False)):
    if right is None:
      continue
    left = scaled(xf, index)
    if index == 0 and shift is not None:
      left, right = _with_shift(left, right, shift, 1)
    product = row_matmul(left, right)
    # q-term rows are queries ([.., o, p]); k-term rows are keys ([.., p, o]).
    terms.append(product if query_rows else
                 tf.linalg.matrix_transpose(product))
    index += 1
  # Pairwise sums, not tf.add_n: grappler turns a three-way AddN inside
  # the chunk loop of a model into a slower accumulation in a temporary
  # variable.
  logits = terms[0]
  for term in terms[1:]:
    logits += term
  return softmax_retrieve(logits, v, rv, training)  # rv: [o, p, depth_v]


def sequence_bytes(length, heads, depth_v):
  """Bytes of one sequence's largest tensor in `attend`: the float32
  similarities `[heads, L, L]` (or `[heads, L, depth_v + 1]` rows of a
  retrieval, if wider). Python ints in, Python int out (a scalar tensor if
  `length` is one)."""
  if isinstance(length, int):
    return 4 * heads * length * max(length, depth_v + 1)
  return 4 * heads * length * tf.maximum(length, depth_v + 1)
