"""deeplab2's wide-ResNet family on our side (issue 10, deeplab2 part B).

References are data made by running deeplab2's code
(tests/fixtures/deeplab2_wide, tools/make_deeplab2_wide_fixtures.py):
a reduced SWideRNet encoder and a reduced whole Axial-SWideRNet-(1, 1, 1)
Cityscapes model, built with deeplab2's own width and layer multipliers
(and 7-row relative tables), random weights and random batch-norm
statistics, saved with the keys of deeplab2's trainer, and their inference
outputs at two input sizes; plus name -> shape manifests of the full-size
checkpoints. One imported whole model serves every check that needs one
(building a model is the slow part).
"""

import gzip
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.vision.configs import common
from official.vision.modeling.backbones import factory

from axial_deeplab_tf.checkpoints import deeplab2
from axial_deeplab_tf.checkpoints import deeplab2_reader
from axial_deeplab_tf.checkpoints import deeplab2_wide
from axial_deeplab_tf.checkpoints import importer
from axial_deeplab_tf.configs import backbones as backbones_cfg
from axial_deeplab_tf.modeling.backbones import wide_variants
from axial_deeplab_tf.modeling.backbones import wide_resnet
from axial_deeplab_tf.train import experiment

import deeplab2_fixtures  # tests/checkpoints
import import_checks  # tests/checkpoints
import deeplab2_wide_reference as reference  # tests/checkpoints

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, 'fixtures',
                        'deeplab2_wide')
with open(os.path.join(FIXTURES, 'fixtures.json')) as _f:
  TINY = json.load(_f)
WHOLE = TINY.pop('whole')
# deeplab2's relative-table reach in every reduced fixture (tables of
# 2 * _MAX_SPAN - 1 rows; our max_distance is _MAX_SPAN - 1).
_MAX_SPAN = WHOLE['axial_swidernet_1_1_1_os16']['max_span']
OUTPUTS = np.load(os.path.join(FIXTURES, 'outputs.npz'))


def _wide_config(options):
  """Our `backbone.wide_resnet` config for deeplab2
  `get_model(**options)`."""
  group = options['block_group_config']
  return backbones_cfg.WideResNet(
      variant=options['name'],
      stem_width_multiplier=options['stem_width_multiplier'],
      width_multiplier=options['width_multiplier'],
      layer_multiplier=options['backbone_layer_multiplier'],
      output_stride=options['output_stride'],
      drop_path_keep_prob=group['drop_path_keep_prob'],
      drop_path_schedule=group['drop_path_schedule'])


def _backbone(options):
  """Our backbone for deeplab2 `get_model(**options)`, through Model
  Garden's backbone factory (`type: wide_resnet`)."""
  config = backbones_cfg.Backbone(type='wide_resnet',
                                  wide_resnet=_wide_config(options))
  return factory.build_backbone(
      tf_keras.layers.InputSpec(shape=[None, None, None, 3]), config,
      common.NormActivation())


def _assert_matches_deeplab2(name, model, keys):
  """`model`, its variables mapped by `deeplab2_wide.source` (as the
  importer maps them) from the reduced encoder `name`, equals deeplab2's
  endpoints `keys` (ours -> deeplab2's) at both fixture sizes."""
  state = deeplab2_reader.read(os.path.join(FIXTURES, name, 'ckpt-1'))
  found = {v.name: deeplab2_wide.source(v.name, None, tuple(v.shape))
           for v in model.variables}
  # Every tensor of the file is used, and every variable filled.
  assert sorted(key for key, _ in found.values()) == sorted(state)
  for variable in model.variables:
    key, convert = found[variable.name]
    variable.assign(convert(state[key]))
  assert reference.variables(model.variant) == {
      v.name.split(':')[0]: tuple(v.shape) for v in model.variables}
  sizes = sorted({k.split('/')[1] for k in OUTPUTS.files
                  if k.startswith(name + '/')})
  assert len(sizes) == 2
  for size in sizes:
    prefix = f'{name}/{size}'
    ours = model(OUTPUTS[f'{prefix}/image'], training=False)
    for key, theirs in keys.items():
      expected = OUTPUTS[f'{prefix}/{theirs}']
      got = ours[key].numpy()
      assert got.shape == expected.shape, (size, key)
      scale = np.abs(expected).max()
      assert np.abs(got - expected).max() <= 1e-4 * scale, (size, key)


