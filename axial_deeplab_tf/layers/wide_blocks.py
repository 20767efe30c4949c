"""Pre-activation residual blocks of the wide-ResNet family (SWideRNet).

`ConvNorm`: conv (no bias) -> BN [-> ReLU]. A strided conv pads
`(k_eff - 1) // 2` before and the rest after (`k_eff = k + (k - 1)(rate -
1)`), then convolves without padding, so that output pixel i sits on input
pixel `stride * i` at every input size (TF's 'same' pads one less before
than after at even sizes); a stride-1 conv uses 'same' with the dilation.

`ResidualBlock(channels, ...)` maps `x` to `branch(relu(x)) + shortcut`:

* the input is activated first, and the output is *not* activated (the
  next block or the backbone's endpoint applies the ReLU);
* `channels = (c1, c2)`: a basic block, 3x3 conv (stride, `atrous_rate`)
  -> BN -> ReLU -> 3x3 conv (`second_atrous_rate`) -> BN;
* `channels = (c1, c2, c3)`: a bottleneck, 1x1 conv -> BN -> ReLU -> 3x3
  conv (stride, `atrous_rate`) -> BN -> ReLU -> 1x1 conv -> BN;
* `attention`: a bottleneck whose 3x3 conv -> BN -> ReLU is axial
  attention (`layers.attention.AxialAttention2D`: height then width,
  global, strided by subsampling each axis) -> ReLU;
* the branch's last BN starts with gamma 0; in training it is followed by
  `DropPath(drop_path_keep_prob)`;
* shortcut: `relu(x)` itself, subsampled `[::stride]` when the block
  strides; a strided 1x1 conv -> BN when the channel count changes.

Layer names (checkpoint paths): `conv1`, `conv2`, `conv3`, `shortcut`, each
with `conv` and `bn`; `attention` (with `height` and `width`).
"""

import tf_keras

