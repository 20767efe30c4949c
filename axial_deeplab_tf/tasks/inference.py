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

PanopticMaps = Dict[str, tf.Tensor]


def _resize(x: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
  return tf.image.resize(x, size, method='bilinear')


def _averageable(outputs: PanopticMaps) -> PanopticMaps:
  """float32 'semantic_probs' (softmax of the logits), 'center_heatmap'
  and 'center_offsets' of a model's outputs."""
  outputs = {k: tf.cast(v, tf.float32) for k, v in outputs.items()}
  return {'semantic_probs': tf.nn.softmax(outputs['semantic_logits'], -1),
          'center_heatmap': outputs['center_heatmap'],
          'center_offsets': outputs['center_offsets']}


def _resize_maps(maps: PanopticMaps, size: tf.Tensor) -> PanopticMaps:
  """Maps [B, h, w, C] resized to `size` (height, width); offsets, in
  pixels, scaled by the resize factor of their axis."""
  factor = (tf.cast(size, tf.float32) /
            tf.cast(tf.shape(maps['center_offsets'])[1:3], tf.float32))
  maps = {k: _resize(v, size) for k, v in maps.items()}
  maps['center_offsets'] *= factor
  return maps


def _unflip(maps: PanopticMaps) -> PanopticMaps:
  """Maps of a mirrored image mirrored back (width axis), dx negated."""
  maps = {k: tf.reverse(v, axis=[2]) for k, v in maps.items()}
  maps['center_offsets'] *= tf.constant([1.0, -1.0])
  return maps


def _predict(model, images: tf.Tensor, scale: float,
             flip: bool) -> PanopticMaps:
  """One pass at `scale` (mirrored if `flip`), as maps at the input size."""
  size = tf.shape(images)[1:3]
  x = tf.reverse(images, axis=[2]) if flip else images
  if scale != 1.0:
    x = _resize(x, tf.cast(tf.round(tf.cast(size, tf.float32) * scale),
                           tf.int32))
  maps = _averageable(model(x, training=False))
  if scale != 1.0:
    maps = _resize_maps(maps, size)
  return _unflip(maps) if flip else maps


def multi_scale_inference(model, images: tf.Tensor,
                          scales: Sequence[float] = (1.0,),
                          flip: bool = False) -> PanopticMaps:
  """Averaged model outputs at the input size.

  Args:
    model: a `PanopticDeepLab` (or any callable `model(images,
      training=False)` returning 'semantic_logits' [B, h, w, K],
      'center_heatmap' [B, h, w, 1] and 'center_offsets' [B, h, w, 2] at
      its input size h x w).
    images: float [B, H, W, 3].
    scales: resize factors; (1.0,) without flip is plain inference.
    flip: add the mirrored input at every scale.

  Returns:
    float32 'semantic_logits' [B, H, W, K] (raw logits for a single pass;
    log of the averaged probabilities otherwise), 'center_heatmap'
    [B, H, W, 1] and 'center_offsets' [B, H, W, 2].
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
