"""Targets against the independent numpy reference, also after flip/crop."""

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.configs.panoptic import PanopticDataConfig
from axial_deeplab_tf.data import normalization
from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.dataloaders import panoptic_input
from axial_deeplab_tf.dataloaders import targets
import dl_reference

# The numpy reference's defaults, given explicitly (targets have none).
REFERENCE_OPTIONS = dict(label_divisor=256, ignore_label=255, sigma=8.0,
                         small_instance_area=4096, small_instance_weight=3.0,
                         ignore_crowd_in_semantic=False)


def _hand_made():
  """40x48 map: stuff, void, a big thing, a small thing, a crowd, a stuff.

  Segments: 1 stuff (class 0), 2 thing (class 3, 24x20 = 480 px), 3 thing
  (class 4, 3x5), 4 crowd thing (class 3), 5 stuff (class 1), 6 listed but
  absent (class 2, thing).
  """
  seg = np.ones((40, 48), np.int32)
  seg[:, 40:] = 5
  seg[0:3, :] = 0  # void band
  seg[10:34, 4:24] = 2
  seg[20:30, 10:14] = 1  # a stuff hole inside instance 2
  seg[5:8, 30:35] = 3
  seg[30:38, 28:38] = 4
  class_ids = [0, 3, 4, 3, 1, 2]
  is_crowd = [0, 0, 0, 1, 0, 0]
  is_thing = [0, 1, 1, 1, 0, 1]
  return seg, class_ids, is_crowd, is_thing


def _tf_targets(seg, class_ids, is_crowd, is_thing, **kwargs):
  out = targets.panoptic_targets(
      tf.constant(seg, tf.int32), tf.constant(class_ids, tf.int32),
      tf.constant(np.array(is_crowd, bool)), tf.constant(np.array(is_thing, bool)),
      **{**REFERENCE_OPTIONS, **kwargs})
  return {k: v.numpy() for k, v in out.items()}


def test_hand_made_map_matches_numpy():
  seg, c, crowd, thing = _hand_made()
  got = _tf_targets(seg, c, crowd, thing)
  want = dl_reference.numpy_targets(seg, c, crowd, thing)
  dl_reference.assert_targets_equal(got, want)
  # Spot checks written by hand, independent of both implementations.
  assert got['semantic'][0, 0] == 255 and got['semantic_weights'][0, 0] == 0
  assert got['semantic'][35, 30] == 3  # crowd keeps its class
  assert got['center_weights'][35, 30] == 0
  assert got['offset_weights'][35, 30] == 0
  assert got['semantic_weights'][6, 31] == 3.0  # small instance
  assert got['panoptic'][6, 31] == 4 * 256 + 2
  assert got['panoptic'][35, 30] == 3 * 256  # crowd: instance number 0
  assert got['panoptic'][1, 1] == -1
  # Instance 3 (rows 5-7, cols 30-34): center (6, 32); pixel (5, 30).
  np.testing.assert_allclose(got['center_offsets'][5, 30], [1.0, 2.0])
  assert got['center_heatmap'][6, 32, 0] == pytest.approx(1.0)


def test_ignore_crowd_in_semantic_and_custom_parameters():
  seg, c, crowd, thing = _hand_made()
  kwargs = dict(ignore_label=19, sigma=3.0, small_instance_area=400,
                small_instance_weight=5.0, label_divisor=1000)
  got = _tf_targets(seg, c, crowd, thing, ignore_crowd_in_semantic=True,
                    **kwargs)
  want = dl_reference.numpy_targets(
      seg, c, crowd, thing, ignore_crowd_in_semantic=True,
      ignore_label=19, sigma=3.0, small_area=400, small_weight=5.0,
      label_divisor=1000)
  dl_reference.assert_targets_equal(got, want)
  assert got['semantic'][35, 30] == 19


def test_zero_instances():
  seg = np.zeros((16, 20), np.int32)
  seg[4:, :] = 1
  got = _tf_targets(seg, [2], [0], [0])
  assert not got['center_heatmap'].any()
  assert not got['center_offsets'].any()
  dl_reference.assert_targets_equal(
      got, dl_reference.numpy_targets(seg, [2], [0], [0]))
  empty = _tf_targets(np.zeros((8, 8), np.int32), [], [], [])
  assert (empty['semantic'] == 255).all() and not empty['center_weights'].any()


