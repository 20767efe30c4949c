"""Classification input pipeline (ImageNet-style).

`build_classification_dataset(params, input_context)` gives batches
{'image': float32 [B, S, S, 3] normalized, 'label': int32 [B]} (B =
per-replica batch size, S = `image_size`). `params` is the task's data
config (`configs.classification.ClassificationDataConfig`, a Model Garden
`DataConfig`), read through Model Garden's `InputReader` by
`seeded_reader` (TFRecord files in sorted order or TFDS, sharding per
input pipeline, shuffling and repeating when training, caching;
evaluation keeps the record order).

Training: Inception-style random resized crop (area fraction in
`area_range`, aspect ratio in `aspect_ratio_range`), random flip (`flip`),
resize to S x S, drawn from each example's stateless seed, so
`deterministic` runs with a fixed `seed` repeat exactly. Evaluation:
central crop of `center_crop_fraction` of the shorter side, resized to
S x S. Both normalize with `mean` and `std`.

Sources: our classification TFRecords (see `data.schema`) or TFDS builders
with 'image' and 'label' features (`imagenet2012`, `imagenette`, ...).

Not Model Garden's `dataloaders.classification_input` parser: its TFDS
decoders cover only cifar10, cifar100 and imagenet2012, its crops use
stateful random ops, and its mean and std are fixed to ImageNet's.
"""

from typing import Callable, Dict, Optional

import tensorflow as tf

from official.core import config_definitions as cfg

from axial_deeplab_tf.dataloaders import augment
from axial_deeplab_tf.dataloaders import panoptic_decoder
from axial_deeplab_tf.dataloaders import seeded_reader
from axial_deeplab_tf.dataloaders import tfds_adapters


def random_resized_crop(image: tf.Tensor, seed: tf.Tensor, size: int,
                        area_range, aspect_ratio_range) -> tf.Tensor:
  """image [H, W, 3] -> float32 [size, size, 3] Inception-style crop."""
  begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), tf.zeros([1, 0, 4], tf.float32), seed=seed,
      min_object_covered=0.0, aspect_ratio_range=aspect_ratio_range,
      area_range=area_range, max_attempts=10,
      use_image_if_no_bounding_boxes=True)
  crop = tf.slice(image, begin, crop_size)
  return tf.image.resize(tf.cast(crop, tf.float32), [size, size])


def center_crop(image: tf.Tensor, size: int, fraction: float) -> tf.Tensor:
  """image [H, W, 3] -> float32 [size, size, 3] central crop, resized."""
  shape = tf.shape(image)
  side = tf.cast(tf.cast(tf.minimum(shape[0], shape[1]), tf.float32)
                 * fraction, tf.int32)
  side = tf.maximum(side, 1)
  top = (shape[0] - side) // 2
  left = (shape[1] - side) // 2
  crop = tf.slice(image, [top, left, 0], [side, side, 3])
  return tf.image.resize(tf.cast(crop, tf.float32), [size, size])


class ClassificationParser:
  """Decoded {'image' uint8 [H, W, 3], 'label'} -> model inputs.

  Reads image_size, area_range, aspect_ratio_range, flip,
  center_crop_fraction, mean and std of the data config.
  """

  def __init__(self, params: cfg.DataConfig):
    self._c = params

  def parse_train(self, decoded: Dict[str, tf.Tensor], seed: tf.Tensor
                  ) -> Dict[str, tf.Tensor]:
    """Random resized crop and flip of one example; seed int64 [2]."""
    c = self._c
    seeds = tf.random.experimental.stateless_split(seed, 2)
    image = random_resized_crop(decoded['image'], seeds[0], c.image_size,
                                c.area_range, c.aspect_ratio_range)
    if c.flip:
      image = tf.image.stateless_random_flip_left_right(image, seeds[1])
    return {'image': augment.normalize_image(image, c.mean, c.std),
            'label': tf.cast(decoded['label'], tf.int32)}

  def parse_eval(self, decoded: Dict[str, tf.Tensor]
                 ) -> Dict[str, tf.Tensor]:
    """Central crop of one example."""
    c = self._c
    image = center_crop(decoded['image'], c.image_size,
                        c.center_crop_fraction)
    return {'image': augment.normalize_image(image, c.mean, c.std),
            'label': tf.cast(decoded['label'], tf.int32)}


def decoder_fn(params: cfg.DataConfig) -> Callable:
  """Returns element -> {'image', 'label'} for the configured source."""
  if params.tfds_name:
    return tfds_adapters.classification_adapter
  return panoptic_decoder.ClassificationDecoder().decode


def build_classification_dataset(
    params: cfg.DataConfig,
    input_context: Optional[tf.distribute.InputContext] = None
) -> tf.data.Dataset:
  """Builds batches {'image' float32 [B, S, S, 3], 'label' int32 [B]}.

  Args:
    params: the task's classification data config (input_path or
      tfds_name with tfds_split, is_training, global_batch_size, image_size,
      ...; docs/data.md).
    input_context: from `strategy.distribute_datasets_from_function`; the
      dataset is sharded per input pipeline and batched per replica.

  Raises:
    ValueError: none or both of input_path and tfds_name are set, or
      input_path matches no file.
  """
  parser = ClassificationParser(params)
  return seeded_reader.read(params, decoder_fn(params), parser.parse_train,
                            parser.parse_eval, input_context)
