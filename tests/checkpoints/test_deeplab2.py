"""Importing deeplab2's checkpoints (issue 10, deeplab2 part A).

References are data made by running deeplab2 (tests/fixtures/deeplab2,
tools/make_deeplab2_fixtures.py): a reduced `max_deeplab_s_backbone_os16`
with random weights and batch-norm statistics, saved in deeplab2
trainer's layout (with a global step and optimizer slots), a reduced
`axial_deeplab_l` encoder in the Model Garden vision layout, reduced
`axial_resnet_s` and `axial_resnet50` encoders (the 7x7 stem with the
subsampled shortcut; GeLU) in the trainer layout, their outputs at two
sizes, and the manifests of the full-size models. Five models are built in
all: the whole model's import by the tool, the task model restored from
it, the three encoders' imports by the Python API.
"""

import contextlib
import functools
import gzip
import io
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.checkpoints import deeplab2
from axial_deeplab_tf.checkpoints import deeplab2_reader
from axial_deeplab_tf.checkpoints import importer
from axial_deeplab_tf.modeling.backbones import variants
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.tasks import panoptic
from axial_deeplab_tf.tools import import_checkpoint as import_tool
from axial_deeplab_tf.train import experiment
import import_checks

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, 'fixtures',
                        'deeplab2')
with open(os.path.join(FIXTURES, 'fixtures.json')) as _f:
  TINY = json.load(_f)
OS16 = 'max_deeplab_s_backbone_os16'


def _fixture(name):
  return os.path.join(FIXTURES, name)


@functools.lru_cache(maxsize=None)
def _full_manifests():
  """{model: {'variables': {key: shape}, 'trainable': count}} of
  deeplab2's full-size models."""
  with gzip.open(_fixture('full_manifests.json.gz'), 'rt') as f:
    return json.load(f)


def _raw_names(folder):
  return [n for n, _ in tf.train.list_variables(_fixture(folder))]


def test_reader_trainer_layout_keeps_model_variables_only():
  names = _raw_names(TINY['trainer'])
  # The file holds what deeplab2's trainer saves besides the model.
  assert 'global_step/.ATTRIBUTES/VARIABLE_VALUE' in names
  assert any(n.startswith('optimizer/_variables/') for n in names)
  layout, state = deeplab2_reader.read_with_layout(_fixture(TINY['trainer']))
  assert layout == 'deeplab2'
  assert len(state) == TINY['model_variables']
  assert state['encoder/_stem/_conv1_bn_act/_conv/kernel'].shape == (
      3, 3, 3, 8)
  assert state['semantic_last_layer/kernel'].shape == (
      1, 1, TINY['reduced']['semantic_head_channels'], 19)
  assert state['encoder/_stage4/_block2/_attention/_height_axis/'
               '_query_rpe/embeddings'].shape == (
                   2 * TINY['max_span'] - 1, 1)
  roots = {k.split('/')[0] for k in state}
  assert roots == {
      'encoder', 'semantic_decoder', 'semantic_head_without_last_layer',
      'semantic_last_layer', 'instance_decoder',
      'instance_center_head_without_last_layer',
      'instance_center_head_last_layer',
      'instance_regression_head_without_last_layer',
      'instance_regression_head_last_layer'}
  assert not any('.ATTRIBUTES' in k or 'OPTIMIZER' in k for k in state)


def test_reader_model_garden_layout_renames_the_encoder():
  folder = _fixture(TINY['axial_deeplab_l_garden'])
  layout, garden = deeplab2_reader.read_with_layout(folder)
  assert layout == 'model_garden'
  suffix = '/.ATTRIBUTES/VARIABLE_VALUE'
  raw = {n[len('backbone/_encoder/'):-len(suffix)]: n
         for n in _raw_names(TINY['axial_deeplab_l_garden'])
         if n.startswith('backbone/_encoder/') and n.endswith(suffix)}
  assert sorted(garden) == sorted('encoder/' + k for k in raw)
  reader = tf.train.load_checkpoint(folder)
  for key, name in raw.items():
    np.testing.assert_array_equal(garden['encoder/' + key],
                                  reader.get_tensor(name))


def _copy(tmp_path, folder):
  target = tmp_path / folder
  shutil.copytree(_fixture(folder), target)
  return target


