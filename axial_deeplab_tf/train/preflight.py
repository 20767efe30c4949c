"""Checks a training or evaluation run before its first step.

Config problems are caught when the experiment is loaded
(`experiment.load_experiment`); these checks need the files and folders
the run reads:

- `check_inputs(params, mode)`: every input pattern of the data the mode
  reads (`task.train_data` for training, `task.validation_data` for
  evaluation) matches at least one file, unless the data comes from TFDS.
- `check_model_dir(task, model_dir)`: model_dir's latest checkpoint (if
  any) is one of this experiment's model.

Each failure raises `experiment.ConfigError` or
`checkpoint_restore.CheckpointError`, naming the key, pattern or folder at
fault.
"""

from typing import List, Sequence, Union

from absl import logging
from official.core import base_task
from official.core import config_definitions as cfg
import tensorflow as tf

from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.train import experiment


def _patterns(input_path: Union[str, Sequence[str]]) -> List[str]:
  if isinstance(input_path, str):
    return [p.strip() for p in input_path.split(',') if p.strip()]
  return [p for item in input_path or [] for p in _patterns(item)]


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
        raise experiment.ConfigError(
            f'task.{key}.input_path: pattern {pattern!r} matches no file.')


def check_model_dir(task: base_task.Task, model_dir: str) -> None:
  """model_dir's latest checkpoint (if any) fits this experiment's model."""
  if not model_dir or not tf.train.latest_checkpoint(model_dir):
    return
  logging.info('Checking that %s holds a checkpoint of this model.',
               model_dir)
  checkpoint_restore.check_model_dir(task.build_model(), model_dir)
