"""The Axial-ResNet backbone family, built from `variants.VARIANTS`.

`AxialResNet` is a functional tf_keras model in Model Garden's backbone
style: input `[batch, height, width, 3]` with any height and width,
outputs a dict of endpoints keyed by level, `'2'` .. `'5'` (stages 1 to 4),
with `output_specs` giving their shapes. With output stride 16 the last
stage keeps stride 16 (level '5' has stride 16).

Stage i (0-based) has base width `64 * 2**i * width_multiplier` and outputs
4x that many channels; its first block has stride 2 unless the stem already
reached stride 4 (stage 0) or the output stride is reached.
"""

import tf_keras

from official.vision.modeling.backbones import factory

from axial_deeplab_tf.layers import blocks
from axial_deeplab_tf.layers import stems
from axial_deeplab_tf.modeling import variants


def _scaled(channels, multiplier):
  return int(round(channels * multiplier))


def _build_stem(variant, common, recompute):
  width = variant.width_multiplier
  def stem_width(default):
    return variant.stem_width or _scaled(default, width)
  if variant.stem == 'resnet':
    return stems.ResNetStem(stem_width(64), name='stem', **common)
  if variant.stem == 'three_conv':
    first = stem_width(64)
    return stems.ThreeConvStem([first, first, 2 * first], name='stem',
                               **common)
  if variant.stem == 'axial':
    return stems.AxialStem(stem_width(32), span=variant.span,
                           max_distance=variant.stage_max_distance(0),
                           stride_mode=variant.stride_mode,
                           recompute=recompute, name='stem', **common)
  raise ValueError(f"Unknown stem {variant.stem!r}; expected 'resnet', "
                   f"'three_conv' or 'axial'.")


