"""Instances from the center heads: center search and pixel grouping.

Steps 2 and 3 of `ops.panoptic_merge` (its docstring gives the whole
post-processing; both functions are importable from there too):
`find_centers` keeps the `top_k` heatmap maxima above a threshold
(max-pool NMS as separable sliding maxima), `group_pixels` gives every
selected pixel the nearest valid center of its image, one center at a
time, so no `[pixels, top_k]` tensor is built.
"""

from typing import Tuple

import tensorflow as tf

from axial_deeplab_tf.ops.post_processing_options import PostProcessingOptions


def _window_max(values: tf.Tensor, kernel: int, axis: int) -> tf.Tensor:
  """One axis of a stride-1 'SAME' max-pool (odd `kernel`, edges left
  out), as log2(kernel) maxima of two shifted maps (windows 2, 4, ...)."""
  pads = [[0, 0]] * values.shape.rank
  pads[axis] = [kernel // 2, kernel // 2]
  result = tf.pad(values, pads, constant_values=float('-inf'))

  def shifted(t, start, stop):
    return t[(slice(None),) * axis + (slice(start, stop),)]

  size = 1  # result[i] = max(padded[i:i + size]) along axis
  while size < kernel:
    step = min(size, kernel - size)
    result = tf.maximum(shifted(result, None, -step),
                        shifted(result, step, None))
    size += step
  return result


def find_centers(center_heatmap: tf.Tensor, options: PostProcessingOptions
                 ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Max-pool NMS, threshold and top-k of a center heatmap.

  Args:
    center_heatmap: [batch, height, width, 1] center scores.
    options: `center_threshold`, `nms_kernel` and `top_k` are used.

  Returns:
    scores: float32 [batch, top_k], descending per image (0 when invalid).
    points: int32 [batch, top_k, 2], (y, x) of each center.
    valid: bool [batch, top_k].
  """
  top_k = options.top_k
  heat = tf.cast(center_heatmap, tf.float32)
  pooled = _window_max(_window_max(heat, options.nms_kernel, 1),
                       options.nms_kernel, 2)
  keep = tf.logical_and(tf.equal(heat, pooled),
                        heat > options.center_threshold)
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
                 valid: tf.Tensor, pixels=None) -> tf.Tensor:
  """Nearest-center index of every pixel (or of the `pixels` given).

  Per image (`tf.map_fn`), over its selected pixels, a `tf.while_loop`
  over its slots up to the last valid one keeps the nearest so far: slots
  after it cost nothing, and no [pixels, top_k] tensor is built.

  Args:
    center_offsets: [batch, height, width, 2] predicted (dy, dx) in pixels.
    points: int32 [batch, top_k, 2] center (y, x).
    valid: bool [batch, top_k].
    pixels: optional bool [batch, height, width]: only these pixels are
      grouped, the others get 0 (None: all).

  Returns:
    int32 [batch, height, width]: 1 + index of the valid center nearest to
    (y + dy, x + dx), ties to the lower index; 0 when the image has no
    valid center (or the pixel is not in `pixels`).
  """
  offsets = tf.cast(center_offsets, tf.float32)
  if pixels is None:
    pixels = tf.ones(tf.shape(offsets)[:3], tf.bool)
  # An invalid slot sits at infinity: its distance is never the smallest.
  far = tf.fill(tf.shape(valid), float('inf'))
  center_y = tf.where(valid, tf.cast(points[..., 0], tf.float32), far)
  center_x = tf.where(valid, tf.cast(points[..., 1], tf.float32), far)
  slots = tf.range(1, tf.shape(valid)[1] + 1)
  last = tf.reduce_max(tf.where(valid, slots, 0), axis=1)  # [B]

  def one_image(args):
    offset, keep, cy, cx, used = args
    width = tf.shape(offset)[1]
    index = tf.cast(tf.where(tf.reshape(keep, [-1]))[:, 0], tf.int32)
    offset = tf.gather(tf.reshape(offset, [-1, 2]), index)  # [N, 2]
    target_y = tf.cast(index // width, tf.float32) + offset[:, 0]
    target_x = tf.cast(index % width, tf.float32) + offset[:, 1]

    def nearer(j, best, slot):
      """Adds center slot j to the nearest-so-far `best` / `slot` [N]."""
      dist = (tf.math.squared_difference(target_y, tf.gather(cy, j)) +
              tf.math.squared_difference(target_x, tf.gather(cx, j)))
      # Strictly nearer: a tie stays with the earlier (higher-scored) slot.
      return j + 1, tf.minimum(dist, best), tf.where(dist < best, j, slot)

    best = tf.fill(tf.shape(target_y), float('inf'))
    _, _, slot = tf.while_loop(
        lambda j, *_: j < used, nearer,
        (tf.constant(0), best, tf.zeros_like(best, tf.int32)))
    nearest = tf.where(used > 0, slot + 1, tf.zeros_like(slot))
    return tf.reshape(tf.scatter_nd(index[:, tf.newaxis], nearest,
                                    [tf.size(keep)]), tf.shape(keep))

  return tf.map_fn(
      one_image, (offsets, tf.cast(pixels, tf.bool), center_y, center_x,
                  last),
      fn_output_signature=tf.TensorSpec([None, None], tf.int32))