_STAGES = {str(level): f'res{level}' for level in range(1, 6)}


def test_reduced_swidernet_matches_deeplab2_at_two_sizes():
  """Every endpoint of the conv-only SWideRNet (built through Model
  Garden's backbone factory) equals deeplab2's; the reduced model has a
  strided first block in stages 2 to 4 and a dilated second block in
  stage 5 (output stride 16)."""
  model = _backbone(TINY['swidernet_tiny'])
  layout = wide_resnet.block_layout(model.variant)
  assert [b.atrous_rate for b in layout[4]] == [1, 2]
  _assert_matches_deeplab2('swidernet_tiny', model, _STAGES)


def test_reduced_max_deeplab_l_backbone_matches_deeplab2_at_two_sizes():
  """deeplab2's MaX-DeepLab-L ImageNet encoder (classification mode, no
  transformer): our row `max_deeplab_l_backbone` (its stacked decoder)
  with the fixture's reductions gives deeplab2's five stages and its
  classification feature `backbone_output`. Output stride 32: six decoder
  stages, projections strided (from half the stride) and resized (from
  another stride), basic and axial decoder blocks, a strided axial
  block."""
  options = TINY['max_deeplab_l_backbone_tiny']
  group = options['block_group_config']
  axial = group['axial_layer_config']
  variant = wide_variants.resolve_wide(
      options['name'], stem_width_multiplier=options['stem_width_multiplier'],
      width_multiplier=options['width_multiplier'],
      layer_multiplier=options['backbone_layer_multiplier'],
      output_stride=options['output_stride'],
      attention_expansion=group['attention_bottleneck_expansion'],
      key_expansion=axial['key_expansion'],
      value_expansion=axial['value_expansion'],
      num_heads=axial['num_heads'], max_distance=_MAX_SPAN - 1)
  model = wide_resnet.WideResNet(variant)
  assert [s for s, _, _ in wide_resnet.decoder_layout(variant)] == [
      16, 8, 4, 8, 16, 32]
  _assert_matches_deeplab2('max_deeplab_l_backbone_tiny', model,
                           dict(_STAGES, backbone_output='backbone_output'))


@pytest.mark.parametrize('name, row, output_stride', [
    ('swidernet', 'swidernet', 16),
    ('axial_swidernet', 'axial_swidernet', 16),
    ('max_deeplab_l_backbone', 'max_deeplab_l_backbone', 16),
    ('max_deeplab_l_backbone_os32', 'max_deeplab_l_backbone', 32)])
def test_full_size_manifests_map_completely(name, row, output_stride):
  """deeplab2's full-size ImageNet encoders: every tensor is one of our
  row's variables, with its shape (MaX-DeepLab-L's stacked decoder at both
  output strides)."""
  with gzip.open(os.path.join(FIXTURES, 'manifests.json.gz'), 'rt') as f:
    manifest = json.load(f)[name]
  ours = reference.variables(wide_variants.resolve_wide(
      row, output_stride=output_stride))
  used = set()
  for variable, shape in ours.items():
    key, convert = deeplab2_wide.source(variable, None, shape)
    assert key in manifest['variables'], (variable, key)
    foreign = np.zeros(manifest['variables'][key], np.float32)
    assert convert(foreign).shape == shape, (variable, key)
    used.add(key)
  assert used == set(manifest['variables'])
  count = sum(int(np.prod(shape)) for variable, shape in ours.items()
              if 'moving_' not in variable)
  assert count == manifest['trainable_parameters']


