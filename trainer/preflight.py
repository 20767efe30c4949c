"""Checks trainer/train.py runs before any training starts.

Each failure raises `ConfigError` with a message naming the flag, key,
file or folder at fault.
"""

from absl import logging
import tensorflow as tf

from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling.hyperparams import params_dict
import yaml


class ConfigError(ValueError):
  """A bad flag, config key, input pattern or model_dir."""


def registered_experiments(prefix=''):
  # pylint: disable=protected-access
  return sorted(k for k in exp_factory._REGISTERED_CONFIGS
                if k.startswith(prefix))


def _load_override(source):
  """The dict a --config_file path or --params_override string holds."""
  try:
    text = params_dict.nested_csv_str_to_json_str(source)
  except ValueError:
    text = source
  loaded = yaml.load(text, Loader=params_dict._LOADER)  # pylint: disable=protected-access
  if isinstance(loaded, dict):
    return loaded
  with tf.io.gfile.GFile(source) as f:
    loaded = yaml.load(f, Loader=params_dict._LOADER)  # pylint: disable=protected-access
  return loaded if isinstance(loaded, dict) else {}


def unknown_keys(known, override, prefix=''):
  """Dotted paths of `override` that are not keys of `known` (nested)."""
  bad = []
  for key, value in (override or {}).items():
    path = f'{prefix}{key}'
    if not isinstance(known, dict) or key not in known:
      bad.append(path)
    elif isinstance(value, dict) and isinstance(known[key], dict):
      bad.extend(unknown_keys(known[key], value, path + '.'))
  return bad


def parse_params(flags_obj):
  """ExperimentConfig from --experiment, --config_file, --params_override
  and --tpu, with errors that name the unknown experiment or key."""
  if not flags_obj.experiment:
    raise ConfigError('--experiment is required; ours are: ' +
                      ', '.join(registered_experiments('axial')))
  try:
    params = exp_factory.get_exp_config(flags_obj.experiment)
  except LookupError:
    raise ConfigError(
        f'--experiment={flags_obj.experiment!r} is not a registered '
        f'experiment. Ours are: '
        f'{", ".join(registered_experiments("axial") + registered_experiments("full_axial"))}'
    ) from None
  sources = [(f'--config_file={path}', path)
             for path in (flags_obj.config_file or [])]
  if flags_obj.params_override:
    sources.append(('--params_override', flags_obj.params_override))
  for name, source in sources:
    if name.startswith('--config_file') and not tf.io.gfile.exists(source):
      raise ConfigError(f'{name}: no such file.')
    unknown = unknown_keys(params.as_dict(), _load_override(source))
    if unknown:
      raise ConfigError(f'{name}: config keys that do not exist: '
                        f'{", ".join(unknown)}.')
    try:
      params = hyperparams.override_params_dict(params, source,
                                                is_strict=True)
    except KeyError as e:
      message = str(e).strip('"\'')
      raise ConfigError(f'{name}: {message}') from None
    except (ValueError, TypeError) as e:
      raise ConfigError(f'{name}: {e}') from None
  if getattr(flags_obj, 'tpu', None):
    params.override({'runtime': {'tpu': flags_obj.tpu}})
  try:
    params.validate()
  except (KeyError, ValueError, AssertionError) as e:
    raise ConfigError(f'config validation failed: {e}') from None
  t = params.trainer
  if t.summary_interval and t.summary_interval % t.steps_per_loop:
    raise ConfigError(f'trainer.summary_interval ({t.summary_interval}) must '
                      f'be a multiple of trainer.steps_per_loop '
                      f'({t.steps_per_loop}).')
  params.lock()
  return params


def _patterns(input_path):
  if isinstance(input_path, str):
    return [p.strip() for p in input_path.split(',') if p.strip()]
  return [p for item in input_path or [] for p in _patterns(item)]


def check_inputs(params, mode):
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
      raise ConfigError(f'task.{key}.input_path is empty (and no '
                        f'task.{key}.tfds_name is set).')
    for pattern in patterns:
      if not tf.io.gfile.glob(pattern):
        raise ConfigError(f'task.{key}.input_path: pattern {pattern!r} '
                          f'matches no file.')


def check_model_dir(task, model_dir):
  """model_dir's latest checkpoint (if any) fits this experiment's model."""
  if not model_dir or not tf.train.latest_checkpoint(model_dir):
    return
  from axial_deeplab_tf.tasks import checkpoint_restore  # pylint: disable=g-import-not-at-top
  logging.info('Checking that %s holds a checkpoint of this model.',
               model_dir)
  model = task.build_model()
  try:
    checkpoint_restore.check_model_dir(model, model_dir)
  except ValueError as e:
    raise ConfigError(str(e)) from None
