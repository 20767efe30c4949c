"""The wide-ResNet backbone family (SWideRNet), built from
`wide_variants.WIDE_VARIANTS`.

Registered with Model Garden's backbone factory as `wide_resnet`
(`backbone.type: wide_resnet`, keys in `configs.backbones.WideResNet`).

`WideResNet` is a functional tf_keras model in Model Garden's backbone
style: input `[batch, height, width, 3]` of any size, output a dict of
the five stages' activated features keyed `'1'` .. `'5'` (strides 2, 4, 8,
16, 32, capped at the output stride), with `output_specs` giving their
shapes (`base.FunctionalBackbone`). The stem is a 3x3/2 conv -> BN (not
activated); every stage is a sequence of pre-activation
`layers.wide_blocks.ResidualBlock`s, whose outputs are not activated, so
each endpoint is the ReLU of its stage's output. `block_layout(variant)`
lists every block's widths, stride, dilation and drop-path keep
probability. A variant with `decoder_num_stacks` (MaX-DeepLab-L's
backbone) adds the stacked decoder (`stacked_decoder`, `decoder_layout`)
and its activated output, endpoint `'backbone_output'`.
"""

import dataclasses
from typing import List, Optional, Tuple

import tf_keras

from official.vision.modeling.backbones import factory

from axial_deeplab_tf.layers import drop_path
from axial_deeplab_tf.layers import wide_blocks
from axial_deeplab_tf.modeling.backbones import base
from axial_deeplab_tf.modeling.backbones import stacked_decoder
from axial_deeplab_tf.modeling.backbones import wide_variants

# Undilated input stride and stride of the five stages (the stem has
# stride 2).
_STAGE_INPUT_STRIDES = (2, 2, 4, 8, 16)
_STAGE_STRIDES = (1, 2, 2, 2, 2)


@dataclasses.dataclass(frozen=True)
class BlockSpec:
  """One block: `wide_blocks.ResidualBlock` arguments."""
  channels: Tuple[int, ...]
  strides: int
  atrous_rate: int
  second_atrous_rate: int
  drop_path_keep_prob: float
  attention: Optional[Tuple[Tuple[str, int], ...]] = None


def stem_channels(variant):
  return int(round(64 * variant.stem_width_multiplier))


def block_group(variant, width, input_stride, stride, count):
  """The `count` blocks of a stage of base width `width` whose input has
  (undilated) stride `input_stride` and whose first block strides by
  `stride` (1 or 2) while the resolution is coarser than the output stride
  allows; see `block_layout`."""
  os_ = variant.output_stride
  current = input_stride
  blocks = []
  for index in range(count):
    attention = None
    if current >= variant.axial_beyond_stride > 0:
      value = variant.value_expansion * width
      channels = (variant.attention_expansion * width, value, 4 * width)
      attention = (('key_depth', variant.key_expansion * width),
                   ('value_depth', value),
                   ('num_heads', variant.num_heads),
                   ('max_distance', variant.max_distance))
    elif input_stride * stride >= 32:
      channels = (width, 2 * width, 4 * width)
    else:
      channels = (4 * width, 4 * width)
    strides = stride if index == 0 and input_stride < os_ else 1
    rate = current // os_ if current > os_ else 1
    second = (input_stride * stride // os_
              if index == 0 and input_stride * stride > os_ else rate)
    keep = drop_path.block_keep_prob(
        variant.drop_path_keep_prob, variant.drop_path_schedule,
        variant.drop_path_beyond_stride, current)
    blocks.append(BlockSpec(channels, strides, rate, second, keep,
                            attention))
    if index == 0:
      current *= stride
  return blocks


def block_layout(variant) -> List[List[BlockSpec]]:
  """The blocks of the five stages of `variant` (a `WideVariant` or name).

  A stage's first block strides while the resolution is coarser than the
  output stride allows; beyond it the 3x3 convs dilate by
  `undilated stride / output_stride` (a strided-away basic block's second
  conv already dilates by its output's rate). Drop path by the undilated
  input stride (`layers.drop_path.block_keep_prob`).
  Blocks from `axial_beyond_stride` on are axial (`attention` holds their
  `AxialAttention2D` arguments), whatever their stage.
  """
  variant = wide_variants.resolve_wide(variant)
  counts = [3] + [int(b * variant.layer_multiplier)
                  for b in variant.stage_blocks]
  layout = []
  for stage, (input_stride, stride, count) in enumerate(
      zip(_STAGE_INPUT_STRIDES, _STAGE_STRIDES, counts)):
    multiplier = (variant.stem_width_multiplier if stage == 0
                  else variant.width_multiplier)
    layout.append(block_group(variant, int(round(32 * 2**stage * multiplier)),
                              input_stride, stride, count))
  return layout


