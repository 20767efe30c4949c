"""Panoptic-DeepLab decoder branch (one per task: semantic or instance).

A branch maps the backbone's multi-level features to a stride-4 feature:

    feature['5'] (stride 16 or 32) -> 1x1 conv to `aspp_channels` (or ASPP)
    -> upsample to feature['3'] size, concat 1x1 projection of feature['3']
       to low_level_channels[0] -> 5x5 depthwise-separable conv to
       `decoder_channels`
    -> upsample to feature['2'] size, concat 1x1 projection of feature['2']
       to low_level_channels[1] -> 5x5 depthwise-separable conv to
       `decoder_channels`

Semantic branch: low-level projections (64, 32), 256 channels. Instance
branch: (32, 16), 128 channels (Panoptic-DeepLab). Every conv is followed by
batch norm and ReLU. Upsampling is bilinear with aligned corners: on inputs
of size k * stride + 1 (which `PanopticDeepLab` pads to), feature pixel i
of a stride-s level sits on input pixel s * i at every level, so a 2x
corner-aligned resize keeps all levels on the same grid.

This module also holds the conv blocks the heads reuse.
"""

from typing import Dict, Sequence

import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import normalization

_PACKAGE = 'axial_deeplab_tf'


def resize_aligned(x: tf.Tensor, size) -> tf.Tensor:
  """Bilinear resize with aligned corners, keeping the dtype of `x`.

  Args:
    x: [batch, height, width, channels] float tensor.
    size: int32 [2] target (height, width).

  Returns:
    [batch, size[0], size[1], channels], same dtype as `x`. Input pixel i
    lands on output position i * (size - 1) / (height - 1).
  """
  out = tf.raw_ops.ResizeBilinear(images=x, size=tf.cast(size, tf.int32),
                                  align_corners=True,
                                  half_pixel_centers=False)
  return tf.cast(out, x.dtype)


def _norm(use_sync_bn, momentum, epsilon, name):
  return normalization.BatchNormalization(
      momentum=momentum, epsilon=epsilon, synchronized=use_sync_bn, name=name)


