"""Panoptic-DeepLab post-processing: three head outputs -> panoptic maps.

Pure TensorFlow (no Keras state, no custom ops, no Python loop over
instances or images). Every step is batched, so image b of a batch gives the
same result as that image alone; it compiles with
`tf.function(jit_compile=True)` and exports with unknown batch, height and
width. Steps, for each image:

1. Semantic prediction: argmax of the logits (softmax probabilities kept
   for instance scores).
2. Centers: a pixel is a center candidate when its heatmap value is the
   maximum of its `nms_kernel` x `nms_kernel` window (max-pool NMS) and is
   > `center_threshold`; the `top_k` highest candidates are kept, sorted
   by score. Center j (0-based rank) becomes instance id j + 1.
3. Grouping: every thing pixel (semantic class in `thing_class_ids`) at
   (y, x) votes for the center nearest (Euclidean) to (y + dy, x + dx);
   ties go to the higher-scored center. Thing pixels of an image without
   any center are void.
4. Class of an instance: majority vote of the semantic prediction over its
   pixels (ties: lowest class id). All its pixels take that class.
5. Stuff: pixels of a stuff class whose total area in the image is below
   `stuff_area_limit` become void.
6. panoptic = class * label_divisor + instance id (0 for stuff);
   void pixels get void_label * label_divisor.

Memory: the grouping step holds a [batch, height * width, top_k] float32
distance tensor (about 330 MB for one 640x640 image with top_k = 200).
"""

from typing import Dict, Sequence

import tensorflow as tf

from axial_deeplab_tf.data import encoding


def validate_options(num_classes: int,
                     thing_class_ids: Sequence[int],
                     center_threshold: float = 0.1,
                     nms_kernel: int = 7,
                     top_k: int = 200,
                     stuff_area_limit: int = 2048,
                     label_divisor: int = 1000,
                     void_label: int = 255) -> None:
  """Raises ValueError naming the first argument that is not usable."""
  del center_threshold  # Any float is meaningful.
  if num_classes is None or int(num_classes) < 1:
    raise ValueError(f'num_classes: expected a positive int (the last, '
                     f'static dimension of semantic_logits), got {num_classes}.')
  encoding.validate_thing_class_ids(thing_class_ids, num_classes)
  if int(nms_kernel) < 1 or int(nms_kernel) % 2 == 0:
    raise ValueError(f'nms_kernel: expected an odd int >= 1, got {nms_kernel}.')
  if int(top_k) < 1:
    raise ValueError(f'top_k: expected an int >= 1, got {top_k}.')
  if int(label_divisor) <= int(top_k):
    raise ValueError(
        f'label_divisor: expected a value larger than the maximum number of '
        f'instances per image (top_k={top_k}), got {label_divisor}.')
  if int(stuff_area_limit) < 0:
    raise ValueError(
        f'stuff_area_limit: expected an int >= 0, got {stuff_area_limit}.')
  if 0 <= int(void_label) < num_classes:
    raise ValueError(f'void_label: expected a label outside the classes '
                     f'[0, {num_classes}), got {void_label}.')


