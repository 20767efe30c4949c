"""Checkpoints: one path resolution, full and partial restores, model_dir check.

Every checkpoint path a user gives (`--checkpoint_path` of export and
predict, `task.init_checkpoint`, `--model_dir` of a resumed run) goes
through `resolve_checkpoint(path, name)`: a file prefix (`<dir>/ckpt-100`,
with its `.index` file) is taken as is, a folder gives its latest
checkpoint, and anything else raises `CheckpointError` naming the flag or
config key `name`.

- `restore_checkpoint(model, path, name)` restores every variable of a
  built model from a Model Garden checkpoint (`tf.train.Checkpoint(model=
  ...)`, as the trainer writes it); export and predict use it.
- `restore_modules(model, path, modules)` restores each named sub-module
  of `model` (an attribute such as `backbone` or `semantic_head`) from the
  `model/<module>/...` part of a checkpoint (`task.init_checkpoint`). A
  module whose variables are absent from the checkpoint, or differ in
  shape (a head with another class count), is left as initialised; one
  log line lists what was restored and what was not.
- `init_from_checkpoint(model, task_config, all_modules)` is both tasks'
  `initialize`: `task.init_checkpoint_modules` 'all' restores the task's
  `all_modules`, 'backbone' the backbone only (`init_checkpoint_modules`
  maps the value; any other is an error naming the key).
- `check_model_dir(model, model_dir)` raises when model_dir's latest
  checkpoint belongs to another model.
"""

from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import tensorflow as tf

PANOPTIC_MODULES = ('backbone', 'semantic_decoder', 'instance_decoder',
                    'semantic_head', 'center_head', 'offset_head')
CLASSIFICATION_MODULES = ('backbone', 'head')
# Values of `task.init_checkpoint_modules`.
INIT_CHECKPOINT_MODULES = ('all', 'backbone')

# Errors while reading a checkpoint into objects that do not fit it.
_MISMATCH_ERRORS = (AssertionError, ValueError,
                    tf.errors.InvalidArgumentError)


class CheckpointError(ValueError):
  """A checkpoint path that holds no checkpoint, or one that does not fit
  the model; the message names the flag or config key that gave it."""


def resolve_checkpoint(path: str, name: str) -> str:
  """The checkpoint file prefix that `path` names.

  Args:
    path: a checkpoint file prefix (`<dir>/ckpt-100`) or a folder (its
      latest checkpoint).
    name: the flag or config key that gave `path` (e.g.
      '--checkpoint_path', 'task.init_checkpoint'); errors name it.

  Raises:
    CheckpointError: `path` is empty, a folder without checkpoint, or no
      checkpoint prefix.
  """
  if not path:
    raise CheckpointError(f'{name} is empty; expected a checkpoint prefix '
                          f'or a folder holding a checkpoint.')
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise CheckpointError(f'{name}: folder {path!r} holds no checkpoint.')
    return latest
  if not tf.io.gfile.exists(path + '.index'):
    raise CheckpointError(f'{name}: no checkpoint at {path!r} (expected '
                          f'{path}.index or a folder holding a checkpoint).')
  return path


def _first_line(error: Exception, limit: int) -> str:
  if isinstance(error, AssertionError):
    return 'absent or different structure in the checkpoint'
  return str(error).split('\n', maxsplit=1)[0][:limit]


def _read_all(model: tf.Module, prefix: str) -> Optional[str]:
  """Reads every variable of `model` from `prefix`; None, or the reason
  it does not fit."""
  try:
    tf.train.Checkpoint(model=model).read(prefix).expect_partial(
    ).assert_existing_objects_matched()
  except _MISMATCH_ERRORS as e:
    return _first_line(e, 300)
  return None


def restore_checkpoint(model: tf.Module, path: str, name: str) -> str:
  """Restores every variable of the built `model` from a checkpoint.

  Args:
    model: a built model (its variables exist).
    path: checkpoint prefix or folder (see `resolve_checkpoint`).
    name: the flag or key that gave `path`, for errors.

  Returns:
    The checkpoint prefix read.

  Raises:
    CheckpointError: nothing at `path`, or a model variable that the
      checkpoint lacks or holds with another shape.
  """
  prefix = resolve_checkpoint(path, name)
  problem = _read_all(model, prefix)
  if problem:
    raise CheckpointError(f'{name}: checkpoint {prefix!r} does not fit '
                          f'this model ({problem}).')
  return prefix


