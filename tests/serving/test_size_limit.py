"""Predicting large images: the size the model sees and the way back."""

import numpy as np
import pytest

from axial_deeplab_tf.serving import size_limit


@pytest.mark.parametrize('height, width, max_size, expected', [
    (2000, 3000, 2049, (1366, 2049)),      # 2000 * 2049 / 3000 = 1366.0
    (3000, 2000, 2049, (2049, 1366)),
    (1024, 2048, 2049, (1024, 2048)),      # fits: unchanged
    (40, 100, 64, (26, 64)),               # 25.6 rounds to 26
    (1, 500, 50, (1, 50)),                 # 0.1 rounds to 0, kept at 1
    (5000, 5000, 0, (5000, 5000)),         # 0: no limit
    (5000, 5000, None, (5000, 5000)),
])
def test_limited_size(height, width, max_size, expected):
  assert size_limit.limited_size(height, width, max_size) == expected


def test_negative_limit_is_named():
  with pytest.raises(ValueError, match='max_image_size'):
    size_limit.limited_size(10, 10, -1)


def test_outputs_map_back_by_nearest_pixel_and_scaled_offsets():
  rng = np.random.RandomState(0)
  small = {
      'panoptic': rng.randint(0, 5000, (2, 3)).astype(np.int32),
      'instance_masks': rng.rand(4, 2, 3) > 0.5,
      'center_heatmap': np.full((2, 3), 0.25, np.float32),
      'center_offsets': np.tile(np.array([1.0, -2.0], np.float32), (2, 3, 1)),
      'center_points': np.array([[0, 0], [1, 2]], np.int32),
      'instance_scores': np.array([0.5, 0.25], np.float32),
      'image_size': np.array([2, 3], np.int32),
  }
  big = size_limit.outputs_to_size(small, 5, 7)
  # Pixel (i, j) of the 5 x 7 map lies in small pixel
  # (floor(i * 2 / 5 + 1/5), floor(j * 3 / 7 + 3/14)): its center
  # ((i + 0.5) / 5, (j + 0.5) / 7) in unit coordinates, scaled to 2 x 3.
  rows = [0, 0, 1, 1, 1]      # (i + .5) * 2 / 5 = .2 .6 1. 1.4 1.8
  cols = [0, 0, 1, 1, 1, 2, 2]  # (j + .5) * 3 / 7 = .21 .64 1.07 ... 2.79
  for i in range(5):
    for j in range(7):
      assert big['panoptic'][i, j] == small['panoptic'][rows[i], cols[j]]
      np.testing.assert_array_equal(big['instance_masks'][:, i, j],
                                    small['instance_masks'][:, rows[i],
                                                            cols[j]])
  assert big['panoptic'].dtype == np.int32
  np.testing.assert_allclose(big['center_heatmap'], 0.25, rtol=1e-6)
  # Offsets are pixels: dy grows by 5 / 2, dx by 7 / 3.
  np.testing.assert_allclose(big['center_offsets'][..., 0], 2.5, rtol=1e-6)
  np.testing.assert_allclose(big['center_offsets'][..., 1], -14 / 3,
                             rtol=1e-6)
  # Point (y, x) -> floor((y + .5) * 5 / 2), floor((x + .5) * 7 / 3).
  np.testing.assert_array_equal(big['center_points'], [[1, 1], [3, 5]])
  np.testing.assert_array_equal(big['instance_scores'],
                                small['instance_scores'])
  np.testing.assert_array_equal(big['image_size'], [5, 7])
