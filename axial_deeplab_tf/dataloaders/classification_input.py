"""Classification input pipeline (ImageNet-style).

`build_classification_dataset(config, input_context)` gives batches
{'image': float32 [B, S, S, 3] normalized, 'label': int32 [B]}.

Training: Inception-style random resized crop (area fraction in
`area_range`, aspect ratio in `aspect_ratio_range`), random flip, resize to
S x S. Evaluation: central crop of `center_crop_fraction` of the shorter
side, resized to S x S.

Sources: our classification TFRecords (see `schema`) or TFDS builders with
'image' and 'label' features (`imagenet2012`, `imagenette`, ...).

Not Model Garden's `dataloaders.classification_input`: its TFDS decoders
cover only cifar10, cifar100 and imagenet2012, its crops use stateful
random ops (ours draw from per-element seeds, so `deterministic` runs
repeat exactly), and its mean and std are fixed to ImageNet's.
"""

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

from axial_deeplab_tf.dataloaders import augment
from axial_deeplab_tf.dataloaders import panoptic_decoder
from axial_deeplab_tf.dataloaders import pipeline
from axial_deeplab_tf.dataloaders import tfds_adapters
from axial_deeplab_tf.data import normalization


@dataclasses.dataclass
class ClassificationDataConfig(pipeline.SourceConfig):
  """Classification options (plus `pipeline.SourceConfig`'s)."""
  image_size: int = 224
  area_range: Tuple[float, float] = (0.08, 1.0)
  aspect_ratio_range: Tuple[float, float] = (3 / 4, 4 / 3)
  center_crop_fraction: float = 0.875
  flip: bool = True
  mean: Sequence[float] = normalization.IMAGENET_MEAN
  std: Sequence[float] = normalization.IMAGENET_STD


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
  """Decoded {'image' uint8 [H, W, 3], 'label'} -> model inputs."""

  def __init__(self, config: ClassificationDataConfig):
    self._c = config

  def parse_train(self, decoded: Dict[str, tf.Tensor], seed: tf.Tensor):
    c = self._c
    seeds = tf.random.experimental.stateless_split(seed, 2)
    image = random_resized_crop(decoded['image'], seeds[0], c.image_size,
                                c.area_range, c.aspect_ratio_range)
    if c.flip:
      image = tf.image.stateless_random_flip_left_right(image, seeds[1])
    return {'image': augment.normalize_image(image, c.mean, c.std),
            'label': tf.cast(decoded['label'], tf.int32)}

  def parse_eval(self, decoded: Dict[str, tf.Tensor]):
    c = self._c
    image = center_crop(decoded['image'], c.image_size,
                        c.center_crop_fraction)
    return {'image': augment.normalize_image(image, c.mean, c.std),
            'label': tf.cast(decoded['label'], tf.int32)}


def decode_fn(config: ClassificationDataConfig):
  """Returns element -> {'image', 'label'} for the configured source."""
  if config.tfds_name is not None:
    return tfds_adapters.classification_adapter
  return panoptic_decoder.ClassificationDecoder().decode


def build_classification_dataset(
    config: ClassificationDataConfig,
    input_context: Optional[tf.distribute.InputContext] = None
) -> tf.data.Dataset:
  """Builds batches {'image' float32 [B, S, S, 3], 'label' int32 [B]}."""
  decode = decode_fn(config)
  parser = ClassificationParser(config)
  ds = pipeline.source_dataset(config, input_context)
  if config.is_training:
    map_fn = lambda element, seed: parser.parse_train(decode(element), seed)
  else:
    map_fn = lambda element, seed: parser.parse_eval(decode(element))
  return pipeline.finish(ds, config, map_fn, input_context)
