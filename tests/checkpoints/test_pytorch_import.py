"""Importing the authors' PyTorch Axial-ResNets (issue 10, PyTorch part).

References are data made by running the authors' code
(tests/fixtures/pytorch_axialnet, tools/make_pytorch_fixtures.py): reduced
models with random weights and batch-norm statistics, their eval-mode
logits, and the state-dict manifests of the full-size models. The
authors' model runs only at the input size its tables were built for, so
each input size (32, 64) has its own reduced model; ours runs both from
one model whose tables have tiny64's sizes (built twice in this file: by
the tool, and by the task to restore what the tool wrote).
"""

import contextlib
import gzip
import io
import json
import os

import numpy as np
import pytest

from axial_deeplab_tf.checkpoints import importer
from axial_deeplab_tf.checkpoints import pytorch_axialnet
from axial_deeplab_tf.modeling.backbones import variants
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.tasks import classification
from axial_deeplab_tf.tools import import_checkpoint as import_tool
from axial_deeplab_tf.train import experiment
import import_checks

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, 'fixtures',
                        'pytorch_axialnet')
with open(os.path.join(FIXTURES, 'fixtures.json')) as _f:
  TINY = json.load(_f)
OUTPUTS = np.load(os.path.join(FIXTURES, 'outputs.npz'))


def _path(name):
  return os.path.join(FIXTURES, name)


def _override(tiny):
  """Our config for a reduced PyTorch model: its kernel size K per block
  gives tables of reach K - 1 (first block of each stage, then the rest)."""
  kernels, blocks = tiny['kernel_sizes'], tiny['stage_blocks']
  firsts = np.cumsum([0] + blocks[:-1])
  rest = [kernels[f + 1] if n > 1 else kernels[f]
          for f, n in zip(firsts, blocks)]
  return {'task': {'model': {
      'num_classes': tiny['num_classes'],
      'backbone': {'axial_resnet': {
          'width_multiplier': tiny['s'], 'stem_width': int(64 * tiny['s']),
          'stage_blocks': blocks, 'num_heads': tiny['groups'],
          'first_block_max_distance': [int(kernels[f]) - 1 for f in firsts],
          'max_distance': [int(k) - 1 for k in rest]}}}}}


def _logits(model, name):
  images = OUTPUTS[f'{name}_images'].astype(np.float32) / 64 - 2
  return model(images, training=False).numpy()


def _assert_matches_pytorch(logits, name):
  reference = OUTPUTS[f'{name}_logits']
  error = np.abs(logits - reference).max() / np.abs(reference).max()
  assert error < 1e-4, error


def _reference_variables(variant, num_classes):
  """Our classifier's variables (name -> shape), from the architecture:
  stem 7x7 conv; per block f = 64 * 2**stage * width: 1x1 to 2f, height
  and width attention (q/k f, v 2f over h heads, tables of 2d + 1 rows),
  1x1 to 4f, a projection shortcut in each stage's first block; a dense
  head."""
  stem, heads = variant.stem_width, variant.num_heads
  shapes = {'stem/conv7x7/conv/kernel': (7, 7, 3, stem)}
  def norm(name, shape):
    shapes.update(import_checks.batch_norm_shapes(name, shape))
  norm('stem/conv7x7/bn', (stem,))
  channels = stem
  for stage, count in enumerate(variant.stage_blocks):
    f = int(round(64 * 2**stage * variant.width_multiplier))
    for index in range(count):
      block = f'stage{stage + 1}_block{index + 1}'
      shapes[f'{block}/reduce/kernel'] = (1, 1, channels, 2 * f)
      norm(f'{block}/reduce_bn', (2 * f,))
      rows = 2 * variant.block_max_distance(stage, index) + 1
      for axis in ('height', 'width'):
        shapes.update(import_checks.attention_shapes(
            f'{block}/attention/{axis}', 2 * f, f, 2 * f, heads, rows))
      shapes[f'{block}/expand/kernel'] = (1, 1, 2 * f, 4 * f)
      norm(f'{block}/expand_bn', (4 * f,))
      if index == 0:
        shapes[f'{block}/shortcut/kernel'] = (1, 1, channels, 4 * f)
        norm(f'{block}/shortcut_bn', (4 * f,))
      channels = 4 * f
  shapes['logits/kernel'] = (channels, num_classes)
  shapes['logits/bias'] = (num_classes,)
  return shapes


@pytest.fixture(scope='module')
def imported(tmp_path_factory):
  """tiny64.pth (wrapped as the authors' trainer saves) imported by the
  tool; returns (output folder, printed lines)."""
  output = str(tmp_path_factory.mktemp('import') / 'checkpoint')
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    status = import_tool.run('pytorch', _path('tiny64.pth'), 'axial26s',
                             output, json.dumps(_override(TINY['tiny64'])))
  assert status == 0
  return output, printed.getvalue().strip().splitlines()


@pytest.fixture(scope='module')
def task_model(imported):
  """The task's model, restored from the imported folder as
  `task.init_checkpoint` (backbone only) and then as `--checkpoint_path`;
  returns (model, init summary, {what: array} computed on the way)."""
  output, lines = imported
  params = experiment.load_experiment(
      lines[-1].split('=')[1], params_override=_override(TINY['tiny64']))
  params.task.init_checkpoint = output
  params.task.init_checkpoint_modules = 'backbone'
  model = classification.ClassificationTask(params.task).build_model()
  summary = checkpoint_restore.init_from_checkpoint(
      model, params.task, checkpoint_restore.CLASSIFICATION_MODULES)
  images = OUTPUTS['tiny64_images'].astype(np.float32) / 64 - 2
  seen = {'init_features': model.backbone(images, training=False)['5']}
  checkpoint_restore.restore_checkpoint(model, output, '--checkpoint_path')
  checkpoint_restore.check_model_dir(model, output)  # --model_dir (eval)
  seen['features'] = model.backbone(images, training=False)['5']
  seen['logits'] = _logits(model, 'tiny64')
  return model, summary, seen


