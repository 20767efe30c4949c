"""Class colour palettes: uint8 [num_classes, 3] RGB tables.

| name | classes | colours |
|---|---|---|
| `cityscapes` | 19 trainIds | the Cityscapes benchmark's official colours |
| `coco` | 133 panoptic classes (contiguous ids 0..132) | `label_colormap(133)` |
| `synthetic` | 5 (stripes, speckle, circle, square, triangle) | hand-picked |

`label_colormap(n)` is the bit-interleaving colour map of the PASCAL VOC
devkit (class i's bits spread over the high bits of R, G and B), which
keeps neighbouring ids visually distinct for any n.

`colorize(labels, palette)` paints a class map; `colorize_panoptic(panoptic,
encoding, palette)` paints panoptic ids (class colour, darkened per
instance so touching instances of one class differ).
"""

import numpy as np

from axial_deeplab_tf.data import encoding as encoding_lib

# (road, sidewalk, building, wall, fence, pole, traffic light, traffic sign,
#  vegetation, terrain, sky, person, rider, car, truck, bus, train,
#  motorcycle, bicycle): Cityscapes trainId order.
CITYSCAPES = np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
    (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
    (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
    (0, 0, 230), (119, 11, 32)], np.uint8)

# stripes (blue stuff), speckle (green stuff), circle, square, triangle.
SYNTHETIC = np.array([(40, 80, 200), (40, 170, 60), (230, 60, 60),
                      (240, 200, 30), (190, 70, 220)], np.uint8)

NUM_COCO_CLASSES = 133

# Colour of void pixels in every palette.
VOID_COLOR = np.array((0, 0, 0), np.uint8)


def label_colormap(num_classes: int) -> np.ndarray:
  """Bit-interleaving colour map: uint8 [num_classes, 3].

  Class i's bits b0, b1, b2 go to the top bit of R, G, B; bits b3, b4, b5
  to the next bit; and so on. Class 0 is black, so callers that want a
  visible class 0 should shift ids by one (`coco` does).
  """
  if num_classes < 1:
    raise ValueError(f'num_classes: expected >= 1, got {num_classes}.')
  colormap = np.zeros((num_classes, 3), np.int64)
  ids = np.arange(num_classes)
  for shift in range(7, -1, -1):
    for channel in range(3):
      colormap[:, channel] |= ((ids >> channel) & 1) << shift
    ids = ids >> 3
  return colormap.astype(np.uint8)


def get_palette(name: str, num_classes: int = None) -> np.ndarray:
  """Returns the palette called `name`, uint8 [num_classes, 3].

  Args:
    name: 'cityscapes', 'coco', 'synthetic' or 'generic'.
    num_classes: required for 'generic' (label_colormap of ids 1..n); for
      the others, when given, must not exceed the palette's size.

  Raises:
    ValueError: naming `name` or `num_classes`.
  """
  if name == 'cityscapes':
    palette = CITYSCAPES
  elif name == 'synthetic':
    palette = SYNTHETIC
  elif name == 'coco':
    palette = label_colormap(NUM_COCO_CLASSES + 1)[1:]
  elif name == 'generic':
    if num_classes is None:
      raise ValueError("num_classes: required for the 'generic' palette.")
    return label_colormap(num_classes + 1)[1:]
  else:
    raise ValueError(f"name: unknown palette {name!r}; expected 'cityscapes',"
                     f" 'coco', 'synthetic' or 'generic'.")
  if num_classes is not None and num_classes > len(palette):
    raise ValueError(f'num_classes: the {name!r} palette has {len(palette)} '
                     f'colours, {num_classes} asked for.')
  return palette.copy()


def colorize(labels: np.ndarray, palette: np.ndarray,
             void_color=VOID_COLOR) -> np.ndarray:
  """Class map int [H, W] -> uint8 [H, W, 3]; ids outside the palette
  (void, padding) get `void_color`."""
  labels = np.asarray(labels)
  valid = (labels >= 0) & (labels < len(palette))
  image = np.empty(labels.shape + (3,), np.uint8)
  image[...] = np.asarray(void_color, np.uint8)
  image[valid] = palette[labels[valid]]
  return image


def instance_shade(instance: np.ndarray) -> np.ndarray:
  """Brightness factor of instance ids: float [...], 1 for id 0 (stuff,
  crowd), else 1 - 0.5 * ((37 * id) mod 11) / 10, in [0.5, 1]."""
  instance = np.asarray(instance, np.int64)
  return np.where(instance > 0, 1.0 - 0.5 * ((instance * 37) % 11) / 10.0,
                  1.0)


def colorize_panoptic(panoptic: np.ndarray,
                      encoding: encoding_lib.PanopticEncoding,
                      palette: np.ndarray, void_color=VOID_COLOR
                      ) -> np.ndarray:
  """Panoptic ids int [..., H, W] -> uint8 [..., H, W, 3].

  A pixel of class c = id // label_divisor and instance i = id %
  label_divisor gets round(palette[c] * instance_shade(i)); void pixels
  (class `encoding.void_label`) and classes outside the palette get
  `void_color`.
  """
  panoptic = np.asarray(panoptic, np.int64)
  classes = panoptic // encoding.label_divisor
  classes = np.where(classes == encoding.void_label, -1, classes)
  colors = colorize(classes, palette, void_color).astype(np.float64)
  shaded = colors * instance_shade(panoptic % encoding.label_divisor)[
      ..., None]
  return np.where((classes >= 0)[..., None] & (classes < len(palette))[
      ..., None], np.round(shaded), colors).astype(np.uint8)
