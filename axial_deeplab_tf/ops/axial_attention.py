"""The position-sensitive axial-attention core (paper eq. 4), stateless.

For one axis of length L, output position o, span m (h = (m - 1) / 2):

    y_o = sum_{|p - o| <= h} softmax_p(q_o.k_p + q_o.rq[p-o] + k_p.rk[p-o])
                             (v_p + rv[p-o])

Two layouts compute it:

* global: one `[L, L]` similarity per (sequence, head); used when every key
  is within the span of every query (`L <= h + 1`) or the span is global.
* local: the axis is cut into blocks of `b >= h` queries; block `i` attends
  to the `b + 2h` keys around it. Memory and FLOPs are `O(L * (b + 2h))`,
  linear in L. Key positions outside the axis or beyond the span are masked.

Both share `_attend`, which works on `[rows, cols]` query/key tiles: the
global layout is a single tile with `rows = cols = L`. Relative-position
terms use the gather-free skew of `relative_positions`.

Batch norms are supplied by the caller as callables (`similarity_norm`,
applied to the list of similarity terms with an optional validity mask, and
returning their normalised sum in float32) so that this module holds no
state.
"""

import tensorflow as tf

from axial_deeplab_tf.ops import relative_positions

_MASK_VALUE = -1e9


def _by_row(x, right):
  """`out[..., i, :] = x[..., i, :] @ right[i]`, one matmul batched over i.

  Args:
    x: `[..., rows, depth]`.
    right: `[rows, depth, n]`.

  Returns:
    `[rows, prod(...), n]` (row-major: the caller transposes once).
  """
  shape = tf.shape(x)
  flat = tf.reshape(x, [-1, shape[-2], shape[-1]])
  return tf.matmul(tf.transpose(flat, [1, 0, 2]), right)


def _attend(q, k, v, tables, use_content, half_span, mask, similarity_norm):
  """Attention of query tiles over key tiles (the local layout).

  Relative terms contract queries (keys) with the tile's expanded
  embeddings `[depth, rows, cols]` (`expand_table`, batch-independent) in
  matmuls batched over the query (key) index of the tile.

  Args:
    q: `[..., rows, depth_qk]` queries; query `i` sits at offset `i` in the
      tile.
    k: `[..., cols, depth_qk]` keys, `cols = rows + 2 * half_span`; key `j`
      sits at offset `j - half_span`, so `offset(i, j) = j - i - half_span`.
    v: `[..., cols, depth_v]` values.
    tables: `(q_table, k_table, v_table)`, each `[T, depth]` or None.
    use_content: whether to include the `q.k` term.
    half_span: Python int.
    mask: bool tensor broadcastable to `[..., rows, cols]`, or None.
    similarity_norm: callable(list of `[..., rows, cols]` terms, mask) ->
      float32 normalised sum.

  Returns:
    List of retrieved outputs `[..., rows, depth_v]`: content, then r^v.
  """
  q_table, k_table, v_table = tables
  shape_q = tf.shape(q)
  rows, cols = shape_q[-2], tf.shape(k)[-2]
  lead = shape_q[:-2]
  expand = lambda t: relative_positions.expand_table(t, rows, half_span)  # pylint: disable=g-long-lambda
  terms = []
  if use_content:
    terms.append(tf.matmul(q, k, transpose_b=True))
  if q_table is not None:
    product = _by_row(q, tf.transpose(expand(q_table), [1, 0, 2]))
    product = tf.transpose(product, [1, 0, 2])  # [prod(...), rows, cols]
    terms.append(tf.reshape(product, tf.concat([lead, [rows, cols]], 0)))
  if k_table is not None:
    product = _by_row(k, tf.transpose(expand(k_table), [2, 0, 1]))
    product = tf.transpose(product, [1, 2, 0])  # [cols, .., rows] -> ..
    terms.append(tf.reshape(product, tf.concat([lead, [rows, cols]], 0)))
  logits = similarity_norm(terms, mask)
  if mask is not None:
    logits = tf.where(mask, logits, _MASK_VALUE)
  weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
  outputs = [tf.matmul(weights, v)]
  if v_table is not None:
    table = tf.transpose(expand(v_table), [1, 2, 0])  # [rows, cols, d_v]
    product = tf.transpose(_by_row(weights, table), [1, 0, 2])
    depth_v = v.shape[-1] if v.shape[-1] is not None else tf.shape(v)[-1]
    outputs.append(tf.reshape(product, tf.concat([lead, [rows, depth_v]],
                                                 0)))
  return outputs


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


