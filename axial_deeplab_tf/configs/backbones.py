"""Backbone configs: Model Garden's backbone one-of plus `axial_resnet`.

Keys (all under `model.backbone.axial_resnet` in a YAML experiment):

| key | meaning |
|---|---|
| variant | a name of `axial_deeplab_tf.modeling.backbones.variants.VARIANTS` |
| span | attention span override; null keeps the variant's, 0 = global |
| max_distance | relative table reach (2d+1 rows), an int or one per stage (4 ints); null keeps the variant's (254 for most rows) and clears its first_block_max_distance |
| first_block_max_distance | 4 ints, the table reach of each stage's first block (the PyTorch rows'); null keeps the variant's |
| num_heads | attention heads of every axial block; null keeps the variant's (8) |
| drop_path_keep_prob | keep probability of the last stage's residual branches in training (1.0: none); null keeps the variant's (0.8 for `deeplab2_max_deeplab_s_backbone` and `deeplab2_axial_deeplab_l`, else 1.0) |
| drop_path_schedule | `constant` or `linear` (by each block's nominal input stride, from the variant's `drop_path_beyond_stride`, 16); null keeps the variant's |
| output_stride | 16 or 32; null keeps the variant's |
| block_size | queries per block of local attention; null = automatic |
| recompute_attention | recompute the attention's similarities and weights in the backward pass, one chunk of sequences at a time: less training memory, slower step (default false) |
| attention_memory_budget_mb | MiB allowed for the largest transient tensor of each attention layer: its sequences run in chunks that fit (same result), in inference and in training with `recompute_attention`; null = automatic (16) |
| recompute_blocks | keep only the inputs of the stem and of each residual block for the backward pass and compute them again there (gradient checkpointing, same result): a fraction of the training memory for about one more forward pass per step (default false); with `recompute_attention` too, the attention of the block being differentiated runs in budget-sized chunks |
| stage_blocks | blocks per stage (4 ints) overriding the variant's; null keeps them |
| width_multiplier | channel multiplier overriding the variant's; null keeps it |
| stem_width | stem channels overriding the variant's; null keeps it |
| stride_mode | 'subsample' or 'avg_pool' (see `layers.AxialAttention2D`) overriding the variant's; null keeps it |

Every key applies, through Model Garden's backbone factory and the
registered `axial_resnet` builder: the overrides (null keeps the row's
value) make a custom table row (`modeling.backbones.variants.resolve`),
e.g. the tiny demo model.

`model.backbone.wide_resnet` (`type: wide_resnet`, the SWideRNet family of
`modeling.backbones.wide_resnet`; null keeps the row's value):

| key | meaning |
|---|---|
| variant | a name of `axial_deeplab_tf.modeling.backbones.wide_variants.WIDE_VARIANTS` |
| stem_width_multiplier, width_multiplier, layer_multiplier | SWideRNet's three scaling factors (stem channels, stage channels, blocks of stages 2-5) |
| output_stride | 16 or 32 |
| drop_path_keep_prob | keep probability of the last stage's residual branches in training (1.0: none) |
| drop_path_schedule | 'constant' or 'linear' (1 at the stem falling to drop_path_keep_prob) |
| max_distance | relative table reach of the axial blocks (2d+1 rows); null keeps the row's (254: deeplab2's 509-row tables) |

Batch-norm settings come from the model's `norm_activation` config.
`axial_resnet(variant)` is the backbone config of one table row, as the
registered experiments use it.
"""

import dataclasses
from typing import List, Optional, Union

from official.modeling import hyperparams
from official.vision.configs import backbones


@dataclasses.dataclass
class AxialResNet(hyperparams.Config):
  """Config of `modeling.backbones.axial_resnet.AxialResNet` (see above)."""
  variant: str = 'axial_resnet_s'
  span: Optional[int] = None
  max_distance: Optional[Union[int, List[int]]] = None
  output_stride: Optional[int] = None
  block_size: Optional[int] = None
  recompute_attention: bool = False
  attention_memory_budget_mb: Optional[float] = None
  recompute_blocks: bool = False
  stage_blocks: Optional[List[int]] = None
  width_multiplier: Optional[float] = None
  stem_width: Optional[int] = None
  stride_mode: Optional[str] = None
  first_block_max_distance: Optional[List[int]] = None
  num_heads: Optional[int] = None
  drop_path_keep_prob: Optional[float] = None
  drop_path_schedule: Optional[str] = None


@dataclasses.dataclass
class WideResNet(hyperparams.Config):
  """Config of `modeling.backbones.wide_resnet.WideResNet` (see above)."""
  variant: str = 'swidernet'
  stem_width_multiplier: Optional[float] = None
  width_multiplier: Optional[float] = None
  layer_multiplier: Optional[float] = None
  output_stride: Optional[int] = None
  drop_path_keep_prob: Optional[float] = None
  drop_path_schedule: Optional[str] = None
  max_distance: Optional[int] = None


@dataclasses.dataclass
class Backbone(backbones.Backbone):
  """Model Garden's backbone one-of with `axial_resnet` and `wide_resnet`
  added.

  Set `type: axial_resnet` (or `wide_resnet`) to use it.
  """
  axial_resnet: AxialResNet = dataclasses.field(default_factory=AxialResNet)
  wide_resnet: WideResNet = dataclasses.field(default_factory=WideResNet)


def axial_resnet(variant: str) -> Backbone:
  """The `type: axial_resnet` backbone config of table row `variant`."""
  return Backbone(type='axial_resnet',
                  axial_resnet=AxialResNet(variant=variant))


def wide_resnet(variant: str) -> Backbone:
  """The `type: wide_resnet` backbone config of table row `variant`."""
  return Backbone(type='wide_resnet', wide_resnet=WideResNet(variant=variant))