def _whole_override(name):
  """Our config for a reduced deeplab2 whole model (fixtures.json)."""
  b, r = WHOLE[name]['backbone'], WHOLE[name]['reduced']
  return {'task': {'model': {
      'backbone': {'wide_resnet': {
          'stem_width_multiplier': b['stem_width_multiplier'],
          'width_multiplier': b['backbone_width_multiplier'],
          'layer_multiplier': b['backbone_layer_multiplier'],
          'max_distance': WHOLE[name]['max_span'] - 1}},
      'decoder': deeplab2_fixtures.decoder_override(r)}}}


_WHOLE = 'axial_swidernet_1_1_1_os16'


@pytest.fixture(scope='module')
def whole(tmp_path_factory):
  """The reduced whole model imported by `--source=deeplab2
  --model=axial_swidernet_1_1_1_os16`, and the file's state."""
  path = os.path.join(FIXTURES, _WHOLE, 'ckpt-1')
  imported = importer.import_checkpoint(
      'deeplab2', path, _WHOLE,
      str(tmp_path_factory.mktemp('whole') / 'imported'),
      _whole_override(_WHOLE))
  return imported, deeplab2_reader.read(path)


def test_imported_whole_model_matches_deeplab2_at_two_sizes(whole):
  """`--source=deeplab2 --model=axial_swidernet_1_1_1_os16` imports the
  trainer-layout checkpoint (every tensor mapped) into the model of the
  experiment registered for it, which equals deeplab2 (inference mode).
  The tool and the restore by the tasks are the same path as
  test_deeplab2's."""
  imported, state = whole
  assert imported.experiment == f'deeplab2_{_WHOLE}_cityscapes'
  assert imported.num_tensors == len(state) and imported.num_unused == 0
  model = imported.model
  sizes = sorted({k.split('/')[1] for k in OUTPUTS.files
                  if k.startswith(_WHOLE + '/')})
  assert len(sizes) == 2
  for size in sizes:
    prefix = f'{_WHOLE}/{size}'
    images = OUTPUTS[f'{prefix}/image'].astype(np.float32) / 127.5 - 1
    ours = model(images, training=False)
    for key, reference in (('semantic_logits', 'semantic_logits'),
                           ('center_heatmap', 'center_heatmap'),
                           ('center_offsets', 'offset_map')):
      got = ours[key].numpy()
      if key == 'center_heatmap':
        got = got[..., 0]
      expected = OUTPUTS[f'{prefix}/{reference}']
      assert got.shape == expected.shape, (size, key)
      scale = np.abs(expected).max()
      assert np.abs(got - expected).max() <= 1e-4 * scale, (size, key)


