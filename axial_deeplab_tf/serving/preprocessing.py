"""In-graph input handling for exported models: decode, batch, normalize.

Everything here is pure TensorFlow, so it runs inside a SavedModel
signature as well as eagerly (trainer/predict.py uses the same decoder).

Images of one request may differ in size. `decode_image_batch` decodes a
batch of encoded strings into one uint8 tensor padded with zeros at the
bottom and right to the largest height and width of the batch, and returns
each image's own (height, width) beside it.
"""

from typing import Sequence, Tuple

import tensorflow as tf

from axial_deeplab_tf.dataloaders import augment
from axial_deeplab_tf.data import schema


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
  """Decodes one JPEG, PNG, GIF or BMP string into uint8 RGB.

  Grayscale images are repeated over three channels, an alpha channel is
  dropped, 16-bit PNGs are reduced to their 8 most significant bits, and an
  animated GIF gives its first frame.

  Args:
    encoded: scalar string tensor.

  Returns:
    uint8 [height, width, 3].
  """
  # Decoding as uint16 keeps all 16 bits of 16-bit PNGs; 8-bit formats are
  # scaled up by exactly 256 (convert_image_dtype), so `>> 8` restores them.
  image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint16,
                             expand_animations=False)
  image = tf.cast(tf.bitwise.right_shift(image, tf.constant(8, tf.uint16)),
                  tf.uint8)
  image.set_shape([None, None, 3])
  return image


def parse_example_image(serialized: tf.Tensor) -> tf.Tensor:
  """Decodes the image of one serialized tf.Example of our schema.

  Args:
    serialized: scalar string, a tf.Example with `image/encoded` (see
      `data.schema`); every other key is ignored.

  Returns:
    uint8 [height, width, 3].
  """
  features = tf.io.parse_single_example(
      serialized, {schema.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string)})
  return decode_image(features[schema.IMAGE_ENCODED])


def _decode_batch(strings: tf.Tensor, decode_fn) -> Tuple[tf.Tensor, tf.Tensor]:
  """Applies `decode_fn` to each string and pads the results to one batch."""

  def decode_one(value):
    image = decode_fn(value)
    return (tf.RaggedTensor.from_tensor(image, ragged_rank=1),
            tf.shape(image)[:2])

  ragged, sizes = tf.map_fn(
      decode_one, strings,
      fn_output_signature=(
          tf.RaggedTensorSpec([None, None, 3], tf.uint8, ragged_rank=1),
          tf.TensorSpec([2], tf.int32)))
  return ragged.to_tensor(default_value=0), sizes


def decode_image_batch(encoded: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """Decodes a batch of encoded images of possibly different sizes.

  Args:
    encoded: string [batch], JPEG / PNG / GIF / BMP bytes.

  Returns:
    images: uint8 [batch, max_height, max_width, 3], zero-padded at the
      bottom and right.
    image_sizes: int32 [batch, 2], each image's (height, width).
  """
  return _decode_batch(encoded, decode_image)


def parse_example_batch(serialized: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """Like `decode_image_batch` for serialized tf.Examples of our schema."""
  return _decode_batch(serialized, parse_example_image)


def full_sizes(images: tf.Tensor) -> tf.Tensor:
  """int32 [batch, 2]: every image of a dense batch has the batch's size."""
  shape = tf.shape(images)
  return tf.tile(shape[1:3][tf.newaxis], [shape[0], 1])


def normalize(images: tf.Tensor, mean: Sequence[float],
              std: Sequence[float]) -> tf.Tensor:
  """uint8 or float [..., 3] in [0, 255] -> float32 (x / 255 - mean) / std.

  The same normalization as the training pipeline
  (`dataloaders.augment.normalize_image`).
  """
  return augment.normalize_image(images, mean=mean, std=std)


def validate_mean_std(mean: Sequence[float], std: Sequence[float]):
  """Checks the normalization statistics; returns them as float tuples."""
  mean = tuple(float(v) for v in mean)
  std = tuple(float(v) for v in std)
  if len(mean) != 3:
    raise ValueError(f'mean: expected 3 values (RGB, in [0, 1]), got {mean}.')
  if len(std) != 3 or min(std) <= 0:
    raise ValueError(f'std: expected 3 positive values (RGB, in [0, 1]), '
                     f'got {std}.')
  return mean, std


def input_specs(batch_size=None, input_image_size=None):
  """TensorSpecs of the three signature inputs, keyed by signature name."""
  height, width = (tuple(int(v) for v in input_image_size)
                   if input_image_size else (None, None))
  return {
      'serving_default': tf.TensorSpec([batch_size, height, width, 3],
                                       tf.uint8, name='images'),
      'image_bytes': tf.TensorSpec([batch_size], tf.string,
                                   name='image_bytes'),
      'tf_example': tf.TensorSpec([batch_size], tf.string,
                                  name='serialized_examples'),
  }
