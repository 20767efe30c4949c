"""Tiny models with randomized weights for the serving tests.

Freshly built models are nearly constant (zero-initialized residual
gammas, unit batch-norm statistics), which would make parity checks
vacuous, so every batch-norm statistic and scale is drawn at random.
"""

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.modeling.backbones import axial_resnet
from axial_deeplab_tf.modeling import panoptic_deeplab
from axial_deeplab_tf.modeling.backbones import variants
from axial_deeplab_tf.ops.post_processing_options import PostProcessingOptions

NUM_CLASSES = 5
THING_CLASS_IDS = (2, 3, 4)
ENCODING = PanopticEncoding(NUM_CLASSES, THING_CLASS_IDS, label_divisor=1000,
                            void_label=255)
# Small enough for 32-65 px test images to show stuff and instances.
OPTIONS = PostProcessingOptions(center_threshold=0.1, nms_kernel=5, top_k=8,
                                stuff_area_limit=16)

TINY_ROW = variants.Variant(stem='three_conv', block='axial',
                            stage_blocks=(1, 1, 1, 1), width_multiplier=0.125,
                            span=5, max_distance=8, output_stride=16)
# TINY_ROW with attention in its last block only (stages 1-3 are conv
# bottlenecks): the classifier export's checks are of the signatures, and
# every attention layer makes each of them slower to trace and to load.
TINY_CLASSIFIER_ROW = dataclasses.replace(TINY_ROW, axial_beyond_stride=16)


def randomize(model, seed=0):
  """Redraws every weight from numpy, in place, then settles the statistics.

  Every weight comes from `np.random.RandomState(seed)`, so the model does
  not depend on which TensorFlow ops ran before in the process (pytest-xdist
  reorders tests). Kernels and embeddings keep the spread their initializer
  gave them; batch-norm scales and offsets and biases are drawn away from
  their trivial initial values. Batch-norm moving statistics are then set
  to the statistics of a random batch (see `settle_statistics`): random
  moving statistics let activations grow to hundreds in the deep stages and
  make float32 parity checks depend on cancellation, not on the export.
  """
  rng = np.random.RandomState(seed)
  for weight in model.weights:
    name = weight.name
    shape = weight.shape
    if 'moving_mean' in name or 'moving_variance' in name:
      continue
    if 'predict/kernel' in name:
      value = rng.normal(0.0, 0.4, shape)
    elif 'gamma' in name:
      value = rng.uniform(0.5, 1.5, shape)
    elif 'beta' in name or 'bias' in name:
      value = rng.normal(0.0, 0.3, shape)
    else:
      spread = float(np.std(weight.numpy()))
      if spread == 0.0:
        continue
      value = rng.normal(0.0, spread, shape)
    weight.assign(value.astype(weight.dtype.as_numpy_dtype))
  return settle_statistics(model, seed)


def settle_statistics(model, seed=0):
  """Sets every batch-norm moving statistic to one random batch's.

  One training-mode call with momentum 0 makes each moving mean and
  variance equal to the batch statistics that layer saw, so inference on
  similar images keeps activations near unit scale, as in a trained model.
  """
  norms = [layer for layer in model.submodules
           if hasattr(layer, 'moving_variance')]
  momenta = [layer.momentum for layer in norms]
  images = np.random.RandomState(seed + 2).normal(
      0.0, 1.0, (2, 49, 49, 3)).astype(np.float32)
  try:
    for layer in norms:
      layer.momentum = 0.0
    model(images, training=True)
  finally:
    for layer, momentum in zip(norms, momenta):
      layer.momentum = momentum
  return model


def tiny_panoptic_model(seed=0):
  """A ~0.2M-parameter PanopticDeepLab over TINY_ROW, weights randomized."""
  model = tiny_panoptic_network(seed)
  randomize(model, seed)
  return calibrate(model, seed)


def tiny_panoptic_network(seed=0):
  """`tiny_panoptic_model`'s network, built, with its initial weights (for
  a model whose weights are restored from a checkpoint).

  build_axial_deeplab rejects a `Variant` object (it looks the variant up
  by name), so the model is assembled from its parts.
  """
  tf.random.set_seed(seed)
  backbone = axial_resnet.AxialResNet(TINY_ROW, name='backbone')
  model = panoptic_deeplab.PanopticDeepLab(
      backbone, NUM_CLASSES, semantic_aspp_channels=16,
      semantic_decoder_channels=16, semantic_head_channels=16,
      semantic_low_level_channels=(8, 8), instance_aspp_channels=16,
      instance_decoder_channels=16, instance_low_level_channels=(8, 8),
      center_head_channels=8, offset_head_channels=8)
  model(tf.zeros([1, 33, 33, 3]))
  return model


def _bias(model, head):
  return [w for w in model.weights if f'{head}/predict/bias' in w.name][0]


def calibrate(model, seed=0):
  """Shifts head biases so that random images give every class and peaks.

  Semantic biases are set so each class wins on some pixels; the center
  bias puts the heatmap's 97th percentile at 0.3 (threshold 0.1).
  """
  rng = np.random.RandomState(seed + 1)
  images = rng.normal(0.0, 1.0, (2, 49, 49, 3)).astype(np.float32)
  outputs = model(images, training=False)
  logits = outputs['semantic_logits'].numpy().reshape(-1, NUM_CLASSES)
  semantic_bias = _bias(model, 'semantic_head')
  semantic_bias.assign(semantic_bias.numpy() - logits.mean(axis=0))
  heatmap = outputs['center_heatmap'].numpy()
  center_bias = _bias(model, 'center_head')
  center_bias.assign(center_bias.numpy() + 0.3 - np.percentile(heatmap, 97))
  return model


def tiny_classifier(num_classes=7, seed=0):
  """A tiny Axial-ResNet classifier over TINY_CLASSIFIER_ROW, weights
  randomized.

  Same layers as `axial_resnet.build_classifier`, which cannot take a
  `Variant` object (it names the model f'{variant}_classifier', an invalid
  scope name for a dataclass repr).
  """
  tf.random.set_seed(seed)
  backbone = axial_resnet.AxialResNet(TINY_CLASSIFIER_ROW, name='backbone')
  inputs = tf_keras.Input(shape=[None, None, 3])
  features = backbone(inputs)
  pooled = tf_keras.layers.GlobalAveragePooling2D()(features['5'])
  logits = tf_keras.layers.Dense(num_classes, name='logits')(pooled)
  model = tf_keras.Model(inputs, logits, name='tiny_classifier')
  model(tf.zeros([1, 32, 32, 3]))
  return randomize(model, seed)
