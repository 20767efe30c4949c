"""The wide-ResNet backbone variants, as one table of data.

deeplab2's `wider_resnet` backbones (five stages, built by
`wide_resnet.WideResNet`): `WIDE_VARIANTS` of `WideVariant` rows, next to
the Axial-ResNet table of `variants`. `resolve_wide(name, **overrides)` is
the one place where a named row is changed (`WIDE_OVERRIDE_KEYS`: the
keys of `model.backbone.wide_resnet` in a config).

| name | what |
|---|---|
| `swidernet` | SWideRNet-(1, 1, 1), convolutional (deeplab2 `swidernet`) |
| `axial_swidernet` | Axial-SWideRNet-(1, 1, 1) (deeplab2 `axial_swidernet`): axial blocks from stride 16 |
| `axial_swidernet_1_1_{1,3,4.5}` | Axial-SWideRNet-(1, 1, k) with the Cityscapes configs' drop path (0.8, linear) |
| `max_deeplab_l_backbone` | deeplab2's `max_deeplab_l_backbone` (ImageNet encoder): Axial-SWideRNet-(1, 1, 1) plus the stacked decoder (endpoint `backbone_output`), drop path 0.8 constant |
"""

import dataclasses
from typing import Tuple, Union

from axial_deeplab_tf.layers import attention


@dataclasses.dataclass(frozen=True)
class WideVariant:
  """One row of the wide-ResNet family (SWideRNet, arXiv:2011.11675).

  A 3x3/2 conv stem (`round(64 * stem_width_multiplier)` channels) and five
  stages at input strides 2, 2, 4, 8, 16 (the second to fifth halve the
  resolution until `output_stride`, then dilate). With base widths
  `f_1 = round(32 * stem_width_multiplier)` and `f_s = round(32 * 2**(s -
  1) * width_multiplier)` for stages s = 2..5: stages 1 to 4 have basic
  blocks of `4 f_s` channels, stage 5 bottlenecks `(f_5, 2 f_5, 4 f_5)`.
  Stage 1 has three blocks, stages 2 to 5 `int(b * layer_multiplier)` for
  b in `stage_blocks`.

  Attributes:
    stem_width_multiplier, width_multiplier, layer_multiplier: the three
      SWideRNet scaling factors (deeplab2 `stem_width_multiplier`,
      `backbone_width_multiplier`, `backbone_layer_multiplier`).
    stage_blocks: blocks of stages 2 to 5 before `layer_multiplier`.
    output_stride: 16 or 32.
    drop_path_keep_prob: keep probability of the last stage's blocks in
      training (1.0: no drop path).
    drop_path_schedule: 'constant' or 'linear' (`layers.drop_path`).
    drop_path_beyond_stride: drop path applies to blocks whose input has
      at least this (undilated) stride.
    axial_beyond_stride: blocks whose input has at least this (undilated)
      stride are axial-attention blocks (Axial-SWideRNet: 16); 0: none.
      An axial block of base width f is 1x1 conv to `attention_expansion
      * f` -> global axial attention (height then width; `num_heads`
      heads, q/k depth `key_expansion * f`, value depth `value_expansion
      * f`) -> ReLU -> 1x1 conv to 4f.
    max_distance: reach of the axial blocks' relative-position tables
      (`2 * max_distance + 1` rows; deeplab2's 2 * 255 - 1 = 509 rows at
      the default 254).
    decoder_num_stacks: MaX-DeepLab's stacked decoder after stage 5
      (deeplab2 `backbone_decoder_num_stacks`; `stacked_decoder`): 0
      (none) or the number of hour-glass stacks. Its stride-32 blocks are
      axial, so it needs `0 < axial_beyond_stride <= 32`.
    decoder_blocks_per_stage: blocks of each decoder stage (deeplab2
      `backbone_decoder_blocks_per_stage`).
  """
  stem_width_multiplier: float = 1.0
  width_multiplier: float = 1.0
  layer_multiplier: float = 1.0
  stage_blocks: Tuple[int, int, int, int] = (3, 6, 3, 3)
  output_stride: int = 16
  drop_path_keep_prob: float = 1.0
  drop_path_schedule: str = 'constant'
  drop_path_beyond_stride: int = 4
  axial_beyond_stride: int = 0
  attention_expansion: int = 4
  key_expansion: int = 2
  value_expansion: int = 4
  num_heads: int = 8
  max_distance: int = attention.DEFAULT_MAX_DISTANCE
  decoder_num_stacks: int = 0
  decoder_blocks_per_stage: int = 1

  def __post_init__(self):
    object.__setattr__(self, 'stage_blocks', tuple(self.stage_blocks))
    if self.decoder_num_stacks and not 0 < self.axial_beyond_stride <= 32:
      raise ValueError(f'WideVariant.decoder_num_stacks: the stacked '
                       f'decoder needs axial blocks at stride 32, got '
                       f'axial_beyond_stride {self.axial_beyond_stride!r}.')
    if len(self.stage_blocks) != 4:
      raise ValueError(f'WideVariant.stage_blocks: expected 4 stages, got '
                       f'{self.stage_blocks}.')
    if self.output_stride not in (16, 32):
      raise ValueError(f'WideVariant.output_stride: expected 16 or 32, got '
                       f'{self.output_stride!r}.')
    for name in ('stem_width_multiplier', 'width_multiplier',
                 'layer_multiplier'):
      if not getattr(self, name) > 0:
        raise ValueError(f'WideVariant.{name}: expected a positive number, '
                         f'got {getattr(self, name)!r}.')


