"""Backbone configs: Model Garden's backbone one-of plus `axial_resnet`.

Keys (all under `model.backbone.axial_resnet` in a YAML experiment):

| key | meaning |
|---|---|
| variant | a name of `axial_deeplab_tf.modeling.variants.VARIANTS` |
| span | attention span override; null keeps the variant's, 0 = global |
| max_distance | relative table reach (2d+1 rows); null keeps 254 |
| output_stride | 16 or 32; null keeps the variant's |
| block_size | queries per block of local attention; null = automatic |
| recompute_attention | recompute global attention's [L, L] tensors in the backward pass: less training memory, slower step (default false) |
| stage_blocks | blocks per stage (4 ints) overriding the variant's; null keeps them |
| width_multiplier | channel multiplier overriding the variant's; null keeps it |
| stem_width | stem channels overriding the variant's; null keeps it |
| stride_mode | 'subsample' or 'avg_pool' (see `layers.AxialAttention2D`) overriding the variant's; null keeps it |

The four overrides make a custom table row (`variant_row`), e.g. the
tiny demo model; the task builds the model from that row.

Batch-norm settings come from the model's `norm_activation` config.
"""

import dataclasses
from typing import List, Optional

from official.modeling import hyperparams
from official.vision.configs import backbones


@dataclasses.dataclass
class AxialResNet(hyperparams.Config):
  """Config of `axial_deeplab_tf.modeling.axial_resnet.AxialResNet`."""
  variant: str = 'axial_resnet_s'
  span: Optional[int] = None
  max_distance: Optional[int] = None
  output_stride: Optional[int] = None
  block_size: Optional[int] = None
  recompute_attention: bool = False
  stage_blocks: Optional[List[int]] = None
  width_multiplier: Optional[float] = None
  stem_width: Optional[int] = None
  stride_mode: Optional[str] = None


@dataclasses.dataclass
class Backbone(backbones.Backbone):
  """Model Garden's backbone one-of with `axial_resnet` added.

  Set `type: axial_resnet` to use it.
  """
  axial_resnet: AxialResNet = dataclasses.field(default_factory=AxialResNet)


def variant_row(config: AxialResNet):
  """The `variants.Variant` row a backbone config describes.

  Returns the named row with the overrides `stage_blocks`,
  `width_multiplier`, `stem_width` and `stride_mode` applied (span,
  max_distance and output_stride are passed to `AxialResNet` separately). Returns the name
  itself when nothing is overridden, so checkpoints and `get_config` keep
  the short form.
  """
  from axial_deeplab_tf.modeling import variants  # pylint: disable=g-import-not-at-top
  row = variants.get_variant(config.variant)
  overrides = {}
  if config.stage_blocks:
    if len(config.stage_blocks) != 4:
      raise ValueError(f'backbone.axial_resnet.stage_blocks: expected 4 '
                       f'stages, got {list(config.stage_blocks)}.')
    overrides['stage_blocks'] = tuple(int(b) for b in config.stage_blocks)
  if config.width_multiplier:
    overrides['width_multiplier'] = float(config.width_multiplier)
  if config.stem_width:
    overrides['stem_width'] = int(config.stem_width)
  if config.stride_mode:
    overrides['stride_mode'] = str(config.stride_mode)
  if not overrides:
    return config.variant
  return dataclasses.replace(row, **overrides)
