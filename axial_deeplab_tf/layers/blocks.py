"""Residual bottleneck blocks: axial (paper section 3.2) and convolutional.

Both blocks are `1x1 conv -> BN -> act -> spatial mixing -> 1x1 conv -> BN
-> add shortcut -> act` (act: `activation`, ReLU by default); they differ
only in the spatial mixing:

* `AxialBottleneckBlock`: height then width position-sensitive attention
  (q/k depth f, value depth 2f), then act. The first 1x1 conv maps to 2f.
* `ConvBottleneckBlock`: the ResNet-50 (v1.5) 3x3 conv -> BN -> act, with
  the first 1x1 conv mapping to f.

Output channels are `4 f`. `shortcut` says what is added to the last BN's
output: 'conv' (ResNet's; a strided 1x1 conv + BN when the stride or the
channel count changes, the input itself otherwise) or 'subsample'
(deeplab2's: the 1x1 conv + BN only when the channel count changes; a
strided block that keeps the channels adds every `strides`-th pixel of its
input, `x[:, ::s, ::s]`). The last BN's gamma starts at zero, so that a
fresh block computes `act(shortcut)`. In training,
`drop_path_keep_prob < 1` drops the residual branch (after the last BN,
before the sum) per example (`layers.drop_path.DropPath`).
`recompute_block=True` keeps only the block's input for the backward pass
of a training step and computes the residual branch and the shortcut
again there (`layers.recompute`; drop path, the sum and the last
activation stay outside, so the recomputed part is deterministic).

`activation` (`ACTIVATIONS`) replaces every ReLU of a block (and of a stem,
`layers.stems`): 'relu', 'gelu' (exact, erf) or 'approximated_gelu' (tanh
form), deeplab2's names.
"""

import functools

import tf_keras

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.layers import drop_path
from axial_deeplab_tf.layers import keras_utils
from axial_deeplab_tf.layers import normalization
from axial_deeplab_tf.layers import recompute


ACTIVATIONS = {
    'relu': tf_keras.activations.relu,
    'gelu': functools.partial(tf_keras.activations.gelu, approximate=False),
    'approximated_gelu': functools.partial(tf_keras.activations.gelu,
                                           approximate=True),
}
SHORTCUTS = ('conv', 'subsample')


def get_activation(name):
  """The function of activation `name` (a key of `ACTIVATIONS`)."""
  if name not in ACTIVATIONS:
    raise ValueError(f'activation: expected one of {sorted(ACTIVATIONS)}, '
                     f'got {name!r}.')
  return ACTIVATIONS[name]


