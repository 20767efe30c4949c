"""Panoptic-DeepLab prediction heads.

A head is a 5x5 depthwise-separable conv (+ BN + ReLU) to `head_channels`
followed by a 1x1 conv (with bias) to `output_channels`:

  semantic head: 256 -> num_classes logits
  center head:    32 -> 1 (center heatmap, no activation; trained with MSE)
  offset head:    32 -> 2 (dy, dx offsets to the instance center)

The final 1x1 conv always runs in float32, so under mixed_float16 /
mixed_bfloat16 the head outputs are float32.
"""

import tf_keras

from axial_deeplab_tf.modeling import decoders

_PACKAGE = 'axial_deeplab_tf'


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class PanopticDeepLabHead(tf_keras.layers.Layer):
  """Separable conv + 1x1 prediction conv.

  [batch, h, w, C] -> float32 [batch, h, w, output_channels].

  Args:
    output_channels: number of predicted channels.
    head_channels: width of the separable conv.
    kernel_size: depthwise kernel size (default 5).
    use_sync_bn, norm_momentum, norm_epsilon: batch-norm options.
    kernel_regularizer: optional tf_keras regularizer for the conv kernels.
  """

  def __init__(self, output_channels: int, head_channels: int,
               kernel_size: int = 5, use_sync_bn: bool = False,
               norm_momentum: float = 0.99, norm_epsilon: float = 1e-3,
               kernel_regularizer=None, **kwargs):
    super().__init__(**kwargs)
    self.output_channels = int(output_channels)
    self.head_channels = int(head_channels)
    self.kernel_size = int(kernel_size)
    self.use_sync_bn = bool(use_sync_bn)
    self.norm_momentum = float(norm_momentum)
    self.norm_epsilon = float(norm_epsilon)
    self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
    self.features = decoders.SeparableConvNormReLU(
        self.head_channels, self.kernel_size, use_sync_bn=use_sync_bn,
        norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
        kernel_regularizer=self.kernel_regularizer, name='features')
    self.predict = tf_keras.layers.Conv2D(
        self.output_channels, 1, kernel_initializer=tf_keras.initializers
        .RandomNormal(stddev=0.01), kernel_regularizer=self.kernel_regularizer,
        dtype='float32', name='predict')

  def call(self, x, training=None):
    return self.predict(self.features(x, training=training))

  def get_config(self):
    config = super().get_config()
    config.update({
        'output_channels': self.output_channels,
        'head_channels': self.head_channels,
        'kernel_size': self.kernel_size,
        'use_sync_bn': self.use_sync_bn,
        'norm_momentum': self.norm_momentum,
        'norm_epsilon': self.norm_epsilon,
        'kernel_regularizer': tf_keras.regularizers.serialize(
            self.kernel_regularizer) if self.kernel_regularizer else None})
    return config


def semantic_head(num_classes: int, head_channels: int = 256,
                  **kwargs) -> PanopticDeepLabHead:
  """5x5 separable conv 256 -> 1x1 to num_classes logits."""
  kwargs.setdefault('name', 'semantic_head')
  return PanopticDeepLabHead(num_classes, head_channels, **kwargs)


def center_head(head_channels: int = 32, **kwargs) -> PanopticDeepLabHead:
  """5x5 separable conv 32 -> 1x1 to a 1-channel center heatmap."""
  kwargs.setdefault('name', 'center_head')
  return PanopticDeepLabHead(1, head_channels, **kwargs)


def offset_head(head_channels: int = 32, **kwargs) -> PanopticDeepLabHead:
  """5x5 separable conv 32 -> 1x1 to (dy, dx) offsets."""
  kwargs.setdefault('name', 'offset_head')
  return PanopticDeepLabHead(2, head_channels, **kwargs)
