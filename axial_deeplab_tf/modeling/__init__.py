"""Backbones, decoders, heads and the config -> model factory.

Importing this package registers the `axial_resnet` backbone with Model
Garden's backbone factory. The Python API (`build_classifier`,
`build_axial_deeplab`) goes through the same `factory.build_model` as the
tasks.
"""

from axial_deeplab_tf.modeling.backbones import AxialResNet
from axial_deeplab_tf.modeling.backbones import Variant
from axial_deeplab_tf.modeling.backbones import VARIANTS
from axial_deeplab_tf.modeling.classifier import ImageClassifier
from axial_deeplab_tf.modeling.factory import build_axial_deeplab
from axial_deeplab_tf.modeling.factory import build_classifier
from axial_deeplab_tf.modeling.factory import build_model
from axial_deeplab_tf.modeling.panoptic_deeplab import PanopticDeepLab
from axial_deeplab_tf.modeling.post_processor import PanopticPostProcessor
