"""Panoptic-DeepLab meta-architecture over any multi-level backbone.

    images [B, H, W, 3]
      -> pad bottom/right with zeros to (k * output_stride + 1) per axis
      -> backbone -> {'2': stride 4, '3': stride 8, '5': stride 16 or 32}
      -> semantic decoder -> semantic head           (stride 4)
      -> instance decoder -> center head, offset head (stride 4)
      -> corner-aligned bilinear upsampling to the padded size, crop to H, W

Pixel alignment for any H, W: with SAME-padded stride-2 layers, an input of
size k * s + 1 gives a stride-s feature of size k + 1 whose pixel i sits on
input pixel s * i (the Panoptic-DeepLab / DeepLab convention). Padding the
input to that size and upsampling with aligned corners puts output pixel
(y, x) exactly on input pixel (y, x); the zero padding is cropped away.
Inputs already of size k * s + 1 (e.g. 1025 x 2049, 65 x 97) are not padded.

Offsets: the offset head predicts (dy, dx) in units of its own stride-4
grid; on upsampling they are multiplied by the resize factor
(padded - 1) / (stride-4 size - 1) per axis (4 on aligned inputs), so
'center_offsets' is in input pixels.
"""

from typing import Dict, Optional, Sequence

import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import recompute
from axial_deeplab_tf.modeling import decoders
from axial_deeplab_tf.modeling import heads
from axial_deeplab_tf.ops import shapes

_PACKAGE = 'axial_deeplab_tf'


def aligned_size(size, stride: int):
  """Smallest k * stride + 1 >= size, elementwise: a list of Python ints
  for a list of Python ints (static shapes, no graph op), else int32."""
  if isinstance(size, list) and shapes.is_static(*size):
    return [_aligned(s, stride) for s in size]
  return _aligned(tf.cast(size, tf.int32), stride)


def _aligned(size, stride):  # a Python int or an int32 tensor
  return (size - 1 + stride - 1) // stride * stride + 1