class _Bottleneck(tf_keras.layers.Layer):
  """Shared bottleneck skeleton; subclasses build `self._mix`.

  Input `[batch, height, width, channels]` -> output
  `[batch, ceil(height / strides), ceil(width / strides), 4 * filters]`.

  Args:
    filters: base width f.
    strides: 1 or 2.
    kernel_initializer, kernel_regularizer: of the convolutions.
    norm_momentum, norm_epsilon, use_sync_bn: batch-norm settings.
    drop_path_keep_prob: keep probability of the branch in training.
    activation: a key of `ACTIVATIONS` (every activation of the block).
    shortcut: 'conv' or 'subsample' (`SHORTCUTS`, see the module
      docstring).
    recompute_block: in training, recompute the block in the backward
      pass instead of keeping its tensors (see the module docstring).
  """

  middle_multiplier = 1

  def __init__(self, filters, strides=1, kernel_initializer='he_normal',
               kernel_regularizer=None, norm_momentum=0.99, norm_epsilon=1e-3,
               use_sync_bn=False, activation='relu', shortcut='conv',
               drop_path_keep_prob=1.0, recompute_block=False, **kwargs):
    super().__init__(**kwargs)
    self.recompute_block = bool(recompute_block)
    if shortcut not in SHORTCUTS:
      raise ValueError(f'shortcut: expected one of {SHORTCUTS}, got '
                       f'{shortcut!r}.')
    self.activation = activation
    self.act = get_activation(activation)
    self.shortcut = shortcut
    if not isinstance(filters, int) or filters <= 0:
      raise ValueError(f'filters must be a positive int, got {filters!r}.')
    if strides not in (1, 2):
      raise ValueError(f'strides must be 1 or 2, got {strides!r}.')
    self.filters = filters
    self.strides = strides
    self.kernel_initializer = tf_keras.initializers.get(kernel_initializer)
    self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
    self.norm_momentum = norm_momentum
    self.norm_epsilon = norm_epsilon
    self.use_sync_bn = use_sync_bn
    self.drop_path = drop_path.DropPath(drop_path_keep_prob,
                                        name='drop_path')

  def _conv(self, filters, kernel_size=1, strides=1, name=None):
    return tf_keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding='same', use_bias=False,
        kernel_initializer=keras_utils.fresh_initializer(
            self.kernel_initializer),
        kernel_regularizer=self.kernel_regularizer, name=name)

  def _norm(self, name, zero=False):
    return normalization.BatchNormalization(
        momentum=self.norm_momentum, epsilon=self.norm_epsilon,
        synchronized=self.use_sync_bn,
        gamma_initializer='zeros' if zero else 'ones', name=name)

  def _build_mix(self):
    """Returns the spatial-mixing callable(x, training)."""
    raise NotImplementedError

  def build(self, input_shape):
    channels = input_shape[-1]
    if channels is None:
      raise ValueError(f'{self.name}: the channel dimension of the input '
                       f'must be known, got shape {input_shape}.')
    out_channels = 4 * self.filters
    self.reduce = self._conv(self.middle_multiplier * self.filters,
                             name='reduce')
    self.reduce_norm = self._norm('reduce_bn')
    self._mix = self._build_mix()
    self.expand = self._conv(out_channels, name='expand')
    self.expand_norm = self._norm('expand_bn', zero=True)
    self.projection = None
    if channels != out_channels or (self.strides != 1 and
                                    self.shortcut == 'conv'):
      self.projection = self._conv(out_channels, strides=self.strides,
                                   name='shortcut')
      self.projection_norm = self._norm('shortcut_bn')
    super().build(input_shape)

  def _branches(self, inputs, training=None):
    """(residual branch after its last BN, shortcut)."""
    shortcut = inputs
    if self.projection is not None:
      shortcut = self.projection_norm(self.projection(inputs),
                                      training=training)
    elif self.strides != 1:
      shortcut = inputs[:, ::self.strides, ::self.strides, :]
    x = self.act(self.reduce_norm(self.reduce(inputs), training=training))
    x = self._mix(x, training)
    return self.expand_norm(self.expand(x), training=training), shortcut

  def call(self, inputs, training=None):
    x, shortcut = recompute.maybe_recompute(
        self.recompute_block, training, self._branches, inputs)
    x = self.drop_path(x, training=training)
    return self.act(x + shortcut)

  def get_config(self):
    config = super().get_config()
    config.update(
        filters=self.filters, strides=self.strides,
        kernel_initializer=keras_utils.serialize_initializer(
            self.kernel_initializer),
        kernel_regularizer=keras_utils.serialize_regularizer(
            self.kernel_regularizer),
        norm_momentum=self.norm_momentum, norm_epsilon=self.norm_epsilon,
        use_sync_bn=self.use_sync_bn, activation=self.activation,
        shortcut=self.shortcut, drop_path_keep_prob=self.drop_path.keep_prob,
        recompute_block=self.recompute_block)
    return config


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ConvBottleneckBlock(_Bottleneck):
  """ResNet-50 bottleneck (stride on the 3x3 conv). See `_Bottleneck`."""

  def _build_mix(self):
    self.conv3x3 = self._conv(self.filters, 3, strides=self.strides,
                              name='conv3x3')
    self.conv3x3_norm = self._norm('conv3x3_bn')
    return lambda x, training: self.act(
        self.conv3x3_norm(self.conv3x3(x), training=training))


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class AxialBottleneckBlock(_Bottleneck):
  """Axial-attention bottleneck. See `_Bottleneck` for shapes.

  Args:
    filters: base width f: 1x1 conv to 2f, attention with q/k depth f and
      value depth 2f, 1x1 conv to 4f.
    strides: 1 or 2 (applied by the attention, see `stride_mode`).
    span, num_heads, max_distance, use_content, use_query_rpe, use_key_rpe,
      use_value_rpe, block_size, embedding_initializer, stride_mode,
      recompute, memory_budget_mb: passed to `AxialAttention2D`.
    Other args: as in `_Bottleneck`.
  """

  middle_multiplier = 2
  _ATTENTION_KEYS = ('span', 'num_heads', 'max_distance', 'use_content',
                     'use_query_rpe', 'use_key_rpe', 'use_value_rpe',
                     'block_size', 'embedding_initializer', 'stride_mode',
                     'recompute', 'memory_budget_mb')

  def __init__(self, filters, strides=1, **kwargs):
    self.attention_kwargs = {k: kwargs.pop(k) for k in self._ATTENTION_KEYS
                             if k in kwargs}
    super().__init__(filters, strides, **kwargs)

  def _build_mix(self):
    self.attention = attention.AxialAttention2D(
        self.filters, 2 * self.filters, strides=self.strides,
        kernel_initializer=self.kernel_initializer,
        kernel_regularizer=self.kernel_regularizer,
        norm_momentum=self.norm_momentum, norm_epsilon=self.norm_epsilon,
        use_sync_bn=self.use_sync_bn, name='attention',
        **self.attention_kwargs)
    return lambda x, training: self.act(
        self.attention(x, training=training))

  def get_config(self):
    config = super().get_config()
    config.update(self.attention_kwargs)
    if 'embedding_initializer' in config:
      config['embedding_initializer'] = keras_utils.serialize_initializer(
          config['embedding_initializer'])
    return config
