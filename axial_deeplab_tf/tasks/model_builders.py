"""Models from task configs: Axial-DeepLab and the ImageNet classifier.

Both keep the backbone under the attribute `backbone`, so checkpoints of
either task hold it at `model/backbone/...` and a panoptic run can start
from a classification checkpoint with `init_checkpoint_modules: backbone`.
"""

from typing import Optional

import tensorflow as tf
import tf_keras

from axial_deeplab_tf.configs import backbones as backbones_cfg
from axial_deeplab_tf.data import encoding
from axial_deeplab_tf.modeling import axial_deeplab
from axial_deeplab_tf.modeling import axial_resnet
from axial_deeplab_tf.modeling import panoptic_deeplab


def _check_backbone(model_config, output_stride: Optional[int]):
  backbone = model_config.backbone
  if backbone.type != 'axial_resnet':
    raise ValueError(f"model.backbone.type: expected 'axial_resnet', got "
                     f'{backbone.type!r}.')
  if model_config.norm_activation.activation != 'relu':
    raise ValueError(f'model.norm_activation.activation: Axial-ResNet uses '
                     f'relu, got {model_config.norm_activation.activation!r}.')
  own = backbone.axial_resnet.output_stride
  if output_stride is not None and own not in (None, output_stride):
    raise ValueError(f'model.backbone.axial_resnet.output_stride ({own}) '
                     f'differs from model.output_stride ({output_stride}); '
                     f'set only model.output_stride.')


def build_backbone(model_config, output_stride=None, kernel_regularizer=None
                   ) -> axial_resnet.AxialResNet:
  """`AxialResNet` from `model.backbone.axial_resnet` and `norm_activation`."""
  _check_backbone(model_config, output_stride)
  c = model_config.backbone.axial_resnet
  norm = model_config.norm_activation
  return axial_resnet.AxialResNet(
      backbones_cfg.variant_row(c), span=c.span,
      max_distance=c.max_distance,
      output_stride=output_stride or c.output_stride,
      block_size=c.block_size, recompute_attention=c.recompute_attention,
      kernel_regularizer=kernel_regularizer, use_sync_bn=norm.use_sync_bn, norm_momentum=norm.norm_momentum,
      norm_epsilon=norm.norm_epsilon, name='backbone')


def build_panoptic_model(model_config, l2_weight_decay: float = 0.0
                         ) -> panoptic_deeplab.PanopticDeepLab:
  """Axial-DeepLab from a `configs.panoptic.PanopticModel`.

  Returns a `PanopticDeepLab` (images [B, H, W, 3] -> semantic_logits,
  center_heatmap, center_offsets at input size), with `thing_class_ids`
  attached, built on a `[1, 65, 65, 3]` dummy batch so its variables exist.
  """
  m = model_config
  thing_ids = encoding.validate_thing_class_ids(m.thing_class_ids,
                                                     m.num_classes)
  regularizer = (tf_keras.regularizers.l2(l2_weight_decay / 2.0)
                 if l2_weight_decay else None)
  backbone = build_backbone(m, m.output_stride, regularizer)
  d = m.decoder
  model = panoptic_deeplab.PanopticDeepLab(
      backbone, m.num_classes, output_stride=m.output_stride,
      semantic_only=m.semantic_only, use_aspp=m.use_aspp,
      aspp_atrous_rates=list(d.aspp_atrous_rates),
      semantic_aspp_channels=d.semantic_aspp_channels,
      semantic_low_level_channels=list(d.semantic_low_level_channels),
      semantic_decoder_channels=d.semantic_decoder_channels,
      semantic_head_channels=d.semantic_head_channels,
      instance_aspp_channels=d.instance_aspp_channels,
      instance_low_level_channels=list(d.instance_low_level_channels),
      instance_decoder_channels=d.instance_decoder_channels,
      center_head_channels=d.center_head_channels,
      offset_head_channels=d.offset_head_channels, kernel_size=d.kernel_size,
      use_sync_bn=m.norm_activation.use_sync_bn,
      norm_momentum=m.norm_activation.norm_momentum,
      norm_epsilon=m.norm_activation.norm_epsilon,
      kernel_regularizer=regularizer, name='axial_deeplab')
  model.thing_class_ids = thing_ids
  model(tf.zeros([1, 65, 65, 3]), training=False)
  return model


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ImageClassifier(tf_keras.Model):
  """Backbone -> global average pooling -> dropout -> dense logits.

  images [B, H, W, 3] -> float32 logits [B, num_classes].
  """

  def __init__(self, backbone, num_classes, dropout_rate=0.0,
               kernel_regularizer=None, **kwargs):
    super().__init__(**kwargs)
    self.backbone = backbone
    self.pool = tf_keras.layers.GlobalAveragePooling2D()
    self.dropout = tf_keras.layers.Dropout(dropout_rate)
    self.head = tf_keras.layers.Dense(
        num_classes, kernel_regularizer=kernel_regularizer,
        kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.01),
        name='logits')

  def call(self, images, training=None):
    features = self.backbone(images, training=training)
    x = self.pool(features[max(features)])
    x = self.dropout(x, training=training)
    return tf.cast(self.head(x), tf.float32)


def build_classification_model(model_config, l2_weight_decay: float = 0.0
                               ) -> ImageClassifier:
  """Classifier from a `configs.classification.ClassificationModel`."""
  m = model_config
  regularizer = (tf_keras.regularizers.l2(l2_weight_decay / 2.0)
                 if l2_weight_decay else None)
  backbone = build_backbone(m, None, regularizer)
  model = ImageClassifier(backbone, m.num_classes, m.dropout_rate,
                          regularizer, name='axial_resnet_classifier')
  model(tf.zeros([1, 32, 32, 3]), training=False)
  return model
