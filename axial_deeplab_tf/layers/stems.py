"""Stems: the layers before the first residual stage.

* `ResNetStem`: 7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool (stride 4);
  conv-stem Axial-ResNet and ResNet-50.
* `ThreeConvStem`: 3x3/2, 3x3, 3x3 convs, each -> BN -> ReLU (stride 2);
  Panoptic-DeepLab / Axial-DeepLab backbones.
* `AxialStem`: three axial bottleneck blocks, the first with stride 2
  (stride 2; the first stage then strides to 4, as after `ThreeConvStem`);
  stand-alone (full) Axial-ResNet.

All map `[batch, height, width, c]` to `[batch, height / stride, width /
stride, channels]` (sizes rounded up) and expose `stride` and `channels`.
"""

import tf_keras

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.layers import blocks
from axial_deeplab_tf.layers import keras_utils


class _ConvNormRelu(tf_keras.layers.Layer):
  """Conv2D (no bias, same padding) -> BN -> ReLU."""

  def __init__(self, filters, kernel_size, strides=1, norm_momentum=0.99,
               norm_epsilon=1e-3, use_sync_bn=False,
               kernel_initializer='he_normal', kernel_regularizer=None,
               **kwargs):
    super().__init__(**kwargs)
    self.conv = tf_keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding='same',
        use_bias=False,
        kernel_initializer=keras_utils.fresh_initializer(kernel_initializer),
        kernel_regularizer=kernel_regularizer, name='conv')
    self.norm = tf_keras.layers.BatchNormalization(
        momentum=norm_momentum, epsilon=norm_epsilon,
        synchronized=use_sync_bn, name='bn')

  def call(self, inputs, training=None):
    return tf_keras.activations.relu(
        self.norm(self.conv(inputs), training=training))


class _Stem(tf_keras.layers.Layer):
  """Sequence of sublayers; subclasses fill `self.stem_layers`."""

  stride = 4

  def __init__(self, filters, norm_momentum=0.99, norm_epsilon=1e-3,
               use_sync_bn=False, kernel_initializer='he_normal',
               kernel_regularizer=None, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.common = dict(norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
                       use_sync_bn=use_sync_bn,
                       kernel_initializer=kernel_initializer,
                       kernel_regularizer=kernel_regularizer)

  def call(self, inputs, training=None):
    x = inputs
    for layer in self.stem_layers:
      if isinstance(layer, tf_keras.layers.MaxPooling2D):
        x = layer(x)
      else:
        x = layer(x, training=training)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, **self.common)
    config['kernel_initializer'] = keras_utils.serialize_initializer(
        config['kernel_initializer'])
    config['kernel_regularizer'] = keras_utils.serialize_regularizer(
        config['kernel_regularizer'])
    return config


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ResNetStem(_Stem):
  """7x7/2 conv with `filters` channels, BN, ReLU, 3x3/2 max-pool."""

  def __init__(self, filters, **kwargs):
    super().__init__(filters, **kwargs)
    self.channels = filters
    self.stem_layers = [
        _ConvNormRelu(filters, 7, 2, name='conv7x7', **self.common),
        tf_keras.layers.MaxPooling2D(3, 2, padding='same', name='max_pool')]


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ThreeConvStem(_Stem):
  """3x3/2, 3x3, 3x3 convs with `filters = (c1, c2, c3)` channels."""

  stride = 2

  def __init__(self, filters, **kwargs):
    filters = tuple(filters)
    if len(filters) != 3:
      raise ValueError(f'ThreeConvStem needs 3 filter counts, got {filters}.')
    super().__init__(list(filters), **kwargs)
    self.channels = filters[-1]
    self.stem_layers = [
        _ConvNormRelu(c, 3, 2 if i == 0 else 1, name=f'conv{i + 1}',
                      **self.common)
        for i, c in enumerate(filters)]


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class AxialStem(_Stem):
  """Three axial bottleneck blocks of base width `filters`, the first with
  stride 2. Output channels `4 * filters`.

  Args:
    filters: base width f of each block.
    span: local span of the attention (the paper's stand-alone models use
      15).
    max_distance: relative-position table size, as in the attention layer.
    stride_mode: how the first block's attention strides ('subsample' or
      'avg_pool', see `AxialAttention2D`).
    recompute: recompute the attention in the backward pass (see
      `PositionSensitiveAxialAttention`).
    memory_budget_mb: the attention's memory budget (see
      `PositionSensitiveAxialAttention`).
  """

  stride = 2

  def __init__(self, filters, span=15,
               max_distance=attention.DEFAULT_MAX_DISTANCE,
               stride_mode='subsample', recompute=False,
               memory_budget_mb=None, **kwargs):
    super().__init__(filters, **kwargs)
    self.span = span
    self.max_distance = max_distance
    self.stride_mode = stride_mode
    self.recompute = recompute
    self.memory_budget_mb = memory_budget_mb
    self.channels = 4 * filters
    self.stem_layers = [
        blocks.AxialBottleneckBlock(
            filters, strides=2 if i == 0 else 1, span=span,
            max_distance=max_distance, stride_mode=stride_mode,
            recompute=recompute, memory_budget_mb=memory_budget_mb,
            name=f'block{i + 1}', **self.common)
        for i in range(3)]

  def get_config(self):
    config = super().get_config()
    config.update(span=self.span, max_distance=self.max_distance,
                  stride_mode=self.stride_mode, recompute=self.recompute,
                  memory_budget_mb=self.memory_budget_mb)
    return config
