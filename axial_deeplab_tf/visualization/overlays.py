"""Pictures of panoptic predictions (numpy, uint8 RGB [H, W, 3] out).

Every function is a closed formula, so tests check pixels exactly:

- `blend(image, colors, alpha)`: round((1 - alpha) * image + alpha * colors).
- `instance_boundaries(instance)`: a pixel is on a boundary when its
  instance id is non-zero and differs from one of its 4 neighbours inside
  the image (both sides of a contact between instances are marked; the
  image border is not).
- `panoptic_overlay`: semantic colours blended over the image, then
  instance boundaries painted in `outline_color`.
- `heatmap_to_color(heatmap)`: v = clip(heatmap / vmax, 0, 1) on a
  black-red-yellow-white ramp (formula in the function).
- `offsets_to_color(offsets)`: the optical-flow colour wheel: hue =
  direction, value = magnitude / max_magnitude, saturation 1.
"""

from typing import Optional

import numpy as np

from axial_deeplab_tf.visualization import palettes


def blend(image: np.ndarray, colors: np.ndarray, alpha: float = 0.5,
          mask: Optional[np.ndarray] = None) -> np.ndarray:
  """round((1 - alpha) * image + alpha * colors), where `mask` (all pixels
  by default); uint8 [H, W, 3]."""
  if not 0.0 <= alpha <= 1.0:
    raise ValueError(f'alpha: expected a value in [0, 1], got {alpha}.')
  image = np.asarray(image, np.float64)
  mixed = (1.0 - alpha) * image + alpha * np.asarray(colors, np.float64)
  if mask is not None:
    mixed = np.where(np.asarray(mask, bool)[..., None], mixed, image)
  return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def instance_boundaries(instance: np.ndarray) -> np.ndarray:
  """bool [H, W]: pixels of an instance touching another id (4-neighbours).

  Args:
    instance: int [H, W], 0 = no instance.
  """
  instance = np.asarray(instance)
  edge = np.zeros(instance.shape, bool)
  down = instance[1:, :] != instance[:-1, :]
  right = instance[:, 1:] != instance[:, :-1]
  edge[:-1, :] |= down
  edge[1:, :] |= down
  edge[:, :-1] |= right
  edge[:, 1:] |= right
  return edge & (instance != 0)


def panoptic_overlay(image: np.ndarray, semantic: np.ndarray,
                     instance: np.ndarray, palette: np.ndarray,
                     alpha: float = 0.5,
                     outline_color=(255, 255, 255)) -> np.ndarray:
  """Semantic colours over the image plus white instance outlines.

  Args:
    image: uint8 [H, W, 3].
    semantic: int [H, W] class map (the 'category' output: void pixels,
      i.e. ids outside the palette, are left uncoloured).
    instance: int [H, W] instance ids (0 = none).
    palette: uint8 [K, 3].
    alpha: colour weight.
    outline_color: RGB of boundary pixels.

  Returns:
    uint8 [H, W, 3].
  """
  semantic = np.asarray(semantic)
  valid = (semantic >= 0) & (semantic < len(palette))
  colors = palettes.colorize(semantic, palette)
  out = blend(image, colors, alpha, mask=valid)
  out[instance_boundaries(instance)] = np.asarray(outline_color, np.uint8)
  return out


def heatmap_to_color(heatmap: np.ndarray, vmax: float = 1.0) -> np.ndarray:
  """Center heatmap float [H, W] -> uint8 [H, W, 3] (black-red-yellow-white).

  With v = clip(heatmap / vmax, 0, 1): R = 255 * min(1, 3 v),
  G = 255 * clip(3 v - 1, 0, 1), B = 255 * clip(3 v - 2, 0, 1), rounded.
  """
  if vmax <= 0:
    raise ValueError(f'vmax: expected a positive value, got {vmax}.')
  v = np.clip(np.asarray(heatmap, np.float64) / vmax, 0.0, 1.0)
  rgb = np.stack([np.minimum(1.0, 3 * v), np.clip(3 * v - 1, 0, 1),
                  np.clip(3 * v - 2, 0, 1)], axis=-1)
  return np.round(rgb * 255).astype(np.uint8)


def hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray,
               value: np.ndarray) -> np.ndarray:
  """Vectorized HSV -> RGB, all in [0, 1]; float [..., 3]."""
  hue = np.mod(hue, 1.0) * 6.0
  sector = np.floor(hue).astype(np.int64) % 6
  frac = hue - np.floor(hue)
  p = value * (1 - saturation)
  q = value * (1 - saturation * frac)
  t = value * (1 - saturation * (1 - frac))
  choices = [(value, t, p), (q, value, p), (p, value, t), (p, q, value),
             (t, p, value), (value, p, q)]
  rgb = np.zeros(np.shape(value) + (3,))
  for index, (r, g, b) in enumerate(choices):
    here = sector == index
    rgb[here] = np.stack([r, g, b], axis=-1)[here]
  return rgb


def offsets_to_color(offsets: np.ndarray,
                     max_magnitude: Optional[float] = None) -> np.ndarray:
  """Offset field float [H, W, 2] (dy, dx) -> uint8 [H, W, 3].

  hue = atan2(-dy, dx) / (2 pi) (0 = pointing right: red; pointing up,
  i.e. dy < 0: hue 1/4, yellow-green; left: cyan; down: violet-blue),
  saturation 1, value = min(1, |offset| / max_magnitude); zero offsets
  are black. `max_magnitude` defaults to the largest magnitude present.
  """
  offsets = np.asarray(offsets, np.float64)
  dy, dx = offsets[..., 0], offsets[..., 1]
  magnitude = np.hypot(dy, dx)
  if max_magnitude is None:
    max_magnitude = float(magnitude.max()) if magnitude.size else 0.0
  if max_magnitude <= 0:
    return np.zeros(offsets.shape[:-1] + (3,), np.uint8)
  hue = np.arctan2(-dy, dx) / (2 * np.pi)
  value = np.minimum(1.0, magnitude / max_magnitude)
  rgb = hsv_to_rgb(hue, np.ones_like(value), value)
  return np.round(rgb * 255).astype(np.uint8)
