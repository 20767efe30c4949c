"""Panoptic input pipeline: decoded examples -> batches of image + targets.

`build_panoptic_dataset(params, encoding, input_context)` is the public
entry point: `params` is the task's data config
(`configs.panoptic.PanopticDataConfig`, a Model Garden `DataConfig`), read
through Model Garden's `InputReader` (TFRecord files or TFDS, sharding per
input pipeline, shuffling, repeating, caching; see `seeded_reader`);
`encoding` is the dataset's `data.encoding.PanopticEncoding`. Each batch
is a dict (B = per-replica batch size; H, W = crop size when training,
padded size in evaluation). Files are read in sorted order:

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

`seeded_reader` reads (InputReader decodes, and caches with `cache`),
then parses and batches. Augmentation is stateless: every decoded training
example is paired with a seed int64 [2] drawn from `params.seed` (offset
per input pipeline), so `deterministic` runs with a fixed seed reproduce
their batches, and cached data is augmented afresh each epoch. Evaluation
always keeps the record order (`deterministic` is forced on).
"""

from typing import Callable, Dict, Optional

import tensorflow as tf

from official.core import config_definitions as cfg

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.dataloaders import augment
from axial_deeplab_tf.dataloaders import panoptic_decoder
from axial_deeplab_tf.dataloaders import seeded_reader
from axial_deeplab_tf.dataloaders import targets as targets_lib
from axial_deeplab_tf.dataloaders import tfds_adapters



class PanopticParser:
  """Turns a decoded dict (see `panoptic_decoder`) into model inputs.

  Reads the panoptic options of the data config (crop_size, min_scale,
  max_scale, flip, ignore_label, sigma, small_instance_area,
  small_instance_weight, ignore_crowd_in_semantic, eval_pad_size,
  pad_size_divisor, pad_size_offset, mean, std; docs/data.md).
  """

  def __init__(self, params: cfg.DataConfig,
               encoding: encoding_lib.PanopticEncoding):
    self._c = params
    self._encoding = encoding
    self._crop_size = tuple(params.crop_size)
    self._eval_pad_size = (None if params.eval_pad_size is None
                           else tuple(params.eval_pad_size))

  def _targets(self, decoded, segments):
    c = self._c
    return targets_lib.panoptic_targets(
        segments, decoded['class_ids'], decoded['is_crowd'],
        decoded['is_thing'], label_divisor=self._encoding.label_divisor,
        ignore_label=c.ignore_label, sigma=c.sigma,
        small_instance_area=c.small_instance_area,
        small_instance_weight=c.small_instance_weight,
        ignore_crowd_in_semantic=c.ignore_crowd_in_semantic)

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
        image, segments, self._crop_size, seeds[1],
        augment.mean_pixel(c.mean))
    if c.flip:
      image, segments, valid, _ = augment.random_flip(
          image, segments, seeds[2], extra=valid)
    out = self._targets(decoded, segments)
    out['image'] = augment.normalize_image(image, c.mean, c.std)
    out['valid_mask'] = valid
    out['panoptic'] = tf.where(valid > 0, out['panoptic'],
                               targets_lib.VOID_PANOPTIC)
    crop = tf.constant(self._crop_size, tf.float32)
    out['image_info'] = tf.stack(
        [orig_size, crop, scaled / orig_size, tf.cast(offset, tf.float32)])
    return out

  def eval_size(self, height, width):
    """Padded evaluation size of a [height, width] image (int32 [2])."""
    c = self._c
    if self._eval_pad_size is not None:
      return tf.constant(self._eval_pad_size, tf.int32)
    size = tf.stack([height, width])
    div, off = c.pad_size_divisor, c.pad_size_offset
    k = tf.maximum(-((off - size) // div), 0)  # ceil((size - off) / div)
    return k * div + off

  def parse_eval(self, decoded: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Normalizes and pads one example, no augmentation."""
    c = self._c
    pad_size = self._eval_pad_size
    image = tf.cast(decoded['image'], tf.float32)
    segments = decoded['segments']
    shape = tf.shape(image)[:2]
    size = self.eval_size(shape[0], shape[1])
    if pad_size is not None:
      check = tf.debugging.assert_less_equal(
          shape, size, message=('image larger than eval_pad_size '
                                f'{list(pad_size)}'))
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
    if pad_size is not None:  # static shapes for XLA / TPU
      for key, value in out.items():
        if key != 'image_info' and value.shape.rank >= 2:
          value.set_shape(list(pad_size) + value.shape[2:].as_list())
    return out


def decoder_fn(params: cfg.DataConfig,
               encoding: encoding_lib.PanopticEncoding) -> Callable:
  """Returns element -> decoded dict for the configured source."""
  if params.tfds_name:
    return tfds_adapters.panoptic_adapter(params.tfds_name, encoding)
  return panoptic_decoder.PanopticDecoder().decode


def _padded_shapes_and_values(ignore_label: int):
  """padded_batch arguments of variable-size evaluation examples."""
  values = {
      'image': 0.0, 'semantic': ignore_label,
      'semantic_weights': 0.0, 'center_heatmap': 0.0, 'center_offsets': 0.0,
      'center_weights': 0.0, 'offset_weights': 0.0,
      'panoptic': targets_lib.VOID_PANOPTIC, 'valid_mask': 0.0,
      'image_info': 0.0, 'source_id': ''}
  shapes = {
      'image': [None, None, 3], 'semantic': [None, None],
      'semantic_weights': [None, None], 'center_heatmap': [None, None, 1],
      'center_offsets': [None, None, 2], 'center_weights': [None, None],
      'offset_weights': [None, None], 'panoptic': [None, None],
      'valid_mask': [None, None], 'image_info': [4, 2], 'source_id': []}
  return shapes, values


def batch_fn(params: cfg.DataConfig) -> seeded_reader.BatchFn:
  """Batches parsed examples; evaluation without `eval_pad_size` pads
  each batch to its largest image."""
  if params.is_training or params.eval_pad_size is not None:
    return seeded_reader.batch
  shapes, values = _padded_shapes_and_values(params.ignore_label)

  def padded(ds, batch_size, drop_remainder, deterministic):
    del deterministic  # padded_batch keeps the order
    return ds.padded_batch(batch_size, padded_shapes=shapes,
                           padding_values=values,
                           drop_remainder=drop_remainder)
  return padded


def build_panoptic_dataset(
    params: cfg.DataConfig,
    encoding: encoding_lib.PanopticEncoding,
    input_context: Optional[tf.distribute.InputContext] = None
) -> tf.data.Dataset:
  """Builds the batched panoptic dataset (keys in the module docstring).

  Args:
    params: the task's panoptic data config (input_path or tfds_name with
      tfds_split, is_training, global_batch_size, ...; docs/data.md).
    encoding: the dataset's panoptic encoding (label_divisor of the
      ground-truth `panoptic` maps; thing classes of TFDS labels).
    input_context: from `strategy.distribute_datasets_from_function`; the
      dataset is sharded per input pipeline and batched per replica.

  Returns:
    tf.data.Dataset of dicts.
  """
  parser = PanopticParser(params, encoding)
  return seeded_reader.read(params, decoder_fn(params, encoding),
                            parser.parse_train, parser.parse_eval,
                            input_context, batch_fn(params))
