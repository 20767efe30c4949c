"""Panoptic-DeepLab training targets from a segment map (Panoptic-DeepLab, Cheng et al. 2020).

Inputs everywhere are a segment map and per-segment tables (see
`panoptic_decoder`): `segments` int32 [H, W] with 0 = void and k >= 1 =
segment k - 1; `class_ids` int32 [N]; `is_crowd`, `is_thing` bool [N].
Targets are computed after augmentation, so flipped or cropped inputs get
exactly the targets of the flipped or cropped labels (offsets included).

Definitions (one image):
- An *instance* is a non-crowd segment of a thing class with >= 1 pixel.
- Its center of mass c = mean (y, x) of its pixels (float).
- semantic: class id; ignore_label on void pixels (and on crowd pixels when
  ignore_crowd_in_semantic).
- semantic_weights: 0 on ignore_label pixels, small_instance_weight on
  pixels of instances with area < small_instance_area, 1 elsewhere.
- center_heatmap: max over instances of exp(-|p - round(c)|^2 / (2 sigma^2)),
  with round() half-to-even as np.round; 0 without instances.
- center_offsets: (c - p) as (dy, dx) in pixels on instance pixels, 0
  elsewhere.
- center_weights: 1 on labeled (non-void) non-crowd pixels, 0 elsewhere.
- offset_weights: 1 on instance pixels, 0 elsewhere.
- panoptic: class * label_divisor + instance number (1, 2, ... in segment
  order, per image) on instance pixels; class * label_divisor on stuff and
  crowd pixels (crowd = thing class with instance id 0, the rule of
  `data.encoding`); -1 on void. Numbers are per image, not per class, so an
  image needs fewer than label_divisor instances (COCO: 256) for ids to
  stay unique.
"""

from typing import Dict

import tensorflow as tf

VOID_PANOPTIC = -1


def _segment_stats(segments: tf.Tensor, num_segments: tf.Tensor):
  """Areas [N+1] and centers of mass [N+1, 2] (row 0 = void)."""
  shape = tf.shape(segments)
  ys = tf.cast(tf.range(shape[0]), tf.float32)
  xs = tf.cast(tf.range(shape[1]), tf.float32)
  grid_y = tf.broadcast_to(ys[:, None], shape)
  grid_x = tf.broadcast_to(xs[None, :], shape)
  flat = tf.reshape(segments, [-1])
  n1 = num_segments + 1
  area = tf.math.unsorted_segment_sum(tf.ones_like(flat, tf.float32), flat, n1)
  sum_y = tf.math.unsorted_segment_sum(tf.reshape(grid_y, [-1]), flat, n1)
  sum_x = tf.math.unsorted_segment_sum(tf.reshape(grid_x, [-1]), flat, n1)
  denom = tf.maximum(area, 1.0)
  centers = tf.stack([sum_y / denom, sum_x / denom], axis=-1)
  return area, centers, grid_y, grid_x


def center_heatmap(centers: tf.Tensor, height: tf.Tensor, width: tf.Tensor,
                   sigma: float) -> tf.Tensor:
  """Max of Gaussians at rounded centers.

  Args:
    centers: float32 [M, 2] (y, x) centers of mass.
    height: scalar int, output height.
    width: scalar int, output width.
    sigma: Gaussian standard deviation in pixels.

  Returns:
    float32 [height, width] heatmap in [0, 1].
  """
  peaks = tf.round(centers)
  ys = tf.cast(tf.range(height), tf.float32)
  xs = tf.cast(tf.range(width), tf.float32)
  # Separable Gaussian: g(y, x) = gy(y) * gx(x); loop keeps memory O(H W).
  gy = tf.exp(-tf.square(ys[None, :] - peaks[:, 0:1]) / (2.0 * sigma**2))
  gx = tf.exp(-tf.square(xs[None, :] - peaks[:, 1:2]) / (2.0 * sigma**2))

  def body(i, acc):
    return i + 1, tf.maximum(acc, gy[i][:, None] * gx[i][None, :])

  _, heat = tf.while_loop(
      lambda i, _: i < tf.shape(peaks)[0], body,
      (tf.constant(0), tf.zeros([height, width], tf.float32)))
  return heat


