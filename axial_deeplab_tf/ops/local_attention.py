"""Local-span position-sensitive axial attention (paper eq. 4), tiled.

The axis is cut into blocks of `b >= h` queries (h the half span); block
`i` attends to the `b + 2h` keys around it. Memory and FLOPs are
`O(L * (b + 2h))`, linear in L. Key positions outside the axis or beyond
the span are masked, in the softmax and in the similarity norm's
statistics. `_attend` works on the `[b, b + 2h]` tiles; relative terms
contract with the tile's expanded embeddings
(`relative_positions.expand_table`, batch-independent) in matmuls batched
over tile rows. Arguments and outputs follow the contract of
`ops/axial_attention.py`.
"""

import tensorflow as tf

from axial_deeplab_tf.ops import relative_positions
from axial_deeplab_tf.ops.global_attention import keys_to_queries

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


def _attend(q, k, v, tables, use_content, similarity_norm, training,
            half_span, mask):
  """Attention of query tiles over key tiles.

  Relative terms contract queries (keys) with the tile's expanded
  embeddings `[depth, rows, cols]` (`expand_table`, batch-independent) in
  matmuls batched over the query (key) index of the tile.

  Args:
    q: `[..., rows, depth_qk]` queries, heads on axis 1; query `i` sits at
      offset `i` in the tile.
    k: `[..., cols, depth_qk]` keys, `cols = rows + 2 * half_span`; key `j`
      sits at offset `j - half_span`, so `offset(i, j) = j - i - half_span`.
    v: `[..., cols, depth_v]` values.
    tables, use_content, similarity_norm, training: the contract of
      `ops/axial_attention.py`.
    half_span: Python int.
    mask: bool tensor broadcastable to `[..., rows, cols]`: key inside the
      axis and the span.

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
    product = keys_to_queries(product)  # [prod(...), rows, cols]
    terms.append(tf.reshape(product, tf.concat([lead, [rows, cols]], 0)))
  logits = similarity_norm(terms, valid=mask, training=training)
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


def local_attention(q, k, v, tables, use_content, similarity_norm, training,
                    *, half_span, block_size):
  """Each query attends to the keys within `+-half_span` on the axis.

  Args:
    q, k, v, tables, use_content, similarity_norm, training: the contract
      of `ops/axial_attention.py` (q, k `[batch, heads, L, depth_qk]`, v
      `[batch, heads, L, depth_v]`).
    half_span: Python int h, the span is `2h + 1`.
    block_size: Python int b >= h, queries per block.

  Returns:
    List of `[batch, L, heads, depth_v]` output terms (content, r^v).
  """
  if block_size is None or block_size < half_span:
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
                    similarity_norm, training, h, mask)
  depth = v.shape[-1]
  return [tf.transpose(tf.reshape(out, [batch, heads, num_blocks * b, depth])
                       [:, :, :length], [0, 2, 1, 3]) for out in outputs]
