"""Panoptic-DeepLab post-processing: three head outputs -> panoptic maps.

Pure TensorFlow, batched (no Python loop over instances or images: image b
of a batch gives the same result as that image alone); it compiles with
XLA and exports with unknown batch, height and width.
`panoptic_postprocess` composes one function per step:

1. `semantic_prediction`: softmax probabilities and their argmax.
2. `find_centers`: a pixel is a center candidate when its heatmap value is
   the maximum of its `nms_kernel` x `nms_kernel` window (max-pool NMS,
   computed as two separable sliding maxima) and is > `center_threshold`;
   the `top_k` highest candidates are kept, sorted by score. Center j
   (0-based rank) becomes instance id j + 1.
3. `group_pixels`: every thing pixel (`thing_pixels`) at (y, x) is given
   the center nearest (Euclidean) to (y + dy, x + dx); ties go to the
   higher-scored center. In an image without any center they become void.
4. `vote_instance_classes`: the class of an instance is the majority vote
   of the semantic prediction over its pixels (ties: lowest class id).
   All its pixels take that class (`pixel_instance_classes`).
5. `kept_stuff_pixels`: pixels of a stuff class whose total area in the
   image is below `stuff_area_limit` become void.
6. `assemble_panoptic`: panoptic = class * label_divisor + instance id
   (0 for stuff); void pixels get void_label * label_divisor.
7. `score_instances`: mean probability of the instance's class over its
   pixels x center score; `instance_masks`: one boolean map per slot.

The label encoding (classes, thing classes, label divisor, void label) is a
`data.encoding.PanopticEncoding`; the thresholds are a
`PostProcessingOptions` (`ops.post_processing_options`, also importable
from here); steps 2 and 3 live in `ops.center_grouping` (also importable
from here).

Memory is O(batch * height * width * (K + top_k if masks are asked
for)): grouping holds [pixels] vectors only (speed: docs/panoptic.md).
"""

from typing import Dict, Tuple

import tensorflow as tf

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.ops.center_grouping import find_centers
from axial_deeplab_tf.ops.center_grouping import group_pixels
from axial_deeplab_tf.ops.post_processing_options import PostProcessingOptions


