"""MaX-DeepLab's stacked decoder (arXiv:2012.00759) on the wide ResNet.

deeplab2's MaX-DeepLab-L backbone (`max_deeplab_l_backbone`,
`backbone_decoder_num_stacks: 1`) follows its five stages with an
hour-glass of decoder stages: from the output stride down to stride 4 and
back up, `num_stacks` times (`stages`); at output stride 16 the strides are
8, 4, 8, 16, at 32 they are 16, 8, 4, 8, 16, 32. The activated output of
the last stage is the backbone's classification feature, endpoint
`'backbone_output'` of `wide_resnet.WideResNet` (the key Model Garden's
classification model picks, the largest). Panoptic-DeepLab does not read
it.

Decoder stage i at stride s:

* `ResizedFuse`: the sum of the previous stage's output and the (at most
  two) latest features at stride s (the backbone stage of that stride,
  then the decoder stages' outputs), all pre-activation. A feature with
  the stage's width is resized as is; another is activated (ReLU) and
  projected by a 1x1 conv -> BN: with stride 2 when it comes from stride
  s / 2 (`strided<k>`), else at its own resolution and then resized
  (`resized<k>`; k is the input's 1-based position). Resizing is bilinear
  with aligned corners to the size of the backbone's stride-s feature.
  Width: `round(64 * n * width_multiplier)`, n = s, or 32 at the output
  stride.
* `blocks_per_stage` wide-ResNet blocks of base width
  `floor(16 * n * width_multiplier)` built as a backbone stage whose input
  has (undilated) stride n and does not stride (`wide_resnet.block_group`:
  basic blocks below n = 32, axial bottlenecks from `axial_beyond_stride`,
  dilated at n = 32 > output stride, drop path by n).
"""

from typing import List, Tuple

import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import keras_utils
from axial_deeplab_tf.layers import wide_blocks
from axial_deeplab_tf.modeling import decoders

HIGH_RESOLUTION_STRIDE = 4


def stages(output_stride: int, num_stacks: int) -> List[Tuple[int, int]]:
  """(stride, nominal input stride n) of each decoder stage."""
  result = []
  stride, step, stack = output_stride, -1, 0
  while stack < num_stacks:
    stride = stride // 2 if step < 0 else stride * 2
    if stride == output_stride:
      stack += 1
      step = -1
    result.append((stride, 32 if stride == output_stride else stride))
    if stride == HIGH_RESOLUTION_STRIDE:
      step = 1
  return result


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ResizedFuse(tf_keras.layers.Layer):
  """Fuses features of several strides at one stride (module docstring).

  Called on `[reference, feature_1, ..., feature_k]`: the output has the
  spatial size of `reference` and `channels` channels.

  Args:
    channels: output width.
    stride: the output's stride.
    input_strides: the stride of each feature.
    kernel_initializer, kernel_regularizer, norm_momentum, norm_epsilon,
      use_sync_bn: of the projections (`wide_blocks.ConvNorm`).
  """

  def __init__(self, channels, stride, input_strides, **kwargs):
    self.common = {k: kwargs.pop(k) for k in (
        'kernel_initializer', 'kernel_regularizer', 'norm_momentum',
        'norm_epsilon', 'use_sync_bn') if k in kwargs}
    super().__init__(**kwargs)
    self.channels = int(channels)
    self.stride = int(stride)
    self.input_strides = tuple(int(s) for s in input_strides)

  def build(self, input_shape):
    self.projections = []
    for index, (shape, stride) in enumerate(
        zip(input_shape[1:], self.input_strides)):
      if shape[-1] == self.channels:
        self.projections.append(None)
      elif 2 * stride == self.stride:
        self.projections.append(wide_blocks.ConvNorm(
            self.channels, 1, 2, name=f'strided{index + 1}', **self.common))
      else:
        self.projections.append(wide_blocks.ConvNorm(
            self.channels, 1, name=f'resized{index + 1}', **self.common))
    super().build(input_shape)

  def call(self, inputs, training=None):
    reference, features = inputs[0], inputs[1:]
    size = tf.shape(reference)[1:3]
    total = 0
    for feature, stride, projection in zip(features, self.input_strides,
                                           self.projections):
      if projection is not None:
        feature = projection(tf.nn.relu(feature), training=training)
      if stride != self.stride and not (
          projection is not None and projection.name.startswith('strided')):
        feature = decoders.resize_aligned(feature, size)
      total += feature
    return total

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, stride=self.stride,
                  input_strides=self.input_strides, **self.common)
    for key, serialize in (
        ('kernel_initializer', keras_utils.serialize_initializer),
        ('kernel_regularizer', keras_utils.serialize_regularizer)):
      if key in config:
        config[key] = serialize(config[key])
    return config
