"""Relative-position embeddings of all (query, key) pairs, without gather.

Position-sensitive attention needs, for every query position `o` and key
position `p`, the embedding `r[p - o]` of a learned table. The public TF
implementation gathers an `[L, L, depth]` tensor from the table; gather ops
break ONNX, TensorRT and TFLite converters.

Here `expand_table` builds the same all-pairs embeddings from slices, pads,
reshapes, concatenations and broadcasts only: `offset_window` takes the
table rows of the offsets a tile needs (clipped), a broadcast repeats them
for every query row in the "relative" layout (one column per offset), and
`relative_to_absolute` (a pad-flatten-slice-reshape "skew") moves the
offset columns to key columns. The result is batch-independent, so the
attention layouts contract it with queries, keys or attention weights in
matmuls and never skew batch-sized scores.

Conventions. A table has `2 * max_distance + 1` rows; row `t` holds offset
`t - max_distance`. Offsets beyond `+-max_distance` use the edge rows
(clipping).
"""

import tensorflow as tf

from axial_deeplab_tf.ops import shapes


def offset_window(table, max_offset):
  """Rows of `table` for offsets `-max_offset .. max_offset`, clipped.

  Args:
    table: `[2 * max_distance + 1, depth]` tensor; row `t` is offset
      `t - max_distance`.
    max_offset: scalar int (Python or tensor), the largest offset needed.

  Returns:
    `[2 * max_offset + 1, depth]` tensor; row `t` is the table row of offset
    `clip(t - max_offset, -max_distance, max_distance)`.
  """
  table = tf.convert_to_tensor(table)
  size, depth = shapes.dims(table)
  max_distance = (size - 1) // 2
  if shapes.is_static(size, max_offset):
    extra = max(max_offset - max_distance, 0)
  else:
    extra = tf.maximum(max_offset - max_distance, 0)
  if not isinstance(extra, int) or extra:
    first = tf.broadcast_to(table[:1], [extra, depth])
    last = tf.broadcast_to(table[-1:], [extra, depth])
    table = tf.concat([first, table, last], axis=0)
  start = max_distance + extra - max_offset
  return table[start:start + 2 * max_offset + 1]


def relative_to_absolute(x, num_cols):
  """Skews scores over offsets into scores over positions.

  For rows `r` (query-like) and output columns `c` (key-like):

      result[..., r, c] = x[..., r, c - r + rows - 1]

  Args:
    x: `[..., rows, rows + num_cols - 1]` tensor; column `j` holds offset
      `j - (rows - 1)` relative to the row.
    num_cols: Python int or scalar tensor, the number of output columns.

  Returns:
    `[..., rows, num_cols]` tensor.
  """
  x = tf.convert_to_tensor(x)
  *batch_shape, rows, width = shapes.dims(x)
  x = tf.pad(x, [[0, 0]] * (x.shape.rank - 1) + [[0, 1]])
  flat = tf.reshape(x, batch_shape + [rows * (width + 1)])
  flat = flat[..., rows - 1:rows - 1 + rows * width]
  out = tf.reshape(flat, batch_shape + [rows, width])
  return out[..., :num_cols]


def expand_table(table, length, shift=0):
  """All-pairs embeddings `r[j - i - shift]` of a tile, batch-independent.

  Attention needs the embedding of every (query i, key j) pair of a tile
  of `length` queries and `length + 2 * shift` keys (a whole axis: shift 0;
  a local block with its halo: shift = half span). It is built from the
  table with the skew above, on a small
  `[depth, length, 2 * (length + shift) - 1]` broadcast of the table, never
  on batch-sized scores.

  Args:
    table: `[2 * max_distance + 1, depth]`.
    length: scalar int (Python or tensor), rows (queries) of the tile.
    shift: scalar int, c: key j of the tile sits at offset `j - c` from
      query 0.

  Returns:
    `[depth, length, length + 2 * shift]` tensor `e` with `e[:, i, j]` the
    (clipped) table row of offset `j - i - shift`.
  """
  window = offset_window(table, length - 1 + shift)
  depth = shapes.dims(window)[1]
  rows = tf.broadcast_to(tf.transpose(window)[:, None, :],
                         [depth, length, 2 * (length + shift) - 1])
  return relative_to_absolute(rows, length + 2 * shift)


# The layouts `pair_operands` gives the three expanded tables, from
# `[depth, rows, cols]`: for the products (`attention_products`), or with
# `channel_major` for the elementwise logits (`global_attention`), which
# read each channel's `[rows, cols]` slice contiguously.
_OPERAND_PERMUTATIONS = {False: ([1, 0, 2], [2, 0, 1], [1, 2, 0]),
                         True: (None, None, [1, 2, 0])}


def pair_operands(tables, length, shift=0, channel_major=False):
  """The expanded embeddings of a tile, once per attention call, in the
  layouts the attention contracts them in (`attention_products`).

  Expanded here, once, and shared by every chunk of sequences and by the
  similarity statistics, a layer call builds (and differentiates) one
  expansion per table whatever its number of chunks.

  Args:
    tables: `(q_table, k_table, v_table)`, each `[2 * max_distance + 1,
      depth]` or None.
    length, shift: the tile, as in `expand_table`.
    channel_major: the q and k operands as `expand_table` gives them,
      `[depth_qk, rows, cols]`.

  Returns:
    `(q_right [rows, depth_qk, cols], k_right [cols, depth_qk, rows],
    rv [rows, cols, depth_v])`, float32, None where the table is None:
    `q_right[i, :, j]`, `k_right[j, :, i]` and `rv[i, j]` are the rows of
    offset `j - i - shift` (rows = length, cols = length + 2 * shift).
    With `channel_major`, `q_right[:, i, j]` and `k_right[:, i, j]`.
  """
  with tf.name_scope('pair_operands'):
    expanded = (None if table is None else
                expand_table(tf.cast(table, tf.float32), length, shift)
                for table in tables)
    return tuple(
        e if e is None or perm is None else tf.transpose(e, perm)
        for e, perm in zip(expanded, _OPERAND_PERMUTATIONS[channel_major]))