def global_attention(q, k, v, tables, use_content, norm_affine, training):
  """Every query attends to every key of its sequence (fused layout).

  The relative embeddings of all (o, p) pairs are expanded once per call
  from the tables (`[depth, L, L]`, batch-independent) and contracted with
  queries or keys in matmuls batched over the query (key) position, so no
  batch-sized tensor is ever skewed. The similarity batch norm is folded
  in: its batch statistics come from Gram matrices (`_pair_moments`), its
  per-(term, head) scale multiplies the small q/k operands and its shift
  enters through one extra contraction column. Only the summed logits and
  the attention weights are `[batch, heads, L, L]`.

  Args:
    q, k: `[batch, heads, L, depth_qk]`.
    v: `[batch, heads, L, depth_v]`.
    tables: `(q_table, k_table, v_table)`, each `[T, depth]` or None.
    use_content: whether to include the `q.k` term.
    norm_affine: callable(count, total, sum_squares, each `[terms, heads]`
      or None) -> (scales `[terms, heads]`, shift `[heads]`), float32
      (`TermBatchNormalization.affine_from_moments`).
    training: Python bool; whether batch statistics are computed.

  Returns:
    List of `[batch, L, heads, depth_v]` output terms (content, r^v): the
    layout in which the output batch norm reduces over leading axes and
    heads merge into channels without a transpose.
  """
  q_table, k_table, v_table = tables
  shape = tf.shape(q)
  batch, length = shape[0], shape[2]
  heads = q.shape[1] if q.shape[1] is not None else shape[1]
  qf, kf = tf.cast(q, tf.float32), tf.cast(k, tf.float32)
  expand = lambda t: relative_positions.expand_table(  # pylint: disable=g-long-lambda
      tf.cast(t, tf.float32), length)
  rq = None if q_table is None else expand(q_table)
  rk = None if k_table is None else expand(k_table)
  if training:
    moments = []
    if use_content:
      moments.append(_content_moments(qf, kf))
    if rq is not None:
      moments.append(_pair_moments(qf, rq, 1))
    if rk is not None:
      moments.append(_pair_moments(kf, rk, 2))
    total, sum_squares = (tf.stack(m) for m in zip(*moments))
    count = tf.cast(batch * length * length, tf.float32)
    scales, shift = norm_affine(tf.fill(tf.shape(total), count), total,
                                sum_squares)
  else:
    scales, shift = norm_affine(None, None, None)
  head_scale = lambda index: scales[index][:, None, None]  # pylint: disable=g-long-lambda
  terms, index = [], 0
  if use_content:
    left, right = qf * head_scale(index), kf
    left, right = _with_shift(left, right, shift, -1)
    terms.append(tf.matmul(left, right, transpose_b=True))
    index += 1
  def by_position(x):  # [batch, heads, L, d] -> [L, batch * heads, d]
    x = tf.transpose(x, [2, 0, 1, 3])
    return tf.reshape(x, [length, batch * heads, tf.shape(x)[-1]])
  relative = None  # r^q + r^k terms, [o, batch, heads, p]
  for expanded, xf, perm in ((rq, qf, [1, 0, 2]), (rk, kf, [2, 0, 1])):
    if expanded is None:
      continue
    left = xf * head_scale(index)
    right = tf.transpose(expanded, perm)  # [L_i, depth, L_j]
    if index == 0:
      left, right = _with_shift(left, right, shift, 1)
    product = tf.reshape(tf.matmul(by_position(left), right),
                         [length, batch, heads, length])
    if perm[0] == 2:  # k-term rows are keys: [p, .., o] -> [o, .., p]
      product = tf.transpose(product, [3, 1, 2, 0])
    relative = product if relative is None else relative + product
    index += 1
  # Two binary adds with a transpose between them: a three-way add would
  # become an AddN, which grappler lowers to a slow temporary-variable
  # accumulation when shapes are static.
  logits = terms[0] if terms else None
  if relative is not None:
    relative = tf.transpose(relative, [1, 2, 0, 3])
    logits = relative if logits is None else logits + relative
  weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
  outputs = [tf.matmul(weights, v)]
  if v_table is not None:
    window = relative_positions.offset_window(v_table, max_offset)
    relative_weights = relative_positions.absolute_to_relative(weights)
    outputs.append(_dot_table(relative_weights, window, transpose=False))
  return outputs


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


