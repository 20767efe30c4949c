"""Importing deeplab2's checkpoints (issue 10, deeplab2 part A): the
reader, the whole model, the errors.

References are data made by running deeplab2 (tests/fixtures/deeplab2,
tools/make_deeplab2_fixtures.py, read through deeplab2_fixtures.py): a
reduced `max_deeplab_s_backbone_os16` with random weights and batch-norm
statistics, saved in deeplab2 trainer's layout (with a global step and
optimizer slots), a reduced `axial_deeplab_l` encoder in the Model Garden
vision layout, their outputs at two sizes and the full-size manifests.
Two models are built: the whole model's import by the tool and the task
model restored from it. The ImageNet encoders: test_deeplab2_encoders.py.
"""

import contextlib
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
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.tasks import panoptic
from axial_deeplab_tf.tools import import_checkpoint as import_tool
from axial_deeplab_tf.train import experiment
import deeplab2_fixtures as d2
import import_checks


def _raw_names(folder):
  return [n for n, _ in tf.train.list_variables(d2.path(folder))]


def test_reader_trainer_layout_keeps_model_variables_only():
  names = _raw_names(d2.TINY['trainer'])
  # The file holds what deeplab2's trainer saves besides the model.
  assert 'global_step/.ATTRIBUTES/VARIABLE_VALUE' in names
  assert any(n.startswith('optimizer/_variables/') for n in names)
  layout, state = deeplab2_reader.read_with_layout(d2.path(d2.TINY['trainer']))
  assert layout == 'deeplab2'
  assert len(state) == d2.TINY['model_variables']
  assert state['encoder/_stem/_conv1_bn_act/_conv/kernel'].shape == (
      3, 3, 3, 8)
  assert state['semantic_last_layer/kernel'].shape == (
      1, 1, d2.TINY['reduced']['semantic_head_channels'], 19)
  assert state['encoder/_stage4/_block2/_attention/_height_axis/'
               '_query_rpe/embeddings'].shape == (
                   2 * d2.TINY['max_span'] - 1, 1)
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
  folder = d2.path(d2.TINY['axial_deeplab_l_garden'])
  layout, garden = deeplab2_reader.read_with_layout(folder)
  assert layout == 'model_garden'
  suffix = '/.ATTRIBUTES/VARIABLE_VALUE'
  raw = {n[len('backbone/_encoder/'):-len(suffix)]: n
         for n in _raw_names(d2.TINY['axial_deeplab_l_garden'])
         if n.startswith('backbone/_encoder/') and n.endswith(suffix)}
  assert sorted(garden) == sorted('encoder/' + k for k in raw)
  reader = tf.train.load_checkpoint(folder)
  for key, name in raw.items():
    np.testing.assert_array_equal(garden['encoder/' + key],
                                  reader.get_tensor(name))


def _copy(tmp_path, folder):
  target = tmp_path / folder
  shutil.copytree(d2.path(folder), target)
  return target


def test_reader_truncated_missing_and_foreign_files(tmp_path):
  folder = _copy(tmp_path, d2.TINY['trainer'])
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


@pytest.fixture(scope='module')
def imported(tmp_path_factory):
  """The trainer-layout fixture imported by the tool; returns (output
  folder, printed lines)."""
  output = str(tmp_path_factory.mktemp('import') / 'checkpoint')
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    status = import_tool.run('deeplab2', d2.path(d2.TINY['trainer']), d2.OS16,
                             output, json.dumps(d2.override()))
  assert status == 0
  return output, printed.getvalue().strip().splitlines()


@pytest.fixture(scope='module')
def task_model(imported):
  """The panoptic task's model restored from the imported folder as
  `--checkpoint_path` (export, predict) and `--model_dir` (eval) read it."""
  output, lines = imported
  params = experiment.load_experiment(lines[-1].split('=')[1],
                                      params_override=d2.override())
  model = panoptic.PanopticTask(params.task).build_model()
  checkpoint_restore.restore_checkpoint(model, output, '--checkpoint_path')
  checkpoint_restore.check_model_dir(model, output)
  return model


def test_tool_prints_the_experiment_last(imported):
  lines = imported[1]
  assert lines[-1] == (
      'experiment=deeplab2_max_deeplab_s_backbone_os16_cityscapes')
  assert lines[0].startswith(f'imported {d2.TINY["model_variables"]} tensors')


