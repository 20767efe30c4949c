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
| `deeplab2_max_deeplab_s_backbone` | deeplab2's `max_deeplab_s_backbone` (MaX-DeepLab-S without its transformer path), OS 16 |
| `deeplab2_axial_deeplab_{s,l}` | deeplab2's `axial_deeplab_{s,l}` (ImageNet encoders), OS 16 |
| `deeplab2_axial_resnet_{s,l}` | deeplab2's `axial_resnet_{s,l}` (ImageNet encoders: its 7x7/2 stem without max-pool), OS 16 |
| `deeplab2_axial_resnet50` | deeplab2's `axial_resnet50` pixel encoder, "Axial-ResNet-50 (MaX-S w/ GeLU)": MaX-DeepLab-S's backbone with exact GeLU, OS 16 |

The wide-ResNet family (deeplab2's `wider_resnet` backbones) is the second
table, `wide_variants.WIDE_VARIANTS`.
"""

import dataclasses
from typing import Optional, Tuple, Union

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.layers import drop_path
from axial_deeplab_tf.layers import blocks
from axial_deeplab_tf.layers import stems

WIDTHS = {'s': 0.5, 'm': 0.75, 'l': 1.0, 'xl': 2.0}
STEMS = ('resnet', 'conv7x7', 'three_conv', 'axial')


@dataclasses.dataclass(frozen=True)
class Variant:
  """One backbone variant.

  Attributes:
    stem: 'resnet' (7x7/2 conv + 3x3/2 max-pool), 'conv7x7' (the 7x7/2
      conv alone, stride 2: deeplab2's 'resnet' stem, the first stage
      strides instead of the pool), 'three_conv' or 'axial'.
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
    axial_beyond_stride: None (every block is `block`), or deeplab2's
      `use_axial_beyond_stride` s: with `block='axial'`, a block is an
      axial block when its nominal input stride is at least s and a conv
      bottleneck otherwise. The nominal input stride of stage i's
      (0-based) first block is 2**(i + 1), of its other blocks 2**(i + 2)
      (as deeplab2 counts: the stride ResNet would have, whatever the
      output stride). deeplab2's MaX-DeepLab-S backbone (s = 16) has conv
      stages 1 and 2, a conv first block in stage 3 and axial blocks after.
    drop_path_keep_prob: keep probability of the last stage's residual
      branches in training (1.0: no drop path; deeplab2's
      `drop_path_keep_prob`).
    drop_path_schedule: 'constant' or 'linear' (`layers.drop_path`).
    drop_path_beyond_stride: drop path applies to blocks whose nominal
      input stride (as for `axial_beyond_stride`) is at least this.
    shortcut: 'conv' (ResNet's) or 'subsample' (deeplab2's: a strided
      block that keeps its channels adds its subsampled input); see
      `layers.blocks`.
    activation: the activation of every block and of the stem
      (`layers.blocks.ACTIVATIONS`: 'relu', 'gelu', 'approximated_gelu').
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
  axial_beyond_stride: Optional[int] = None
  drop_path_keep_prob: float = 1.0
  drop_path_schedule: str = 'constant'
  drop_path_beyond_stride: int = 16
  shortcut: str = 'conv'
  activation: str = 'relu'

  def __post_init__(self):
    drop_path.keep_prob(self.drop_path_keep_prob, self.drop_path_schedule,
                        0, 4)  # raises on a bad probability or schedule
    for name, value, allowed in (
        ('stem', self.stem, STEMS),
        ('shortcut', self.shortcut, blocks.SHORTCUTS),
        ('activation', self.activation, tuple(blocks.ACTIVATIONS)),
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

  def block_kind(self, stage, index):
    """'axial' or 'conv': the kind of block `index` (0-based) of `stage`
    (0-based); see `axial_beyond_stride`."""
    if self.block != 'axial' or self.axial_beyond_stride is None:
      return self.block
    nominal = 2**(stage + 1) if index == 0 else 2**(stage + 2)
    return 'axial' if nominal >= self.axial_beyond_stride else 'conv'

  def block_drop_path_keep_prob(self, stage, index):
    """Drop-path keep probability of block `index` of `stage` (0-based;
    `layers.drop_path.block_keep_prob` of its nominal input stride)."""
    nominal = 2**(stage + 1) if index == 0 else 2**(stage + 2)
    return drop_path.block_keep_prob(
        self.drop_path_keep_prob, self.drop_path_schedule,
        self.drop_path_beyond_stride, nominal)

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
  # deeplab2's (github:google-research/deeplab2, model/encoder/
  # axial_resnet_instances.py) MaX-DeepLab-S backbone: its inception stem
  # (three 3x3 convs, no max-pool), conv bottlenecks below stride 16, axial
  # blocks with global attention and 509-row tables (deeplab2's
  # 2 * 255 - 1) beyond; see checkpoints/deeplab2_blocks.py. Every
  # deeplab2 block projects its shortcut only when the channels change.
  # Drop path as deeplab2's MaX-DeepLab-S Cityscapes config trains it (0.8,
  # linear, from stride 16); the other rows' experiments reuse that config.
  deeplab2 = dict(block='axial', output_stride=16, shortcut='subsample',
                  drop_path_keep_prob=0.8, drop_path_schedule='linear')
  table['deeplab2_max_deeplab_s_backbone'] = Variant(
      stem='three_conv', axial_beyond_stride=16, **deeplab2)
  # The same network with exact GeLU: deeplab2's pixel encoder
  # `axial_resnet50` (model/pixel_encoder/axial_resnet.py, kMaX-DeepLab's).
  table['deeplab2_axial_resnet50'] = Variant(
      stem='three_conv', axial_beyond_stride=16, activation='gelu',
      **deeplab2)
  # deeplab2's Axial-DeepLab-S/L: the same stem (not scaled by the width),
  # every block axial (its use_axial_beyond_stride 2); Axial-ResNet-S/L:
  # the 7x7/2 conv stem of 64 channels (deeplab2's `Conv2DSame` pads 3 on
  # each side) and no max-pool.
  for size, width in (('s', 0.5), ('l', 1.0)):
    table[f'deeplab2_axial_deeplab_{size}'] = Variant(
        stem='three_conv', stem_width=64, width_multiplier=width, **deeplab2)
    table[f'deeplab2_axial_resnet_{size}'] = Variant(
        stem='conv7x7', stem_width=64, width_multiplier=width,
        stem_padding='symmetric', **deeplab2)
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
                 'first_block_max_distance', 'num_heads',
                 'drop_path_keep_prob', 'drop_path_schedule')


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
