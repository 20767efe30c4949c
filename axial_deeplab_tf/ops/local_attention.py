"""Local-span position-sensitive axial attention (paper eq. 4), tiled.

The axis is cut into blocks of `b >= h` queries (h the half span); block
`i` attends to the `b + 2h` keys around it. Memory and FLOPs are
`O(L * (b + 2h))`, linear in L. Key positions outside the axis or beyond
the span are masked, in the softmax and in the similarity norm's
statistics. The similarity terms of the `[b, b + 2h]` tiles contract
with the tile's expanded embeddings (`relative_positions.expand_table`,
batch-independent) row by row (`attention_products.row_matmul`), in the
tiles' own layout.

The similarity norm is applied as an affine (`scales`, `shift`) given to
`attend`; in training its batch statistics come from `moments` (sums over
the valid pairs, which `ops/axial_attention.py` adds up chunk by chunk),
so that chunks of sequences share the whole batch's statistics. Arguments
and outputs follow the contract of `ops/axial_attention.py`.
"""

import tensorflow as tf

from axial_deeplab_tf.ops import relative_positions
from axial_deeplab_tf.ops.attention_products import row_matmul
from axial_deeplab_tf.ops.attention_products import softmax_retrieve

_MASK_VALUE = -1e9


def _similarity_terms(q, k, tables, use_content, half_span):
  """The similarity terms of query tiles over key tiles (content, r^q,
  r^k order), each `[..., rows, cols]`.

  Relative terms contract queries (keys) with the tile's expanded
  embeddings `[depth, rows, cols]` (`expand_table`, batch-independent),
  row by row (`row_matmul`): the r^q term lands query-major, the r^k term
  key-major and is transposed once.

  Args:
    q: `[..., rows, depth_qk]` queries, heads on axis 1; query `i` sits at
      offset `i` in the tile.
    k: `[..., cols, depth_qk]` keys, `cols = rows + 2 * half_span`; key `j`
      sits at offset `j - half_span`, so `offset(i, j) = j - i - half_span`.
    tables, use_content: the contract of `ops/axial_attention.py`.
    half_span: Python int.
  """
  q_table, k_table, _ = tables
  rows = tf.shape(q)[-2]
  expand = lambda t: relative_positions.expand_table(t, rows, half_span)  # pylint: disable=g-long-lambda
  terms = []
  if use_content:
    terms.append(tf.matmul(q, k, transpose_b=True))
  if q_table is not None:
    terms.append(row_matmul(q, tf.transpose(expand(q_table), [1, 0, 2])))
  if k_table is not None:
    product = row_matmul(k, tf.transpose(expand(k_table), [2, 0, 1]))
    terms.append(tf.linalg.matrix_transpose(product))  # [..., rows, cols]
  return terms


def _tiles(x, block_size, num_blocks, halo):
  """`[batch, heads, L, d]` -> `[batch, heads, num_blocks, b + 2 halo, d]`:
  block `i` with `halo` positions of each neighbour (zeros outside)."""
  b = block_size
  shape = tf.shape(x)
  length = shape[2]
  pad_end = num_blocks * b - length
  if not halo:
    x = tf.pad(x, [[0, 0], [0, 0], [0, pad_end], [0, 0]])
    return tf.reshape(x, [shape[0], shape[1], num_blocks, b, shape[3]])
  x = tf.pad(x, [[0, 0], [0, 0], [b, pad_end + b], [0, 0]])
  xb = tf.reshape(x, [shape[0], shape[1], num_blocks + 2, b, shape[3]])
  return tf.concat([xb[:, :, :-2, b - halo:], xb[:, :, 1:-1],
                    xb[:, :, 2:, :halo]], axis=3)


def _mask(length, half_span, block_size):
  """Validity of each (block, query i, key j) `[num_blocks, b, b + 2h]`:
  query and key inside the axis, offset `j - h - i` within the span."""
  b, h = block_size, half_span
  num_blocks = (length + b - 1) // b
  block_start = tf.range(num_blocks)[:, None, None] * b
  i = tf.range(b)[None, :, None]
  j = tf.range(b + 2 * h)[None, None, :]
  key_pos = block_start - h + j
  return ((tf.abs(j - h - i) <= h) & (key_pos >= 0) & (key_pos < length)
          & (block_start + i < length))


def _check_block(half_span, block_size):
  if block_size is None or block_size < half_span:
    raise ValueError(f'block_size must be >= half span {half_span}, '
                     f'got {block_size}.')


