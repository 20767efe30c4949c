"""Checks a training or evaluation run before its first step.

Config problems are caught when the experiment is loaded
(`experiment.load_experiment`); these checks need the files and folders
the run reads:

- `check_model_dir_path(model_dir)`: model_dir is given and is not a
  file.
- `check_inputs(params, mode)`: every input pattern of the data the mode
  reads (`task.train_data` for training, `task.validation_data` for
  evaluation) matches at least one file, unless the data comes from TFDS;
  for the default paths of `axial_deeplab_shapes` the message gives the
  command that writes that dataset.
- `check_model_dir(task, model_dir)`: model_dir's latest checkpoint (if
  any) is one of this experiment's model.
- `check_start_checkpoint(params, mode, checkpoint_path)`: trainer/train.py's
  --checkpoint_path names a checkpoint, with a mode that reads it and
  without `task.init_checkpoint` (two starting points).

Each failure raises `experiment.ConfigError` or
`checkpoint_restore.CheckpointError`, naming the key, pattern or folder at
fault.
"""

from typing import List, Sequence, Union

from absl import logging
from official.core import base_task
from official.core import config_definitions as cfg
import tensorflow as tf

from axial_deeplab_tf.configs import panoptic_experiments
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.train import experiment


def _patterns(input_path: Union[str, Sequence[str]]) -> List[str]:
  if isinstance(input_path, str):
    return [p.strip() for p in input_path.split(',') if p.strip()]
  return [p for item in input_path or [] for p in _patterns(item)]


def check_model_dir_path(model_dir: str) -> None:
  """--model_dir is set and, if it exists, is a folder."""
  if not model_dir:
    raise experiment.ConfigError('--model_dir is required.')
  if tf.io.gfile.exists(model_dir) and not tf.io.gfile.isdir(model_dir):
    raise experiment.ConfigError(
        f'--model_dir={model_dir} is a file; give a folder (new or '
        f'holding an earlier run of this experiment).')


def _missing(key: str, pattern: str) -> str:
  message = f'task.{key}.input_path: pattern {pattern!r} matches no file.'
  if pattern in panoptic_experiments.SHAPES_DATA_PATHS.values():
    message += (f' It is the default synthetic shapes dataset of '
                f'axial_deeplab_shapes; write it from the repository root '
                f'with: {panoptic_experiments.SHAPES_DATA_COMMAND} (`make '
                f'demo` writes it too).')
  return message


def check_inputs(params: cfg.ExperimentConfig, mode: str) -> None:
  """Every input pattern the mode reads matches at least one file."""
  needed = []
  if 'train' in mode:
    needed.append('train_data')
  if 'eval' in mode:
    needed.append('validation_data')
  for key in needed:
    data = getattr(params.task, key)
    if getattr(data, 'tfds_name', ''):
      continue
    patterns = _patterns(data.input_path)
    if not patterns:
      raise experiment.ConfigError(
          f'task.{key}.input_path is empty (and no task.{key}.tfds_name is '
          f'set).')
    for pattern in patterns:
      if not tf.io.gfile.glob(pattern):
        raise experiment.ConfigError(_missing(key, pattern))


def check_model_dir(task: base_task.Task, model_dir: str) -> None:
  """model_dir's latest checkpoint (if any) fits this experiment's model."""
  if not model_dir or not tf.train.latest_checkpoint(model_dir):
    return
  logging.info('Checking that %s holds a checkpoint of this model.',
               model_dir)
  checkpoint_restore.check_model_dir(task.build_model(), model_dir)


def check_start_checkpoint(params: cfg.ExperimentConfig, mode: str,
                           checkpoint_path: str) -> str:
  """The prefix --checkpoint_path names (see `runner.run`).

  Raises:
    experiment.ConfigError: with --mode=continuous_eval (which watches
      model_dir), or with `task.init_checkpoint` also set.
    checkpoint_restore.CheckpointError: no checkpoint at the path.
  """
  if mode == 'continuous_eval':
    raise experiment.ConfigError(
        '--checkpoint_path does not go with --mode=continuous_eval, which '
        'evaluates each new checkpoint of --model_dir; use --mode=eval.')
  if params.task.init_checkpoint:
    raise experiment.ConfigError(
        f'--checkpoint_path and task.init_checkpoint '
        f'({params.task.init_checkpoint}) are both set; give one (task.'
        f'init_checkpoint with task.init_checkpoint_modules restores parts '
        f'of the model, --checkpoint_path all of it).')
  return checkpoint_restore.resolve_checkpoint(checkpoint_path,
                                               '--checkpoint_path')
