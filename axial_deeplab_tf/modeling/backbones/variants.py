"""The backbone variants of the paper, as one table of data.

Each row says which stem, which block, how many blocks per stage, the width
multiplier, the attention span and the relative-position table size. The
builder (`axial_resnet.AxialResNet`) reads nothing else, so a new variant is
a new row. `resolve(name, **overrides)` is the one place where a named row
is changed: the keys of `model.backbone.axial_resnet` in a config
(`OVERRIDE_KEYS`) and the Python API's keyword arguments both land here.

Names (used by configs, tools and README):

| name | what |
|---|---|
| `axial_resnet_{s,m,l,xl}` | conv-stem Axial-ResNet (ImageNet), global span |
| `full_axial_resnet_{s,m,l,xl}` | stand-alone Axial-ResNet, span 15 |
| `axial_resnet_26s` | Axial-ResNet-26-S of the PyTorch reference |
| `axial_deeplab_{s,m,l,xl}` | Axial-DeepLab backbones, span 65, OS 16 |
| `resnet50` | the ResNet-50 baseline |
"""

import dataclasses
from typing import Optional, Tuple, Union

from axial_deeplab_tf.layers import attention

WIDTHS = {'s': 0.5, 'm': 0.75, 'l': 1.0, 'xl': 2.0}


@dataclasses.dataclass(frozen=True)
class Variant:
  """One backbone variant.

  Attributes:
    stem: 'resnet' (7x7 conv + max-pool), 'three_conv' or 'axial'.
    block: 'axial' or 'conv'.
    stage_blocks: blocks per stage, four stages.
    width_multiplier: scales every channel count (L = 1.0).
    span: attention span, None for global (ignored by conv blocks).
    max_distance: relative-position table reach (`2 d + 1` rows); an int
      for every stage, or one per stage.
    output_stride: 16 or 32, the stride of the last stage.
    stem_width: channels of the ResNet stem's conv, the three-conv stem's
      first conv, or the axial stem's block base width f, at this variant's
      width (not scaled again); None scales the defaults (64, 64 and 32 at
      L width) by `width_multiplier`.
    stride_mode: how strided axial blocks halve the resolution:
      'subsample' (each axis after its attention, the paper's default) or
      'avg_pool' (2x2 average pool after both axes, as the authors' PyTorch
      reference does); see `layers.AxialAttention2D`.
  """
  stem: str
  block: str
  stage_blocks: Tuple[int, int, int, int] = (3, 4, 6, 3)
  width_multiplier: float = 1.0
  span: Optional[int] = None
  max_distance: Union[int, Tuple[int, ...]] = attention.DEFAULT_MAX_DISTANCE
  output_stride: int = 32
  stem_width: Optional[int] = None
  stride_mode: str = 'subsample'

  def __post_init__(self):
    for name, value, allowed in (
        ('stem', self.stem, ('resnet', 'three_conv', 'axial')),
        ('block', self.block, ('axial', 'conv')),
        ('output_stride', self.output_stride, (16, 32)),
        ('stride_mode', self.stride_mode,
         attention.AxialAttention2D.STRIDE_MODES)):
      if value not in allowed:
        raise ValueError(f'Variant.{name}: expected one of {allowed}, got '
                         f'{value!r}.')
    if not self.width_multiplier > 0:
      raise ValueError(f'Variant.width_multiplier: expected a positive '
                       f'number, got {self.width_multiplier!r}.')
    if len(self.stage_blocks) != 4:
      raise ValueError(f'Variant.stage_blocks: expected 4 stages, got '
                       f'{self.stage_blocks}.')
    if isinstance(self.max_distance, list):
      object.__setattr__(self, 'max_distance', tuple(self.max_distance))
    object.__setattr__(self, 'stage_blocks', tuple(self.stage_blocks))

  def stage_max_distance(self, stage):
    if isinstance(self.max_distance, int):
      return self.max_distance
    return self.max_distance[stage]


def _table():
  table = {'resnet50': Variant(stem='resnet', block='conv')}
  for size, width in WIDTHS.items():
    # The conv-stem models keep ResNet's 64-channel stem at every width
    # (12.49M parameters for S, as the paper reports).
    table[f'axial_resnet_{size}'] = Variant(
        stem='resnet', block='axial', width_multiplier=width, stem_width=64)
    # The stand-alone models have no public TF code; the authors' PyTorch
    # reference pools 2x2 after both axes. With that convention S counts
    # 3.4B M-Adds (paper 3.3B); per-axis subsampling would give 3.1B.
    table[f'full_axial_resnet_{size}'] = Variant(
        stem='axial', block='axial', width_multiplier=width, span=15,
        stride_mode='avg_pool')
    table[f'axial_deeplab_{size}'] = Variant(
        stem='three_conv', block='axial', width_multiplier=width, span=65,
        output_stride=16)
  # The PyTorch reference sizes each stage's tables to its 224-input
  # feature size (56, 28, 14, 7), not 509 rows, and scales its stem to 32.
  table['axial_resnet_26s'] = Variant(
      stem='resnet', block='axial', stage_blocks=(1, 2, 4, 1),
      width_multiplier=0.5, max_distance=(55, 27, 13, 6), stem_width=32)
  return table


VARIANTS = _table()


def get_variant(name):
  """Looks a variant up by name, with a clear error for unknown names."""
  if name not in VARIANTS:
    raise ValueError(f'Unknown backbone variant {name!r}; expected one of '
                     f'{sorted(VARIANTS)}.')
  return VARIANTS[name]


# The row fields a config (or the Python API) may override; None keeps the
# row's value.
OVERRIDE_KEYS = ('span', 'max_distance', 'output_stride', 'stage_blocks',
                 'width_multiplier', 'stem_width', 'stride_mode')


def resolve(variant: Union[str, Variant, dict], **overrides) -> Variant:
  """A variant row with overrides applied.

  Args:
    variant: a name of `VARIANTS`, a `Variant`, or a `Variant`'s dict.
    **overrides: keys of `OVERRIDE_KEYS`; None keeps the row's value.
      `span=0` means global attention (a row's `span=None`).

  Returns:
    The `Variant` (validated).

  Raises:
    ValueError: naming an unknown variant, an unknown override key, or the
      row field whose new value is invalid.
  """
  if isinstance(variant, str):
    row = get_variant(variant)
  elif isinstance(variant, dict):
    row = Variant(**variant)
  else:
    row = variant
  unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
  if unknown:
    raise ValueError(f'Unknown backbone override(s) {unknown}; expected some '
                     f'of {list(OVERRIDE_KEYS)}.')
  changes = {k: v for k, v in overrides.items() if v is not None}
  if 'span' in changes:
    changes['span'] = int(changes['span']) or None
  if 'stage_blocks' in changes:
    changes['stage_blocks'] = tuple(int(b) for b in changes['stage_blocks'])
  return dataclasses.replace(row, **changes)
