"""Global position-sensitive axial attention (paper eq. 4), fused.

Every query attends to every key of its axis. The relative embeddings of
all (o, p) pairs are expanded once per call from the tables (`[depth, L,
L]`, gather-free, batch-independent) and contracted with queries, keys
or weights row by row (`row_matmul`) in the `[batch, heads, L, L]` layout
of the content product and the softmax, so no batch-sized tensor is ever
skewed, and the only batch-sized transpose of the forward pass is the
r^k term's (its rows are keys). The similarity batch norm is folded in:
`similarity_affine` computes its batch statistics from Gram matrices
(`_pair_moments`, over the whole batch), `attend` multiplies the small q/k
operands by its per-(term, head) scale and adds its shift through one
extra contraction column (training only: a shift per head cancels in the
softmax). Only the summed logits and the attention weights are `[batch,
heads, L, L]`; `softmax_retrieve` gives the softmax and both retrievals one
gradient. `ops/axial_attention.py` runs `attend` on chunks of sequences.
Arguments and outputs follow the contract of `ops/axial_attention.py`.
"""

import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # pylint: disable=g-direct-tensorflow-import

from axial_deeplab_tf.ops import relative_positions


def row_matmul(x, right):
  """`out[..., i, :] = x[..., i, :] @ right[i]`, in the layout of `x`.

  The relative-position products: row `i` (a query or key position) of
  every sequence meets its own `[depth, n]` slice of the batch-independent
  expanded embeddings. One matmul with broadcast batch dimensions (`x` as
  `[N, rows, 1, depth]`, rank 4 as TFLite's BatchMatMul needs), so the
  product lands in the sequences' layout and no batch-sized tensor is
  transposed in the forward pass.

  The gradient is written by hand: the default one of a broadcast matmul
  forms `[..., rows, depth, n]` outer products and sums them over the
  batch (5-20x slower than the forward here). The gradient of `right` is
  one matmul batched over rows of row-major copies of `x` and of the
  incoming gradient (`[1, 0, 2]` transposes, which keep the inner axis
  contiguous); the gradient of `x` reuses the row-major incoming gradient
  when it is the wider one (`n > depth`: the r^q and r^k terms), else it
  is a broadcast matmul in the layout of `x` (the r^v retrieval).

  Args:
    x: `[..., rows, depth]`.
    right: `[rows, depth, n]`, batch-independent.

  Returns:
    `[..., rows, n]`.
  """
  @tf.custom_gradient
  def product(x, right):
    return _one_row_matmul(x, right), lambda upstream: _row_matmul_gradients(
        x, right, upstream)
  return product(x, right)


def _one_row_matmul(a, b, transpose_b=False):
  """`a` `[..., rows, depth]` row by row times `b` `[rows, depth, n]` (or
  `[rows, n, depth]` with `transpose_b`): one matmul broadcast over the
  leading axes of `a`, rank 4 as TFLite's BatchMatMul needs."""
  shape = tf.shape(a)
  rows = tf.reshape(a, [-1, shape[-2], 1, shape[-1]])
  out = tf.matmul(rows, b, transpose_b=transpose_b)
  return tf.reshape(out, tf.concat([shape[:-1], tf.shape(out)[-1:]], 0))


def _row_matmul_gradients(x, right, upstream):
  """`(dx, dright)` of `row_matmul(x, right)` for the incoming gradient
  `upstream` (see `row_matmul`)."""
  shape = tf.shape(right)
  def rows_major(t, width):  # [..., rows, width] -> [rows, N, width]
    return tf.transpose(tf.reshape(t, [-1, shape[0], width]), [1, 0, 2])
  g_rows = rows_major(upstream, shape[2])
  dright = tf.matmul(rows_major(x, shape[1]), g_rows, transpose_a=True)
  depth, n = x.shape[-1], right.shape[-1]
  if depth is not None and n is not None and n > depth:
    dx = tf.transpose(tf.matmul(g_rows, right, transpose_b=True), [1, 0, 2])
    dx = tf.reshape(dx, tf.shape(x))
  else:
    dx = _one_row_matmul(upstream, right, transpose_b=True)
  return dx, dright


# XLA's CPU compiler rewrites a reduction over an axis longer than this
# into a reduce-window (slow, not fused) plus a reduce.
_XLA_REDUCE_WINDOW = 32


def _in_xla():
  """Whether the op being built is compiled by XLA (`jit_compile`)."""
  return control_flow_util.GraphOrParentsInXlaContext(
      tf.compat.v1.get_default_graph())


def matrix_transpose(x):
  """`tf.linalg.matrix_transpose`, compiled by XLA: TensorFlow's CPU
  Transpose kernel moves the `[..., L, L]` r^k term at a fraction of
  XLA's speed (52 vs 20 ms for `[150, 8, 56, 56]` float32, 2 cores, load
  8), and that transpose was the largest op of the forward pass (21% of
  op time). Its gradient is the same transpose. A function of its own
  per call site, traced for `x`'s static shape (a shared one would hand
  later calls its most general trace, with unknown sizes). Eager calls
  and calls already under XLA use the plain op."""
  if tf.executing_eagerly() or _in_xla():
    return tf.linalg.matrix_transpose(x)
  return tf.function(tf.linalg.matrix_transpose, jit_compile=True,
                     autograph=False)(x)


