"""The one path from a model config to a tf_keras model, and the Python API.

`build_model(model_config, l2_weight_decay)` is what the tasks (hence
training, evaluation, export and predict), `tools/model_stats` and the
Python API call. Its backbone comes from Model Garden's backbone factory
(`official.vision.modeling.backbones.factory.build_backbone`), which
dispatches `backbone.type: axial_resnet` (and `wide_resnet`) to our
registered builders:

    configs.panoptic.PanopticModel             -> PanopticDeepLab
    configs.classification.ClassificationModel -> classifier.ImageClassifier

Both keep the backbone under the attribute `backbone` (checkpoint path
`model/backbone/...`) and come back built on a small dummy batch, so their
variables exist.

The Python API makes that config from keyword arguments and calls the same
function:

    build_classifier('axial_resnet_s', num_classes=1000)
    build_axial_deeplab('axial_deeplab_l', num_classes=19,
                        thing_class_ids=range(11, 19))
    build_axial_deeplab('axial_deeplab_s', 5, [3, 4], span=0,
                        width_multiplier=0.125, use_aspp=True)

Keyword arguments are keys of the model config (`num_classes`,
`output_stride`, `use_aspp`, `decoder`, `norm_activation`, ...) or of
`backbone.axial_resnet` (`span`, `stage_blocks`, `width_multiplier`, ...);
their defaults are the configs' (docs/training.md).
"""

from typing import Sequence

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory as backbone_factory

from axial_deeplab_tf.configs import backbones as backbones_cfg
from axial_deeplab_tf.configs import classification as classification_cfg
from axial_deeplab_tf.configs import panoptic as panoptic_cfg
from axial_deeplab_tf.data import encoding
from axial_deeplab_tf.modeling import classifier
from axial_deeplab_tf.modeling import panoptic_deeplab
# Registers the `axial_resnet` and `wide_resnet` backbone builders.
from axial_deeplab_tf.modeling.backbones import axial_resnet  # pylint: disable=unused-import
from axial_deeplab_tf.modeling.backbones import wide_resnet  # pylint: disable=unused-import

INPUT_SPECS = tf_keras.layers.InputSpec(shape=[None, None, None, 3])
# Dummy batches that create the variables: 65 = 4 * 16 + 1 is a size the
# panoptic model does not pad.
_PANOPTIC_BUILD_SIZE = 65
_CLASSIFIER_BUILD_SIZE = 32


def l2_regularizer(l2_weight_decay: float):
  """The kernel regularizer of `losses.l2_weight_decay` (None for 0).

  Halved, as Model Garden does, so that the penalty is
  `l2_weight_decay * sum(w**2) / 2` like `tf.nn.l2_loss`.
  """
  if not l2_weight_decay:
    return None
  return tf_keras.regularizers.l2(l2_weight_decay / 2.0)


def build_backbone(model_config, kernel_regularizer=None,
                   output_stride=None) -> tf_keras.Model:
  """The backbone of `model_config` through Model Garden's factory.

  Args:
    model_config: a model config with `backbone` and `norm_activation`.
    kernel_regularizer: of every backbone kernel.
    output_stride: the model's output stride, when the model has one; the
      backbone's own `output_stride` must then be null or equal.

  Returns:
    The backbone: images [B, H, W, 3] -> dict of features keyed by level.
  """
  backbone_config = model_config.backbone
  kind = backbone_config.type
  if output_stride is not None and kind in ('axial_resnet', 'wide_resnet'):
    own = getattr(backbone_config, kind).output_stride
    if own not in (None, output_stride):
      raise ValueError(f'model.backbone.{kind}.output_stride ({own}) '
                       f'differs from model.output_stride ({output_stride}); '
                       f'set only model.output_stride.')
    backbone_config = backbone_config.replace(
        **{kind: {'output_stride': output_stride}})
  return backbone_factory.build_backbone(
      input_specs=INPUT_SPECS, backbone_config=backbone_config,
      norm_activation_config=model_config.norm_activation,
      l2_regularizer=kernel_regularizer)


def build_panoptic_model(model_config: panoptic_cfg.PanopticModel,
                         l2_weight_decay: float = 0.0
                         ) -> panoptic_deeplab.PanopticDeepLab:
  """Axial-DeepLab from a `configs.panoptic.PanopticModel`.

  Returns a built `PanopticDeepLab` (images [B, H, W, 3] ->
  semantic_logits [B, H, W, K], center_heatmap [B, H, W, 1],
  center_offsets [B, H, W, 2]) with `thing_class_ids` attached.
  """
  m = model_config
  thing_class_ids = encoding.validate_thing_class_ids(m.thing_class_ids,
                                                      m.num_classes)
  regularizer = l2_regularizer(l2_weight_decay)
  norm = m.norm_activation
  model = panoptic_deeplab.PanopticDeepLab(
      build_backbone(m, regularizer, m.output_stride), m.num_classes,
      output_stride=m.output_stride, use_aspp=m.use_aspp,
      use_sync_bn=norm.use_sync_bn, norm_momentum=norm.norm_momentum,
      norm_epsilon=norm.norm_epsilon, kernel_regularizer=regularizer,
      name='axial_deeplab', **m.decoder.as_dict())
  model.thing_class_ids = thing_class_ids
  size = _PANOPTIC_BUILD_SIZE
  model(tf.zeros([1, size, size, 3]), training=False)
  return model