def global_attention(q, k, v, tables, use_content, norm_affine, training):
  """Every query attends to every key of its sequence (fused layout).

  The relative embeddings of all (o, p) pairs are expanded once per call
  from the tables (`[depth, L, L]`, batch-independent) and contracted with
  queries or keys in matmuls batched over the query (key) position, so no
  batch-sized tensor is ever skewed. The similarity batch norm is folded
  in: its batch statistics come from Gram matrices (`_pair_moments`), its
  per-(term, head) scale multiplies the small q/k operands and its shift
  enters through one extra contraction column. Only the summed logits and
  the attention weights are `[batch, heads, L, L]`.

  Args:
    q, k: `[batch, heads, L, depth_qk]`.
    v: `[batch, heads, L, depth_v]`.
    tables: `(q_table, k_table, v_table)`, each `[T, depth]` or None.
    use_content: whether to include the `q.k` term.
    norm_affine: callable(count, total, sum_squares, each `[terms, heads]`
      or None) -> (scales `[terms, heads]`, shift `[heads]`), float32
      (`TermBatchNormalization.affine_from_moments`).
    training: Python bool; whether batch statistics are computed.

  Returns:
    List of `[batch, L, heads, depth_v]` output terms (content, r^v): the
    layout in which the output batch norm reduces over leading axes and
    heads merge into channels without a transpose.
  """
  q_table, k_table, v_table = tables
  shape = tf.shape(q)
  batch, length = shape[0], shape[2]
  heads = q.shape[1] if q.shape[1] is not None else shape[1]
  qf, kf = tf.cast(q, tf.float32), tf.cast(k, tf.float32)
  expand = lambda t: relative_positions.expand_table(  # pylint: disable=g-long-lambda
      tf.cast(t, tf.float32), length)
  rq = None if q_table is None else expand(q_table)
  rk = None if k_table is None else expand(k_table)
  if training:
    moments = []
    if use_content:
      moments.append(_content_moments(qf, kf))
    if rq is not None:
      moments.append(_pair_moments(qf, rq, 1))
    if rk is not None:
      moments.append(_pair_moments(kf, rk, 2))
    total, sum_squares = (tf.stack(m) for m in zip(*moments))
    count = tf.cast(batch * length * length, tf.float32)
    scales, shift = norm_affine(tf.fill(tf.shape(total), count), total,
                                sum_squares)
  else:
    scales, shift = norm_affine(None, None, None)
  head_scale = lambda index: scales[index][:, None, None]  # pylint: disable=g-long-lambda
  terms, index = [], 0
  if use_content:
    left, right = qf * head_scale(index), kf
    left, right = _with_shift(left, right, shift, -1)
    terms.append(tf.matmul(left, right, transpose_b=True))
    index += 1
  def by_position(x):  # [batch, heads, L, d] -> [L, batch * heads, d]
    x = tf.transpose(x, [2, 0, 1, 3])
    return tf.reshape(x, [length, batch * heads, tf.shape(x)[-1]])
  def from_position(x, perm):  # [L, batch * heads, L] -> [batch, heads, ..]
    x = tf.reshape(x, [length, batch, heads, length])
    return tf.transpose(x, perm)
  for expanded, xf, perm in ((rq, qf, [1, 0, 2]), (rk, kf, [2, 0, 1])):
    if expanded is None:
      continue
    left = xf * head_scale(index)
    right = tf.transpose(expanded, perm)  # [L_i, depth, L_j]
    if index == 0:
      left, right = _with_shift(left, right, shift, 1)
    product = tf.matmul(by_position(left), right)
    # q-term rows are queries ([o, .., p]); k-term rows are keys ([p, .., o]).
    terms.append(from_position(
        product, [1, 2, 0, 3] if perm[0] == 1 else [1, 2, 3, 0]))
    index += 1
  logits = terms[0] if len(terms) == 1 else tf.add_n(terms)
  weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
  outputs = [tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])]
  if v_table is not None:
    rv = tf.transpose(expand(v_table), [1, 2, 0])  # [o, p, depth_v]
    retrieved = tf.matmul(by_position(weights), tf.cast(rv, v.dtype))
    depth_v = v.shape[-1] if v.shape[-1] is not None else tf.shape(v)[-1]
    retrieved = tf.reshape(retrieved, [length, batch, heads, depth_v])
    outputs.append(tf.transpose(retrieved, [1, 0, 2, 3]))
  return outputs