def test_reader_truncated_missing_and_foreign_files(tmp_path):
  folder = _copy(tmp_path, TINY['trainer'])
  data = folder / 'ckpt-1.data-00000-of-00001'
  data.write_bytes(data.read_bytes()[:1000])
  with pytest.raises(deeplab2_reader.Deeplab2FileError,
                     match='truncated or corrupt'):
    deeplab2_reader.read(str(folder))
  with pytest.raises(deeplab2_reader.Deeplab2FileError, match='no such'):
    deeplab2_reader.read(str(tmp_path / 'absent' / 'ckpt-1'))
  with pytest.raises(deeplab2_reader.Deeplab2FileError,
                     match='without a checkpoint'):
    deeplab2_reader.read(str(tmp_path))
  foreign = tf.train.Checkpoint(model=tf.train.Checkpoint(
      w=tf.Variable([1.0]))).write(str(tmp_path / 'ours'))
  with pytest.raises(deeplab2_reader.Deeplab2FileError,
                     match=r"not a deeplab2 checkpoint.*\['model'\]"):
    deeplab2_reader.read(foreign)


def _relative_error(ours, reference):
  return float(np.max(np.abs(ours - reference)) /
               np.max(np.abs(reference)))


def _override():
  """Our config for the reduced deeplab2 model (fixtures.json): its
  blocks per stage (deeplab2's layer multiplier 0.34 of (3, 4, 6, 3)),
  widths, relative-position tables (deeplab2's `MAX_SPAN` m: 2m - 1
  rows, our `max_distance` m - 1) and decoder channels."""
  r = TINY['reduced']
  return {'task': {'model': {
      'backbone': {'axial_resnet': {
          'stage_blocks': [1, 1, 2, 1],
          'width_multiplier': r['backbone_width_multiplier'],
          'stem_width': int(64 * r['stem_width_multiplier']),
          'max_distance': TINY['max_span'] - 1}},
      'decoder': {
          'semantic_aspp_channels': r['aspp_channels'],
          'semantic_low_level_channels': [c for _, c in r['low_level']],
          'semantic_decoder_channels': r['decoder_channels'],
          'semantic_head_channels': r['semantic_head_channels'],
          'instance_aspp_channels': r['instance_decoder_channels'],
          'instance_low_level_channels': [
              c for _, c in r['instance_low_level']],
          'instance_decoder_channels': r['instance_decoder_channels'],
          'center_head_channels': r['instance_head_channels'],
          'offset_head_channels': r['instance_head_channels']}}}}


@pytest.fixture(scope='module')
def imported(tmp_path_factory):
  """The trainer-layout fixture imported by the tool; returns (output
  folder, printed lines)."""
  output = str(tmp_path_factory.mktemp('import') / 'checkpoint')
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    status = import_tool.run('deeplab2', _fixture(TINY['trainer']), OS16,
                             output, json.dumps(_override()))
  assert status == 0
  return output, printed.getvalue().strip().splitlines()


@pytest.fixture(scope='module')
def task_model(imported):
  """The panoptic task's model restored from the imported folder as
  `--checkpoint_path` (export, predict) and `--model_dir` (eval) read it."""
  output, lines = imported
  params = experiment.load_experiment(lines[-1].split('=')[1],
                                      params_override=_override())
  model = panoptic.PanopticTask(params.task).build_model()
  checkpoint_restore.restore_checkpoint(model, output, '--checkpoint_path')
  checkpoint_restore.check_model_dir(model, output)
  return model


def test_tool_prints_the_experiment_last(imported):
  lines = imported[1]
  assert lines[-1] == (
      'experiment=deeplab2_max_deeplab_s_backbone_os16_cityscapes')
  assert lines[0].startswith(f'imported {TINY["model_variables"]} tensors')


def _images(size):
  outputs = np.load(_fixture('outputs.npz'))
  return outputs[f'{size}/image'].astype(np.float32) / 127.5 - 1, outputs


def test_whole_model_matches_deeplab2_at_two_sizes(task_model):
  """Semantic logits, center heatmap and offsets of the imported model
  equal deeplab2's (inference mode) at both fixture sizes; its backbone's
  stride-16 features equal the `backbone_output` of deeplab2's
  `max_deeplab_s_backbone` encoder holding the same weights."""
  model = task_model
  for h, w in TINY['sizes']:
    size = f'{h}x{w}'
    images, outputs = _images(size)
    ours = model(images, training=False)
    for key, reference in (('semantic_logits', 'semantic_logits'),
                           ('center_heatmap', 'center_heatmap'),
                           ('center_offsets', 'offset_map')):
      value = ours[key].numpy()
      if key == 'center_heatmap':
        value = value[..., 0]
      expected = outputs[f'{size}/{reference}']
      assert value.shape == expected.shape, (size, key)
      assert _relative_error(value, expected) < 1e-4, (size, key)
    features = model.backbone(images, training=False)['5'].numpy()
    expected = outputs[f'{size}/backbone_output']
    assert features.shape == expected.shape
    assert _relative_error(features, expected) < 1e-4, size