def test_tool_prints_the_experiment_last(imported):
  output, lines = imported
  assert lines[-1] == 'experiment=axial_resnet_26s_imagenet'
  # Nothing half-written beside the output.
  assert os.listdir(os.path.dirname(output)) == ['checkpoint']


def test_import_restores_through_the_task_at_64(task_model):
  model, summary, seen = task_model
  assert summary == {'restored': ['backbone'], 'not_restored': []}
  np.testing.assert_array_equal(seen['init_features'], seen['features'])
  _assert_matches_pytorch(seen['logits'], 'tiny64')
  # The built model is the architecture the mapping is checked against.
  reference = _reference_variables(model.backbone.variant, 10)
  head = 'axial_resnet_classifier/'  # the classifier's scope of its head
  assert {v.name[:-2].replace(head, ''): tuple(v.shape)
          for v in model.variables} == reference


def test_logits_match_pytorch_at_32_with_larger_tables(task_model):
  # tiny32's tables (reach 7, 3, 1) fill the model's larger ones (reach
  # 15, 7, 3): offsets past PyTorch's reach never occur at 32.
  model = task_model[0]
  state = pytorch_axialnet.read(_path('tiny32.pth'))
  importer.assign(model, state, pytorch_axialnet, 'axial26s', 'tiny32.pth')
  _assert_matches_pytorch(_logits(model, 'tiny32'), 'tiny32')


@pytest.mark.parametrize('name', sorted(pytorch_axialnet.MODELS))
def test_full_size_state_dicts_map_completely(name):
  with gzip.open(_path('full_state_dicts.json.gz'), 'rt') as f:
    manifest = json.load(f)[name]['state_dict']
  variant = variants.get_variant(f'axial_resnet_{name[5:]}')
  used = import_checks.mapped_keys(
      _reference_variables(variant, 1000), manifest,
      lambda name, shape: pytorch_axialnet.source(name, variant.num_heads,
                                                   shape))
  left = [k for k in manifest if k not in used and
          not k.endswith(pytorch_axialnet.IGNORED_SUFFIXES)]
  assert not left


def test_bad_sources_models_and_files(tmp_path, capsys):
  output = str(tmp_path / 'out')
  with pytest.raises(importer.ImportCheckpointError,
                     match=r"--source='caffe' is not supported; "
                           r"supported: deeplab2, pytorch"):
    importer.import_checkpoint('caffe', _path('tiny32.pth'), 'x', output)
  with pytest.raises(importer.ImportCheckpointError,
                     match='axial26s, axial50l, axial50m, axial50s'):
    importer.import_checkpoint('pytorch', _path('tiny32.pth'), 'axial101',
                               output)
  cut = tmp_path / 'cut.pth'
  cut.write_bytes(open(_path('tiny32.pth'), 'rb').read()[:5000])
  with pytest.raises(importer.ImportCheckpointError, match='truncated'):
    importer.import_checkpoint('pytorch', str(cut), 'axial26s', output)
  # A checkpoint of another model says which one it looks like.
  with gzip.open(_path('full_state_dicts.json.gz'), 'rt') as f:
    shapes = json.load(f)['axial50m']['state_dict']
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'not a checkpoint of axial26s: it looks like '
                           r'axial50m \(stage blocks \[3, 4, 6, 3\], stem '
                           r'width 48\)'):
    importer.import_state('pytorch', import_checks.shapes_only(shapes),
                          'axial26s', output)
  with pytest.raises(importer.ImportCheckpointError,
                     match=r'looks like none of .*stage blocks \[1, 2, 1, '
                           r'1\], stem width 2'):
    importer.import_checkpoint('pytorch', _path('tiny32.pth'), 'axial50s',
                               output)
  assert os.listdir(tmp_path) == ['cut.pth']  # nothing written
  # The tool reports errors as one line and exit status 1.
  assert import_tool.run('caffe', 'x.pth', 'axial26s', output) == 1
  assert capsys.readouterr().err == (
      "ERROR: --source='caffe' is not supported; supported: deeplab2, "
      'pytorch.\n')
  (tmp_path / 'occupied').mkdir()
  (tmp_path / 'occupied' / 'file').write_text('x')
  with pytest.raises(importer.ImportCheckpointError, match='not an empty'):
    importer.write_checkpoint(None, str(tmp_path / 'occupied'))


def test_unmapped_missing_and_mismatched_tensors_are_named(task_model):
  model = task_model[0]
  state = pytorch_axialnet.read(_path('tiny32.pth'))
  def fails(changed, *fragments):
    import_checks.assert_assign_fails(model, changed, pytorch_axialnet,
                                      'axial26s', *fragments)
  with import_checks.assigns_nothing(model):
    fails(dict(state, **{'layer2.1.extra.weight': np.zeros(3)}),
          'unmapped tensors: layer2.1.extra.weight [3]')
    fails({k: v for k, v in state.items() if k != 'layer2.1.bn2.running_var'},
          'missing tensors: layer2.1.bn2.running_var (for '
          'stage2_block2/expand_bn/moving_variance:0)')
    fails(dict(state, **{'fc.weight': np.zeros([11, 64], np.float32)}),
          'fc.weight [11, 64] does not fit '
          'axial_resnet_classifier/logits/kernel:0 [64, 10]')
    fails(dict(state, **{'layer1.0.hight_block.relative':
                         np.zeros([4, 33], np.float32)}),
          'layer1.0.hight_block.relative [4, 33] does not fit '
          'stage1_block1/attention/height/query_rpe:0 [31, 1]')