def test_max_deeplab_l_and_the_imagenet_encoder_map_onto_the_same_model(
    whole):
  """MaX-DeepLab-L-Backbone's experiment builds the model of Axial-SWideRNet-
  (1, 1, 1)'s, from the same tensors plus its stacked decoder (names from
  its full-size manifest), which no output reads: those are left out and
  counted, and only for MaX-DeepLab-L. deeplab2's ImageNet
  `axial_swidernet` and `max_deeplab_l_backbone` (stacked decoder left
  out) encoders fill that model's backbone. Checked on the imported
  model, without building another."""
  imported, state = whole
  model = imported.model
  variant = model.backbone.variant

  def task_model(name):
    return experiment.load_experiment(
        deeplab2.MODELS[name].experiment,
        params_override=_whole_override(_WHOLE)).task.model

  max_l = 'max_deeplab_l_backbone_os16'
  assert task_model(max_l).as_dict() == task_model(_WHOLE).as_dict()
  with gzip.open(os.path.join(FIXTURES, 'manifests.json.gz'), 'rt') as f:
    names = json.load(f)[max_l]['variables']
  stacked = {k: np.zeros(shape, np.float32) for k, shape in names.items()
             if k.startswith('encoder/_decoder_stage')}
  assert stacked
  with_stacked = dict(state, **stacked)
  assert deeplab2.check_architecture(with_stacked, max_l, variant) is None
  assert importer.assign(model, with_stacked, deeplab2, max_l,
                         'ckpt') == len(state)
  unused = deeplab2.unused_for(max_l)
  assert sum(unused(k) for k in with_stacked) == len(stacked)
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'unmapped tensors: encoder/_decoder_stage'):
    importer.assign(model, with_stacked, deeplab2, _WHOLE, 'ckpt')
  # The ImageNet encoder: the file's encoder tensors, backbone only.
  encoder = {k: v for k, v in state.items() if k.startswith('encoder/')}
  assert deeplab2.MODELS['axial_swidernet'].experiment == imported.experiment
  assert deeplab2.check_architecture(encoder, 'axial_swidernet',
                                     variant) is None
  assert importer.assign(model, encoder, deeplab2, 'axial_swidernet', 'ckpt',
                         backbone_only=True) == len(encoder)
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'unmapped tensors: instance_'):
    importer.assign(model, state, deeplab2, 'axial_swidernet', 'ckpt',
                    backbone_only=True)
  # deeplab2's ImageNet `max_deeplab_l_backbone`: the same encoder plus
  # its stacked decoder, which the panoptic model leaves out.
  max_l_encoder = dict(encoder, **stacked)
  imagenet = 'max_deeplab_l_backbone'
  assert deeplab2.MODELS[imagenet].experiment == deeplab2.MODELS[
      max_l].experiment
  assert deeplab2.check_architecture(max_l_encoder, imagenet,
                                     variant) is None
  assert importer.assign(model, max_l_encoder, deeplab2, imagenet, 'ckpt',
                         backbone_only=True) == len(encoder)
  # Either file for the other model is refused (the reduced files look
  # like no full-size model; the full-size ones are named by
  # test_checkpoints_of_other_wide_models_say_what_they_look_like).
  assert 'first axial block (5, 1)), ' in deeplab2.check_architecture(
      encoder, imagenet, variant)
  assert 'first axial block (5, 1), stacked decoder), ' in (
      deeplab2.check_architecture(max_l_encoder, 'axial_swidernet', variant))


def test_checkpoints_of_other_wide_models_say_what_they_look_like(tmp_path):
  output = str(tmp_path / 'out')
  with gzip.open(os.path.join(FIXTURES, 'manifests.json.gz'), 'rt') as f:
    manifests = json.load(f)
  name = 'axial_swidernet_1_1_1_os16'
  # deeplab2's full-size ImageNet encoders, named (the check reads shapes
  # only, so the arrays are broadcast zeros).
  for encoder, first_axial in (
      ('axial_swidernet', r'\(4, 2\)'), ('swidernet', 'None'),
      ('max_deeplab_l_backbone', r'\(4, 2\), stacked decoder')):
    state = {k: np.broadcast_to(np.float32(0), s)
             for k, s in manifests[encoder]['variables'].items()}
    with pytest.raises(importer.ImportCheckpointError,
                       match=rf'not a checkpoint of {name}: it looks like '
                             rf'{encoder} \(encoder, conv3x3 stem of 64 '
                             rf'channels, blocks per stage \[3, 6, 3, 3\] '
                             rf'plus a stride-2 stage, first axial block '
                             rf'{first_axial}\)'):
      importer.import_state('deeplab2', state, name, output)
  # The reduced encoder fixture is not the reduced whole model.
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'looks like none of .*\(encoder, conv3x3 stem of '
                           r'2 channels, blocks per stage \[2, 4, 2, 2\] '
                           r'plus a stride-2 stage, first axial block None'):
    importer.import_checkpoint(
        'deeplab2', os.path.join(FIXTURES, 'swidernet_tiny', 'ckpt-1'),
        name, output, _whole_override(name))
  assert sorted(os.listdir(tmp_path)) == []  # nothing written


@pytest.mark.parametrize('name', [
    'axial_swidernet_1_1_1_os16', 'axial_swidernet_1_1_3_os16',
    'axial_swidernet_1_1_4.5_os16', 'max_deeplab_l_backbone_os16'])