def find_centers(center_heatmap: tf.Tensor, center_threshold: float = 0.1,
                 nms_kernel: int = 7, top_k: int = 200):
  """Max-pool NMS, threshold and top-k of a center heatmap.

  Args:
    center_heatmap: [batch, height, width, 1] center scores.
    center_threshold: candidates must score strictly above this.
    nms_kernel: odd max-pool window.
    top_k: number of center slots returned (padding marked invalid).

  Returns:
    scores: float32 [batch, top_k], descending per image.
    points: int32 [batch, top_k, 2], (y, x) of each center.
    valid: bool [batch, top_k].
  """
  heat = tf.cast(center_heatmap, tf.float32)
  pooled = tf.nn.max_pool2d(heat, nms_kernel, strides=1, padding='SAME')
  keep = tf.logical_and(tf.equal(heat, pooled), heat > center_threshold)
  lowest = tf.float32.min
  scores = tf.where(keep, heat, lowest)[..., 0]  # [B, H, W]
  batch = tf.shape(scores)[0]
  width = tf.shape(scores)[2]
  flat = tf.reshape(scores, [batch, -1])
  # Pad so that images with fewer than top_k pixels still give top_k slots.
  flat = tf.concat([flat, tf.fill([batch, top_k], lowest)], axis=1)
  values, index = tf.math.top_k(flat, k=top_k, sorted=True)
  valid = values > lowest
  values = tf.where(valid, values, tf.zeros_like(values))
  index = tf.where(valid, index, tf.zeros_like(index))
  points = tf.stack([index // width, index % width], axis=-1)
  return values, points, valid


def group_pixels(center_offsets: tf.Tensor, points: tf.Tensor,
                 valid: tf.Tensor) -> tf.Tensor:
  """Nearest-center index of every pixel.

  Args:
    center_offsets: [batch, height, width, 2] predicted (dy, dx) in pixels.
    points: int32 [batch, top_k, 2] center (y, x).
    valid: bool [batch, top_k].

  Returns:
    int32 [batch, height, width]: 1 + index of the valid center nearest to
    (y + dy, x + dx); 0 when the image has no valid center.
  """
  offsets = tf.cast(center_offsets, tf.float32)
  shape = tf.shape(offsets)
  batch, height, width = shape[0], shape[1], shape[2]
  ys = tf.cast(tf.range(height), tf.float32)[:, tf.newaxis]
  xs = tf.cast(tf.range(width), tf.float32)[tf.newaxis, :]
  target_y = tf.reshape(ys + offsets[..., 0], [batch, -1, 1])  # [B, HW, 1]
  target_x = tf.reshape(xs + offsets[..., 1], [batch, -1, 1])
  points = tf.cast(points, tf.float32)
  center_y = points[:, tf.newaxis, :, 0]  # [B, 1, T]
  center_x = points[:, tf.newaxis, :, 1]
  dist = tf.square(target_y - center_y) + tf.square(target_x - center_x)
  dist = tf.where(valid[:, tf.newaxis, :], dist, float('inf'))
  nearest = tf.argmin(dist, axis=-1, output_type=tf.int32) + 1
  any_center = tf.reduce_any(valid, axis=-1)[:, tf.newaxis]
  nearest = tf.where(any_center, nearest, tf.zeros_like(nearest))
  return tf.reshape(nearest, [batch, height, width])


def _per_segment_sum(values: tf.Tensor, segment: tf.Tensor, batch: tf.Tensor,
                     num_segments: int) -> tf.Tensor:
  """Sums values [B, N] into [B, num_segments] by segment ids [B, N]."""
  offset = tf.range(batch)[:, tf.newaxis] * num_segments
  sums = tf.math.unsorted_segment_sum(
      tf.reshape(values, [-1]), tf.reshape(segment + offset, [-1]),
      batch * num_segments)
  return tf.reshape(sums, [batch, num_segments])


def panoptic_postprocess(semantic_logits: tf.Tensor,
                         center_heatmap: tf.Tensor,
                         center_offsets: tf.Tensor,
                         thing_class_ids: Sequence[int],
                         center_threshold: float = 0.1,
                         nms_kernel: int = 7,
                         top_k: int = 200,
                         stuff_area_limit: int = 2048,
                         label_divisor: int = 1000,
                         void_label: int = 255,
                         output_instance_masks: bool = True
                         ) -> Dict[str, tf.Tensor]:
  """Merges semantic, center and offset predictions into panoptic outputs.

  Args:
    semantic_logits: [batch, height, width, num_classes] (num_classes
      static), any float dtype.
    center_heatmap: [batch, height, width, 1].
    center_offsets: [batch, height, width, 2], (dy, dx) in pixels of this
      resolution.
    thing_class_ids: class ids that have instances; the others are stuff.
    center_threshold, nms_kernel, top_k: center selection (`find_centers`).
    stuff_area_limit: stuff classes covering fewer pixels of an image become
      void.
    label_divisor: panoptic = class * label_divisor + instance id; must be
      larger than top_k.
    void_label: class written for void pixels (outside [0, num_classes)).
    output_instance_masks: whether to return 'instance_masks'.

  Returns:
    'panoptic': int32 [batch, height, width].
    'semantic': int32 [batch, height, width], argmax of the logits (for mIoU).
    'category': int32 [batch, height, width], panoptic // label_divisor
      (class of the panoptic segment, void_label on void).
    'instance': int32 [batch, height, width], instance id (0: stuff/void).
    'instance_classes': int32 [batch, top_k], majority class (-1 invalid).
    'instance_scores': float32 [batch, top_k], mean probability of the
      instance's class over its mask x center score (0 invalid).
    'instance_valid': bool [batch, top_k], center kept and mask non-empty.
    'center_points': int32 [batch, top_k, 2] (y, x); 'center_scores':
      float32 [batch, top_k].
    'instance_masks': bool [batch, top_k, height, width] (if requested),
      slot j is the mask of instance id j + 1.
  """
  num_classes = semantic_logits.shape[-1]
  validate_options(num_classes, thing_class_ids, center_threshold, nms_kernel,
                   top_k, stuff_area_limit, label_divisor, void_label)
  num_classes = int(num_classes)
  probs = tf.nn.softmax(tf.cast(semantic_logits, tf.float32), axis=-1)
  semantic = tf.argmax(probs, axis=-1, output_type=tf.int32)  # [B, H, W]
  shape = tf.shape(semantic)
  batch, height, width = shape[0], shape[1], shape[2]

  is_thing_class = tf.constant(
      [c in set(int(t) for t in thing_class_ids) for c in range(num_classes)])
  is_thing = tf.gather(is_thing_class, semantic)  # [B, H, W]

  center_scores, points, center_valid = find_centers(
      center_heatmap, center_threshold, nms_kernel, top_k)
  nearest = group_pixels(center_offsets, points, center_valid)
  instance = tf.where(is_thing, nearest, tf.zeros_like(nearest))

  # Majority vote: counts[b, id, class] over the pixels of each instance.
  flat_sem = tf.reshape(semantic, [batch, -1])
  flat_inst = tf.reshape(instance, [batch, -1])
  ones = tf.ones_like(flat_sem, dtype=tf.float32)
  counts = _per_segment_sum(ones, flat_inst * num_classes + flat_sem, batch,
                            (top_k + 1) * num_classes)
  counts = tf.reshape(counts, [batch, top_k + 1, num_classes])[:, 1:]
  area = tf.reduce_sum(counts, axis=-1)  # [B, T]
  inst_valid = tf.logical_and(center_valid, area > 0)
  inst_class = tf.argmax(counts, axis=-1, output_type=tf.int32)
  inst_class = tf.where(inst_valid, inst_class, -tf.ones_like(inst_class))

  # Class of each pixel's instance (slot 0 = no instance).
  padded_class = tf.concat(
      [tf.fill([batch, 1], -1), inst_class], axis=1)  # [B, T + 1]
  pixel_inst_class = tf.gather(padded_class, flat_inst, batch_dims=1)

  stuff_area = _per_segment_sum(ones, flat_sem, batch, num_classes)
  pixel_stuff_area = tf.gather(stuff_area, flat_sem, batch_dims=1)
  flat_thing = tf.reshape(is_thing, [batch, -1])
  stuff_ok = tf.logical_and(tf.logical_not(flat_thing),
                            pixel_stuff_area >= float(stuff_area_limit))
  thing_ok = flat_inst > 0
  void = tf.fill(tf.shape(flat_sem), void_label * label_divisor)
  panoptic = tf.where(
      thing_ok, pixel_inst_class * label_divisor + flat_inst,
      tf.where(stuff_ok, flat_sem * label_divisor, void))
  category = tf.where(thing_ok, pixel_inst_class,
                      tf.where(stuff_ok, flat_sem,
                               tf.fill(tf.shape(flat_sem), void_label)))

  # Instance score: mean probability of the instance class x center score.
  flat_probs = tf.reshape(probs, [batch, -1, num_classes])
  prob_of_class = tf.gather(flat_probs, tf.maximum(pixel_inst_class, 0),
                            axis=2, batch_dims=2)
  prob_sum = _per_segment_sum(prob_of_class, flat_inst, batch, top_k + 1)
  mean_prob = tf.math.divide_no_nan(prob_sum[:, 1:], area)
  inst_scores = tf.where(inst_valid, mean_prob * center_scores,
                         tf.zeros_like(mean_prob))

  def to_map(t):
    return tf.reshape(t, [batch, height, width])

  outputs = {
      'panoptic': to_map(panoptic),
      'semantic': semantic,
      'category': to_map(category),
      'instance': to_map(flat_inst),
      'instance_classes': inst_class,
      'instance_scores': inst_scores,
      'instance_valid': inst_valid,
      'center_points': points,
      'center_scores': center_scores,
  }
  if output_instance_masks:
    ids = tf.range(1, top_k + 1)[tf.newaxis, :, tf.newaxis, tf.newaxis]
    outputs['instance_masks'] = tf.equal(
        outputs['instance'][:, tf.newaxis], ids)
  return outputs
