"""Panoptic input pipeline: decoded examples -> batches of image + targets.

`build_panoptic_dataset(config, input_context)` is the public entry point.
Each batch is a dict (B = per-replica batch size; H, W = crop size when
training, padded size in evaluation):

  image:            float32 [B, H, W, 3], (x / 255 - mean) / std; padding
                    is the mean pixel, i.e. 0.
  semantic:         int32 [B, H, W], ignore_label on void/padding.
  semantic_weights: float32 [B, H, W].
  center_heatmap:   float32 [B, H, W, 1].
  center_offsets:   float32 [B, H, W, 2], (dy, dx) in pixels.
  center_weights:   float32 [B, H, W].
  offset_weights:   float32 [B, H, W].
  panoptic:         int32 [B, H, W], class * label_divisor + instance
                    number; -1 on void and padding (see `targets`).
  valid_mask:       float32 [B, H, W], 1 on image pixels, 0 on padding.
  image_info:       float32 [B, 4, 2], rows: original (height, width),
                    output (height, width), (scale_y, scale_x) applied,
                    (offset_y, offset_x) of the crop in the scaled image
                    (before the flip; training).
                    In evaluation scale is 1 and offset 0: the prediction
                    for the original image is output[:orig_h, :orig_w].
  source_id:        string [B] (evaluation only).

Training: random scale, pad-and-random-crop, random flip, then targets.
Evaluation: original resolution, padded at bottom/right to `eval_pad_size`
(fixed) or to the next size of the form k * pad_size_divisor + pad_size_offset
(batches then padded to their largest element).
"""

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

from axial_deeplab_tf.dataloaders import augment
from axial_deeplab_tf.dataloaders import panoptic_decoder
from axial_deeplab_tf.dataloaders import pipeline
from axial_deeplab_tf.dataloaders import targets as targets_lib
from axial_deeplab_tf.data import normalization


@dataclasses.dataclass
class PanopticDataConfig(pipeline.SourceConfig):
  """Panoptic pipeline options (plus `pipeline.SourceConfig`'s).

  Attributes:
    crop_size: (height, width) of training crops.
    min_scale, max_scale: random scale range (training).
    flip: random horizontal flip (training).
    ignore_label: semantic label of void and padding.
    label_divisor: panoptic id = class * label_divisor + instance.
    sigma: center heatmap Gaussian sigma (pixels).
    small_instance_area, small_instance_weight: semantic weight of small
      instances.
    ignore_crowd_in_semantic: crowd pixels get ignore_label.
    eval_pad_size: fixed (height, width) evaluation images are padded to;
      None pads to k * pad_size_divisor + pad_size_offset.
    pad_size_divisor, pad_size_offset: see eval_pad_size.
    mean, std: normalization (ImageNet RGB statistics by default).
    num_thing_classes: TFDS coco/2017_panoptic only: labels below it are
      things (80 for COCO).
  """
  crop_size: Tuple[int, int] = (513, 513)
  min_scale: float = 0.5
  max_scale: float = 2.0
  flip: bool = True
  ignore_label: int = 255
  label_divisor: int = 256
  sigma: float = 8.0
  small_instance_area: int = 4096
  small_instance_weight: float = 3.0
  ignore_crowd_in_semantic: bool = False
  eval_pad_size: Optional[Tuple[int, int]] = None
  pad_size_divisor: int = 32
  pad_size_offset: int = 0
  mean: Sequence[float] = normalization.IMAGENET_MEAN
  std: Sequence[float] = normalization.IMAGENET_STD
  num_thing_classes: int = 80