def local_attention(q, k, v, tables, use_content, similarity_norm,
                    half_span, block_size):
  """Each query attends to the keys within `+-half_span` on the axis.

  Args:
    q, k: `[batch, heads, length, depth_qk]`.
    v: `[batch, heads, length, depth_v]`.
    tables, use_content, similarity_norm: as in `_attend`.
    half_span: Python int h, the span is `2h + 1`.
    block_size: Python int b >= h, queries per block.

  Returns:
    List of `[batch, heads, length, depth_v]` output terms.
  """
  if block_size < half_span:
    raise ValueError(f'block_size must be >= half span {half_span}, '
                     f'got {block_size}.')
  b, h = block_size, half_span
  shape = tf.shape(q)
  batch, heads, length = shape[0], shape[1], shape[2]
  num_blocks = (length + b - 1) // b
  pad_end = num_blocks * b - length

  def blocks(x, pad_before, pad_after, count):
    x = tf.pad(x, [[0, 0], [0, 0], [pad_before, pad_after], [0, 0]])
    return tf.reshape(x, [batch, heads, count, b, tf.shape(x)[-1]])

  q_blocks = blocks(q, 0, pad_end, num_blocks)

  def windows(x):
    xb = blocks(x, b, pad_end + b, num_blocks + 2)
    return tf.concat([xb[:, :, :-2, b - h:], xb[:, :, 1:-1],
                      xb[:, :, 2:, :h]], axis=3)

  # Validity of each (block, query i, key j): key position inside the axis
  # and offset j - h - i within the span. [num_blocks, b, b + 2h].
  block_start = tf.range(num_blocks)[:, None, None] * b
  i = tf.range(b)[None, :, None]
  j = tf.range(b + 2 * h)[None, None, :]
  key_pos = block_start - h + j
  mask = ((tf.abs(j - h - i) <= h) & (key_pos >= 0) & (key_pos < length)
          & (block_start + i < length))
  outputs = _attend(q_blocks, windows(k), windows(v), tables, use_content,
                    h, mask, similarity_norm)
  depth = v.shape[-1]
  return [tf.reshape(out, [batch, heads, num_blocks * b, depth])[:, :, :length]
          for out in outputs]
