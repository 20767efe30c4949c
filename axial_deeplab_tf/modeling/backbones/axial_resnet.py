"""The Axial-ResNet backbone family, built from `variants.VARIANTS`.

Registered with Model Garden's backbone factory as `axial_resnet`
(`official.vision.modeling.backbones.factory.build_backbone` with
`backbone.type: axial_resnet`); `build_axial_resnet` honours every key of
`configs.backbones.AxialResNet`.

`AxialResNet` is a functional tf_keras model in Model Garden's backbone
style: input `[batch, height, width, 3]` with any height and width,
outputs a dict of endpoints keyed by level, `'2'` .. `'5'` (stages 1 to 4),
with `output_specs` giving their shapes (`base.FunctionalBackbone`). With
output stride 16 the last stage keeps stride 16 (level '5' has stride 16).

Stage i (0-based) has base width `64 * 2**i * width_multiplier` and outputs
4x that many channels; its first block has stride 2 unless the stem already
reached stride 4 (stage 0) or the output stride is reached.
"""

import dataclasses

import tf_keras

from official.vision.modeling.backbones import factory

from axial_deeplab_tf.layers import blocks
from axial_deeplab_tf.layers import stems
from axial_deeplab_tf.modeling.backbones import base
from axial_deeplab_tf.modeling.backbones import variants


def _scaled(channels, multiplier):
  return int(round(channels * multiplier))


def _build_stem(variant, common, attention_options):
  width = variant.width_multiplier
  def stem_width(default):
    return variant.stem_width or _scaled(default, width)
  if variant.stem in ('resnet', 'conv7x7'):
    return stems.ResNetStem(stem_width(64), padding=variant.stem_padding,
                            max_pool=variant.stem == 'resnet', name='stem',
                            **common)
  if variant.stem == 'three_conv':
    first = stem_width(64)
    return stems.ThreeConvStem([first, first, 2 * first], name='stem',
                               **common)
  if variant.stem == 'axial':
    return stems.AxialStem(stem_width(32), span=variant.span,
                           max_distance=variant.stage_max_distance(0),
                           stride_mode=variant.stride_mode,
                           num_heads=variant.num_heads,
                           name='stem', **attention_options, **common)
  raise ValueError(f'Unknown stem {variant.stem!r}; expected one of '
                   f'{variants.STEMS}.')


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
class AxialResNet(base.FunctionalBackbone):
  """Axial-ResNet / Axial-DeepLab / ResNet-50 backbone.

  Args:
    variant: a name in `variants.VARIANTS`, or a `variants.Variant` (or its
      dict) for a custom table row (see `variants.resolve`).
    input_specs: `tf_keras.layers.InputSpec` of the input; default
      `[None, None, None, 3]`.
    block_size: local-attention block size (see the attention layer).
    recompute_attention: recompute the attention's similarities and
      weights in the backward pass, a chunk at a time, instead of keeping
      them (less training memory, a slower step; see
      `PositionSensitiveAxialAttention`).
    attention_memory_budget_mb: MiB allowed for the largest transient
      tensor of each attention layer (chunks of sequences, same result);
      None: automatic (`ops.chunking.DEFAULT_BUDGET_MB`).
    recompute_blocks: keep only the stem's and each residual block's
      input for the backward pass of a training step and compute the
      stem and the blocks again there (`layers.recompute`; same result,
      much less training memory, about one more forward pass per step).
    kernel_initializer, kernel_regularizer: of every conv and projection.
    norm_momentum, norm_epsilon, use_sync_bn: batch-norm settings.
  """

  def __init__(self, variant, input_specs=None, block_size=None,
               recompute_attention=False, attention_memory_budget_mb=None,
               recompute_blocks=False, kernel_initializer='he_normal',
               kernel_regularizer=None, norm_momentum=0.99,
               norm_epsilon=1e-3, use_sync_bn=False, **kwargs):
    spec = variants.resolve(variant)
    input_specs = input_specs or tf_keras.layers.InputSpec(
        shape=[None, None, None, 3])
    common = dict(norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
                  use_sync_bn=use_sync_bn,
                  kernel_initializer=kernel_initializer,
                  kernel_regularizer=kernel_regularizer)

    inputs = tf_keras.Input(shape=input_specs.shape[1:])
    attention_options = dict(recompute=recompute_attention,
                             memory_budget_mb=attention_memory_budget_mb)
    stem = _build_stem(spec, dict(common, activation=spec.activation,
                                  recompute_stem=recompute_blocks),
                       attention_options)
    x = stem(inputs)
    endpoints = {}
    strides = stage_strides(stem.stride, spec.output_stride)
    block_options = dict(common, activation=spec.activation,
                         shortcut=spec.shortcut,
                         recompute_block=recompute_blocks)
    for stage, num_blocks in enumerate(spec.stage_blocks):
      filters = _scaled(64 * 2**stage, spec.width_multiplier)
      for index in range(num_blocks):
        name = f'stage{stage + 1}_block{index + 1}'
        stride = strides[stage] if index == 0 else 1
        keep = spec.block_drop_path_keep_prob(stage, index)
        if spec.block_kind(stage, index) == 'axial':
          block = blocks.AxialBottleneckBlock(
              filters, stride, span=spec.span,
              max_distance=spec.block_max_distance(stage, index),
              num_heads=spec.num_heads,
              block_size=block_size, stride_mode=spec.stride_mode,
              drop_path_keep_prob=keep, name=name, **attention_options,
              **block_options)
        else:
          block = blocks.ConvBottleneckBlock(
              filters, stride, drop_path_keep_prob=keep, name=name,
              **block_options)
        x = block(x)
      endpoints[str(stage + 2)] = x
    super().__init__(
        inputs, endpoints, dict(
            variant=variant if isinstance(variant, str) else
            dataclasses.asdict(spec),
            block_size=block_size,
            recompute_attention=recompute_attention,
            attention_memory_budget_mb=attention_memory_budget_mb,
            recompute_blocks=recompute_blocks,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
            use_sync_bn=use_sync_bn),
        input_specs, spec, **kwargs)


