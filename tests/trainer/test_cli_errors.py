"""Every main reports a bad config the same way: one message, exit 1."""

import subprocess
import sys
import types

import pytest

from axial_deeplab_tf.train import cli
from axial_deeplab_tf.train import experiment
from axial_deeplab_tf.train import runner
import trainer_helpers


def _main_args(tmp_path):
  """Each main with every flag it requires, except the experiment's."""
  return {
      trainer_helpers.TRAIN: [f'--model_dir={tmp_path / "run"}'],
      trainer_helpers.EXPORT_SAVED_MODEL: [
          f'--checkpoint_path={tmp_path}', f'--export_dir={tmp_path / "e"}'],
      trainer_helpers.EXPORT_TFLITE: [
          f'--checkpoint_path={tmp_path}', f'--output_path={tmp_path / "t"}',
          '--input_image_size=33,33'],
      trainer_helpers.EXPORT_ONNX: [
          f'--checkpoint_path={tmp_path}', f'--output_path={tmp_path / "o"}'],
      trainer_helpers.PREDICT: [
          f'--checkpoint_path={tmp_path}', f'--inputs={__file__}',
          f'--output_dir={tmp_path / "p"}'],
  }


def test_mains_report_an_unknown_key_the_same_way(tmp_path):
  """The five mains, side by side, with one unknown config key."""
  bad = ['--experiment=axial_deeplab_shapes',
         '--params_override=task.model.num_clases=3']
  processes = {
      main: subprocess.Popen([sys.executable, main] + bad + args,
                             env=trainer_helpers.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
      for main, args in _main_args(tmp_path).items()}
  expected = ('ERROR: --params_override: config keys that do not exist: '
              'task.model.num_clases.')
  for main, process in processes.items():
    _, err = process.communicate(timeout=400)
    assert process.returncode == 1, (main, err[-3000:])
    assert 'Traceback' not in err, (main, err[-3000:])
    assert [l for l in err.splitlines() if l.startswith('ERROR')] == [
        expected], (main, err[-3000:])


def _flags(tmp_path, **kwargs):
  values = dict(experiment='axial_deeplab_nope', config_file=None,
                params_override='', tpu=None, checkpoint_path=str(tmp_path),
                saved_model_dir=None, inputs=[__file__],
                output_dir=str(tmp_path / 'p'))
  values.update(kwargs)
  return types.SimpleNamespace(**values)


@pytest.mark.parametrize('overrides,names', [
    ({}, ("'axial_deeplab_nope' is not a registered",    # unknown experiment
          'axial_deeplab_shapes')),
    ({'experiment': 'axial_deeplab_shapes',              # unknown key
      'params_override': 'task.model.num_clases=3'}, ('num_clases',)),
    ({'experiment': 'axial_deeplab_shapes',              # wrong value type
      'params_override': 'task.model.num_classes=many'}, ('many',)),
])
def test_entry_functions_report_the_same_message(tmp_path, capsys,
                                                 overrides, names):
  """train, export and predict through the package, in process."""
  values = _flags(tmp_path, **overrides)
  with pytest.raises(experiment.ConfigError) as raised:
    cli.params_from_flags(values)
  for name in names:
    assert name in str(raised.value), raised.value
  bodies = {
      'train': lambda: runner.run(cli.params_from_flags(values), 'train',
                                  str(tmp_path / 'run')),
      'export': lambda: cli.export_module_from_flags(values),
      'predict': lambda: cli.predict_from_flags(values),
  }
  for name, body in bodies.items():
    assert cli.report_errors(body) == 1, name
    assert capsys.readouterr().err == f'ERROR: {raised.value}\n', name


def test_missing_checkpoint_is_reported_naming_the_flag(tmp_path, capsys):
  values = _flags(tmp_path, experiment='axial_deeplab_shapes',
                  params_override=trainer_helpers.TINY)
  assert cli.report_errors(lambda: cli.export_module_from_flags(values)) == 1
  assert capsys.readouterr().err == (
      f'ERROR: --checkpoint_path: folder {str(tmp_path)!r} holds no '
      f'checkpoint.\n')


def test_model_dir_that_is_a_file(tmp_path, monkeypatch, capsys):
  """One message before anything else is read (the default data of the
  experiment does not exist here), exit status 1, no traceback."""
  monkeypatch.chdir(tmp_path)
  path = tmp_path / 'run'
  path.write_text('not a folder')
  params = experiment.load_experiment('axial_deeplab_shapes')
  for mode in ('train', 'eval'):
    assert cli.report_errors(lambda: runner.run(params, mode, str(path))) == 1
    assert capsys.readouterr().err == (
        f'ERROR: --model_dir={path} is a file; give a folder (new or holding '
        f'an earlier run of this experiment).\n')


def test_train_checkpoint_path_errors(tmp_path, synthetic48, capsys):
  """trainer/train.py --checkpoint_path: no checkpoint there, with
  continuous_eval, with task.init_checkpoint; each before anything runs."""
  inputs = (f'task.train_data.input_path={synthetic48["train"]},'
            f'task.validation_data.input_path={synthetic48["val"]}')
  params = experiment.load_experiment('axial_deeplab_shapes',
                                      params_override=inputs)
  run_dir = str(tmp_path / 'run')
  empty = str(tmp_path)
  cases = [
      (params, 'eval', f'--checkpoint_path: folder {empty!r} holds no '
                       f'checkpoint.'),
      (params, 'continuous_eval', '--checkpoint_path does not go with '
                                  '--mode=continuous_eval'),
      (experiment.load_experiment(
          'axial_deeplab_shapes',
          params_override=inputs + f',task.init_checkpoint={empty}'),
       'train', '--checkpoint_path and task.init_checkpoint'),
  ]
  for case_params, mode, message in cases:
    assert cli.report_errors(lambda: runner.run(
        case_params, mode, run_dir, checkpoint_path=empty)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'ERROR: {message}'), err
  assert not (tmp_path / 'run').exists()