class _NormConfigMixin:
  """Shared batch-norm / regularizer options of the conv blocks."""

  def _set_norm_options(self, use_sync_bn, norm_momentum, norm_epsilon,
                        kernel_regularizer):
    self.use_sync_bn = bool(use_sync_bn)
    self.norm_momentum = float(norm_momentum)
    self.norm_epsilon = float(norm_epsilon)
    self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)

  def _norm_config(self) -> dict:
    return {'use_sync_bn': self.use_sync_bn,
            'norm_momentum': self.norm_momentum,
            'norm_epsilon': self.norm_epsilon,
            'kernel_regularizer': tf_keras.regularizers.serialize(
                self.kernel_regularizer) if self.kernel_regularizer else None}


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class ConvNormReLU(_NormConfigMixin, tf_keras.layers.Layer):
  """KxK conv (no bias) -> batch norm -> ReLU. [B, H, W, C] -> [B, H', W', filters].

  Args:
    filters: output channels.
    kernel_size: square kernel size (default 1).
    dilation_rate: atrous rate (default 1).
    use_sync_bn, norm_momentum, norm_epsilon: batch-norm options.
    kernel_regularizer: optional tf_keras regularizer for the conv kernel.
  """

  def __init__(self, filters: int, kernel_size: int = 1,
               dilation_rate: int = 1, use_sync_bn: bool = False,
               norm_momentum: float = 0.99, norm_epsilon: float = 1e-3,
               kernel_regularizer=None, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.dilation_rate = int(dilation_rate)
    self._set_norm_options(use_sync_bn, norm_momentum, norm_epsilon,
                           kernel_regularizer)
    self.conv = tf_keras.layers.Conv2D(
        self.filters, self.kernel_size, padding='same',
        dilation_rate=self.dilation_rate, use_bias=False,
        kernel_initializer='he_normal',
        kernel_regularizer=self.kernel_regularizer, name='conv')
    self.norm = _norm(use_sync_bn, norm_momentum, norm_epsilon, 'norm')

  def call(self, x, training=None):
    return tf.nn.relu(self.norm(self.conv(x), training=training))

  def get_config(self):
    config = super().get_config()
    config.update({'filters': self.filters, 'kernel_size': self.kernel_size,
                   'dilation_rate': self.dilation_rate, **self._norm_config()})
    return config


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class SeparableConvNormReLU(_NormConfigMixin, tf_keras.layers.Layer):
  """Depthwise-separable conv: depthwise KxK -> BN -> ReLU -> 1x1 -> BN -> ReLU.

  [B, H, W, C] -> [B, H, W, filters].

  Args:
    filters: output channels of the pointwise conv.
    kernel_size: depthwise kernel size (default 5).
    use_sync_bn, norm_momentum, norm_epsilon, kernel_regularizer: as in
      `ConvNormReLU`.
  """

  def __init__(self, filters: int, kernel_size: int = 5,
               use_sync_bn: bool = False, norm_momentum: float = 0.99,
               norm_epsilon: float = 1e-3, kernel_regularizer=None, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self._set_norm_options(use_sync_bn, norm_momentum, norm_epsilon,
                           kernel_regularizer)
    self.depthwise = tf_keras.layers.DepthwiseConv2D(
        self.kernel_size, padding='same', use_bias=False,
        depthwise_initializer='he_normal', name='depthwise')
    self.depthwise_norm = _norm(use_sync_bn, norm_momentum, norm_epsilon,
                                'depthwise_norm')
    self.pointwise = tf_keras.layers.Conv2D(
        self.filters, 1, use_bias=False, kernel_initializer='he_normal',
        kernel_regularizer=self.kernel_regularizer, name='pointwise')
    self.pointwise_norm = _norm(use_sync_bn, norm_momentum, norm_epsilon,
                                'pointwise_norm')

  def call(self, x, training=None):
    x = tf.nn.relu(self.depthwise_norm(self.depthwise(x), training=training))
    return tf.nn.relu(self.pointwise_norm(self.pointwise(x),
                                          training=training))

  def get_config(self):
    config = super().get_config()
    config.update({'filters': self.filters, 'kernel_size': self.kernel_size,
                   **self._norm_config()})
    return config


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class ASPP(_NormConfigMixin, tf_keras.layers.Layer):
  """Atrous spatial pyramid pooling. [B, h, w, C] -> [B, h, w, filters].

  Branches: 1x1 conv; one 3x3 conv per atrous rate; global average pooling
  -> 1x1 conv -> broadcast. Concatenated, then 1x1 conv to `filters`.

  Args:
    filters: channels of every branch and of the output (default 256).
    atrous_rates: dilation rates of the 3x3 branches (default (6, 12, 18)
      for output stride 16; halve them for output stride 32).
    use_sync_bn, norm_momentum, norm_epsilon, kernel_regularizer: as in
      `ConvNormReLU`.
  """

  def __init__(self, filters: int = 256,
               atrous_rates: Sequence[int] = (6, 12, 18),
               use_sync_bn: bool = False, norm_momentum: float = 0.99,
               norm_epsilon: float = 1e-3, kernel_regularizer=None, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.atrous_rates = [int(r) for r in atrous_rates]
    self._set_norm_options(use_sync_bn, norm_momentum, norm_epsilon,
                           kernel_regularizer)
    norm = self._norm_config()
    self.branches = [ConvNormReLU(self.filters, 1, name='conv1x1', **norm)]
    for i, rate in enumerate(self.atrous_rates):
      self.branches.append(ConvNormReLU(self.filters, 3, dilation_rate=rate,
                                        name=f'atrous_{i}', **norm))
    self.pool_conv = ConvNormReLU(self.filters, 1, name='pool', **norm)
    self.project = ConvNormReLU(self.filters, 1, name='project', **norm)

  def call(self, x, training=None):
    outputs = [branch(x, training=training) for branch in self.branches]
    pooled = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    pooled = self.pool_conv(pooled, training=training)
    shape = tf.shape(x)
    outputs.append(tf.broadcast_to(
        pooled, tf.stack([shape[0], shape[1], shape[2], self.filters])))
    return self.project(tf.concat(outputs, axis=-1), training=training)

  def get_config(self):
    config = super().get_config()
    config.update({'filters': self.filters,
                   'atrous_rates': list(self.atrous_rates),
                   **self._norm_config()})
    return config


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class PanopticDeepLabDecoder(_NormConfigMixin, tf_keras.layers.Layer):
  """One Panoptic-DeepLab decoder branch.

  Args:
    high_level_feature: key of the backbone output used first (default '5').
    low_level_features: keys of the skip features, coarse to fine (default
      ('3', '2'): stride 8, then stride 4).
    low_level_channels: 1x1 projection width per skip feature (default
      (64, 32) semantic; use (32, 16) for the instance branch).
    aspp_channels: width of the 1x1 conv (or ASPP) on the high-level feature
      (default 256).
    decoder_channels: width of each fusing 5x5 separable conv (default 256;
      128 for the instance branch).
    use_aspp: replace the 1x1 conv by ASPP (default False, as Axial-DeepLab).
    aspp_atrous_rates: ASPP rates (default (6, 12, 18)).
    kernel_size: depthwise kernel of the fusing convs (default 5).
    use_sync_bn, norm_momentum, norm_epsilon, kernel_regularizer: as in
      `ConvNormReLU`.

  Call: a dict {level: [B, h_l, w_l, C_l]} containing the high and low level
  keys -> [B, h_2, w_2, decoder_channels] at the last skip's resolution.
  """

  def __init__(self,
               high_level_feature: str = '5',
               low_level_features: Sequence[str] = ('3', '2'),
               low_level_channels: Sequence[int] = (64, 32),
               aspp_channels: int = 256,
               decoder_channels: int = 256,
               use_aspp: bool = False,
               aspp_atrous_rates: Sequence[int] = (6, 12, 18),
               kernel_size: int = 5,
               use_sync_bn: bool = False,
               norm_momentum: float = 0.99,
               norm_epsilon: float = 1e-3,
               kernel_regularizer=None,
               **kwargs):
    super().__init__(**kwargs)
    if len(low_level_features) != len(low_level_channels):
      raise ValueError(
          f'low_level_channels: expected one width per low-level feature '
          f'{list(low_level_features)}, got {list(low_level_channels)}.')
    self.high_level_feature = str(high_level_feature)
    self.low_level_features = [str(k) for k in low_level_features]
    self.low_level_channels = [int(c) for c in low_level_channels]
    self.aspp_channels = int(aspp_channels)
    self.decoder_channels = int(decoder_channels)
    self.use_aspp = bool(use_aspp)
    self.aspp_atrous_rates = [int(r) for r in aspp_atrous_rates]
    self.kernel_size = int(kernel_size)
    self._set_norm_options(use_sync_bn, norm_momentum, norm_epsilon,
                           kernel_regularizer)
    norm = self._norm_config()
    if self.use_aspp:
      self.context = ASPP(self.aspp_channels, self.aspp_atrous_rates,
                          name='aspp', **norm)
    else:
      self.context = ConvNormReLU(self.aspp_channels, 1, name='context',
                                  **norm)
    self.projections = [
        ConvNormReLU(c, 1, name=f'project_{key}', **norm)
        for key, c in zip(self.low_level_features, self.low_level_channels)]
    self.fusions = [
        SeparableConvNormReLU(self.decoder_channels, self.kernel_size,
                              name=f'fuse_{key}', **norm)
        for key in self.low_level_features]

  def call(self, features: Dict[str, tf.Tensor], training=None) -> tf.Tensor:
    for key in [self.high_level_feature] + self.low_level_features:
      if key not in features:
        raise ValueError(f'features: expected level key {key!r}, got keys '
                         f'{sorted(features)}.')
    x = self.context(features[self.high_level_feature], training=training)
    for key, project, fuse in zip(self.low_level_features, self.projections,
                                  self.fusions):
      skip = project(features[key], training=training)
      x = resize_aligned(x, tf.shape(skip)[1:3])
      x = fuse(tf.concat([x, tf.cast(skip, x.dtype)], axis=-1),
               training=training)
    return x

  def get_config(self):
    config = super().get_config()
    config.update({
        'high_level_feature': self.high_level_feature,
        'low_level_features': list(self.low_level_features),
        'low_level_channels': list(self.low_level_channels),
        'aspp_channels': self.aspp_channels,
        'decoder_channels': self.decoder_channels,
        'use_aspp': self.use_aspp,
        'aspp_atrous_rates': list(self.aspp_atrous_rates),
        'kernel_size': self.kernel_size,
        **self._norm_config()})
    return config


def semantic_decoder(**overrides) -> PanopticDeepLabDecoder:
  """Semantic branch with Panoptic-DeepLab's defaults: projections (64, 32), 256 channels."""
  kwargs = dict(low_level_channels=(64, 32), decoder_channels=256,
                name='semantic_decoder')
  kwargs.update(overrides)
  return PanopticDeepLabDecoder(**kwargs)


def instance_decoder(**overrides) -> PanopticDeepLabDecoder:
  """Instance branch with Panoptic-DeepLab's defaults: projections (32, 16), 128 channels."""
  kwargs = dict(low_level_channels=(32, 16), decoder_channels=128,
                name='instance_decoder')
  kwargs.update(overrides)
  return PanopticDeepLabDecoder(**kwargs)


__all__ = ['ASPP', 'ConvNormReLU', 'PanopticDeepLabDecoder',
           'SeparableConvNormReLU', 'instance_decoder', 'resize_aligned',
           'semantic_decoder']
