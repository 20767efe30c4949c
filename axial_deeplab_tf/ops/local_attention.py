"""Local-span position-sensitive axial attention (paper eq. 4), tiled.

The axis is cut into blocks of `b >= h` queries (h the half span); block
`i` attends to the `b + 2h` keys around it. Memory and FLOPs are
`O(L * (b + 2h))`, linear in L. Key positions outside the axis or beyond
the span are masked, in the softmax and in the similarity norm's
statistics. The similarity terms of the `[b, b + 2h]` tiles contract
with the tile's expanded embeddings (`relative_positions.pair_operands`,
batch-independent, the same for every tile, expanded once per layer call)
row by row (`attention_products.row_matmul`), in the tiles' own layout.

The similarity norm is applied as an affine (`scales`, `shift`) given to
`attend`; in training its batch statistics come from `moments` (sums over
the valid pairs, which `ops/axial_attention.py` adds up chunk by chunk),
so that chunks of sequences share the whole batch's statistics. Arguments
and outputs follow the contract of `ops/axial_attention.py`.
"""

import numpy as np
import tensorflow as tf

from axial_deeplab_tf.ops import shapes
from axial_deeplab_tf.ops.attention_products import row_matmul
from axial_deeplab_tf.ops.attention_products import softmax_retrieve

_MASK_VALUE = -1e9


def _similarity_terms(q, k, operands, use_content):
  """The similarity terms of query tiles over key tiles (content, r^q,
  r^k order), each `[..., rows, cols]`.

  Relative terms contract queries (keys) with the tile's expanded
  embeddings (`relative_positions.pair_operands` of the tile,
  batch-independent) row by row (`row_matmul`): the r^q term lands
  query-major, the r^k term key-major and is transposed once.

  Args:
    q: `[..., rows, depth_qk]` queries, heads on axis 1; query `i` sits at
      offset `i` in the tile.
    k: `[..., cols, depth_qk]` keys, `cols = rows + 2 * half_span`; key `j`
      sits at offset `j - half_span`, so `offset(i, j) = j - i - half_span`.
    operands: `pair_operands(tables, rows, half_span)`.
    use_content: the contract of `ops/axial_attention.py`.
  """
  q_right, k_right, _ = operands
  terms = []
  if use_content:
    terms.append(tf.matmul(q, k, transpose_b=True))
  if q_right is not None:
    terms.append(row_matmul(q, tf.cast(q_right, q.dtype)))
  if k_right is not None:
    product = row_matmul(k, tf.cast(k_right, k.dtype))
    terms.append(tf.linalg.matrix_transpose(product))  # [..., rows, cols]
  return terms


def _tiles(x, block_size, num_blocks, halo):
  """`[batch, heads, L, d]` -> `[batch, heads, num_blocks, b + 2 halo, d]`:
  block `i` with `halo` positions of each neighbour (zeros outside)."""
  b = block_size
  batch, heads, length, depth = shapes.dims(x)
  pad_end = num_blocks * b - length
  if not halo:
    x = tf.pad(x, [[0, 0], [0, 0], [0, pad_end], [0, 0]])
    return tf.reshape(x, [batch, heads, num_blocks, b, depth])
  x = tf.pad(x, [[0, 0], [0, 0], [b, pad_end + b], [0, 0]])
  xb = tf.reshape(x, [batch, heads, num_blocks + 2, b, depth])
  return tf.concat([xb[:, :, :-2, b - halo:], xb[:, :, 1:-1],
                    xb[:, :, 2:, :halo]], axis=3)


