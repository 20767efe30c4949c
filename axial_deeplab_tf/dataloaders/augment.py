"""Image + segment-map augmentation and normalization (stateless, seeded).

All functions take an image float32 [H, W, 3] in [0, 255] and a segment map
int32 [H, W] (0 = void, see `panoptic_decoder`) and transform both alike:
bilinear for the image, nearest neighbour for the segments, so labels stay
exact ids. Randomness is stateless: each call takes a `seed` int [2] tensor,
so a pipeline with a fixed seed is reproducible element by element.
"""

from typing import Optional, Sequence, Tuple

import tensorflow as tf
from axial_deeplab_tf.data.normalization import IMAGENET_MEAN
from axial_deeplab_tf.data.normalization import IMAGENET_STD



def normalize_image(image: tf.Tensor,
                    mean: Sequence[float] = IMAGENET_MEAN,
                    std: Sequence[float] = IMAGENET_STD) -> tf.Tensor:
  """[H, W, 3] in [0, 255] -> float32 (image / 255 - mean) / std."""
  image = tf.cast(image, tf.float32) / 255.0
  return (image - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def mean_pixel(mean: Sequence[float] = IMAGENET_MEAN) -> tf.Tensor:
  """The [3] pixel in [0, 255] that normalizes to zero."""
  return tf.constant(mean, tf.float32) * 255.0


def resize(image: tf.Tensor, segments: tf.Tensor, size: tf.Tensor
           ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Resizes image (bilinear) and segments (nearest) to size int32 [2]."""
  image = tf.image.resize(image, size, method='bilinear')
  segments = tf.image.resize(segments[..., None], size,
                             method='nearest')[..., 0]
  return image, tf.cast(segments, tf.int32)


def random_scale(image: tf.Tensor, segments: tf.Tensor, seed: tf.Tensor,
                 min_scale: float = 0.5, max_scale: float = 2.0
                 ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Rescales by a factor uniform in [min_scale, max_scale].

  Returns:
    image float32 [h', w', 3], segments int32 [h', w'], scale float32 scalar;
    h' = round(H * scale), w' = round(W * scale), at least 1.
  """
  scale = tf.random.stateless_uniform([], seed, min_scale, max_scale)
  if min_scale == max_scale:
    scale = tf.constant(min_scale, tf.float32)
  size = tf.cast(tf.shape(image)[:2], tf.float32) * scale
  size = tf.maximum(tf.cast(tf.round(size), tf.int32), 1)
  image, segments = resize(image, segments, size)
  return image, segments, scale


def pad_to_size(image: tf.Tensor, segments: tf.Tensor, height, width,
                pad_pixel: Optional[tf.Tensor] = None
                ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Pads bottom/right to at least [height, width].

  The image is padded with pad_pixel [3] (default 0), the segments with 0
  (void, hence the ignore label after target generation).
  """
  shape = tf.shape(image)
  pad_h = tf.maximum(height - shape[0], 0)
  pad_w = tf.maximum(width - shape[1], 0)
  paddings = [[0, pad_h], [0, pad_w]]
  if pad_pixel is None:
    pad_pixel = tf.zeros([3], tf.float32)
  image = tf.pad(image - pad_pixel, paddings + [[0, 0]]) + pad_pixel
  segments = tf.pad(segments, paddings)
  return image, segments


def random_crop(image: tf.Tensor, segments: tf.Tensor, crop_size, seed,
                pad_pixel: Optional[tf.Tensor] = None
                ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
  """Pads (bottom/right) to at least crop_size, then crops at a random place.

  Args:
    image: float32 [H, W, 3].
    segments: int32 [H, W].
    crop_size: (crop_height, crop_width).
    seed: int [2].
    pad_pixel: float32 [3] padding colour (default 0).

  Returns:
    image [crop_h, crop_w, 3], segments [crop_h, crop_w], valid float32
    [crop_h, crop_w] (1 where the crop shows the image, 0 padding), and
    offset int32 [2]: (y, x) of the crop's top-left corner in the input.
  """
  crop_h, crop_w = crop_size
  shape = tf.shape(image)
  valid = tf.ones(shape[:2], tf.float32)
  image, segments = pad_to_size(image, segments, crop_h, crop_w, pad_pixel)
  valid = tf.pad(valid, [[0, tf.shape(image)[0] - shape[0]],
                         [0, tf.shape(image)[1] - shape[1]]])
  padded = tf.shape(image)
  limit = tf.stack([padded[0] - crop_h + 1, padded[1] - crop_w + 1])
  offset = tf.random.stateless_uniform([2], seed, 0, tf.int32.max, tf.int32)
  offset = offset % limit
  image = tf.slice(image, [offset[0], offset[1], 0], [crop_h, crop_w, 3])
  segments = tf.slice(segments, offset, [crop_h, crop_w])
  valid = tf.slice(valid, offset, [crop_h, crop_w])
  return image, segments, valid, offset


def random_flip(image: tf.Tensor, segments: tf.Tensor, seed: tf.Tensor,
                extra: Optional[tf.Tensor] = None, probability: float = 0.5):
  """Flips left-right with the given probability.

  Args:
    image: [H, W, C]; segments: [H, W]; extra: optional [H, W] (e.g. valid
      mask) flipped alike; seed: int [2].

  Returns:
    (image, segments, extra, flipped bool scalar).
  """
  flipped = tf.random.stateless_uniform([], seed) < probability

  def flip(x):
    return tf.cond(flipped, lambda: tf.reverse(x, [1]), lambda: x)

  return (flip(image), flip(segments),
          None if extra is None else flip(extra), flipped)
