"""Evaluation-time inference: single scale, or multi-scale plus flip.

Panoptic-DeepLab's multi-scale test (the paper's "MS" rows): run the model
on the image resized by each scale (and its mirror image), bring every
output back to the input size, average semantic probabilities, center
heatmaps and offsets, then post-process once. Offsets are in pixels of
the resized input, so they are multiplied by the resize factor per axis;
a mirrored prediction has its dx negated.
"""

from typing import Dict, Sequence

import tensorflow as tf


def _resize(x, size):
  return tf.image.resize(x, size, method='bilinear')


def _predict(model, images, scale, flip):
  size = tf.shape(images)[1:3]
  x = images
  if flip:
    x = tf.reverse(x, axis=[2])
  if scale != 1.0:
    scaled = tf.cast(tf.round(tf.cast(size, tf.float32) * scale), tf.int32)
    x = _resize(x, scaled)
  out = model(x, training=False)
  out = {k: tf.cast(v, tf.float32) for k, v in out.items()}
  probs = tf.nn.softmax(out['semantic_logits'], axis=-1)
  result = {'semantic_probs': probs}
  if 'center_heatmap' in out:
    result['center_heatmap'] = out['center_heatmap']
    result['center_offsets'] = out['center_offsets']
  if scale != 1.0:
    scaled_size = tf.shape(x)[1:3]
    factor = tf.cast(size, tf.float32) / tf.cast(scaled_size, tf.float32)
    result = {k: _resize(v, size) for k, v in result.items()}
    if 'center_offsets' in result:
      result['center_offsets'] *= factor
  if flip:
    result = {k: tf.reverse(v, axis=[2]) for k, v in result.items()}
    if 'center_offsets' in result:
      result['center_offsets'] *= tf.constant([1.0, -1.0])
  return result


def multi_scale_inference(model, images: tf.Tensor,
                          scales: Sequence[float] = (1.0,),
                          flip: bool = False) -> Dict[str, tf.Tensor]:
  """Averaged model outputs at the input size.

  Args:
    model: a `PanopticDeepLab` (dict outputs).
    images: float [B, H, W, 3].
    scales: resize factors; (1.0,) without flip is plain inference.
    flip: add the mirrored input at every scale.

  Returns:
    float32 'semantic_logits' [B, H, W, K] (raw logits for a single pass;
    log of the averaged probabilities otherwise), and, for panoptic models,
    'center_heatmap' [B, H, W, 1] and 'center_offsets' [B, H, W, 2].
  """
  scales = [float(s) for s in scales] or [1.0]
  if scales == [1.0] and not flip:
    out = model(images, training=False)
    return {k: tf.cast(v, tf.float32) for k, v in out.items()}
  passes = [_predict(model, images, s, f) for s in scales
            for f in ((False, True) if flip else (False,))]
  mean = {k: tf.add_n([p[k] for p in passes]) / float(len(passes))
          for k in passes[0]}
  mean['semantic_logits'] = tf.math.log(mean.pop('semantic_probs') + 1e-12)
  return mean