def test_hundreds_of_instances():
  # 16 x 16 grid of 2x2 instances on a 32x32 image: 256 instances.
  seg = 1 + np.kron(np.arange(256).reshape(16, 16), np.ones((2, 2), int))
  n = 256
  c = [1 + i % 3 for i in range(n)]
  crowd = [1 if i % 17 == 0 else 0 for i in range(n)]
  thing = [1] * n
  got = _tf_targets(seg.astype(np.int32), c, crowd, thing, sigma=1.0)
  want = dl_reference.numpy_targets(seg, c, crowd, thing, sigma=1.0)
  dl_reference.assert_targets_equal(got, want)
  crowd_classes = {c[i] for i in range(n) if crowd[i]}
  # Each non-crowd instance is unique; crowds share class * divisor.
  assert len(np.unique(got['panoptic'])) == n - sum(crowd) + len(crowd_classes)


def _coordinate_image(h, w):
  """uint8 [h, w, 3]: R = 3 y, G = 3 x, B = 7 (recoverable after crop)."""
  yy, xx = np.mgrid[0:h, 0:w]
  return np.stack([3 * yy, 3 * xx, np.full_like(yy, 7)], -1).astype(np.uint8)


@pytest.mark.parametrize('seed', [0, 1, 2, 3, 5, 8])
def test_flip_and_crop_match_numpy_on_transformed_map(seed):
  seg, c, crowd, thing = _hand_made()
  config = PanopticDataConfig(
      input_path='unused', crop_size=(32, 56), min_scale=1.0, max_scale=1.0,
      flip=True)
  parser = panoptic_input.PanopticParser(
      config, PanopticEncoding(num_classes=5, thing_class_ids=[2, 3, 4],
                               label_divisor=256))
  decoded = {
      'image': tf.constant(_coordinate_image(*seg.shape)),
      'segments': tf.constant(seg, tf.int32),
      'class_ids': tf.constant(c, tf.int32),
      'is_crowd': tf.constant(np.array(crowd, bool)),
      'is_thing': tf.constant(np.array(thing, bool)),
      'source_id': tf.constant('x'),
  }
  out = {k: v.numpy() for k, v in
         parser.parse_train(decoded, tf.constant([seed, 7], tf.int64)).items()}
  # Recover, for each output pixel, which source pixel it shows.
  pixel = (out['image'] * np.array(normalization.IMAGENET_STD)
           + np.array(normalization.IMAGENET_MEAN)) * 255.0
  valid = out['valid_mask'] > 0
  src_y = np.round(pixel[..., 0] / 3).astype(int)
  src_x = np.round(pixel[..., 1] / 3).astype(int)
  assert np.allclose(pixel[valid][:, 2], 7, atol=1e-3)
  assert np.allclose(pixel[~valid], np.array(normalization.IMAGENET_MEAN) * 255,
                     atol=1e-3)  # padding is the mean pixel
  expected_seg = np.where(valid, seg[np.clip(src_y, 0, 39),
                                     np.clip(src_x, 0, 47)], 0)
  # The visible window is a contiguous (possibly mirrored) crop.
  rows = src_y[valid].reshape(-1)
  assert valid.sum() == (rows.max() - rows.min() + 1) * len(
      np.unique(src_x[valid]))
  want = dl_reference.numpy_targets(expected_seg, c, crowd, thing)
  dl_reference.assert_targets_equal(out, want)
  assert out['semantic'].shape == (32, 56)
  assert (out['semantic'][~valid] == 255).all()


def test_flipped_targets_mirror_offsets():
  seg, c, crowd, thing = _hand_made()
  plain = _tf_targets(seg, c, crowd, thing)
  flipped = _tf_targets(np.ascontiguousarray(seg[:, ::-1]), c, crowd, thing)
  np.testing.assert_allclose(flipped['center_offsets'][..., 0],
                             plain['center_offsets'][:, ::-1, 0], atol=1e-5)
  np.testing.assert_allclose(flipped['center_offsets'][..., 1],
                             -plain['center_offsets'][:, ::-1, 1], atol=1e-5)