from axial_deeplab_tf.layers import attention as attention_lib
from axial_deeplab_tf.layers import drop_path
from axial_deeplab_tf.layers import keras_utils
from axial_deeplab_tf.layers import normalization


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ConvNorm(tf_keras.layers.Layer):
  """Conv2D (no bias) -> BN [-> ReLU]; padding as in the module docstring.

  Args:
    filters, kernel_size, strides, atrous_rate: of the convolution.
    activation: 'relu' or None.
    zero_gamma: start the BN's gamma at 0.
    kernel_initializer, kernel_regularizer: of the kernel.
    norm_momentum, norm_epsilon, use_sync_bn: batch-norm settings.
  """

  def __init__(self, filters, kernel_size=1, strides=1, atrous_rate=1,
               activation=None, zero_gamma=False,
               kernel_initializer='he_normal', kernel_regularizer=None,
               norm_momentum=0.99, norm_epsilon=1e-3, use_sync_bn=False,
               **kwargs):
    super().__init__(**kwargs)
    if activation not in (None, 'relu'):
      raise ValueError(f"activation: expected 'relu' or None, got "
                       f"{activation!r}.")
    self.options = dict(
        filters=filters, kernel_size=kernel_size, strides=strides,
        atrous_rate=atrous_rate, activation=activation,
        zero_gamma=zero_gamma,
        kernel_initializer=keras_utils.serialize_initializer(
            kernel_initializer),
        kernel_regularizer=keras_utils.serialize_regularizer(
            kernel_regularizer),
        norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
        use_sync_bn=use_sync_bn)
    self.pad = None
    if strides != 1:
      total = kernel_size + (kernel_size - 1) * (atrous_rate - 1) - 1
      before = total // 2
      self.pad = tf_keras.layers.ZeroPadding2D(
          ((before, total - before), (before, total - before)))
    self.conv = tf_keras.layers.Conv2D(
        filters, kernel_size, strides=strides, dilation_rate=atrous_rate,
        padding='same' if self.pad is None else 'valid', use_bias=False,
        kernel_initializer=keras_utils.fresh_initializer(kernel_initializer),
        kernel_regularizer=kernel_regularizer, name='conv')
    self.bn = normalization.BatchNormalization(
        momentum=norm_momentum, epsilon=norm_epsilon,
        synchronized=use_sync_bn,
        gamma_initializer='zeros' if zero_gamma else 'ones', name='bn')
    self.activation = activation

  def call(self, inputs, training=None):
    x = inputs if self.pad is None else self.pad(inputs)
    x = self.bn(self.conv(x), training=training)
    return tf_keras.activations.relu(x) if self.activation else x

  def get_config(self):
    config = super().get_config()
    config.update(self.options)
    return config


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ResidualBlock(tf_keras.layers.Layer):
  """A basic or bottleneck pre-activation block (module docstring).

  Input `[batch, h, w, c]` -> `[batch, ceil(h / strides), ceil(w /
  strides), channels[-1]]`.

  Args:
    channels: 2 (basic) or 3 (bottleneck) output widths of the convs.
    strides: 1 or 2, on the 3x3 conv (the first conv of a basic block).
    atrous_rate: dilation of that 3x3 conv.
    second_atrous_rate: dilation of a basic block's second 3x3 conv
      (default `atrous_rate`).
    drop_path_keep_prob: keep probability of the branch in training.
    attention: None, or `AxialAttention2D` arguments (`key_depth`,
      `value_depth` = `channels[1]`, `num_heads`, ...) replacing a
      bottleneck's 3x3 conv.
    kernel_initializer, kernel_regularizer, norm_momentum, norm_epsilon,
      use_sync_bn: as in `ConvNorm`.
  """

  def __init__(self, channels, strides=1, atrous_rate=1,
               second_atrous_rate=None, drop_path_keep_prob=1.0,
               attention=None, kernel_initializer='he_normal',
               kernel_regularizer=None, norm_momentum=0.99,
               norm_epsilon=1e-3, use_sync_bn=False, **kwargs):
    super().__init__(**kwargs)
    channels = tuple(int(c) for c in channels)
    if len(channels) not in (2, 3) or min(channels) <= 0:
      raise ValueError(f'channels: expected 2 or 3 positive widths, got '
                       f'{channels}.')
    if attention is not None and (
        len(channels) != 3 or
        attention.get('value_depth') != channels[1]):
      raise ValueError(f'attention: needs a bottleneck whose middle width '
                       f'{channels[1:2]} is its value_depth, got '
                       f'{attention}.')
    if strides not in (1, 2):
      raise ValueError(f'strides must be 1 or 2, got {strides!r}.')
    self.channels = channels
    self.strides = strides
    self.atrous_rate = atrous_rate
    self.second_atrous_rate = second_atrous_rate or atrous_rate
    self.drop_path_keep_prob = drop_path_keep_prob
    self.attention = dict(attention) if attention else None
    self.common = dict(
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer, norm_momentum=norm_momentum,
        norm_epsilon=norm_epsilon, use_sync_bn=use_sync_bn)
    if len(channels) == 2:
      self.branch = [
          ConvNorm(channels[0], 3, strides, atrous_rate, 'relu',
                   name='conv1', **self.common),
          ConvNorm(channels[1], 3, 1, self.second_atrous_rate,
                   zero_gamma=True, name='conv2', **self.common)]
    else:
      if self.attention:
        middle = [attention_lib.AxialAttention2D(
            strides=strides, name='attention', **self.attention,
            **self.common), tf_keras.layers.ReLU()]
      else:
        middle = [ConvNorm(channels[1], 3, strides, atrous_rate, 'relu',
                           name='conv2', **self.common)]
      self.branch = [
          ConvNorm(channels[0], 1, activation='relu', name='conv1',
                   **self.common), *middle,
          ConvNorm(channels[2], 1, zero_gamma=True, name='conv3',
                   **self.common)]
    self.drop_path = drop_path.DropPath(drop_path_keep_prob,
                                        name='drop_path')

  def build(self, input_shape):
    self.shortcut = None
    if input_shape[-1] != self.channels[-1]:
      self.shortcut = ConvNorm(self.channels[-1], 1, self.strides,
                               name='shortcut', **self.common)
    super().build(input_shape)

  def call(self, inputs, training=None):
    x = tf_keras.activations.relu(inputs)
    if self.shortcut is not None:
      shortcut = self.shortcut(x, training=training)
    else:
      shortcut = x[:, ::self.strides, ::self.strides, :]
    for layer in self.branch:
      x = (layer(x) if isinstance(layer, tf_keras.layers.ReLU)
           else layer(x, training=training))
    return self.drop_path(x, training=training) + shortcut

  def get_config(self):
    config = super().get_config()
    config.update(
        channels=self.channels, strides=self.strides,
        atrous_rate=self.atrous_rate,
        second_atrous_rate=self.second_atrous_rate,
        drop_path_keep_prob=self.drop_path_keep_prob,
        attention=self.attention, **self.common)
    config['kernel_initializer'] = keras_utils.serialize_initializer(
        config['kernel_initializer'])
    config['kernel_regularizer'] = keras_utils.serialize_regularizer(
        config['kernel_regularizer'])
    return config
