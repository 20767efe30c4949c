"""as_numpy: per-replica values, eager tensors, symbolic tensors."""

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.evaluation import as_numpy
from axial_deeplab_tf.evaluation.array_utils import image_sizes_or_full


class _FakePerReplica:
  """Stands in for tf.distribute's PerReplica (only `.values` is used)."""

  def __init__(self, *values):
    self.values = values


def test_per_replica_parts_are_concatenated():
  a = tf.constant([[1, 2]])
  b = np.array([[3, 4], [5, 6]])
  np.testing.assert_array_equal(as_numpy((a, b)), [[1, 2], [3, 4], [5, 6]])
  np.testing.assert_array_equal(as_numpy(_FakePerReplica(a, b)),
                                [[1, 2], [3, 4], [5, 6]])
  np.testing.assert_array_equal(as_numpy((a,)), [[1, 2]])
  with pytest.raises(ValueError, match='cannot be concatenated'):
    as_numpy((a, np.zeros((1, 3))), 'x')


def test_symbolic_tensor_and_none_are_rejected():
  with pytest.raises(ValueError, match='got None'):
    as_numpy(None, 'x')
  seen = []

  @tf.function
  def fn(x):
    try:
      as_numpy(x, 'x')
    except ValueError as e:
      seen.append(str(e))
    return x

  fn(tf.constant([1]))
  assert seen and 'symbolic' in seen[0]


def test_image_sizes():
  np.testing.assert_array_equal(image_sizes_or_full(None, 2, 5, 6),
                                [[5, 6], [5, 6]])
  np.testing.assert_array_equal(
      image_sizes_or_full(np.array([[4.0, 6.0], [5.0, 1.0]]), 2, 5, 6),
      [[4, 6], [5, 1]])
  with pytest.raises(ValueError, match='image_sizes'):
    image_sizes_or_full([[4, 7]], 1, 5, 6)
  with pytest.raises(ValueError, match='image_sizes'):
    image_sizes_or_full([4, 6], 1, 5, 6)