def _mask(length, half_span, block_size):
  """Validity of each (block, query i, key j) `[num_blocks, b, b + 2h]`:
  query and key inside the axis, offset `j - h - i` within the span. A
  numpy array (a graph constant) for a Python int `length`."""
  b, h = block_size, half_span
  arange, absolute = ((np.arange, np.abs) if isinstance(length, int) else
                      (tf.range, tf.abs))
  num_blocks = (length + b - 1) // b
  block_start = arange(num_blocks)[:, None, None] * b
  i = arange(b)[None, :, None]
  j = arange(b + 2 * h)[None, None, :]
  key_pos = block_start - h + j
  return ((absolute(j - h - i) <= h) & (key_pos >= 0) & (key_pos < length)
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
  mask = _mask(length, half_span, block_size)
  if isinstance(mask, np.ndarray):
    return float(mask.sum())
  return tf.reduce_sum(tf.cast(mask, tf.float32))


def moments(q, k, operands, use_content, *, half_span, block_size):
  """Sum and sum of squares of each similarity term over the valid pairs.

  Args:
    q, k, operands, use_content: as in `attend`.
    half_span, block_size: as in `attend`.

  Returns:
    `(total, sum_squares)`, each `[terms, heads]` float32 (content, r^q,
    r^k order). All-zero sequences add zero (see `chunking.sum_sequences`).
  """
  _check_block(half_span, block_size)
  length = shapes.dims(q)[2]
  num_blocks = (length + block_size - 1) // block_size
  terms = _similarity_terms(
      _tiles(q, block_size, num_blocks, 0),
      _tiles(k, block_size, num_blocks, half_span), operands, use_content)
  weights = tf.cast(_mask(length, half_span, block_size), tf.float32)
  axes = [0, 2, 3, 4]
  total = [tf.reduce_sum(tf.cast(t, tf.float32) * weights, axes)
           for t in terms]
  squares = [tf.reduce_sum(tf.square(tf.cast(t, tf.float32)) * weights, axes)
             for t in terms]
  return tf.stack(total), tf.stack(squares)


def attend(q, k, v, operands, use_content, scales, shift, *, half_span,
           block_size, training=True):
  """Each query attends to the keys within `+-half_span` on the axis.

  Key positions outside the axis or beyond the span are masked in the
  softmax.

  Args:
    q, k, v, use_content: the contract of `ops/axial_attention.py`
      (q, k `[batch, heads, L, depth_qk]`, v `[batch, heads, L, depth_v]`).
    operands: `relative_positions.pair_operands(tables, block_size,
      half_span)`, the expanded embeddings of one tile (None for a term
      that is off).
    scales: `[terms, heads]` float32, the similarity norm's scale of each
      term in use (content, r^q, r^k order); or a list of such rows, None
      for a term used unscaled (the folded path).
    shift: `[heads]` float32, its summed shift; None for none.
    half_span: Python int h, the span is `2h + 1`.
    block_size: Python int b >= h, queries per block.
    training: Python bool, for `attention_products.softmax_retrieve`.

  Returns:
    List of `[batch, heads, L, depth_v]` output terms (content, r^v).
  """
  _check_block(half_span, block_size)
  b, h = block_size, half_span
  batch, heads, length, _ = shapes.dims(q)
  num_blocks = (length + b - 1) // b
  q_blocks = _tiles(q, b, num_blocks, 0)
  terms = _similarity_terms(q_blocks, _tiles(k, b, num_blocks, h), operands,
                            use_content)
  def scaled(x, index):
    x, scale = tf.cast(x, tf.float32), scales[index]
    return x if scale is None else x * scale[:, None, None, None]
  logits = [scaled(t, index) for index, t in enumerate(terms)]
  logits = sum(logits[1:], logits[0])  # pairwise, see global_attention
  if shift is not None:
    logits += shift[:, None, None, None]
  mask = _mask(length, h, b)
  logits = tf.where(mask, logits, _MASK_VALUE)
  outputs = softmax_retrieve(logits, _tiles(v, b, num_blocks, h),
                             operands[2], training)
  depth = shapes.dims(v)[-1]
  return [tf.reshape(out, [batch, heads, num_blocks * b, depth])[:, :, :length]
          for out in outputs]
