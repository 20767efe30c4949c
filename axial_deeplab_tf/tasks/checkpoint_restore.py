"""Initial checkpoints: partial restore by module, and model_dir checks.

`restore_modules(model, path, modules)` restores each named sub-module of
`model` (an attribute such as `backbone` or `semantic_head`) from the
`model/<module>/...` part of a Model Garden checkpoint. A module whose
variables are absent from the checkpoint, or differ in shape (a head with
another class count), is left as initialised; the function logs one line
listing what was restored and what was not, and returns both lists.
"""

from typing import Dict, List, Sequence, Tuple

from absl import logging
import tensorflow as tf

PANOPTIC_MODULES = ('backbone', 'semantic_decoder', 'instance_decoder',
                    'semantic_head', 'center_head', 'offset_head')
CLASSIFICATION_MODULES = ('backbone', 'head')


def resolve_checkpoint(path: str) -> str:
  """A checkpoint file prefix from a file prefix or a folder."""
  if path and tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise ValueError(f'init_checkpoint: folder {path!r} holds no '
                       f'checkpoint.')
    return latest
  if not tf.io.gfile.glob(path + '.index'):
    raise ValueError(f'init_checkpoint: no checkpoint at {path!r} (expected '
                     f'{path}.index or a folder holding a checkpoint).')
  return path


def _restore_one(module, path: str, name: str) -> Tuple[bool, str]:
  saved = [v.numpy() for v in module.variables]
  checkpoint = tf.train.Checkpoint(model=tf.train.Checkpoint(
      **{name: module}))
  try:
    status = checkpoint.read(path)
    status.expect_partial().assert_existing_objects_matched()
    return True, ''
  except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as e:
    for variable, value in zip(module.variables, saved):
      variable.assign(value)
    reason = str(e).split('\n')[0][:160]
    if isinstance(e, AssertionError):
      reason = 'absent or different structure in the checkpoint'
    return False, reason


def restore_modules(model, path: str, modules: Sequence[str]
                    ) -> Dict[str, List[str]]:
  """Restores `modules` of `model` from checkpoint `path` where they fit.

  Returns:
    {'restored': [module names], 'not_restored': ['name (reason)', ...]}.
  """
  path = resolve_checkpoint(path)
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


def check_model_dir(model, model_dir: str) -> None:
  """Raises if model_dir holds a checkpoint that does not fit `model`.

  A run resumed in a folder of another experiment would otherwise fail
  deep inside the restore, or silently mix models. Compares every model
  variable (path and shape) with the latest checkpoint in model_dir.
  """
  latest = tf.train.latest_checkpoint(model_dir) if model_dir else None
  if not latest:
    return
  checkpoint = tf.train.Checkpoint(model=model)
  saved = [v.numpy() for v in model.variables]
  problem = None
  try:
    checkpoint.read(latest).expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as e:
    problem = str(e).split('\n')[0][:300]
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
    raise ValueError(
        f'--model_dir {model_dir!r} holds checkpoint {latest!r} of a '
        f'different model ({problem}). Use a new --model_dir, or the '
        f'experiment and config that wrote it.')
