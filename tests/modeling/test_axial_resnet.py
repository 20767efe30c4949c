"""AxialResNet backbone: endpoints, any input size, serialization, Model
Garden factory, and the paper's parameter / M-Adds counts."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
import tf_keras

from official.vision.configs import common
from official.vision.modeling.backbones import factory

from axial_deeplab_tf.configs import backbones as backbone_configs
from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.modeling import factory as model_factory
from axial_deeplab_tf.modeling import statistics
from axial_deeplab_tf.modeling.backbones import axial_resnet
from axial_deeplab_tf.modeling.backbones import variants

TINY_AXIAL = variants.Variant(
    stem='three_conv', block='axial', stage_blocks=(1, 1, 1, 1),
    width_multiplier=0.125, span=5, max_distance=8, output_stride=16)
TINY_CONV_STEM = variants.Variant(
    stem='resnet', block='axial', stage_blocks=(1, 1, 1, 1),
    width_multiplier=0.125, max_distance=8)


def _images(shape, seed=0):
  return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


@pytest.mark.parametrize('variant,size,strides', [
    (TINY_AXIAL, 65, (4, 8, 16, 16)),
    (TINY_CONV_STEM, 64, (4, 8, 16, 32)),
    (variants.Variant(stem='axial', block='axial', stage_blocks=(1, 1, 1, 1),
                      width_multiplier=0.25, span=3, max_distance=4,
                      stem_width=8), 32, (4, 8, 16, 32)),
    (variants.Variant(stem='axial', block='axial', stage_blocks=(1, 1, 1, 1),
                      width_multiplier=0.25, span=3, max_distance=4,
                      stem_width=8, stride_mode='avg_pool'), 33,
     (4, 8, 16, 32)),
    (variants.Variant(stem='resnet', block='conv', stage_blocks=(1, 1, 1, 1),
                      width_multiplier=0.125), 33, (4, 8, 16, 32)),
])
def test_endpoints(variant, size, strides):
  backbone = axial_resnet.AxialResNet(variant)
  features = backbone(_images((2, size, size + 6, 3)))
  assert sorted(features) == ['2', '3', '4', '5']
  for level, stride in zip('2345', strides):
    channels = 4 * int(64 * 2**(int(level) - 2) * variant.width_multiplier)
    want = (2, -(-size // stride), -(-(size + 6) // stride), channels)
    assert tuple(features[level].shape) == want, level
    assert backbone.output_specs[level].as_list() == [None, None, None,
                                                      channels]


@pytest.fixture(scope='module')
def saved_backbone(tmp_path_factory):
  """TINY_AXIAL with non-trivial batch-norm statistics (so that inference
  mode matters) saved with its inference function for any batch and size:
  (backbone, SavedModel path), traced once for the two tests below."""
  backbone = axial_resnet.AxialResNet(TINY_AXIAL)
  for weight in backbone.non_trainable_weights:
    weight.assign(tf.random.stateless_uniform(weight.shape, (1, 2), 0.5, 1.5))
  module = tf.Module()
  # Its variables, not the Keras layer: saving a layer also traces every
  # sublayer's call (a minute and a half on 2 cores); the export tests
  # (tests/serving) save whole Keras models.
  module.weights = list(backbone.weights)
  module.serve = tf.function(
      lambda x: backbone(x, training=False),
      input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
  path = os.path.join(tmp_path_factory.mktemp('backbone'), 'backbone')
  tf.saved_model.save(module, path)
  return backbone, path


def test_saved_model_serves_two_sizes(saved_backbone):
  backbone, path = saved_backbone
  loaded = tf.saved_model.load(path)
  for shape in ((1, 37, 53, 3), (2, 64, 31, 3)):
    x = _images(shape)
    served, eager = loaded.serve(x), backbone(x, training=False)
    for level in eager:
      np.testing.assert_allclose(served[level].numpy(), eager[level].numpy(),
                                 atol=1e-4)


def test_no_gather_in_backbone_graph(saved_backbone):
  """The saved inference graph (every function of it) has no gather."""
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(saved_backbone[1], 'saved_model.pb'), 'rb') as f:
    proto.ParseFromString(f.read())
  graph_def = proto.meta_graphs[0].graph_def
  types = {n.op for n in graph_def.node}
  for function in graph_def.library.function:
    types |= {n.op for n in function.node_def}
  assert 'Exp' in types  # the attention's softmax (inference: numerators)
  assert not {t for t in types if 'Gather' in t}, types


def test_config_round_trip():
  backbone = axial_resnet.AxialResNet(variants.resolve(TINY_AXIAL, span=3))
  x = _images((1, 33, 33, 3))
  want = backbone(x)
  clone = tf_keras.layers.deserialize(tf_keras.layers.serialize(backbone))
  assert isinstance(clone, axial_resnet.AxialResNet)
  clone.set_weights(backbone.get_weights())
  got = clone(x)
  for level in want:
    np.testing.assert_allclose(got[level].numpy(), want[level].numpy(),
                               atol=1e-5)


def test_model_garden_factory_builds_it():
  config = backbone_configs.Backbone(
      type='axial_resnet',
      axial_resnet=backbone_configs.AxialResNet(variant='axial_deeplab_s',
                                                span=9))
  backbone = factory.build_backbone(
      tf_keras.layers.InputSpec(shape=[None, None, None, 3]), config,
      common.NormActivation(use_sync_bn=False))
  assert isinstance(backbone, axial_resnet.AxialResNet)
  assert backbone.variant.span == 9
  assert backbone.output_specs['5'].as_list()[-1] == 1024


def test_model_garden_factory_honours_every_key():
  config = backbone_configs.Backbone(
      type='axial_resnet',
      axial_resnet=backbone_configs.AxialResNet(
          variant='axial_resnet_s', span=0, max_distance=6, output_stride=16,
          stage_blocks=[1, 2, 1, 1], width_multiplier=0.125, stem_width=8,
          stride_mode='avg_pool', block_size=4, recompute_attention=True,
          attention_memory_budget_mb=8))
  backbone = factory.build_backbone(
      tf_keras.layers.InputSpec(shape=[None, None, None, 3]), config,
      common.NormActivation(use_sync_bn=False, norm_momentum=0.5))
  assert backbone.variant == variants.Variant(
      stem='resnet', block='axial', stage_blocks=(1, 2, 1, 1),
      width_multiplier=0.125, span=None, max_distance=6, output_stride=16,
      stem_width=8, stride_mode='avg_pool')
  options = backbone.get_config()
  assert options['block_size'] == 4 and options['recompute_attention']
  budgets = {layer.memory_budget_mb for layer in backbone.submodules
             if isinstance(layer, attention.PositionSensitiveAxialAttention)}
  assert budgets == {8}
  assert options['norm_momentum'] == 0.5
  # 8-channel ResNet stem; stage 4 of base width 64 has 256 outputs.
  stem = [w for w in backbone.weights if w.name.startswith('stem/')]
  assert stem[0].shape[-1] == 8
  assert backbone.output_specs['5'].as_list()[-1] == 256
  features = backbone(_images((1, 64, 64, 3)))
  assert features['5'].shape == (1, 4, 4, 256)  # output stride 16
  blocks = {w.name.split('/')[0] for w in backbone.weights
            if w.name.startswith('stage')}
  assert blocks == {'stage1_block1', 'stage2_block1', 'stage2_block2',
                    'stage3_block1', 'stage4_block1'}


def test_classifier_any_size():
  model = model_factory.build_classifier(
      'axial_resnet_s', num_classes=7, stage_blocks=[1, 1, 1, 1],
      width_multiplier=0.125, max_distance=8, stem_width=8)
  # The same layers as TINY_CONV_STEM (whose stem width 64 * 0.125 = 8).
  assert model.backbone.variant == variants.resolve(TINY_CONV_STEM,
                                                    stem_width=8)
  for shape in ((2, 45, 61, 3), (1, 32, 32, 3)):
    logits = model(_images(shape))
    assert logits.shape == (shape[0], 7) and logits.dtype == tf.float32


def test_unknown_variant_and_bad_rows():
  with pytest.raises(ValueError, match='Unknown backbone variant'):
    axial_resnet.AxialResNet('axial_resnet_xxl')
  with pytest.raises(ValueError, match='Variant.stem'):
    variants.Variant(stem='vit', block='axial')
  with pytest.raises(ValueError, match='output_stride'):
    variants.resolve('axial_deeplab_s', output_stride=8)
  with pytest.raises(ValueError, match='width_multiplier'):
    variants.Variant(stem='resnet', block='conv', width_multiplier=0)
  for field in ('shortcut', 'activation'):
    with pytest.raises(ValueError, match=f'Variant.{field}'):
      variants.Variant(stem='conv7x7', block='conv', **{field: 'elu'})


def test_pytorch_rows_size_tables_per_block():
  """The authors' axialnet.py attends with kernel_size 56 in stage 1, 56
  then 28 in stage 2 (its strided first block attends before pooling), 28
  then 14 in stage 3, 14 then 7 in stage 4: reach kernel_size - 1."""
  for name in ('axial_resnet_26s', 'axial_resnet_50l'):
    row = variants.get_variant(name)
    assert [row.block_max_distance(stage, index)
            for stage in range(4) for index in (0, 1)] == [
                55, 55, 55, 27, 27, 13, 13, 6]
    assert row.stride_mode == 'avg_pool' and row.stem_padding == 'symmetric'
  # A max_distance override applies to every block.
  row = variants.resolve('axial_resnet_26s', max_distance=8)
  assert {row.block_max_distance(s, i) for s in range(4) for i in (0, 1)
          } == {8}
  with pytest.raises(ValueError, match='first_block_max_distance'):
    variants.resolve('axial_resnet_26s', first_block_max_distance=[1, 2])
  with pytest.raises(ValueError, match='num_heads'):
    variants.resolve('axial_resnet_26s', num_heads=0)


def test_overrides_make_a_row():
  row = variants.resolve('axial_resnet_s', stride_mode='avg_pool',
                         stem_width=8, span=None)
  assert row == variants.Variant(
      stem='resnet', block='axial', width_multiplier=0.5, stem_width=8,
      stride_mode='avg_pool')
  assert variants.resolve('axial_resnet_s') == variants.get_variant(
      'axial_resnet_s')
  assert variants.resolve('axial_deeplab_s', span=0).span is None
  assert variants.resolve('axial_deeplab_s',
                          stage_blocks=[1, 1, 2, 1]).stage_blocks == (
                              1, 1, 2, 1)
  with pytest.raises(ValueError, match='stride_mode'):
    variants.resolve('axial_resnet_s', stride_mode='pool')
  with pytest.raises(ValueError, match='stem_widht'):
    variants.resolve('axial_resnet_s', stem_widht=8)


def _within(value, reference, tolerance=0.05):
  return abs(value / reference - 1) <= tolerance


# Paper Table 1 (ImageNet, 224x224, 1000 classes) and the PyTorch
# reference's Axial-ResNet-26-S: (parameters, M-Adds or None).
IMAGENET = {
    'resnet50': (25.6e6, 4.1e9),
    'axial_resnet_s': (12.4e6, 2.8e9),
    # With 2x2 average pooling after both axes (the PyTorch reference's
    # stride convention, the stand-alone rows' default): 3.42B.
    'full_axial_resnet_s': (12.5e6, 3.3e9),
    'axial_resnet_26s': (5.9e6, None),
}


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(IMAGENET))
def test_imagenet_counts_match_paper(name):
  params, madds = IMAGENET[name]
  model = model_factory.build_classifier(name, 1000)
  count = statistics.count_params(model)
  assert _within(count, params)
  if name == 'axial_resnet_s':
    # Paper: with 509-entry tables conv-stem Axial-ResNet-S has 12.49M.
    assert round(count / 1e6, 2) == 12.49
  if madds:
    assert _within(statistics.count_madds(model, 224, 224), madds)


# Paper Tables 6/7 (Cityscapes, 19 classes, 1025x2049).
PANOPTIC = {
    'axial_deeplab_s': (12.1e6, 220.8e9),
    'axial_deeplab_m': (25.9e6, None),
    'axial_deeplab_l': (44.9e6, 687.4e9),
    'axial_deeplab_xl': (173.0e6, None),
}


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(PANOPTIC))
def test_panoptic_counts_match_paper(name):
  params, madds = PANOPTIC[name]
  model = model_factory.build_axial_deeplab(name, 19)
  assert _within(statistics.count_params(model), params)
  if madds:
    assert _within(statistics.count_madds(model, 1025, 2049), madds)


def test_initial_weights_are_not_repeated():
  """Every kernel and table draws its own random values (one unseeded
  initializer instance shared by several weights would repeat them)."""
  # Two blocks per stage: their expand convs have the same shape.
  backbone = axial_resnet.AxialResNet(variants.resolve(
      TINY_AXIAL, stage_blocks=(2, 2, 1, 1)))
  seen = {}
  for weight in backbone.trainable_weights:
    if 'kernel' in weight.name or '_rpe' in weight.name:
      key = weight.numpy().tobytes()
      assert key not in seen, (weight.name, seen.get(key))
      seen[key] = weight.name
  assert len(seen) > 20
