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


def _dot_table(x, table, transpose=True):
  """`x @ table^T` (or `x @ table`) over the last axis of `x`, one GEMM.

  Args:
    x: `[..., depth]` (or `[..., rows]` when `transpose` is False).
    table: `[rows, depth]`.
    transpose: whether to contract with the table's depth axis.

  Returns:
    `[..., rows]` (or `[..., depth]`).
  """
  shape = tf.shape(x)
  flat = tf.reshape(x, [-1, shape[-1]])
  out = tf.matmul(flat, table, transpose_b=transpose)
  depth = out.shape[-1] if out.shape[-1] is not None else tf.shape(out)[-1]
  return tf.reshape(out, tf.concat([shape[:-1], [depth]], 0))


def _attend(q, k, v, tables, use_content, max_offset, mask, similarity_norm):
  """Attention of query tiles over key tiles.

  Args:
    q: `[..., rows, depth_qk]` queries; query `i` sits at offset `i` in the
      tile.
    k: `[..., cols, depth_qk]` keys; key `j` sits at offset `j - c` where the
      tile geometry makes `offset(i, j) = j - i - c` (c = half span for local
      tiles, 0 for global ones).
    v: `[..., cols, depth_v]` values.
    tables: `(q_table, k_table, v_table)`, each `[T, depth]` or None.
    use_content: whether to include the `q.k` term.
    max_offset: largest `|offset|` over the tile: `rows - 1 + c`; the tables
      are expanded to `2 * max_offset + 1 = rows + cols - 1` rows.
    mask: bool tensor broadcastable to `[..., rows, cols]`, or None.
    similarity_norm: callable(list of `[..., rows, cols]` terms, mask) ->
      float32 normalised sum.

  Returns:
    List of retrieved outputs `[..., rows, depth_v]`: content, then r^v.
  """
  q_table, k_table, v_table = tables
  rows, cols = tf.shape(q)[-2], tf.shape(k)[-2]
  terms = []
  if use_content:
    terms.append(tf.matmul(q, k, transpose_b=True))
  if q_table is not None:
    window = relative_positions.offset_window(q_table, max_offset)
    terms.append(relative_positions.relative_to_absolute(
        _dot_table(q, window), cols))
  if k_table is not None:
    # Reversed rows make the skew run over keys: result[j, i] has offset
    # j - i - c, the same offset as the (i, j) similarity.
    window = tf.reverse(
        relative_positions.offset_window(k_table, max_offset), [0])
    terms.append(tf.linalg.matrix_transpose(
        relative_positions.relative_to_absolute(_dot_table(k, window), rows)))
  logits = similarity_norm(terms, mask)
  if mask is not None:
    logits = tf.where(mask, logits, _MASK_VALUE)
  weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
  outputs = [tf.matmul(weights, v)]
  if v_table is not None:
    window = relative_positions.offset_window(v_table, max_offset)
    relative_weights = relative_positions.absolute_to_relative(weights)
    outputs.append(_dot_table(relative_weights, window, transpose=False))
  return outputs


def global_attention(q, k, v, tables, use_content, similarity_norm):
  """Every query attends to every key of its sequence.

  Args:
    q, k: `[batch, heads, length, depth_qk]`.
    v: `[batch, heads, length, depth_v]`.
    tables, use_content, similarity_norm: as in `_attend`.

  Returns:
    List of `[batch, heads, length, depth_v]` output terms.
  """
  length = tf.shape(q)[2]
  return _attend(q, k, v, tables, use_content, length - 1, None,
                 similarity_norm)


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
                    h + b - 1, mask, similarity_norm)
  depth = v.shape[-1]
  return [tf.reshape(out, [batch, heads, num_blocks * b, depth])[:, :, :length]
          for out in outputs]
