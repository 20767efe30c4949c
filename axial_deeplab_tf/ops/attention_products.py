"""The products and the softmax that both attention layouts share.

`row_matmul` contracts every row of the sequences with its own slice of
the batch-independent expanded embeddings (the relative-position terms
and the r^v retrieval); `softmax_retrieve` computes the attention
weights and both retrievals with one gradient; `softmax` is the softmax
in the form that runs fastest on this CPU (under XLA, its reductions over
axes XLA fuses). Used by `ops/global_attention.py` and
`ops/local_attention.py`.

The r^k term's transpose stays TensorFlow's `Transpose` op. Compiling it
alone with XLA inside the traced model measured 2.6x faster on this CPU
(52 vs 20 ms for `[150, 8, 56, 56]`), but it would put an XLA-compiled
function into every exported graph, which TF Serving runs only with
`--xla_cpu_compilation_enabled` and converters may not inline; the
export must stay plain TensorFlow.
"""

import tensorflow as tf

from axial_deeplab_tf.ops import shapes


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
  shape = shapes.dims(a)
  rows = tf.reshape(a, [-1, shape[-2], 1, shape[-1]])
  out = tf.matmul(rows, b, transpose_b=transpose_b)
  return tf.reshape(out, shape[:-1] + shapes.dims(out)[-1:])


def _row_matmul_gradients(x, right, upstream):
  """`(dx, dright)` of `row_matmul(x, right)` for the incoming gradient
  `upstream` (see `row_matmul`)."""
  shape = shapes.dims(right)
  def rows_major(t, width):  # [..., rows, width] -> [rows, N, width]
    return tf.transpose(tf.reshape(t, [-1, shape[0], width]), [1, 0, 2])
  g_rows = rows_major(upstream, shape[2])
  dright = tf.matmul(rows_major(x, shape[1]), g_rows, transpose_a=True)
  depth, n = x.shape[-1], right.shape[-1]
  if depth is not None and n is not None and n > depth:
    dx = tf.transpose(tf.matmul(g_rows, right, transpose_b=True), [1, 0, 2])
    dx = tf.reshape(dx, shapes.dims(x))
  else:
    dx = _one_row_matmul(upstream, right, transpose_b=True)
  return dx, dright


# XLA's CPU compiler rewrites a reduction over an axis longer than this
# into a reduce-window (slow, not fused) plus a reduce, and so it does a
# reduction over a reshaped split of the axis.
_XLA_REDUCE_WINDOW = 32


def _reduce_last(x, reduce, combine, pad_value):
  """`reduce` over the last axis of `x`; an axis longer than
  `_XLA_REDUCE_WINDOW` is first cut into equal slices of at most that
  width (padded with `pad_value` if it does not divide), which
  `combine` (the elementwise form of `reduce`) merges: XLA fuses the
  slices and the merge into one reduction over the narrow axis."""
  length = x.shape[-1]
  if length is None or length <= _XLA_REDUCE_WINDOW:
    return reduce(x, -1)
  groups = -(-length // _XLA_REDUCE_WINDOW)
  width = -(-length // groups)
  padding = groups * width - length
  if padding:
    x = tf.pad(x, [[0, 0]] * (x.shape.rank - 1) + [[0, padding]],
               constant_values=pad_value)
  merged = x[..., :width]
  for group in range(1, groups):
    merged = combine(merged, x[..., group * width:(group + 1) * width])
  return reduce(merged, -1)


def _exp_and_sums(logits):
  """`(exp(logits - row max), its row sums [..., 1])`: the softmax before
  its division; under XLA with its reductions over axes of at most 32
  (`_reduce_last`), which XLA's CPU compiler fuses, where a reduction over
  a longer axis (56 at stage 1) becomes an unfused reduce-window (12% of
  an Axial-ResNet-S forward)."""
  xla = shapes.in_xla()
  def rows(x, reduce, combine, pad_value):  # -> [..., 1]
    out = (_reduce_last(x, reduce, combine, pad_value) if xla else
           reduce(x, -1))
    return out[..., None]
  exp = tf.exp(logits - rows(logits, tf.reduce_max, tf.maximum,
                             float('-inf')))
  return exp, rows(exp, tf.reduce_sum, tf.add, 0.0)


def softmax(logits):
  """`tf.nn.softmax` over the last axis, in the form that runs fastest
  here: TensorFlow's own op, or under XLA `_exp_and_sums` divided."""
  if not shapes.in_xla() or (logits.shape[-1] or 0) <= _XLA_REDUCE_WINDOW:
    return tf.nn.softmax(logits, axis=-1)
  exp, sums = _exp_and_sums(logits)
  return exp / sums


def softmax_retrieve(logits, v, rv, training=True):
  """The attention weights `w = softmax(logits)` over the last axis and the
  retrieved terms `[w @ v, row_matmul(w, rv)]` (the second only if `rv`
  is given), in the dtype of `v`.

  In inference with float32 `v` (`training` False), the retrievals take
  the softmax's numerators `exp(logits - max)` and are divided by its
  row sums after: a division over the `[..., rows, depth_v]` outputs in
  place of one over the `[..., rows, cols]` weights. Gradients through
  that path are TensorFlow's own (correct, not tuned).

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
    training: Python bool, see above.

  Returns:
    List of the retrieved `[..., rows, depth_v]` terms.
  """
  if not training and v.dtype == tf.float32:
    exp, sums = _exp_and_sums(logits)
    outputs = [tf.matmul(exp, v)]
    if rv is not None:
      outputs.append(row_matmul(exp, rv))
    return [out / sums for out in outputs]
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
