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
| `axial_resnet_26s`, `axial_resnet_50{s,m,l}` | the PyTorch reference's `axial26s`, `axial50s/m/l` |
| `axial_deeplab_{s,m,l,xl}` | Axial-DeepLab backbones, span 65, OS 16 |
| `resnet50` | the ResNet-50 baseline |
"""

import dataclasses
from typing import Optional, Tuple, Union

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.layers import stems

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
    first_block_max_distance: None (every block of a stage uses the
      stage's `max_distance`), or one reach per stage for the stage's
      first block only. The PyTorch reference's strided first block
      attends at its input resolution, so its tables have the previous
      stage's size.
    num_heads: attention heads of every axial block.
    output_stride: 16 or 32, the stride of the last stage.
    stem_width: channels of the ResNet stem's conv, the three-conv stem's
      first conv, or the axial stem's block base width f, at this variant's
      width (not scaled again); None scales the defaults (64, 64 and 32 at
      L width) by `width_multiplier`.
    stride_mode: how strided axial blocks halve the resolution:
      'subsample' (each axis after its attention, the paper's default) or
      'avg_pool' (2x2 average pool after both axes, as the authors' PyTorch
      reference does); see `layers.AxialAttention2D`.
    stem_padding: 'same' (TF's, asymmetric at even sizes) or 'symmetric'
      ((k - 1) / 2 on each side, as PyTorch's padded convs and pools):
      where the ResNet stem's 7x7/2 conv and 3x3/2 max-pool sample.
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
  first_block_max_distance: Optional[Tuple[int, int, int, int]] = None
  num_heads: int = 8
  stem_padding: str = 'same'

  def __post_init__(self):
    for name, value, allowed in (
        ('stem', self.stem, ('resnet', 'three_conv', 'axial')),
        ('block', self.block, ('axial', 'conv')),
        ('output_stride', self.output_stride, (16, 32)),
        ('stride_mode', self.stride_mode,
         attention.AxialAttention2D.STRIDE_MODES),
        ('stem_padding', self.stem_padding, stems.PADDINGS)):
      if value not in allowed:
        raise ValueError(f'Variant.{name}: expected one of {allowed}, got '
                         f'{value!r}.')
    if not self.width_multiplier > 0:
      raise ValueError(f'Variant.width_multiplier: expected a positive '
                       f'number, got {self.width_multiplier!r}.')
    if len(self.stage_blocks) != 4:
      raise ValueError(f'Variant.stage_blocks: expected 4 stages, got '
                       f'{self.stage_blocks}.')
    if not isinstance(self.num_heads, int) or self.num_heads <= 0:
      raise ValueError(f'Variant.num_heads: expected a positive int, got '
                       f'{self.num_heads!r}.')
    for name in ('max_distance', 'first_block_max_distance'):
      value = getattr(self, name)
      if isinstance(value, list):
        value = tuple(value)
        object.__setattr__(self, name, value)
      if isinstance(value, tuple) and len(value) != 4:
        raise ValueError(f'Variant.{name}: expected an int or 4 stages, '
                         f'got {value}.')
    object.__setattr__(self, 'stage_blocks', tuple(self.stage_blocks))

  def stage_max_distance(self, stage):
    if isinstance(self.max_distance, int):
      return self.max_distance
    return self.max_distance[stage]

  def block_max_distance(self, stage, index):
    """Table reach of block `index` (0-based) of `stage` (0-based)."""
    if index == 0 and self.first_block_max_distance is not None:
      return self.first_block_max_distance[stage]
    return self.stage_max_distance(stage)


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
  # The authors' PyTorch Axial-ResNets (github:csrhddlam/axial-deeplab,
  # lib/models/axialnet.py, `axial<depth><size>`): global attention whose
  # tables are sized to the 224-input feature size of each block (56, 28,
  # 14, 7; a strided first block attends at its input's size), a stem of
  # 64 * width channels with PyTorch's symmetric padding, 2x2 average
  # pooling after both axes of a strided block.
  pytorch = dict(stem='resnet', block='axial', max_distance=(55, 27, 13, 6),
                 first_block_max_distance=(55, 55, 27, 13),
                 stride_mode='avg_pool', stem_padding='symmetric')
  for name, blocks, width in (('26s', (1, 2, 4, 1), 0.5),
                              ('50s', (3, 4, 6, 3), 0.5),
                              ('50m', (3, 4, 6, 3), 0.75),
                              ('50l', (3, 4, 6, 3), 1.0)):
    table[f'axial_resnet_{name}'] = Variant(
        stage_blocks=blocks, width_multiplier=width,
        stem_width=int(64 * width), **pytorch)
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
                 'width_multiplier', 'stem_width', 'stride_mode',
                 'first_block_max_distance', 'num_heads')


def resolve(variant: Union[str, Variant, dict], **overrides) -> Variant:
  """A variant row with overrides applied.

  Args:
    variant: a name of `VARIANTS`, a `Variant`, or a `Variant`'s dict.
    **overrides: keys of `OVERRIDE_KEYS`; None keeps the row's value.
      `span=0` means global attention (a row's `span=None`). A
      `max_distance` override without `first_block_max_distance` applies
      to every block (it clears the row's first-block reaches).

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
  if 'max_distance' in changes:
    changes.setdefault('first_block_max_distance', None)
  if 'stage_blocks' in changes:
    changes['stage_blocks'] = tuple(int(b) for b in changes['stage_blocks'])
  return dataclasses.replace(row, **changes)


def resolve_config(config) -> Variant:
  """The row of a `configs.backbones.AxialResNet` config, its
  `OVERRIDE_KEYS` applied (`resolve`)."""
  return resolve(config.variant, **{key: getattr(config, key)
                                    for key in OVERRIDE_KEYS})