def decoder_layout(variant) -> List[Tuple[int, int, List[BlockSpec]]]:
  """(stride, fuse width, blocks) of each stacked-decoder stage of
  `variant` (`stacked_decoder`; empty without `decoder_num_stacks`)."""
  variant = wide_variants.resolve_wide(variant)
  layout = []
  for stride, nominal in stacked_decoder.stages(variant.output_stride,
                                                variant.decoder_num_stacks):
    width = nominal * 64 * variant.width_multiplier
    layout.append((stride, int(round(width)), block_group(
        variant, int(width // 4), nominal, 1,
        variant.decoder_blocks_per_stage)))
  return layout


def _blocks(x, specs, prefix, common):
  for index, block in enumerate(specs):
    x = wide_blocks.ResidualBlock(
        block.channels, block.strides, block.atrous_rate,
        block.second_atrous_rate, block.drop_path_keep_prob,
        dict(block.attention) if block.attention else None,
        name=f'{prefix}_block{index + 1}', **common)(x)
  return x


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class WideResNet(base.FunctionalBackbone):
  """SWideRNet backbone (and MaX-DeepLab-L's, with its stacked decoder).

  Args:
    variant: a name in `wide_variants.WIDE_VARIANTS`, a `wide_variants.WideVariant`
      or its dict.
    input_specs: `tf_keras.layers.InputSpec` of the input; default
      `[None, None, None, 3]`.
    kernel_initializer, kernel_regularizer: of every conv.
    norm_momentum, norm_epsilon, use_sync_bn: batch-norm settings.
  """

  def __init__(self, variant, input_specs=None,
               kernel_initializer='he_normal', kernel_regularizer=None,
               norm_momentum=0.99, norm_epsilon=1e-3, use_sync_bn=False,
               **kwargs):
    spec = wide_variants.resolve_wide(variant)
    input_specs = input_specs or tf_keras.layers.InputSpec(
        shape=[None, None, None, 3])
    common = dict(kernel_initializer=kernel_initializer,
                  kernel_regularizer=kernel_regularizer,
                  norm_momentum=norm_momentum, norm_epsilon=norm_epsilon,
                  use_sync_bn=use_sync_bn)
    inputs = tf_keras.Input(shape=input_specs.shape[1:])
    x = wide_blocks.ConvNorm(stem_channels(spec), 3, 2, name='stem',
                             **common)(inputs)
    endpoints = {}
    # Pre-activation features by stride, for the stacked decoder.
    features = {}
    for stage, blocks in enumerate(block_layout(spec)):
      x = _blocks(x, blocks, f'stage{stage + 1}', common)
      endpoints[str(stage + 1)] = tf_keras.layers.ReLU(
          name=f'stage{stage + 1}_relu')(x)
      features[min(2**(stage + 1), spec.output_stride)] = [x]
    stride = spec.output_stride
    for index, (out_stride, width, blocks) in enumerate(
        decoder_layout(spec)):
      name = f'decoder_stage{index + 1}'
      fused = [x] + features[out_stride][-2:]
      x = stacked_decoder.ResizedFuse(
          width, out_stride, [stride] + [out_stride] * (len(fused) - 1),
          name=f'{name}_fuse', **common)([features[out_stride][0]] + fused)
      x = _blocks(x, blocks, name, common)
      features[out_stride].append(x)
      stride = out_stride
    if spec.decoder_num_stacks:
      endpoints['backbone_output'] = tf_keras.layers.ReLU(
          name='decoder_relu')(x)
    super().__init__(
        inputs, endpoints, dict(
            variant=variant if isinstance(variant, str)
            else dataclasses.asdict(spec), **common),
        input_specs, spec, **kwargs)


@factory.register_backbone_builder('wide_resnet')
def build_wide_resnet(input_specs, backbone_config, norm_activation_config,
                      l2_regularizer=None):
  """Model Garden backbone builder (`backbone.type: wide_resnet`): the row
  `variant` with every non-null key of `configs.backbones.WideResNet`
  replacing its field; batch-norm settings from `norm_activation` (whose
  activation must be relu).

  Raises:
    ValueError: naming the `model.backbone.wide_resnet` key at fault.
  """
  if norm_activation_config.activation != 'relu':
    raise ValueError(f"norm_activation.activation: the wide ResNets use "
                     f"relu, got {norm_activation_config.activation!r}.")
  config = backbone_config.get()
  try:
    row = wide_variants.resolve_wide_config(config)
  except (ValueError, TypeError) as e:
    raise ValueError(f'model.backbone.wide_resnet: {e}') from e
  variant = (config.variant if row == wide_variants.WIDE_VARIANTS[config.variant]
             else row)
  return WideResNet(
      variant, input_specs=input_specs, kernel_regularizer=l2_regularizer,
      use_sync_bn=norm_activation_config.use_sync_bn,
      norm_momentum=norm_activation_config.norm_momentum,
      norm_epsilon=norm_activation_config.norm_epsilon, name='backbone')