def test_full_size_whole_manifests_map_completely(name):
  """The encoder maps as our reference backbone says (MaX-DeepLab-L's
  stacked decoder aside, `deeplab2.UNUSED`); the decoders and heads are
  the tensors of max_deeplab_s_backbone_os16's checkpoint (mapped
  completely by test_deeplab2), the convs reading the backbone's res5,
  res3 and res2 having the wide backbone's widths."""
  with gzip.open(os.path.join(FIXTURES, 'manifests.json.gz'), 'rt') as f:
    manifest = json.load(f)[name]['variables']
  with gzip.open(os.path.join(FIXTURES, os.pardir, 'deeplab2',
                              'full_manifests.json.gz'), 'rt') as f:
    max_s = json.load(f)['max_deeplab_s_backbone_os16']['variables']
  row = experiment.load_experiment(
      deeplab2.MODELS[name].experiment).task.model.backbone.wide_resnet
  ours = reference.variables(wide_variants.resolve_wide_config(row))
  unused = deeplab2.unused_for(name)
  encoder = {k for k in manifest if k.startswith('encoder/') and
             not unused(k)}
  used = set()
  for variable, shape in ours.items():
    key, convert = deeplab2_wide.source(variable, None, shape)
    assert key in encoder, (variable, key)
    foreign = np.zeros(manifest[key], np.float32)
    assert convert(foreign).shape == shape, (variable, key)
    used.add(key)
  assert used == encoder
  assert (any(unused(k) for k in manifest) ==
          (name == 'max_deeplab_l_backbone_os16'))
  rest = {k: s for k, s in manifest.items() if not k.startswith('encoder/')}
  assert set(rest) == {k for k in max_s if not k.startswith('encoder/')}
  last = {s: max(int(k.split('_block')[1].split('/')[0])
                 for k in ours if k.startswith(f'stage{s}_block'))
          for s in (2, 3, 5)}
  widths = {s: ours[f'stage{s}_block{last[s]}/conv3/bn/gamma'
                    if s == 5 else
                    f'stage{s}_block{last[s]}/conv2/bn/gamma'][0]
            for s in (2, 3, 5)}
  readers = {'_aspp/_proj_conv_bn_act/_conv/kernel': 5,
             '_low_level_conv1/_conv/kernel': 3,
             '_low_level_conv2/_conv/kernel': 2}
  for key, shape in rest.items():
    reader = [s for suffix, s in readers.items() if key.endswith(suffix)]
    if reader:
      assert shape[:2] + shape[3:] == max_s[key][:2] + max_s[key][3:], key
      assert shape[2] == widths[reader[0]], key
    else:
      assert shape == max_s[key], key


@pytest.mark.parametrize('layers', ['3', '4.5'])
def test_deeper_axial_swidernet_encoders_import_by_their_name(layers):
  """deeplab2's ImageNet Axial-SWideRNet-(1, 1, 3) and (1, 1, 4.5) files
  (the encoder tensors of the whole models' manifests) import as
  `axial_swidernet_1_1_<layers>` into that experiment's backbone, every
  tensor mapped; `--model=axial_swidernet` ((1, 1, 1)) names them."""
  with gzip.open(os.path.join(FIXTURES, 'manifests.json.gz'), 'rt') as f:
    manifest = json.load(f)[f'axial_swidernet_1_1_{layers}_os16']
  encoder = import_checks.shapes_only(
      {k: s for k, s in manifest['variables'].items()
       if k.startswith('encoder/')})

  def variant(name):
    return wide_variants.resolve_wide_config(experiment.load_experiment(
        deeplab2.MODELS[name].experiment).task.model.backbone.wide_resnet)

  name = f'axial_swidernet_1_1_{layers}'
  assert deeplab2.MODELS[name].backbone_only
  assert deeplab2.check_architecture(encoder, name, variant(name)) is None
  assert f'it looks like {name} (encoder, ' in deeplab2.check_architecture(
      encoder, 'axial_swidernet', variant('axial_swidernet'))
  used = import_checks.mapped_keys(
      reference.variables(variant(name)),
      {k: v.shape for k, v in encoder.items()},
      lambda v, shape: deeplab2_wide.source(v, None, shape))
  assert used == set(encoder)
