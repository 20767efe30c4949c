"""Backbones, decoders, heads and model builders.

Importing this package registers the `axial_resnet` backbone with Model
Garden's backbone factory.
"""

from axial_deeplab_tf.modeling.axial_deeplab import build_axial_deeplab
from axial_deeplab_tf.modeling.axial_resnet import AxialResNet
from axial_deeplab_tf.modeling.axial_resnet import build_classifier
from axial_deeplab_tf.modeling.panoptic_deeplab import PanopticDeepLab
from axial_deeplab_tf.modeling.post_processor import PanopticPostProcessor
from axial_deeplab_tf.modeling.variants import Variant
from axial_deeplab_tf.modeling.variants import VARIANTS