def stage_strides(stem_stride, output_stride):
  """Stride of the first block of each of the four stages."""
  if output_stride not in (16, 32):
    raise ValueError(f'output_stride must be 16 or 32, got {output_stride}.')
  strides, current = [], stem_stride
  for stage in range(4):
    target = min(4 * 2**stage, output_stride)
    strides.append(target // current)
    current = target
  return strides


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class AxialResNet(tf_keras.Model):
  """Axial-ResNet / Axial-DeepLab / ResNet-50 backbone.

  Args:
    variant: a name in `variants.VARIANTS`, or a `variants.Variant` (or its
      dict) for a custom table row.
    input_specs: `tf_keras.layers.InputSpec` of the input; default
      `[None, None, None, 3]`.
    span: overrides the variant's span (None keeps it; 0 means global).
    max_distance: overrides the variant's table reach (int); None keeps it.
    output_stride: overrides the variant's output stride (16 or 32).
    block_size: local-attention block size (see the attention layer).
    recompute_attention: recompute global attention's `[L, L]` tensors in
      the backward pass instead of keeping them (less training memory, a
      slower step; see `PositionSensitiveAxialAttention`).
    kernel_initializer, kernel_regularizer: of every conv and projection.
    norm_momentum, norm_epsilon, use_sync_bn: batch-norm settings.
  """

  def __init__(self, variant, input_specs=None, span=None, max_distance=None,
               output_stride=None, block_size=None, recompute_attention=False,
               kernel_initializer='he_normal', kernel_regularizer=None,
               norm_momentum=0.99, norm_epsilon=1e-3, use_sync_bn=False,
               **kwargs):
    if isinstance(variant, str):
      spec = variants.get_variant(variant)
    elif isinstance(variant, dict):
      spec = variants.Variant(**variant)
    else:
      spec = variant
    overrides = {}
    if span is not None:
      overrides['span'] = span or None
    if max_distance is not None:
      overrides['max_distance'] = max_distance
    if output_stride is not None:
      overrides['output_stride'] = output_stride
    spec = variants.dataclasses.replace(spec, **overrides)
    input_specs = input_specs or tf_keras.layers.InputSpec(
        shape=[None, None, None, 3])
    common = dict(norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
                  use_sync_bn=use_sync_bn,
                  kernel_initializer=kernel_initializer,
                  kernel_regularizer=kernel_regularizer)

    inputs = tf_keras.Input(shape=input_specs.shape[1:])
    stem = _build_stem(spec, common, recompute_attention)
    x = stem(inputs)
    endpoints = {}
    strides = stage_strides(stem.stride, spec.output_stride)
    for stage, num_blocks in enumerate(spec.stage_blocks):
      filters = _scaled(64 * 2**stage, spec.width_multiplier)
      for index in range(num_blocks):
        name = f'stage{stage + 1}_block{index + 1}'
        stride = strides[stage] if index == 0 else 1
        if spec.block == 'axial':
          block = blocks.AxialBottleneckBlock(
              filters, stride, span=spec.span,
              max_distance=spec.stage_max_distance(stage),
              block_size=block_size, stride_mode=spec.stride_mode,
              recompute=recompute_attention, name=name, **common)
        else:
          block = blocks.ConvBottleneckBlock(filters, stride, name=name,
                                             **common)
        x = block(x)
      endpoints[str(stage + 2)] = x
    super().__init__(inputs=inputs, outputs=endpoints, **kwargs)
    self._config_dict = dict(
        variant=variant if isinstance(variant, str) else
        variants.dataclasses.asdict(spec),
        span=span, max_distance=max_distance,
        output_stride=output_stride, block_size=block_size,
        recompute_attention=recompute_attention,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer, norm_momentum=norm_momentum,
        norm_epsilon=norm_epsilon, use_sync_bn=use_sync_bn)
    self._input_specs = input_specs
    self.variant = spec
    self._output_specs = {k: v.get_shape() for k, v in endpoints.items()}

  @property
  def output_specs(self):
    """Endpoint shapes keyed by level ('2' .. '5')."""
    return self._output_specs

  def get_config(self):
    return dict(self._config_dict)

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def build_classifier(variant, num_classes=1000, dropout_rate=0.0,
                     kernel_regularizer=None, **backbone_kwargs):
  """Backbone + global average pooling + dense head.

  Args:
    variant: backbone variant name.
    num_classes: classes of the dense head.
    dropout_rate: dropout before the head.
    kernel_regularizer: of the backbone and head.
    **backbone_kwargs: passed to `AxialResNet`.

  Returns:
    tf_keras model mapping `[batch, height, width, 3]` images of any size to
    `[batch, num_classes]` float32 logits.
  """
  backbone = AxialResNet(variant, kernel_regularizer=kernel_regularizer,
                         name='backbone', **backbone_kwargs)
  inputs = tf_keras.Input(shape=[None, None, 3])
  features = backbone(inputs)
  x = tf_keras.layers.GlobalAveragePooling2D(name='pool')(
      features[max(features)])
  if dropout_rate:
    x = tf_keras.layers.Dropout(dropout_rate)(x)
  logits = tf_keras.layers.Dense(
      num_classes, kernel_regularizer=kernel_regularizer,
      kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.01),
      name='logits')(x)
  logits = tf_keras.layers.Activation('linear', dtype='float32')(logits)
  name = variant if isinstance(variant, str) else 'axial_resnet'
  return tf_keras.Model(inputs, logits, name=f'{name}_classifier')


@factory.register_backbone_builder('axial_resnet')
def build_axial_resnet(input_specs, backbone_config, norm_activation_config,
                       l2_regularizer=None):
  """Model Garden backbone builder (`backbone.type: axial_resnet`).

  Args:
    input_specs: `tf_keras.layers.InputSpec` of the images.
    backbone_config: a `configs.backbones.Backbone` one-of.
    norm_activation_config: Model Garden `NormActivation` (activation must
      be relu, the paper's).
    l2_regularizer: kernel regularizer.

  Returns:
    An `AxialResNet`.
  """
  if backbone_config.type != 'axial_resnet':
    raise ValueError(f"backbone.type: expected 'axial_resnet', got "
                     f"{backbone_config.type!r}.")
  if norm_activation_config.activation != 'relu':
    raise ValueError(f"norm_activation.activation: Axial-ResNet uses relu, "
                     f"got {norm_activation_config.activation!r}.")
  config = backbone_config.get()
  return AxialResNet(
      config.variant, input_specs=input_specs, span=config.span,
      max_distance=config.max_distance, output_stride=config.output_stride,
      block_size=config.block_size,
      recompute_attention=config.recompute_attention,
      kernel_regularizer=l2_regularizer,
      use_sync_bn=norm_activation_config.use_sync_bn,
      norm_momentum=norm_activation_config.norm_momentum,
      norm_epsilon=norm_activation_config.norm_epsilon)