class PanopticParser:
  """Turns a decoded dict (see `panoptic_decoder`) into model inputs."""

  def __init__(self, config: PanopticDataConfig):
    self._c = config

  def _targets(self, decoded, segments):
    c = self._c
    return targets_lib.panoptic_targets(
        segments, decoded['class_ids'], decoded['is_crowd'],
        decoded['is_thing'], ignore_label=c.ignore_label, sigma=c.sigma,
        small_instance_area=c.small_instance_area,
        small_instance_weight=c.small_instance_weight,
        ignore_crowd_in_semantic=c.ignore_crowd_in_semantic,
        label_divisor=c.label_divisor)

  def parse_train(self, decoded: Dict[str, tf.Tensor], seed: tf.Tensor
                  ) -> Dict[str, tf.Tensor]:
    """Augments and builds targets of one example; seed int64 [2]."""
    c = self._c
    seeds = tf.random.experimental.stateless_split(seed, 3)
    image = tf.cast(decoded['image'], tf.float32)
    segments = decoded['segments']
    orig_size = tf.cast(tf.shape(image)[:2], tf.float32)
    image, segments, _ = augment.random_scale(
        image, segments, seeds[0], c.min_scale, c.max_scale)
    scaled = tf.cast(tf.shape(image)[:2], tf.float32)
    image, segments, valid, offset = augment.random_crop(
        image, segments, c.crop_size, seeds[1], augment.mean_pixel(c.mean))
    if c.flip:
      image, segments, valid, _ = augment.random_flip(
          image, segments, seeds[2], extra=valid)
    out = self._targets(decoded, segments)
    out['image'] = augment.normalize_image(image, c.mean, c.std)
    out['valid_mask'] = valid
    out['panoptic'] = tf.where(valid > 0, out['panoptic'],
                               targets_lib.VOID_PANOPTIC)
    crop = tf.constant(c.crop_size, tf.float32)
    out['image_info'] = tf.stack(
        [orig_size, crop, scaled / orig_size, tf.cast(offset, tf.float32)])
    return out

  def eval_size(self, height, width):
    """Padded evaluation size of a [height, width] image (int32 [2])."""
    c = self._c
    if c.eval_pad_size is not None:
      return tf.constant(c.eval_pad_size, tf.int32)
    size = tf.stack([height, width])
    div, off = c.pad_size_divisor, c.pad_size_offset
    k = tf.maximum(-((off - size) // div), 0)  # ceil((size - off) / div)
    return k * div + off

  def parse_eval(self, decoded: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Normalizes and pads one example, no augmentation."""
    c = self._c
    image = tf.cast(decoded['image'], tf.float32)
    segments = decoded['segments']
    shape = tf.shape(image)[:2]
    size = self.eval_size(shape[0], shape[1])
    if c.eval_pad_size is not None:
      check = tf.debugging.assert_less_equal(
          shape, size, message=('image larger than eval_pad_size '
                                f'{c.eval_pad_size}'))
      with tf.control_dependencies([check]):
        size = tf.identity(size)
    image, segments = augment.pad_to_size(image, segments, size[0], size[1],
                                          augment.mean_pixel(c.mean))
    out = self._targets(decoded, segments)
    out['image'] = augment.normalize_image(image, c.mean, c.std)
    valid = tf.pad(tf.ones(shape, tf.float32),
                   [[0, size[0] - shape[0]], [0, size[1] - shape[1]]])
    out['valid_mask'] = valid
    out['image_info'] = tf.stack([tf.cast(shape, tf.float32),
                                  tf.cast(size, tf.float32),
                                  tf.ones([2]), tf.zeros([2])])
    out['source_id'] = decoded['source_id']
    if c.eval_pad_size is not None:  # static shapes for XLA / TPU
      for key, value in out.items():
        if key != 'image_info' and value.shape.rank >= 2:
          value.set_shape(list(c.eval_pad_size) + value.shape[2:].as_list())
    return out


def decode_fn(config: PanopticDataConfig):
  """Returns element -> decoded dict for the configured source."""
  if config.tfds_name is not None:
    from axial_deeplab_tf.dataloaders import tfds_adapters  # pylint: disable=g-import-not-at-top
    return tfds_adapters.panoptic_adapter(config.tfds_name,
                                          config.num_thing_classes)
  return panoptic_decoder.PanopticDecoder().decode


def build_panoptic_dataset(
    config: PanopticDataConfig,
    input_context: Optional[tf.distribute.InputContext] = None
) -> tf.data.Dataset:
  """Builds the batched panoptic dataset (keys in the module docstring).

  Args:
    config: PanopticDataConfig (input_path or tfds_name, is_training, ...).
    input_context: from `strategy.distribute_datasets_from_function`; the
      dataset is sharded per input pipeline and batched per replica.

  Returns:
    tf.data.Dataset of dicts.
  """
  decode = decode_fn(config)
  parser = PanopticParser(config)
  ds = pipeline.source_dataset(config, input_context)
  if config.is_training:
    def map_fn(element, seed):
      return parser.parse_train(decode(element), seed)
    return pipeline.finish(ds, config, map_fn, input_context)

  def eval_map_fn(element, seed):
    del seed
    return parser.parse_eval(decode(element))
  if config.eval_pad_size is not None:
    return pipeline.finish(ds, config, eval_map_fn, input_context)
  padding_values = {
      'image': 0.0, 'semantic': config.ignore_label,
      'semantic_weights': 0.0, 'center_heatmap': 0.0, 'center_offsets': 0.0,
      'center_weights': 0.0, 'offset_weights': 0.0,
      'panoptic': targets_lib.VOID_PANOPTIC, 'valid_mask': 0.0,
      'image_info': 0.0, 'source_id': ''}
  padded_shapes = {
      'image': [None, None, 3], 'semantic': [None, None],
      'semantic_weights': [None, None], 'center_heatmap': [None, None, 1],
      'center_offsets': [None, None, 2], 'center_weights': [None, None],
      'offset_weights': [None, None], 'panoptic': [None, None],
      'valid_mask': [None, None], 'image_info': [4, 2], 'source_id': []}
  return pipeline.finish(ds, config, eval_map_fn, input_context,
                         padded_shapes=padded_shapes,
                         padding_values=padding_values)