def _restore_one(module, path: str, name: str) -> Tuple[bool, str]:
  saved = [v.numpy() for v in module.variables]
  checkpoint = tf.train.Checkpoint(model=tf.train.Checkpoint(
      **{name: module}))
  try:
    status = checkpoint.read(path)
    status.expect_partial().assert_existing_objects_matched()
    return True, ''
  except _MISMATCH_ERRORS as e:
    for variable, value in zip(module.variables, saved):
      variable.assign(value)
    return False, _first_line(e, 160)


def restore_modules(model, path: str, modules: Sequence[str]
                    ) -> Dict[str, List[str]]:
  """Restores `modules` of `model` from `task.init_checkpoint` where they fit.

  Returns:
    {'restored': [module names], 'not_restored': ['name (reason)', ...]}.

  Raises:
    CheckpointError: naming `task.init_checkpoint` when `path` holds no
      checkpoint.
  """
  path = resolve_checkpoint(path, 'task.init_checkpoint')
  restored, not_restored = [], []
  for name in modules:
    module = getattr(model, name, None)
    if module is None:
      continue
    ok, reason = _restore_one(module, path, name)
    if ok:
      restored.append(name)
    else:
      not_restored.append(f'{name} ({reason})')
  logging.info('init_checkpoint %s: restored %s; not restored %s', path,
               restored or 'nothing', not_restored or 'nothing')
  print(f'init_checkpoint {path}: restored {restored or "nothing"}; '
        f'not restored {not_restored or "nothing"}', flush=True)
  return {'restored': restored, 'not_restored': not_restored}


def init_checkpoint_modules(which: str, all_modules: Sequence[str]
                            ) -> Tuple[str, ...]:
  """The modules `task.init_checkpoint_modules` (`which`) names.

  Args:
    which: 'all' (every module of `all_modules`) or 'backbone'.
    all_modules: the task's modules (e.g. `PANOPTIC_MODULES`).

  Raises:
    ValueError: `which` is neither, naming `task.init_checkpoint_modules`.
  """
  if which == 'all':
    return tuple(all_modules)
  if which == 'backbone':
    return ('backbone',)
  raise ValueError(f'task.init_checkpoint_modules: expected one of '
                   f'{list(INIT_CHECKPOINT_MODULES)}, got {which!r}.')


def init_from_checkpoint(model, task_config, all_modules: Sequence[str]
                         ) -> Optional[Dict[str, List[str]]]:
  """A task's `initialize`: restores the modules `task_config.
  init_checkpoint_modules` names from `task_config.init_checkpoint`.

  Returns:
    None without `init_checkpoint`, else `restore_modules`' summary.

  Raises:
    ValueError: an unknown `task.init_checkpoint_modules`, even without
      `init_checkpoint`.
    CheckpointError: naming `task.init_checkpoint` when it holds no
      checkpoint.
  """
  modules = init_checkpoint_modules(task_config.init_checkpoint_modules,
                                    all_modules)
  if not task_config.init_checkpoint:
    return None
  return restore_modules(model, task_config.init_checkpoint, modules)


def check_model_dir(model, model_dir: str) -> None:
  """Raises if model_dir holds a checkpoint that does not fit `model`.

  A run resumed in a folder of another experiment would otherwise fail
  deep inside the restore, or silently mix models. Compares every model
  variable (path and shape) with the latest checkpoint in model_dir; a
  model_dir without checkpoint (a new run) passes.

  Raises:
    CheckpointError: naming `--model_dir` and the checkpoint.
  """
  if not model_dir or not tf.train.latest_checkpoint(model_dir):
    return
  latest = resolve_checkpoint(model_dir, '--model_dir')
  saved = [v.numpy() for v in model.variables]
  try:
    problem = _read_all(model, latest)
  finally:
    for variable, value in zip(model.variables, saved):
      variable.assign(value)
  if problem is None:
    num_saved = sum(1 for key, _ in tf.train.list_variables(latest)
                    if key.startswith('model/') and
                    key.endswith('.ATTRIBUTES/VARIABLE_VALUE') and
                    '.OPTIMIZER_SLOT' not in key)
    num_model = len({id(v) for v in model.variables})
    if num_saved != num_model:
      problem = (f'the checkpoint has {num_saved} model variables, this '
                 f'model {num_model}')
  if problem:
    raise CheckpointError(
        f'--model_dir {model_dir!r} holds checkpoint {latest!r} of a '
        f'different model ({problem}). Use a new --model_dir, or the '
        f'experiment and config that wrote it.')