def panoptic_targets(segments: tf.Tensor,
                     class_ids: tf.Tensor,
                     is_crowd: tf.Tensor,
                     is_thing: tf.Tensor,
                     *,
                     label_divisor: int,
                     ignore_label: int,
                     sigma: float,
                     small_instance_area: int,
                     small_instance_weight: float,
                     ignore_crowd_in_semantic: bool) -> Dict[str, tf.Tensor]:
  """Computes all targets of one image (definitions in module docstring).

  Args:
    segments: int32 [H, W], 0 = void, k = segment k - 1.
    class_ids: int32 [N].
    is_crowd: bool [N].
    is_thing: bool [N].
    label_divisor: panoptic id = class * label_divisor + instance number
      (the dataset's `PanopticEncoding.label_divisor`).
    ignore_label: semantic label of void pixels.
    sigma: center Gaussian sigma in pixels.
    small_instance_area: instances with fewer pixels get the larger weight.
    small_instance_weight: semantic weight of small instances' pixels.
    ignore_crowd_in_semantic: give crowd pixels ignore_label.

  Returns:
    dict with semantic int32 [H, W], semantic_weights float32 [H, W],
    center_heatmap float32 [H, W, 1], center_offsets float32 [H, W, 2]
    (dy, dx), center_weights float32 [H, W], offset_weights float32 [H, W],
    panoptic int32 [H, W].
  """
  segments = tf.cast(segments, tf.int32)
  class_ids = tf.cast(class_ids, tf.int32)
  is_crowd = tf.cast(is_crowd, tf.bool)
  is_thing = tf.cast(is_thing, tf.bool)
  n = tf.shape(class_ids)[0]
  shape = tf.shape(segments)
  area, centers, grid_y, grid_x = _segment_stats(segments, n)

  # Tables indexed by segment map value (row 0 = void).
  labeled_t = tf.concat([[False], tf.ones([n], tf.bool)], 0)
  crowd_t = tf.concat([[False], is_crowd], 0)
  instance_t = tf.concat(
      [[False], tf.logical_and(is_thing, tf.logical_not(is_crowd))], 0)
  instance_t = tf.logical_and(instance_t, area > 0)
  sem_ignore_t = tf.logical_not(labeled_t)
  if ignore_crowd_in_semantic:
    sem_ignore_t = tf.logical_or(sem_ignore_t, crowd_t)
  semantic_t = tf.where(sem_ignore_t, ignore_label,
                        tf.concat([[ignore_label], class_ids], 0))
  small_t = tf.logical_and(instance_t, area < float(small_instance_area))
  sem_weight_t = tf.where(
      sem_ignore_t, 0.0,
      tf.where(small_t, float(small_instance_weight), 1.0))
  center_weight_t = tf.logical_and(labeled_t, tf.logical_not(crowd_t))
  # Instance numbers 1, 2, ... in segment order.
  inst_number_t = tf.cumsum(tf.cast(instance_t, tf.int32))
  inst_number_t = tf.where(instance_t, inst_number_t, 0)
  panoptic_t = tf.where(
      labeled_t,
      tf.concat([[0], class_ids], 0) * label_divisor + inst_number_t,
      VOID_PANOPTIC)

  semantic = tf.gather(semantic_t, segments)
  semantic_weights = tf.gather(sem_weight_t, segments)
  center_weights = tf.cast(tf.gather(center_weight_t, segments), tf.float32)
  offset_mask = tf.gather(instance_t, segments)
  offset_weights = tf.cast(offset_mask, tf.float32)
  pixel_center = tf.gather(centers, segments)  # [H, W, 2]
  offsets = tf.stack([pixel_center[..., 0] - grid_y,
                      pixel_center[..., 1] - grid_x], axis=-1)
  offsets = offsets * offset_weights[..., None]
  instance_centers = tf.boolean_mask(centers, instance_t)
  heatmap = center_heatmap(instance_centers, shape[0], shape[1], sigma)
  return {
      'semantic': semantic,
      'semantic_weights': semantic_weights,
      'center_heatmap': heatmap[..., None],
      'center_offsets': offsets,
      'center_weights': center_weights,
      'offset_weights': offset_weights,
      'panoptic': tf.gather(panoptic_t, segments),
  }