def _reference_variables(variant, decoder=True):
  """Our whole model's variables (name -> shape) from the architecture:
  a three-conv stem (c, c, 2c; c = 64) or a 7x7 conv of 64 channels; per
  block f = 64 * 2**stage * width: a conv bottleneck (1x1 to f, 3x3, 1x1
  to 4f) below `axial_beyond_stride`, an axial one (1x1 to 2f, attention
  q/k f and v 2f over h heads with 509-row tables, 1x1 to 4f) beyond; a
  shortcut where channels change; the decoders (1x1 context,
  projections, 5x5 separable fusions) and the heads at the experiment's
  default channels."""
  heads = variant.num_heads
  shapes = {}
  def norm(name, shape):
    for weight in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
      shapes[f'{name}/{weight}'] = shape
  def conv(name, shape, bn=None):
    shapes[f'{name}/kernel'] = shape
    norm(bn or name + '_bn', (shape[-1],))
  c = 64
  if variant.stem == 'conv7x7':
    conv('stem/conv7x7/conv', (7, 7, 3, c), 'stem/conv7x7/bn')
    channels = c
  else:
    for i, (cin, cout) in enumerate(((3, c), (c, c), (c, 2 * c))):
      conv(f'stem/conv{i + 1}/conv', (3, 3, cin, cout),
           f'stem/conv{i + 1}/bn')
    channels = 2 * c
  features = {}
  for stage, count in enumerate(variant.stage_blocks):
    f = int(64 * 2**stage * variant.width_multiplier)
    for index in range(count):
      block = f'stage{stage + 1}_block{index + 1}'
      nominal = 2**(stage + 1) if index == 0 else 2**(stage + 2)
      if nominal >= (variant.axial_beyond_stride or 0):
        conv(f'{block}/reduce', (1, 1, channels, 2 * f))
        for axis in ('height', 'width'):
          a = f'{block}/attention/{axis}'
          shapes[f'{a}/qkv/kernel'] = (1, 1, 2 * f, 4 * f)
          norm(f'{a}/qkv_bn', (4 * f,))
          norm(f'{a}/similarity_bn', (3, heads))
          norm(f'{a}/output_bn', (2, heads, 2 * f // heads))
          shapes[f'{a}/query_rpe'] = shapes[f'{a}/key_rpe'] = (509,
                                                              f // heads)
          shapes[f'{a}/value_rpe'] = (509, 2 * f // heads)
        conv(f'{block}/expand', (1, 1, 2 * f, 4 * f))
      else:
        conv(f'{block}/reduce', (1, 1, channels, f))
        conv(f'{block}/conv3x3', (3, 3, f, f))
        conv(f'{block}/expand', (1, 1, f, 4 * f))
      if channels != 4 * f:
        conv(f'{block}/shortcut', (1, 1, channels, 4 * f))
      channels = 4 * f
    features[str(stage + 2)] = channels
  if not decoder:
    return shapes
  def separable(name, cin, cout):
    shapes[f'{name}/depthwise/depthwise_kernel'] = (5, 5, cin, 1)
    norm(f'{name}/depthwise_norm', (cin,))
    shapes[f'{name}/pointwise/kernel'] = (1, 1, cin, cout)
    norm(f'{name}/pointwise_norm', (cout,))
  for branch, low, width in (('semantic', (64, 32), 256),
                             ('instance', (32, 16), 128)):
    d = f'{branch}_decoder'
    conv(f'{d}/context/conv', (1, 1, features['5'], 256), f'{d}/context/norm')
    x = 256
    for key, project in zip(('3', '2'), low):
      conv(f'{d}/project_{key}/conv', (1, 1, features[key], project),
           f'{d}/project_{key}/norm')
      separable(f'{d}/fuse_{key}', x + project, width)
      x = width
  for head, cin, hidden, out in (('semantic_head', 256, 256, 19),
                                 ('center_head', 128, 32, 1),
                                 ('offset_head', 128, 32, 2)):
    separable(f'{head}/features', cin, hidden)
    shapes[f'{head}/predict/kernel'] = (1, 1, hidden, out)
    shapes[f'{head}/predict/bias'] = (out,)
  return shapes


# deeplab2's trainable parameter counts, counted here by building its
# full-size models (tools/make_deeplab2_fixtures.py).
@pytest.mark.parametrize('name, trainable', [
    (OS16, 42788486), ('max_deeplab_s_backbone', 41343424),
    ('axial_deeplab_l', 43841920), ('axial_deeplab_s', 11565856),
    ('axial_resnet_l', 43714048), ('axial_resnet_s', 11466912),
    ('axial_resnet50', 41343424)])
def test_full_size_manifest_maps_completely(name, trainable):
  """Every variable of deeplab2's full-size model (the whole
  max_deeplab_s_backbone_os16; the ImageNet encoders) has its place in
  our model of the row `deeplab2_<backbone>`, and every one of ours its
  deeplab2 tensor, with the right shape; the trainable parameter counts
  agree."""
  manifest = _full_manifests()[name]
  backbone = 'max_deeplab_s_backbone' if name == OS16 else name
  variant = variants.get_variant(f'deeplab2_{backbone}')
  ours = _reference_variables(variant, decoder=deeplab2.KNOWN[name].whole)
  used = import_checks.mapped_keys(
      ours, manifest['variables'],
      lambda v, shape: deeplab2.source(v, variant.num_heads, shape))
  assert used == set(manifest['variables'])
  count = sum(int(np.prod(s)) for n, s in ours.items()
              if not n.endswith(('moving_mean', 'moving_variance')))
  assert count == manifest['trainable'] == trainable


def test_bad_models_and_files(tmp_path, capsys):
  output = str(tmp_path / 'out')
  trainer = _fixture(TINY['trainer'])
  with pytest.raises(importer.ImportCheckpointError,
                     match="is not a deeplab2 model; expected one of "
                           "axial_deeplab_l, .*max_deeplab_s_backbone, "
                           "max_deeplab_s_backbone_os16"):
    importer.import_checkpoint('deeplab2', trainer, 'axial_resnet_x',
                               output)
  cut = _copy(tmp_path, TINY['trainer'])
  data = cut / 'ckpt-1.data-00000-of-00001'
  data.write_bytes(data.read_bytes()[:2000])
  with pytest.raises(importer.ImportCheckpointError, match='truncated'):
    importer.import_checkpoint('deeplab2', str(cut), OS16, output,
                               _override())
  # An encoder alone (Model Garden layout) is not the whole model.
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'not a checkpoint of max_deeplab_s_backbone_os16: '
                           r'it looks like none of .*\(encoder, inception '
                           r'stem of 8 channels, blocks per stage '
                           r'\[1, 1, 2, 1\]'):
    importer.import_checkpoint('deeplab2',
                               _fixture(TINY['axial_deeplab_l_garden']),
                               OS16, output, _override())
  # A full-size axial_deeplab_s encoder, named.
  shapes = _full_manifests()['axial_deeplab_s']['variables']
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'it looks like axial_deeplab_s \(encoder, '
                           r'inception stem of 64 channels, .*first axial '
                           r'block \(2, 1\)\), 128 channels out of _stage2'):
    importer.import_state('deeplab2', import_checks.shapes_only(shapes),
                          OS16, output)
  # S and L differ in width only; and axial_resnet50's tensors are
  # max_deeplab_s_backbone's (the activation is not in the file).
  for name, other, looks in (
      ('axial_resnet_l', 'axial_resnet_s', 'axial_resnet_l'),
      ('axial_resnet50', 'axial_deeplab_l',
       'max_deeplab_s_backbone or axial_resnet50')):
    shapes = _full_manifests()[name]['variables']
    with pytest.raises(importer.ImportCheckpointError,
                       match=rf'not a checkpoint of {other}: it looks like '
                             rf'{looks} \(encoder'):
      importer.import_state('deeplab2', import_checks.shapes_only(shapes),
                            other, output)
  assert sorted(os.listdir(tmp_path)) == [TINY['trainer']]  # nothing written
  assert import_tool.run('deeplab2', trainer, 'x', output) == 1
  assert capsys.readouterr().err.startswith("ERROR: --model='x' is not a "
                                            'deeplab2 model')


def test_imagenet_encoder_imports_as_backbone_for_init_checkpoint(tmp_path):
  """deeplab2's axial_deeplab_l ImageNet encoder (every block axial, the
  first of each stage strided), reduced, in the Model Garden layout:
  imported as a backbone, its stride-16 features equal deeplab2's
  `backbone_output` at both sizes; `task.init_checkpoint` with
  `init_checkpoint_modules: backbone` restores the written folder (into
  the imported model, its backbone zeroed first); read as a whole model,
  the folder is refused."""
  reduced = TINY['axial_deeplab_l']
  override = _override()  # its small decoder (not imported) builds fast
  override['task']['model']['backbone']['axial_resnet'] = {
      'stage_blocks': [1, 1, 2, 1],
      'width_multiplier': reduced['width_multiplier'],
      'stem_width': int(64 * reduced['stem_width_multiplier']),
      'max_distance': TINY['max_span'] - 1,
      'num_heads': reduced['block_group_config']['axial_layer_config'][
          'num_heads']}
  output = str(tmp_path / 'l')
  garden = _fixture(TINY['axial_deeplab_l_garden'])
  result = importer.import_checkpoint('deeplab2', garden, 'axial_deeplab_l',
                                      output, override)
  assert result.experiment == 'deeplab2_axial_deeplab_l_cityscapes'
  assert result.num_tensors == len(deeplab2_reader.read(garden))
  model = result.model
  for h, w in TINY['sizes']:
    size = f'{h}x{w}'
    images, outputs = _images(size)
    features = model.backbone(images, training=False)['5'].numpy()
    expected = outputs[f'{size}/axial_deeplab_l_output']
    assert features.shape == expected.shape
    assert _relative_error(features, expected) < 1e-4, size
  params = experiment.load_experiment(result.experiment,
                                      params_override=override)
  params.task.init_checkpoint = output
  params.task.init_checkpoint_modules = 'backbone'
  saved = [v.numpy() for v in model.backbone.variables]
  for variable in model.backbone.variables:
    variable.assign(tf.zeros_like(variable))
  summary = checkpoint_restore.init_from_checkpoint(
      model, params.task, checkpoint_restore.PANOPTIC_MODULES)
  assert summary['restored'] == ['backbone']
  for variable, value in zip(model.backbone.variables, saved):
    np.testing.assert_array_equal(variable.numpy(), value)
  with pytest.raises(checkpoint_restore.CheckpointError,
                     match='does not fit this model'):
    checkpoint_restore.restore_checkpoint(model, output, '--checkpoint_path')


@pytest.mark.parametrize('name', sorted(TINY['encoders']))
def test_reduced_encoders_of_the_new_options_match_deeplab2(name, tmp_path):
  """deeplab2's axial_resnet_s (its 7x7/2 stem without max-pool; stage 2's
  strided first block keeps its 4 channels, so deeplab2 adds its input
  subsampled and the file has no shortcut conv there) and axial_resnet50
  (kMaX-DeepLab's encoder, exact GeLU), reduced, in deeplab2's trainer
  layout: `--model=<name>` imports every tensor into the backbone of its
  experiment, whose stride-16 features equal deeplab2's `backbone_output`
  at both sizes (inference mode)."""
  reduced = TINY['encoders'][name]
  override = _override()  # its small decoder (not imported) builds fast
  heads = (reduced.get('axial_layer_config') or
           reduced['block_group_config']['axial_layer_config'])['num_heads']
  override['task']['model']['backbone']['axial_resnet'] = {
      'stage_blocks': reduced['num_blocks'],
      'width_multiplier': reduced['width_multiplier'],
      'stem_width': int(64 * reduced['stem_width_multiplier']),
      'max_distance': TINY['max_span'] - 1, 'num_heads': heads}
  path = _fixture(reduced['folder'])
  state = deeplab2_reader.read(path)
  if name == 'axial_resnet_s':
    assert not any(k.startswith('encoder/_stage2/_block1/_shortcut')
                   for k in state)
  result = importer.import_checkpoint('deeplab2', path, name,
                                      str(tmp_path / 'out'), override)
  assert result.experiment == f'deeplab2_{name}_cityscapes'
  assert result.num_tensors == len(state)
  for h, w in TINY['sizes']:
    size = f'{h}x{w}'
    images, outputs = _images(size)
    features = result.model.backbone(images, training=False)['5'].numpy()
    expected = outputs[f'{size}/{name}_output']
    assert features.shape == expected.shape
    assert _relative_error(features, expected) < 1e-4, size


def test_unmapped_missing_and_mismatched_tensors_are_named(task_model):
  state = deeplab2.read(_fixture(TINY['trainer']))
  def fails(changed, *fragments):
    import_checks.assert_assign_fails(task_model, changed, deeplab2, OS16,
                                      *fragments)
  qkv = 'encoder/_stage5/_block1/_attention/_width_axis/qkv_kernel'
  fails(dict(state, **{'encoder/_stage5/_block1/_extra/kernel':
                       np.zeros(3)}),
        'unmapped tensors: encoder/_stage5/_block1/_extra/kernel [3]')
  fails({k: v for k, v in state.items() if k != qkv},
        f'missing tensors: {qkv} (for '
        'stage4_block1/attention/width/qkv/kernel:0)')
  fails(dict(state, **{qkv: np.zeros([32, 65], np.float32)}),
        f'{qkv} [32, 65] does not fit '
        'stage4_block1/attention/width/qkv/kernel:0 [1, 1, 32, 64]')
