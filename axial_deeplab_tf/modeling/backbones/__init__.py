"""Backbones registered with Model Garden's backbone factory.

Importing this package registers `axial_resnet`
(`backbone.type: axial_resnet`).
"""

from axial_deeplab_tf.modeling.backbones.axial_resnet import AxialResNet
from axial_deeplab_tf.modeling.backbones.variants import Variant
from axial_deeplab_tf.modeling.backbones.variants import VARIANTS
