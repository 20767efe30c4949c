"""Predicting images larger than a model can hold: resize, then map back.

trainer/predict.py (`predictor.predict_files`) caps each image's longest
side at `max_image_size` pixels (`DEFAULT_MAX_IMAGE_SIZE` = 2049, the
width of a Cityscapes image, for which the models are sized): a larger
image is resized down, keeping its aspect ratio, predicted, and the
outputs are mapped back to the original size, so every PNG, picture and
JSON entry has the size of the input file.

- `limited_size(height, width, max_size)`: the size the model sees,
  longest side `max_size` (each side rounded, at least 1); the image's
  own size when it fits or `max_size` is 0 / None (no limit).
- `resize_image(image, size)`: uint8 [H, W, 3] -> uint8 [h, w, 3],
  bilinear with antialiasing, rounded.
- `outputs_to_size(outputs, height, width)`: a prediction at [h, w] ->
  the same dict at [height, width]. Label maps ('panoptic', 'semantic',
  'category', 'instance', 'instance_masks') use the nearest pixel: output
  pixel i of an axis of length L reads small pixel
  min(floor((i + 0.5) * l / L), l - 1), so ids are copied, never blended.
  'center_heatmap' and 'semantic_probabilities' are resized bilinearly
  (half-pixel centers); 'center_offsets' too, with dy scaled by
  height / h and dx by width / w (offsets are in pixels);
  'center_points' (y, x) map to floor((y + 0.5) * height / h) (likewise
  x); 'image_size' becomes (height, width). Other keys (per-instance
  classes and scores, counts) do not depend on the size and are kept.
"""

from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

DEFAULT_MAX_IMAGE_SIZE = 2049

_LABEL_MAPS = ('panoptic', 'semantic', 'category', 'instance')
_SMOOTH_MAPS = ('center_heatmap', 'semantic_probabilities')


def limited_size(height: int, width: int, max_size: Optional[int]
                 ) -> Tuple[int, int]:
  """(h, w) with max(h, w) <= max_size, the aspect ratio kept.

  Raises:
    ValueError: naming `max_image_size` when it is negative.
  """
  if max_size is not None and max_size < 0:
    raise ValueError(f'max_image_size: expected 0 (no limit) or a positive '
                     f'number of pixels, got {max_size}.')
  longest = max(height, width)
  if not max_size or longest <= max_size:
    return height, width
  scale = max_size / longest
  return (max(1, min(max_size, round(height * scale))),
          max(1, min(max_size, round(width * scale))))


def resize_image(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
  """uint8 [H, W, 3] -> uint8 [size[0], size[1], 3] (antialiased bilinear)."""
  resized = tf.image.resize(image.astype(np.float32), size,
                            method='bilinear', antialias=True)
  return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)


def _nearest_indices(small: int, large: int) -> np.ndarray:
  return np.minimum(((np.arange(large) + 0.5) * small / large).astype(
      np.int64), small - 1)


def _bilinear(value: np.ndarray, height: int, width: int) -> np.ndarray:
  """float [h, w, ...] -> [height, width, ...] (half-pixel centers)."""
  squeeze = value.ndim == 2
  value = value[..., np.newaxis] if squeeze else value
  resized = tf.image.resize(value.astype(np.float32), [height, width],
                            method='bilinear').numpy()
  return resized[..., 0] if squeeze else resized


def outputs_to_size(outputs: Dict[str, np.ndarray], height: int,
                    width: int) -> Dict[str, np.ndarray]:
  """Maps one image's prediction (no batch dimension) to height x width."""
  small_height, small_width = np.asarray(outputs['panoptic']).shape[:2]
  if (small_height, small_width) == (height, width):
    return dict(outputs)
  rows = _nearest_indices(small_height, height)
  cols = _nearest_indices(small_width, width)
  scale = np.array([height / small_height, width / small_width])
  mapped = {}
  for key, value in outputs.items():
    value = np.asarray(value)
    if key in _LABEL_MAPS:
      value = value[rows][:, cols]
    elif key == 'instance_masks':              # [top_k, h, w]
      value = value[:, rows][:, :, cols]
    elif key in _SMOOTH_MAPS:
      value = _bilinear(value, height, width).astype(value.dtype)
    elif key == 'center_offsets':
      value = (_bilinear(value, height, width) * scale).astype(value.dtype)
    elif key == 'center_points':               # [top_k, 2] (y, x)
      value = np.floor((value + 0.5) * scale).astype(value.dtype)
    elif key == 'image_size':
      value = np.array([height, width], value.dtype)
    mapped[key] = value
  return mapped
