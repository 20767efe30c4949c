"""Stems: the layers before the first residual stage.

* `ResNetStem`: 7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool (stride 4);
  conv-stem Axial-ResNet and ResNet-50. `padding` ('same' or 'symmetric',
  `PADDINGS`) says where the strided conv and pool sample: TF's 'same'
  pads one less before than after at even sizes, PyTorch's padded layers
  and deeplab2's `Conv2DSame` pad (k - 1) / 2 on both sides (the authors'
  PyTorch models, deeplab2). `max_pool=False` leaves the pool out
  (stride 2): deeplab2's 'resnet' stem, whose first stage strides instead.
* `ThreeConvStem`: 3x3/2, 3x3, 3x3 convs, each -> BN -> ReLU (stride 2);
  Panoptic-DeepLab / Axial-DeepLab backbones.
* `AxialStem`: three axial bottleneck blocks, the first with stride 2
  (stride 2; the first stage then strides to 4, as after `ThreeConvStem`);
  stand-alone (full) Axial-ResNet.

`activation` (a key of `layers.blocks.ACTIVATIONS`, default 'relu')
replaces every ReLU of a stem. `recompute_stem=True` keeps only the
stem's input for the backward pass of a training step and runs the stem
again there (`layers.recompute`).

All map `[batch, height, width, c]` to `[batch, height / stride, width /
stride, channels]` (sizes rounded up) and expose `stride` and `channels`.
"""

import tf_keras

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.layers import blocks
from axial_deeplab_tf.layers import keras_utils
from axial_deeplab_tf.layers import normalization
from axial_deeplab_tf.layers import recompute


PADDINGS = ('same', 'symmetric')


def _symmetric_pad(kernel_size, padding):
  """A zero padding of (k - 1) / 2 on each side for 'symmetric', else
  None."""
  if padding not in PADDINGS:
    raise ValueError(f'padding: expected one of {PADDINGS}, got '
                     f'{padding!r}.')
  if padding == 'same':
    return None
  return tf_keras.layers.ZeroPadding2D((kernel_size - 1) // 2)


class _ConvNormRelu(tf_keras.layers.Layer):
  """[zero padding ->] Conv2D (no bias) -> BN -> activation (ReLU);
  `padding` as in `ResNetStem`."""

  def __init__(self, filters, kernel_size, strides=1, norm_momentum=0.99,
               norm_epsilon=1e-3, use_sync_bn=False,
               kernel_initializer='he_normal', kernel_regularizer=None,
               padding='same', activation='relu', **kwargs):
    super().__init__(**kwargs)
    self.act = blocks.get_activation(activation)
    self.pad = _symmetric_pad(kernel_size, padding)
    self.conv = tf_keras.layers.Conv2D(
        filters, kernel_size, strides=strides,
        padding='same' if self.pad is None else 'valid',
        use_bias=False,
        kernel_initializer=keras_utils.fresh_initializer(kernel_initializer),
        kernel_regularizer=kernel_regularizer, name='conv')
    self.norm = normalization.BatchNormalization(
        momentum=norm_momentum, epsilon=norm_epsilon,
        synchronized=use_sync_bn, name='bn')

  def call(self, inputs, training=None):
    x = inputs if self.pad is None else self.pad(inputs)
    return self.act(self.norm(self.conv(x), training=training))


class _Stem(tf_keras.layers.Layer):
  """Sequence of sublayers; subclasses fill `self.stem_layers`."""

  stride = 4

  def __init__(self, filters, norm_momentum=0.99, norm_epsilon=1e-3,
               use_sync_bn=False, kernel_initializer='he_normal',
               kernel_regularizer=None, activation='relu',
               recompute_stem=False, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.recompute_stem = bool(recompute_stem)
    self.common = dict(norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
                       use_sync_bn=use_sync_bn,
                       kernel_initializer=kernel_initializer,
                       kernel_regularizer=kernel_regularizer,
                       activation=activation)

  def call(self, inputs, training=None):
    return recompute.maybe_recompute(self.recompute_stem, training,
                                     self._run, inputs)

  def _run(self, inputs, training=None):
    x = inputs
    for layer in self.stem_layers:
      if isinstance(layer, (tf_keras.layers.MaxPooling2D,
                            tf_keras.layers.ZeroPadding2D)):
        x = layer(x)
      else:
        x = layer(x, training=training)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, recompute_stem=self.recompute_stem,
                  **self.common)
    config['kernel_initializer'] = keras_utils.serialize_initializer(
        config['kernel_initializer'])
    config['kernel_regularizer'] = keras_utils.serialize_regularizer(
        config['kernel_regularizer'])
    return config


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ResNetStem(_Stem):
  """7x7/2 conv with `filters` channels, BN, ReLU, 3x3/2 max-pool (left
  out with `max_pool=False`: stride 2); `padding` 'same' or 'symmetric'
  (see the module docstring; zeros pad the pool exactly, its inputs being
  non-negative after the ReLU)."""

  def __init__(self, filters, padding='same', max_pool=True, **kwargs):
    super().__init__(filters, **kwargs)
    self.channels = filters
    self.padding = padding
    self.max_pool = max_pool
    self.stem_layers = [_ConvNormRelu(filters, 7, 2, name='conv7x7',
                                      padding=padding, **self.common)]
    if not max_pool:
      self.stride = 2
      return
    pool_pad = _symmetric_pad(3, padding)
    if pool_pad is not None and self.common['activation'] != 'relu':
      raise ValueError('ResNetStem: a symmetric max-pool pads with zeros, '
                       'exact after a ReLU only, not after '
                       f'{self.common["activation"]!r}.')
    if pool_pad is not None:
      self.stem_layers.append(pool_pad)
    self.stem_layers.append(tf_keras.layers.MaxPooling2D(
        3, 2, padding='same' if pool_pad is None else 'valid',
        name='max_pool'))

  def get_config(self):
    config = super().get_config()
    config.update(padding=self.padding, max_pool=self.max_pool)
    return config


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
    num_heads: attention heads.
    recompute: recompute the attention in the backward pass (see
      `PositionSensitiveAxialAttention`).
    memory_budget_mb: the attention's memory budget (see
      `PositionSensitiveAxialAttention`).
  """

  stride = 2

  def __init__(self, filters, span=15,
               max_distance=attention.DEFAULT_MAX_DISTANCE,
               stride_mode='subsample', recompute=False, num_heads=8,
               memory_budget_mb=None, **kwargs):
    super().__init__(filters, **kwargs)
    self.num_heads = num_heads
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
            num_heads=num_heads, name=f'block{i + 1}', **self.common)
        for i in range(3)]

  def get_config(self):
    config = super().get_config()
    config.update(span=self.span, max_distance=self.max_distance,
                  stride_mode=self.stride_mode, recompute=self.recompute,
                  num_heads=self.num_heads,
                  memory_budget_mb=self.memory_budget_mb)
    return config
