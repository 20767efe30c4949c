"""Gather-free relative-position lookups against direct numpy indexing."""

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.ops import relative_positions


@pytest.mark.parametrize('max_distance,max_offset', [(3, 1), (3, 3), (2, 6)])
def test_offset_window_clips_to_edge_rows(max_distance, max_offset):
  rng = np.random.default_rng(0)
  table = rng.normal(size=(2 * max_distance + 1, 4)).astype(np.float32)
  got = relative_positions.offset_window(table, max_offset).numpy()
  offsets = np.arange(-max_offset, max_offset + 1)
  want = table[np.clip(offsets, -max_distance, max_distance) + max_distance]
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize('rows,cols', [(1, 1), (4, 4), (3, 7), (7, 3)])
def test_relative_to_absolute(rows, cols):
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, rows, rows + cols - 1)).astype(np.float32)
  got = relative_positions.relative_to_absolute(x, cols).numpy()
  want = np.zeros((2, rows, cols), np.float32)
  for r in range(rows):
    for c in range(cols):
      want[:, r, c] = x[:, r, c - r + rows - 1]
  np.testing.assert_array_equal(got, want)


def test_dynamic_shapes_in_graph():
  fn = tf.function(
      lambda x: relative_positions.relative_to_absolute(x, tf.shape(x)[-2]),
      input_signature=[tf.TensorSpec([None, None, None], tf.float32)])
  x = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
  want = np.stack([[x[b, r, [c - r + 2 for c in range(3)]] for r in range(3)]
                   for b in range(2)])
  np.testing.assert_array_equal(fn(x).numpy(), want)


@pytest.mark.parametrize('max_distance,length,shift',
                         [(3, 1, 0), (3, 5, 0), (2, 6, 0), (4, 4, 2),
                          (1, 3, 3)])
def test_expand_table_is_all_pairs_lookup(max_distance, length, shift):
  """`e[:, i, j]` is the table row of offset `j - i - shift`, clipped."""
  rng = np.random.default_rng(3)
  table = rng.normal(size=(2 * max_distance + 1, 3)).astype(np.float32)
  got = relative_positions.expand_table(table, length, shift).numpy()
  want = np.zeros((3, length, length + 2 * shift), np.float32)
  for i in range(length):
    for j in range(length + 2 * shift):
      offset = np.clip(j - i - shift, -max_distance, max_distance)
      want[:, i, j] = table[offset + max_distance]
  np.testing.assert_array_equal(got, want)


def test_pair_operands_layouts():
  """Each expanded table in the layout its product contracts:
  `q_right[i, :, j]`, `k_right[j, :, i]`, `rv[i, j]` are the table rows of
  offset `j - i - shift`, clipped; an absent table stays absent."""
  rng = np.random.default_rng(4)
  max_distance, length, shift = 2, 4, 1
  q_table, v_table = (rng.normal(size=(2 * max_distance + 1, d)).astype(
      np.float32) for d in (3, 5))
  q_right, k_right, rv = relative_positions.pair_operands(
      (q_table, None, v_table), length, shift)
  assert k_right is None
  assert q_right.shape == (length, 3, length + 2 * shift)
  assert rv.shape == (length, length + 2 * shift, 5)
  for i in range(length):
    for j in range(length + 2 * shift):
      row = np.clip(j - i - shift, -max_distance, max_distance) + max_distance
      np.testing.assert_array_equal(q_right[i, :, j], q_table[row])
      np.testing.assert_array_equal(rv[i, j], v_table[row])
  _, k_right, _ = relative_positions.pair_operands(
      (None, q_table, None), length, shift)
  np.testing.assert_array_equal(k_right.numpy(),
                                np.transpose(q_right.numpy(), [2, 1, 0]))


def test_pair_operands_channel_major():
  """`channel_major=True` (the elementwise logits' layout): `q_right[:, i,
  j]` and `k_right[:, i, j]` are the table rows of offset `j - i - shift`,
  clipped; `rv` as without it."""
  rng = np.random.default_rng(5)
  max_distance, length, shift = 3, 5, 2
  q_table, k_table, v_table = (rng.normal(
      size=(2 * max_distance + 1, d)).astype(np.float32) for d in (2, 2, 4))
  q_right, k_right, rv = relative_positions.pair_operands(
      (q_table, k_table, v_table), length, shift, channel_major=True)
  cols = length + 2 * shift
  assert q_right.shape == k_right.shape == (2, length, cols)
  assert rv.shape == (length, cols, 4)
  for i in range(length):
    for j in range(cols):
      row = np.clip(j - i - shift, -max_distance, max_distance) + max_distance
      np.testing.assert_array_equal(q_right[:, i, j], q_table[row])
      np.testing.assert_array_equal(k_right[:, i, j], k_table[row])
      np.testing.assert_array_equal(rv[i, j], v_table[row])