def _wide_table():
  # deeplab2's Cityscapes Axial-SWideRNet-(1, 1, k) configs train with drop
  # path 0.8 on a linear schedule.
  table = {'swidernet': WideVariant(),
           'axial_swidernet': WideVariant(axial_beyond_stride=16)}
  for name, layers in (('1_1_1', 1.0), ('1_1_3', 3.0), ('1_1_4.5', 4.5)):
    table[f'axial_swidernet_{name}'] = WideVariant(
        layer_multiplier=layers, axial_beyond_stride=16,
        drop_path_keep_prob=0.8, drop_path_schedule='linear')
  # deeplab2's MaX-DeepLab-L-Backbone (ImageNet encoder): Axial-SWideRNet-
  # (1, 1, 1) with a stacked decoder and MaXDeepLabL's drop path.
  table['max_deeplab_l_backbone'] = WideVariant(
      axial_beyond_stride=16, drop_path_keep_prob=0.8, decoder_num_stacks=1)
  return table


WIDE_VARIANTS = _wide_table()


def resolve_wide(variant: Union[str, WideVariant, dict],
                 **overrides) -> WideVariant:
  """A `WIDE_VARIANTS` row (by name, row or dict) with fields replaced;
  None keeps the row's value."""
  if isinstance(variant, str):
    if variant not in WIDE_VARIANTS:
      raise ValueError(f'Unknown wide-ResNet variant {variant!r}; expected '
                       f'one of {sorted(WIDE_VARIANTS)}.')
    variant = WIDE_VARIANTS[variant]
  elif isinstance(variant, dict):
    variant = WideVariant(**variant)
  changes = {k: v for k, v in overrides.items() if v is not None}
  return dataclasses.replace(variant, **changes)


# The `WideVariant` fields a `configs.backbones.WideResNet` may override.
WIDE_OVERRIDE_KEYS = ('stem_width_multiplier', 'width_multiplier',
                      'layer_multiplier', 'output_stride',
                      'drop_path_keep_prob', 'drop_path_schedule',
                      'max_distance')


def resolve_wide_config(config) -> WideVariant:
  """The row of a `configs.backbones.WideResNet` config with its
  `WIDE_OVERRIDE_KEYS` applied (`resolve_wide`)."""
  return resolve_wide(config.variant, **{key: getattr(config, key)
                                         for key in WIDE_OVERRIDE_KEYS})
