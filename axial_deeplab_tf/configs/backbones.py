"""Backbone configs: Model Garden's backbone one-of plus `axial_resnet`.

Keys (all under `model.backbone.axial_resnet` in a YAML experiment):

| key | meaning |
|---|---|
| variant | a name of `axial_deeplab_tf.modeling.variants.VARIANTS` |
| span | attention span override; null keeps the variant's, 0 = global |
| max_distance | relative table reach (2d+1 rows); null keeps 254 |
| output_stride | 16 or 32; null keeps the variant's |
| block_size | queries per block of local attention; null = automatic |

Batch-norm settings come from the model's `norm_activation` config.
"""

import dataclasses
from typing import Optional

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


@dataclasses.dataclass
class Backbone(backbones.Backbone):
  """Model Garden's backbone one-of with `axial_resnet` added.

  Set `type: axial_resnet` to use it.
  """
  axial_resnet: AxialResNet = dataclasses.field(default_factory=AxialResNet)