def _reduce_last(x, reduce, pad_value):
  """`reduce` over the last axis of `x` in steps over axes of at most
  `_XLA_REDUCE_WINDOW` (the axis reshaped to `[groups, width]`, padded
  with `pad_value` if it does not divide)."""
  length = x.shape[-1]
  if length is None or length <= _XLA_REDUCE_WINDOW:
    return reduce(x, -1)
  groups = -(-length // _XLA_REDUCE_WINDOW)
  width = -(-length // groups)
  padding = groups * width - length
  if padding:
    x = tf.pad(x, [[0, 0]] * (x.shape.rank - 1) + [[0, padding]],
               constant_values=pad_value)
  x = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [groups, width]], 0))
  return _reduce_last(reduce(x, -1), reduce, pad_value)


def softmax(logits):
  """`tf.nn.softmax` over the last axis; under XLA with its reductions
  over axes of at most 32 (`_reduce_last`), which XLA's CPU compiler
  fuses, where `tf.nn.softmax` over a longer axis (56 at stage 1) becomes
  two unfused reduce-windows (12% of an Axial-ResNet-S forward)."""
  if not _in_xla() or (logits.shape[-1] or 0) <= _XLA_REDUCE_WINDOW:
    return tf.nn.softmax(logits, axis=-1)
  peak = _reduce_last(logits, tf.reduce_max, float('-inf'))
  exp = tf.exp(logits - peak[..., None])
  return exp / _reduce_last(exp, tf.reduce_sum, 0.0)[..., None]


def softmax_retrieve(logits, v, rv):
  """The attention weights `w = softmax(logits)` over the last axis and the
  retrieved terms `[w @ v, row_matmul(w, rv)]` (the second only if `rv`
  is given), in the dtype of `v`.

  With float32 `v` one gradient serves the three: the softmax's backward
  needs `sum_p w_op dw_op` per query row; both retrievals are linear in
  `w`, so that sum is `sum_c dy_oc y_oc` over their outputs `y` and
  incoming gradients `dy`: output-sized products instead of a product and
  a reduction over the `L x L` weights (the default softmax gradient's),
  and the weights' gradient is formed in one expression, `w * (dw - sum)`.
  Otherwise (mixed precision) the content retrieval runs in `v`'s dtype
  and the r^v one in float32 (its one-row matmuls sum L weights), with
  the default gradients.

  Args:
    logits: `[..., rows, cols]` float32 (global: `[..., L, L]`).
    v: `[..., cols, depth_v]`.
    rv: None or `[rows, cols, depth_v]` float32, the expanded r^v
      embeddings.

  Returns:
    List of the retrieved `[..., rows, depth_v]` terms.
  """
  if v.dtype != tf.float32:
    weights = softmax(logits)
    outputs = [tf.matmul(tf.cast(weights, v.dtype), v)]
    if rv is not None:
      outputs.append(tf.cast(row_matmul(weights, rv), v.dtype))
    return outputs

  def forward(logits, v, *rv):
    weights = softmax(logits)
    outputs = [tf.matmul(weights, v)] + [_one_row_matmul(weights, r)
                                        for r in rv]

    def grad(*upstream):
      upstream = [tf.zeros_like(y) if g is None else g
                  for g, y in zip(upstream, outputs)]
      d_weights = tf.matmul(upstream[0], v, transpose_b=True)
      d_v = tf.matmul(weights, upstream[0], transpose_a=True)
      d_rv = []
      if rv:
        d_relative, d_table = _row_matmul_gradients(weights, rv[0],
                                                    upstream[1])
        d_weights += d_relative
        d_rv.append(d_table)
      row_sums = tf.add_n([tf.reduce_sum(g * y, -1, keepdims=True)
                           for g, y in zip(upstream, outputs)])
      return [weights * (d_weights - row_sums), d_v] + d_rv
    return outputs, grad
  return tf.custom_gradient(forward)(logits, v, *([] if rv is None else
                                                  [rv]))


def _pair_moments(x, expanded, pair_axis):
  """Sum and sum of squares of `x_i . e[i, j]` over batch, i and j, per head.

  Never forms the `[..., L, L]` products: with `M_i = sum_j e_ij e_ij^T`
  (`[L, depth, depth]`, batch-independent) the sum of squares is
  `sum_{b, i} x_bi^T M_i x_bi`, one matmul batched over i on x-sized data.

  Args:
    x: `[batch, heads, L, depth]` float32; row `i` (a query for the r^q
      term, a key for the r^k term).
    expanded: `[depth, L, L]` all-pairs embeddings (`expand_table`).
    pair_axis: 1 if `i` indexes the second axis of `expanded` (queries),
      2 if the third (keys).

  Returns:
    `(total, sum_squares)`, each `[heads]`.
  """
  # e as [i, j, depth]
  e = tf.transpose(expanded, [1, 2, 0] if pair_axis == 1 else [2, 1, 0])
  total = tf.einsum('hid,id->h', tf.reduce_sum(x, 0), tf.reduce_sum(e, 1))
  second = tf.matmul(e, e, transpose_a=True)  # [i, depth, depth]
  x_i = tf.transpose(x, [2, 0, 1, 3])  # [i, batch, heads, depth]
  shape = tf.shape(x_i)
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
                           tf.concat([tf.shape(left)[:-1], [1]], 0))
  left = tf.concat([left, tf.cast(column, left.dtype)], -1)
  ones_shape = tf.tensor_scatter_nd_update(
      tf.shape(right), [[right_axis % right.shape.rank]], [1])
  right = tf.concat([right, tf.ones(ones_shape, right.dtype)], right_axis)
  return left, right