def build_classification_model(
    model_config: classification_cfg.ClassificationModel,
    l2_weight_decay: float = 0.0) -> classifier.ImageClassifier:
  """The classifier of a `configs.classification.ClassificationModel`.

  Returns a built `ImageClassifier` (images [B, H, W, 3] -> float32
  logits [B, num_classes]).
  """
  m = model_config
  regularizer = l2_regularizer(l2_weight_decay)
  model = classifier.ImageClassifier(
      build_backbone(m, regularizer), m.num_classes, m.dropout_rate,
      regularizer, name='axial_resnet_classifier')
  size = _CLASSIFIER_BUILD_SIZE
  model(tf.zeros([1, size, size, 3]), training=False)
  return model


_BUILDERS = ((panoptic_cfg.PanopticModel, build_panoptic_model),
             (classification_cfg.ClassificationModel,
              build_classification_model))


def build_model(model_config, l2_weight_decay: float = 0.0) -> tf_keras.Model:
  """The model of a task's `model` config (see the module docstring)."""
  for config_class, builder in _BUILDERS:
    if isinstance(model_config, config_class):
      return builder(model_config, l2_weight_decay)
  raise ValueError(f'model: expected a {[c.__name__ for c, _ in _BUILDERS]}'
                   f' config, got {type(model_config).__name__}.')


def config_from_arguments(config_class, variant: str, **kwargs):
  """A model config of `config_class` from the Python API's arguments.

  Args:
    config_class: `PanopticModel` or `ClassificationModel`.
    variant: `backbone.axial_resnet.variant`.
    **kwargs: model keys (these win: `output_stride` of a panoptic model
      is the model's) or `backbone.axial_resnet` keys.

  Raises:
    KeyError: naming an argument that is neither.
  """
  config = config_class()
  model_keys = set(config.as_dict()) - {'backbone'}
  backbone_keys = set(backbones_cfg.AxialResNet().as_dict()) - {'variant'}
  unknown = sorted(set(kwargs) - model_keys - backbone_keys)
  if unknown:
    known = sorted(model_keys | backbone_keys)
    raise KeyError(f'{unknown}: not a key of {config_class.__name__} nor of '
                   f'backbone.axial_resnet; expected some of {known}.')
  backbone = {k: v for k, v in kwargs.items()
              if k in backbone_keys and k not in model_keys}
  backbone['variant'] = variant
  model = {k: v for k, v in kwargs.items() if k in model_keys}
  model['backbone'] = {'type': 'axial_resnet', 'axial_resnet': backbone}
  config.override(model, is_strict=True)
  return config


def build_axial_deeplab(variant: str = 'axial_deeplab_l',
                        num_classes: int = 19,
                        thing_class_ids: Sequence[int] = (),
                        l2_weight_decay: float = 0.0,
                        **kwargs) -> panoptic_deeplab.PanopticDeepLab:
  """Axial-DeepLab by variant name (`build_panoptic_model` of that config).

  Args:
    variant: a backbone variant name (`axial_deeplab_{s,m,l,xl}` for the
      paper's models; any name of `variants.VARIANTS` works).
    num_classes: semantic classes K.
    thing_class_ids: ids of the thing classes, checked against
      `num_classes` and kept as `model.thing_class_ids`.
    l2_weight_decay: as `losses.l2_weight_decay`.
    **kwargs: keys of `configs.panoptic.PanopticModel` or of
      `backbone.axial_resnet` (see the module docstring).

  Returns:
    A built `PanopticDeepLab`: images [B, H, W, 3] (any H, W) -> dict
    semantic_logits [B, H, W, K], center_heatmap [B, H, W, 1],
    center_offsets [B, H, W, 2] (float32).
  """
  config = config_from_arguments(
      panoptic_cfg.PanopticModel, variant, num_classes=num_classes,
      thing_class_ids=[int(c) for c in thing_class_ids], **kwargs)
  return build_panoptic_model(config, l2_weight_decay)


def build_classifier(variant: str = 'axial_resnet_s',
                     num_classes: int = 1000,
                     l2_weight_decay: float = 0.0,
                     **kwargs) -> classifier.ImageClassifier:
  """An ImageNet-style classifier by variant name.

  Args:
    variant: a backbone variant name of `variants.VARIANTS`.
    num_classes: classes of the dense head.
    l2_weight_decay: as `losses.l2_weight_decay`.
    **kwargs: keys of `configs.classification.ClassificationModel`
      (`dropout_rate`, `norm_activation`) or of `backbone.axial_resnet`.

  Returns:
    A built `ImageClassifier`: images [B, H, W, 3] (any H, W) -> float32
    logits [B, num_classes].
  """
  config = config_from_arguments(
      classification_cfg.ClassificationModel, variant,
      num_classes=num_classes, **kwargs)
  return build_classification_model(config, l2_weight_decay)