def sequence_bytes(length, heads, depth_qk, depth_v, half_span, block_size):
  """Bytes of one sequence's largest tensor in `attend` or `moments`: the
  float32 similarities `[heads, blocks, b, b + 2h]` or the key / value
  windows `[heads, blocks, b + 2h, depth]`. Python ints in, Python int out
  (a scalar tensor if `length` is one)."""
  num_blocks = (length + block_size - 1) // block_size
  cols = block_size + 2 * half_span
  widest = max(block_size, depth_qk, depth_v)
  return 4 * heads * num_blocks * cols * widest


def valid_pairs(length, half_span, block_size):
  """Number of (query, key) pairs within the span and the axis, per
  sequence and head: the count behind the similarity norm's statistics."""
  return tf.reduce_sum(tf.cast(_mask(length, half_span, block_size),
                               tf.float32))


def moments(q, k, tables, use_content, *, half_span, block_size):
  """Sum and sum of squares of each similarity term over the valid pairs.

  Args:
    q, k, tables, use_content: the contract of `ops/axial_attention.py`.
    half_span, block_size: as in `attend`.

  Returns:
    `(total, sum_squares)`, each `[terms, heads]` float32 (content, r^q,
    r^k order). All-zero sequences add zero (see `chunking.sum_sequences`).
  """
  _check_block(half_span, block_size)
  length = tf.shape(q)[2]
  num_blocks = (length + block_size - 1) // block_size
  terms = _similarity_terms(
      _tiles(q, block_size, num_blocks, 0),
      _tiles(k, block_size, num_blocks, half_span), tables, use_content,
      half_span)
  weights = tf.cast(_mask(length, half_span, block_size), tf.float32)
  axes = [0, 2, 3, 4]
  total = [tf.reduce_sum(tf.cast(t, tf.float32) * weights, axes)
           for t in terms]
  squares = [tf.reduce_sum(tf.square(tf.cast(t, tf.float32)) * weights, axes)
             for t in terms]
  return tf.stack(total), tf.stack(squares)


def attend(q, k, v, tables, use_content, scales, shift, *, half_span,
           block_size):
  """Each query attends to the keys within `+-half_span` on the axis.

  Key positions outside the axis or beyond the span are masked in the
  softmax.

  Args:
    q, k, v, tables, use_content: the contract of `ops/axial_attention.py`
      (q, k `[batch, heads, L, depth_qk]`, v `[batch, heads, L, depth_v]`).
    scales: `[terms, heads]` float32, the similarity norm's scale of each
      term in use (content, r^q, r^k order); or a list of such rows, None
      for a term used unscaled (the folded path).
    shift: `[heads]` float32, its summed shift; None for none.
    half_span: Python int h, the span is `2h + 1`.
    block_size: Python int b >= h, queries per block.

  Returns:
    List of `[batch, heads, L, depth_v]` output terms (content, r^v).
  """
  _check_block(half_span, block_size)
  b, h = block_size, half_span
  shape = tf.shape(q)
  batch, heads, length = shape[0], shape[1], shape[2]
  num_blocks = (length + b - 1) // b
  q_blocks = _tiles(q, b, num_blocks, 0)
  terms = _similarity_terms(q_blocks, _tiles(k, b, num_blocks, h), tables,
                            use_content, h)
  def scaled(x, index):
    x, scale = tf.cast(x, tf.float32), scales[index]
    return x if scale is None else x * scale[:, None, None, None]
  logits = [scaled(t, index) for index, t in enumerate(terms)]
  logits = sum(logits[1:], logits[0])  # pairwise, see global_attention
  if shift is not None:
    logits += shift[:, None, None, None]
  mask = _mask(length, h, b)
  logits = tf.where(mask, logits, _MASK_VALUE)
  v_table = tables[2]
  rv = None
  if v_table is not None:
    rv = relative_positions.expand_table(tf.cast(v_table, tf.float32), b, h)
    rv = tf.transpose(rv, [1, 2, 0])  # [rows, cols, d_v]
  outputs = softmax_retrieve(logits, _tiles(v, b, num_blocks, h), rv)
  depth = v.shape[-1] if v.shape[-1] is not None else tf.shape(v)[-1]
  return [tf.reshape(out, [batch, heads, num_blocks * b, depth])[:, :, :length]
          for out in outputs]