def semantic_prediction(semantic_logits: tf.Tensor
                        ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Class probabilities and the predicted class of every pixel.

  Args:
    semantic_logits: [batch, height, width, K], any float dtype.

  Returns:
    probs: float32 [batch, height, width, K], softmax of the logits.
    semantic: int32 [batch, height, width], argmax class.
  """
  probs = tf.nn.softmax(tf.cast(semantic_logits, tf.float32), axis=-1)
  return probs, tf.argmax(probs, axis=-1, output_type=tf.int32)


def thing_pixels(semantic: tf.Tensor,
                 encoding: encoding_lib.PanopticEncoding) -> tf.Tensor:
  """bool [batch, height, width]: the pixel's class has instances.

  Args:
    semantic: int32 [batch, height, width], classes in [0, K).
    encoding: gives K and the thing classes.
  """
  things = set(encoding.thing_class_ids)
  is_thing_class = tf.constant(
      [c in things for c in range(encoding.num_classes)])
  return tf.gather(is_thing_class, semantic)


def _per_image_sum(values: tf.Tensor, segment: tf.Tensor,
                   num_segments: int) -> tf.Tensor:
  """Sums values [B, N] into [B, num_segments] by segment ids [B, N]."""
  batch = tf.shape(segment)[0]
  offset = tf.range(batch)[:, tf.newaxis] * num_segments
  sums = tf.math.unsorted_segment_sum(
      tf.reshape(values, [-1]), tf.reshape(segment + offset, [-1]),
      batch * num_segments)
  return tf.reshape(sums, [batch, num_segments])


def _flat(t: tf.Tensor) -> tf.Tensor:
  """[batch, height, width] -> [batch, height * width]."""
  return tf.reshape(t, [tf.shape(t)[0], -1])


def vote_instance_classes(semantic: tf.Tensor, instance: tf.Tensor,
                          center_valid: tf.Tensor, num_classes: int
                          ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Majority class and area of every instance slot.

  Args:
    semantic: int32 [batch, height, width], classes in [0, num_classes).
    instance: int32 [batch, height, width], instance id in [0, T]
      (0: no instance).
    center_valid: bool [batch, T], the slot's center was kept.
    num_classes: K.

  Returns:
    classes: int32 [batch, T], most frequent semantic class over the
      pixels of instance id j + 1 (ties: lowest class); -1 for a slot
      whose center is not valid or whose mask is empty.
    areas: float32 [batch, T], pixel count of each instance.
  """
  top_k = center_valid.shape[-1]
  flat_sem = _flat(semantic)
  counts = _per_image_sum(
      tf.ones_like(flat_sem, dtype=tf.float32),
      _flat(instance) * num_classes + flat_sem, (top_k + 1) * num_classes)
  counts = tf.reshape(counts, [-1, top_k + 1, num_classes])[:, 1:]
  areas = tf.reduce_sum(counts, axis=-1)
  classes = tf.argmax(counts, axis=-1, output_type=tf.int32)
  valid = tf.logical_and(center_valid, areas > 0)
  return tf.where(valid, classes, -tf.ones_like(classes)), areas


def pixel_instance_classes(instance: tf.Tensor,
                           instance_classes: tf.Tensor) -> tf.Tensor:
  """int32 [batch, height, width]: class of each pixel's instance (-1 for
  none).

  Args:
    instance: int32 [batch, height, width], instance id in [0, T].
    instance_classes: int32 [batch, T], class of instance id j + 1.
  """
  padded = tf.concat([-tf.ones_like(instance_classes[:, :1]),
                      instance_classes], axis=1)  # [B, T + 1]
  return tf.gather(padded, instance, batch_dims=1)


def kept_stuff_pixels(semantic: tf.Tensor, is_thing: tf.Tensor,
                      num_classes: int, stuff_area_limit: int) -> tf.Tensor:
  """bool [batch, height, width]: stuff pixels whose class covers at least
  `stuff_area_limit` pixels of their image.

  Args:
    semantic: int32 [batch, height, width], classes in [0, num_classes).
    is_thing: bool [batch, height, width] (see `thing_pixels`).
    num_classes: K.
    stuff_area_limit: minimum area in pixels.
  """
  flat_sem = _flat(semantic)
  class_area = _per_image_sum(tf.ones_like(flat_sem, dtype=tf.float32),
                              flat_sem, num_classes)  # [B, K]
  pixel_area = tf.reshape(tf.gather(class_area, flat_sem, batch_dims=1),
                          tf.shape(semantic))
  return tf.logical_and(tf.logical_not(is_thing),
                        pixel_area >= float(stuff_area_limit))


def assemble_panoptic(semantic: tf.Tensor, instance: tf.Tensor,
                      pixel_classes: tf.Tensor, stuff_kept: tf.Tensor,
                      encoding: encoding_lib.PanopticEncoding
                      ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Panoptic ids and their classes.

  Args:
    semantic: int32 [batch, height, width], predicted class.
    instance: int32 [batch, height, width], instance id (0: none).
    pixel_classes: int32 [batch, height, width], class of the pixel's
      instance (see `pixel_instance_classes`).
    stuff_kept: bool [batch, height, width] (see `kept_stuff_pixels`).
    encoding: gives label_divisor and void_label.

  Returns:
    panoptic: int32 [batch, height, width]; an instance's pixels get
      class * label_divisor + id, kept stuff class * label_divisor, the
      rest void_label * label_divisor.
    category: int32 [batch, height, width], panoptic // label_divisor.
  """
  void = tf.fill(tf.shape(semantic), encoding.void_label)
  category = tf.where(instance > 0, pixel_classes,
                      tf.where(stuff_kept, semantic, void))
  return category * encoding.label_divisor + instance, category


def score_instances(probs: tf.Tensor, instance: tf.Tensor,
                    pixel_classes: tf.Tensor, areas: tf.Tensor,
                    center_scores: tf.Tensor) -> tf.Tensor:
  """float32 [batch, T]: mean probability of each instance's class over
  its pixels x its center score (0 for an empty slot).

  Args:
    probs: float32 [batch, height, width, K], K static.
    instance: int32 [batch, height, width], instance id in [0, T].
    pixel_classes: int32 [batch, height, width], class of the pixel's
      instance (-1 for none).
    areas: float32 [batch, T], pixel count of each instance.
    center_scores: float32 [batch, T], T static.
  """
  num_classes = probs.shape[-1]
  top_k = center_scores.shape[-1]
  flat_probs = tf.reshape(probs, [tf.shape(probs)[0], -1, num_classes])
  prob_of_class = tf.gather(flat_probs, tf.maximum(_flat(pixel_classes), 0),
                            axis=2, batch_dims=2)
  prob_sum = _per_image_sum(prob_of_class, _flat(instance), top_k + 1)
  mean_prob = tf.math.divide_no_nan(prob_sum[:, 1:], areas)
  return tf.where(areas > 0, mean_prob * center_scores,
                  tf.zeros_like(mean_prob))


def instance_masks(instance: tf.Tensor, top_k: int) -> tf.Tensor:
  """bool [batch, top_k, height, width]: slot j is the mask of instance id
  j + 1 in `instance` int32 [batch, height, width]."""
  return tf.one_hot(instance - 1, top_k, on_value=True, off_value=False,
                    axis=1, dtype=tf.bool)  # id 0 (-1): no slot


def _static_logits(semantic_logits: tf.Tensor, num_classes: int
                   ) -> tf.Tensor:
  """The logits with a static last dimension num_classes, or ValueError."""
  last = semantic_logits.shape[-1]
  if last is not None and last != num_classes:
    raise ValueError(f'semantic_logits: expected encoding.num_classes='
                     f'{num_classes} classes in the last dimension, got '
                     f'shape {semantic_logits.shape}.')
  return tf.ensure_shape(semantic_logits, [None, None, None, num_classes])


def panoptic_postprocess(semantic_logits: tf.Tensor,
                         center_heatmap: tf.Tensor,
                         center_offsets: tf.Tensor,
                         encoding: encoding_lib.PanopticEncoding,
                         options: PostProcessingOptions =
                         PostProcessingOptions(),
                         output_instance_masks: bool = True
                         ) -> Dict[str, tf.Tensor]:
  """Merges semantic, center and offset predictions into panoptic outputs.

  Args:
    semantic_logits: [batch, height, width, K], any float dtype; K is
      `encoding.num_classes`.
    center_heatmap: [batch, height, width, 1].
    center_offsets: [batch, height, width, 2], (dy, dx) in pixels of this
      resolution.
    encoding: the panoptic id encoding; its label_divisor must be larger
      than `options.top_k`.
    options: center selection and stuff filtering thresholds.
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

  Raises:
    ValueError: naming `semantic_logits` when its last dimension is not
      `encoding.num_classes`, or `label_divisor` when it is <= top_k.
  """
  options.check_encoding(encoding)
  num_classes = encoding.num_classes
  logits = _static_logits(semantic_logits, num_classes)
  probs, semantic = semantic_prediction(logits)
  is_thing = thing_pixels(semantic, encoding)
  center_scores, points, center_valid = find_centers(center_heatmap, options)
  instance = group_pixels(center_offsets, points, center_valid, is_thing)
  classes, areas = vote_instance_classes(semantic, instance, center_valid,
                                         num_classes)
  pixel_classes = pixel_instance_classes(instance, classes)
  stuff_kept = kept_stuff_pixels(semantic, is_thing, num_classes,
                                 options.stuff_area_limit)
  panoptic, category = assemble_panoptic(semantic, instance, pixel_classes,
                                         stuff_kept, encoding)
  outputs = {
      'panoptic': panoptic,
      'semantic': semantic,
      'category': category,
      'instance': instance,
      'instance_classes': classes,
      'instance_scores': score_instances(probs, instance, pixel_classes,
                                         areas, center_scores),
      'instance_valid': classes >= 0,
      'center_points': points,
      'center_scores': center_scores,
  }
  if output_instance_masks:
    outputs['instance_masks'] = instance_masks(instance, options.top_k)
  return outputs