def similarity_affine(q, k, tables, use_content, similarity_norm, training):
  """Per-(term, head) scales and per-head shift of the similarity norm.

  In training the batch statistics come from Gram matrices
  (`_content_moments`, `_pair_moments`) and
  `similarity_norm.affine_from_moments` turns them into the affine (and
  updates the moving statistics). In inference it reads the moving
  statistics.

  Args:
    q, k, tables, use_content, similarity_norm, training: the contract of
      `ops/axial_attention.py`; `similarity_norm` is only asked for its
      affine (`affine_from_moments`).

  Returns:
    `(scales [terms, heads], shift [heads])`, float32.
  """
  if not training:
    return similarity_norm.affine_from_moments(training=False)
  q_table, k_table, _ = tables
  shape = tf.shape(q)
  batch, length = shape[0], shape[2]
  qf, kf = tf.cast(q, tf.float32), tf.cast(k, tf.float32)
  moments = []
  if use_content:
    moments.append(_content_moments(qf, kf))
  for table, x, pair_axis in ((q_table, qf, 1), (k_table, kf, 2)):
    if table is not None:
      expanded = relative_positions.expand_table(
          tf.cast(table, tf.float32), length)
      moments.append(_pair_moments(x, expanded, pair_axis))
  total, sum_squares = (tf.stack(m) for m in zip(*moments))
  count = tf.cast(batch * length * length, tf.float32)
  return similarity_norm.affine_from_moments(
      tf.fill(tf.shape(total), count), total, sum_squares, training=True)


def attend(q, k, v, tables, use_content, scales, shift):
  """Every query attends to every key of its sequence, with the similarity
  norm's affine given.

  Args:
    q, k, v, tables, use_content: the contract of `ops/axial_attention.py`
      (q, k `[batch, heads, L, depth_qk]`, v `[batch, heads, L, depth_v]`).
    scales: `[terms, heads]` float32, one row per similarity term in use
      (content, r^q, r^k order); or a list of such rows, None for a term
      used unscaled (the folded path).
    shift: `[heads]` float32, added to the summed logits; None for none.

  Returns:
    List of `[batch, heads, L, depth_v]` output terms (content, r^v).
  """
  q_table, k_table, v_table = tables
  length = tf.shape(q)[2]
  qf, kf = tf.cast(q, tf.float32), tf.cast(k, tf.float32)
  expand = lambda t: relative_positions.expand_table(  # pylint: disable=g-long-lambda
      tf.cast(t, tf.float32), length)
  def scaled(x, index):
    scale = scales[index]
    return x if scale is None else x * scale[:, None, None]
  terms, index = [], 0
  if use_content:
    left, right = scaled(qf, index), kf
    if shift is not None:
      left, right = _with_shift(left, right, shift, -1)
    terms.append(tf.matmul(left, right, transpose_b=True))
    index += 1
  for table, xf, perm in ((q_table, qf, [1, 0, 2]), (k_table, kf, [2, 0, 1])):
    if table is None:
      continue
    left = scaled(xf, index)
    right = tf.transpose(expand(table), perm)  # [L_i, depth, L_j]
    if index == 0 and shift is not None:
      left, right = _with_shift(left, right, shift, 1)
    product = row_matmul(left, right)
    # q-term rows are queries ([.., o, p]); k-term rows are keys ([.., p, o]).
    terms.append(product if perm[0] == 1 else matrix_transpose(product))
    index += 1
  # Pairwise sums, not tf.add_n: grappler turns a three-way AddN inside
  # the chunk loop of a model into a slower accumulation in a temporary
  # variable.
  logits = terms[0]
  for term in terms[1:]:
    logits += term
  rv = None if v_table is None else tf.transpose(expand(v_table), [1, 2, 0])
  return softmax_retrieve(logits, v, rv)  # rv: [o, p, depth_v]


def sequence_bytes(length, heads, depth_v):
  """Bytes of one sequence's largest tensor in `attend`: the float32
  similarities `[heads, L, L]` (or `[heads, L, depth_v + 1]` rows of a
  retrieval, if wider). Python ints in, Python int out (a scalar tensor if
  `length` is one)."""
  if isinstance(length, int):
    return 4 * heads * length * max(length, depth_v + 1)
  return 4 * heads * length * tf.maximum(length, depth_v + 1)