@factory.register_backbone_builder('axial_resnet')
def build_axial_resnet(input_specs, backbone_config, norm_activation_config,
                       l2_regularizer=None):
  """Model Garden backbone builder (`backbone.type: axial_resnet`).

  Args:
    input_specs: `tf_keras.layers.InputSpec` of the images.
    backbone_config: a `configs.backbones.Backbone` one-of; every key of
      its `axial_resnet` applies (the variant's row with `span`,
      `max_distance`, `output_stride`, `stage_blocks`, `width_multiplier`,
      `stem_width` and `stride_mode` overridden where set, plus
      `block_size`, `recompute_attention`, `attention_memory_budget_mb`
      and `recompute_blocks`; `first_block_max_distance` and
      `num_heads` likewise).
    norm_activation_config: Model Garden `NormActivation` (activation must
      be relu, the paper's; a row's `activation` sets the backbone's own).
    l2_regularizer: kernel regularizer.

  Returns:
    An `AxialResNet` named 'backbone'.

  Raises:
    ValueError: naming the `model.backbone.axial_resnet` key at fault.
  """
  if backbone_config.type != 'axial_resnet':
    raise ValueError(f"backbone.type: expected 'axial_resnet', got "
                     f"{backbone_config.type!r}.")
  if norm_activation_config.activation != 'relu':
    raise ValueError(f"norm_activation.activation: Axial-ResNet uses relu, "
                     f"got {norm_activation_config.activation!r}.")
  config = backbone_config.get()
  try:
    row = variants.resolve_config(config)
  except ValueError as e:
    raise ValueError(f'model.backbone.axial_resnet: {e}') from e
  # The bare name when nothing is overridden keeps `get_config` short.
  variant = (config.variant if row == variants.get_variant(config.variant)
             else row)
  return AxialResNet(
      variant, input_specs=input_specs, block_size=config.block_size,
      recompute_attention=config.recompute_attention,
      attention_memory_budget_mb=config.attention_memory_budget_mb,
      recompute_blocks=config.recompute_blocks,
      kernel_regularizer=l2_regularizer,
      use_sync_bn=norm_activation_config.use_sync_bn,
      norm_momentum=norm_activation_config.norm_momentum,
      norm_epsilon=norm_activation_config.norm_epsilon, name='backbone')