def upsample_to_input(x: tf.Tensor, padded_size: tf.Tensor,
                      output_size: tf.Tensor,
                      scale_offsets: bool = False) -> tf.Tensor:
  """Corner-aligned upsampling of a stride-4 prediction, then crop.

  Args:
    x: [batch, h4, w4, C] prediction on the padded input's stride-4 grid.
    padded_size: int32 [2] or 2 Python ints, the padded input (height,
      width).
    output_size: the same for the original input.
    scale_offsets: multiply channel (dy, dx) by the per-axis resize factor
      (C must be 2).

  Returns:
    float32 [batch, output_size[0], output_size[1], C].
  """
  x = tf.cast(x, tf.float32)
  if scale_offsets:
    small = tf.cast(shapes.dims(x)[1:3], tf.float32)
    big = tf.cast(padded_size, tf.float32)
    factor = tf.math.divide_no_nan(big - 1.0, small - 1.0)
    factor = tf.where(small > 1.0, factor, tf.ones_like(factor))
    x = x * tf.reshape(factor, [1, 1, 1, 2])
  x = decoders.resize_aligned(x, padded_size)
  if isinstance(padded_size, list) and padded_size == output_size:
    return x  # static sizes, nothing padded
  return x[:, :output_size[0], :output_size[1], :]


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class PanopticDeepLab(tf_keras.Model):
  """Backbone + dual decoder + heads; outputs at the input resolution.

  Args:
    backbone: tf_keras layer/model, images [B, H, W, 3] -> dict of features
      keyed by level string ('2' stride 4, '3' stride 8, high level stride
      `output_stride`).
    num_classes: number of semantic classes K.
    output_stride: stride of the high-level feature, 16 or 32 (default 16);
      inputs are padded to k * output_stride + 1.
    high_level_feature: backbone key fed to the decoders (default '5').
    low_level_features: skip keys, stride 8 then stride 4 (default
      ('3', '2')).
    use_aspp: ASPP instead of a 1x1 conv on the high level (default False).
    aspp_atrous_rates: ASPP rates (default (6, 12, 18)).
    semantic_aspp_channels, instance_aspp_channels: width after the 1x1 conv
      / ASPP (default 256, 256).
    semantic_low_level_channels: (default (64, 32)).
    instance_low_level_channels: (default (32, 16)).
    semantic_decoder_channels: (default 256); instance_decoder_channels:
      (default 128).
    semantic_head_channels: (default 256); center_head_channels,
      offset_head_channels: (default 32, 32).
    kernel_size: depthwise kernel of decoder and head convs (default 5).
    use_sync_bn, norm_momentum, norm_epsilon: batch-norm options for the
      decoders and heads (default False, 0.99, 1e-3).
    kernel_regularizer: optional tf_keras regularizer for decoder/head convs.
    recompute_decoder: in training, keep only the backbone features for
      the backward pass and compute each decoder branch with its heads
      again there (`layers.recompute`; same result, less memory at
      stride 4, about one more decoder forward pass per step; default
      False).

  Call: images [B, H, W, 3] (any H, W) -> dict
    'semantic_logits' float32 [B, H, W, K],
    'center_heatmap'  float32 [B, H, W, 1],
    'center_offsets'  float32 [B, H, W, 2]   (dy, dx) in input pixels.
  """

  def __init__(self,
               backbone: tf_keras.layers.Layer,
               num_classes: int,
               output_stride: int = 16,
               high_level_feature: str = '5',
               low_level_features: Sequence[str] = ('3', '2'),
               use_aspp: bool = False,
               aspp_atrous_rates: Sequence[int] = (6, 12, 18),
               semantic_aspp_channels: int = 256,
               semantic_low_level_channels: Sequence[int] = (64, 32),
               semantic_decoder_channels: int = 256,
               semantic_head_channels: int = 256,
               instance_aspp_channels: int = 256,
               instance_low_level_channels: Sequence[int] = (32, 16),
               instance_decoder_channels: int = 128,
               center_head_channels: int = 32,
               offset_head_channels: int = 32,
               kernel_size: int = 5,
               use_sync_bn: bool = False,
               norm_momentum: float = 0.99,
               norm_epsilon: float = 1e-3,
               kernel_regularizer=None,
               recompute_decoder: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    if int(num_classes) < 1:
      raise ValueError(f'num_classes: expected an int >= 1, got {num_classes}.')
    if int(output_stride) not in (4, 8, 16, 32):
      raise ValueError(f'output_stride: expected 16 or 32 (or 4, 8), got '
                       f'{output_stride}.')
    self.backbone = backbone
    self._options = dict(
        num_classes=int(num_classes), output_stride=int(output_stride),
        high_level_feature=str(high_level_feature),
        low_level_features=[str(k) for k in low_level_features],
        use_aspp=bool(use_aspp),
        aspp_atrous_rates=[int(r) for r in aspp_atrous_rates],
        semantic_aspp_channels=int(semantic_aspp_channels),
        semantic_low_level_channels=[int(c) for c in
                                     semantic_low_level_channels],
        semantic_decoder_channels=int(semantic_decoder_channels),
        semantic_head_channels=int(semantic_head_channels),
        instance_aspp_channels=int(instance_aspp_channels),
        instance_low_level_channels=[int(c) for c in
                                     instance_low_level_channels],
        instance_decoder_channels=int(instance_decoder_channels),
        center_head_channels=int(center_head_channels),
        offset_head_channels=int(offset_head_channels),
        kernel_size=int(kernel_size), use_sync_bn=bool(use_sync_bn),
        norm_momentum=float(norm_momentum), norm_epsilon=float(norm_epsilon),
        recompute_decoder=bool(recompute_decoder))
    self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
    o = self._options
    norm = dict(use_sync_bn=o['use_sync_bn'],
                norm_momentum=o['norm_momentum'],
                norm_epsilon=o['norm_epsilon'],
                kernel_regularizer=self.kernel_regularizer)
    branch = dict(high_level_feature=o['high_level_feature'],
                  low_level_features=o['low_level_features'],
                  use_aspp=o['use_aspp'],
                  aspp_atrous_rates=o['aspp_atrous_rates'],
                  kernel_size=o['kernel_size'], **norm)
    self.semantic_decoder = decoders.semantic_decoder(
        low_level_channels=o['semantic_low_level_channels'],
        aspp_channels=o['semantic_aspp_channels'],
        decoder_channels=o['semantic_decoder_channels'], **branch)
    self.semantic_head = heads.semantic_head(
        o['num_classes'], o['semantic_head_channels'],
        kernel_size=o['kernel_size'], **norm)
    self.instance_decoder = decoders.instance_decoder(
        low_level_channels=o['instance_low_level_channels'],
        aspp_channels=o['instance_aspp_channels'],
        decoder_channels=o['instance_decoder_channels'], **branch)
    self.center_head = heads.center_head(
        o['center_head_channels'], kernel_size=o['kernel_size'], **norm)
    self.offset_head = heads.offset_head(
        o['offset_head_channels'], kernel_size=o['kernel_size'], **norm)

  @property
  def num_classes(self) -> int:
    return self._options['num_classes']

  def call(self, images: tf.Tensor,
           training: Optional[bool] = None) -> Dict[str, tf.Tensor]:
    # Python ints where the shape is static: no shape ops, and every layer
    # below sees static sizes (static chunks in the attention).
    size = shapes.dims(images)[1:3]
    padded = aligned_size(size, self._options['output_stride'])
    if not (isinstance(padded, list) and padded == size):  # else aligned
      pad = [padded[axis] - size[axis] for axis in range(2)]
      images = tf.pad(images, [[0, 0], [0, pad[0]], [0, pad[1]], [0, 0]])
    features = self.backbone(images, training=training)
    if not isinstance(features, dict):
      raise ValueError(f'backbone: expected a dict of features keyed by '
                       f'level, got {type(features).__name__}.')
    semantic_logits, = self._branch(
        features, self.semantic_decoder, [self.semantic_head], training)
    center, offsets = self._branch(
        features, self.instance_decoder, [self.center_head, self.offset_head],
        training)
    return {
        'semantic_logits': upsample_to_input(semantic_logits, padded, size),
        'center_heatmap': upsample_to_input(center, padded, size),
        'center_offsets': upsample_to_input(offsets, padded, size,
                                            scale_offsets=True),
    }

  def _branch(self, features, decoder, branch_heads, training):
    """[head(decoder(features)) for each head], recomputed in the backward
    pass with `recompute_decoder`."""
    keys = [k for k in [self._options['high_level_feature']] +
            self._options['low_level_features'] if k in features]

    def run(*levels, training=None):
      x = decoder(dict(zip(keys, levels)), training=training)
      return [head(x, training=training) for head in branch_heads]
    return recompute.maybe_recompute(
        self._options['recompute_decoder'], training, run,
        *[features[k] for k in keys])

  def get_config(self) -> dict:
    config = {'backbone': tf_keras.layers.serialize(self.backbone),
              'name': self.name, **self._options}
    config['kernel_regularizer'] = (tf_keras.regularizers.serialize(
        self.kernel_regularizer) if self.kernel_regularizer else None)
    return config

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    config['backbone'] = tf_keras.layers.deserialize(
        config['backbone'], custom_objects=custom_objects)
    return cls(**config)