def test_whole_model_matches_deeplab2_at_two_sizes(task_model):
  """Semantic logits, center heatmap and offsets of the imported model
  equal deeplab2's (inference mode) at both fixture sizes; its backbone's
  stride-16 features equal the `backbone_output` of deeplab2's
  `max_deeplab_s_backbone` encoder holding the same weights."""
  model = task_model
  for h, w in d2.TINY['sizes']:
    size = f'{h}x{w}'
    images, outputs = d2.images(size)
    ours = model(images, training=False)
    for key, reference in (('semantic_logits', 'semantic_logits'),
                           ('center_heatmap', 'center_heatmap'),
                           ('center_offsets', 'offset_map')):
      value = ours[key].numpy()
      if key == 'center_heatmap':
        value = value[..., 0]
      expected = outputs[f'{size}/{reference}']
      assert value.shape == expected.shape, (size, key)
      assert d2.relative_error(value, expected) < 1e-4, (size, key)
  d2.assert_backbone_matches(model, 'backbone_output')


def test_bad_models_and_files(tmp_path, capsys):
  output = str(tmp_path / 'out')
  trainer = d2.path(d2.TINY['trainer'])
  with pytest.raises(importer.ImportCheckpointError,
                     match="is not a deeplab2 model; expected one of "
                           "axial_deeplab_l, .*max_deeplab_s_backbone, "
                           "max_deeplab_s_backbone_os16"):
    importer.import_checkpoint('deeplab2', trainer, 'axial_resnet_x',
                               output)
  cut = _copy(tmp_path, d2.TINY['trainer'])
  data = cut / 'ckpt-1.data-00000-of-00001'
  data.write_bytes(data.read_bytes()[:2000])
  with pytest.raises(importer.ImportCheckpointError, match='truncated'):
    importer.import_checkpoint('deeplab2', str(cut), d2.OS16, output,
                               d2.override())
  # An encoder alone (Model Garden layout) is not the whole model.
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'not a checkpoint of max_deeplab_s_backbone_os16: '
                           r'it looks like none of .*\(encoder, inception '
                           r'stem of 8 channels, blocks per stage '
                           r'\[1, 1, 2, 1\]'):
    importer.import_checkpoint('deeplab2',
                               d2.path(d2.TINY['axial_deeplab_l_garden']),
                               d2.OS16, output, d2.override())
  # A full-size axial_deeplab_s encoder, named.
  shapes = d2.full_manifests()['axial_deeplab_s']['variables']
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'it looks like axial_deeplab_s \(encoder, '
                           r'inception stem of 64 channels, .*first axial '
                           r'block \(2, 1\)\), 128 channels out of _stage2'):
    importer.import_state('deeplab2', import_checks.shapes_only(shapes),
                          d2.OS16, output)
  # S and L differ in width only; and axial_resnet50's tensors are
  # max_deeplab_s_backbone's (the activation is not in the file).
  for name, other, looks in (
      ('axial_resnet_l', 'axial_resnet_s', 'axial_resnet_l'),
      ('axial_resnet50', 'axial_deeplab_l',
       'max_deeplab_s_backbone or axial_resnet50')):
    shapes = d2.full_manifests()[name]['variables']
    with pytest.raises(importer.ImportCheckpointError,
                       match=rf'not a checkpoint of {other}: it looks like '
                             rf'{looks} \(encoder'):
      importer.import_state('deeplab2', import_checks.shapes_only(shapes),
                            other, output)
  assert sorted(os.listdir(tmp_path)) == [d2.TINY['trainer']]  # nothing written
  assert import_tool.run('deeplab2', trainer, 'x', output) == 1
  assert capsys.readouterr().err.startswith("ERROR: --model='x' is not a "
                                            'deeplab2 model')


def test_unmapped_missing_and_mismatched_tensors_are_named(task_model):
  state = deeplab2.read(d2.path(d2.TINY['trainer']))
  def fails(changed, *fragments):
    import_checks.assert_assign_fails(task_model, changed, deeplab2, d2.OS16,
                                      *fragments)
  qkv = 'encoder/_stage5/_block1/_attention/_width_axis/qkv_kernel'
  with import_checks.assigns_nothing(task_model):
    fails(dict(state, **{'encoder/_stage5/_block1/_extra/kernel':
                         np.zeros(3)}),
          'unmapped tensors: encoder/_stage5/_block1/_extra/kernel [3]')
    fails({k: v for k, v in state.items() if k != qkv},
          f'missing tensors: {qkv} (for '
          'stage4_block1/attention/width/qkv/kernel:0)')
    fails(dict(state, **{qkv: np.zeros([32, 65], np.float32)}),
          f'{qkv} [32, 65] does not fit '
          'stage4_block1/attention/width/qkv/kernel:0 [1, 1, 32, 64]')
