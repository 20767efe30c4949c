"""Loads experiment configs with errors that name what is wrong.

`load_experiment(experiment, config_files, params_override, tpu)` is the
one way train, eval, export (SavedModel, TFLite, ONNX) and predict get
their `ExperimentConfig`: the registered experiment, overridden by each
YAML file in order and then by the override string (Model Garden's
parsing: YAML/JSON text or an `a.b=1,c.d=[1,2]` list), validated and
locked. Every problem raises `ConfigError` with one message a user can act
on:

- an unknown or missing experiment (the message lists ours);
- a missing config file;
- text that is neither YAML/JSON nor an `a.b=value` list;
- keys that do not exist, named by their full dotted path and the file or
  flag holding them;
- values of the wrong type (Model Garden does not check them), named by
  key, expected type and value; an int or a numeric string (YAML reads
  `1e7` as one) where a float is expected is converted to that float
  instead (Model Garden would keep the int, and a learning-rate schedule
  would then fail inside TensorFlow with `Pow ... int32`);
- a failed `validate()` and a `trainer.summary_interval` that is not a
  multiple of `trainer.steps_per_loop`.

Importing this module registers our experiments and tasks.
"""

import collections.abc
import dataclasses
import typing
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling.hyperparams import params_dict
import tensorflow as tf
import yaml

# Registers our tasks and experiments with Model Garden's factories.
from axial_deeplab_tf import tasks  # pylint: disable=unused-import
from axial_deeplab_tf.configs import classification_experiments  # pylint: disable=unused-import
from axial_deeplab_tf.configs import panoptic_experiments  # pylint: disable=unused-import

# Name prefixes of the experiments this package registers.
OUR_PREFIXES = ('axial_', 'full_axial_', 'deeplab2_')


class ConfigError(ValueError):
  """A bad flag, config file, config key or value, input pattern or
  model_dir; the message names it."""


def our_experiments() -> List[str]:
  """The registered experiment names that start with `OUR_PREFIXES`."""
  # exp_factory has no public way to list registered names; this is the
  # one place that reads its registry.
  registered = exp_factory._REGISTERED_CONFIGS  # pylint: disable=protected-access
  return sorted(n for n in registered if n.startswith(OUR_PREFIXES))


def override_dict(source: Union[str, Dict[str, Any]]) -> Dict[str, Any]:
  """The nested dict a config file path, override string or dict holds,
  parsed as Model Garden's `override_params_dict` parses it."""
  holder = params_dict.ParamsDict()
  params_dict.override_params_dict(holder, source, is_strict=False)
  return holder.as_dict()


def unknown_keys(config: params_dict.ParamsDict, override: Dict[str, Any],
                 prefix: str = '') -> List[str]:
  """Dotted paths of `override` that are not keys of `config` (nested).

  Walks the config objects, not `as_dict()`, which leaves out the unchosen
  options of one-of configs (e.g. `learning_rate.constant` while
  `learning_rate.type` is 'polynomial').
  """
  bad = []
  for key, value in (override or {}).items():
    path = f'{prefix}{key}'
    if key not in config or key in params_dict.ParamsDict.RESERVED_ATTR:
      bad.append(path)
    elif isinstance(value, dict) and isinstance(getattr(config, key),
                                                params_dict.ParamsDict):
      bad.extend(unknown_keys(getattr(config, key), value, path + '.'))
  return bad


class _Mismatch(Exception):
  """A parsed value that does not fit a config field's annotation."""


def _conform(value: Any, annotation: Any) -> Any:
  """`value` (parsed YAML) made to fit a dataclass field annotation.

  An int, or a string float() reads (YAML reads `1e7` as a string), where
  a float is expected becomes that float: Model Garden would keep the int
  and fail later inside TensorFlow (`Pow ... int32` in a learning-rate
  schedule). Annotations other than bool, int, float, str, sequences,
  unions and configs are not checked.

  Raises:
    _Mismatch: the value does not fit.
  """
  origin = typing.get_origin(annotation)
  args = typing.get_args(annotation)
  if origin is typing.Union:
    fitted = []
    for option in args:
      try:
        fitted.append(_conform(value, option))
      except _Mismatch:
        continue
      if fitted[-1] is value:  # fits unchanged: no conversion wanted
        return value
    if fitted:
      return fitted[0]
    raise _Mismatch
  if annotation is type(None):
    if value is None:
      return value
    raise _Mismatch
  if value is None:
    raise _Mismatch
  if annotation is bool and isinstance(value, bool):
    return value
  if annotation is int and isinstance(value, int) and not isinstance(
      value, bool):
    return value
  if annotation is float:
    if isinstance(value, float):
      return value
    if isinstance(value, int) and not isinstance(value, bool):
      return float(value)
    if isinstance(value, str):
      try:
        return float(value)
      except ValueError:
        raise _Mismatch from None
    raise _Mismatch
  if annotation is str and isinstance(value, str):
    return value
  if annotation in (bool, int, str):
    raise _Mismatch
  if origin in (list, tuple, collections.abc.Sequence):
    if not isinstance(value, (list, tuple)):
      raise _Mismatch
    if origin is tuple and args and args[-1] is not Ellipsis:
      if len(value) != len(args):
        raise _Mismatch
      items = [_conform(v, a) for v, a in zip(value, args)]
    else:
      items = [_conform(v, args[0]) for v in value] if args else value
    if all(a is b for a, b in zip(items, value)):
      return value
    return type(value)(items)
  if isinstance(annotation, type) and issubclass(annotation,
                                                 hyperparams.Config):
    if isinstance(value, dict):
      return value
    raise _Mismatch
  return value


def _type_name(annotation: Any) -> str:
  if typing.get_origin(annotation) is None and hasattr(annotation,
                                                       '__name__'):
    return annotation.__name__
  return str(annotation).replace('typing.', '')


def conform_types(config: hyperparams.Config, override: Dict[str, Any],
                  prefix: str = '') -> Tuple[Dict[str, Any], List[str]]:
  """`override` with values made to fit the config fields they set (ints
  and numeric strings to floats where floats are expected, nested), and
  'path: expected T, got value' for every value that does not fit."""
  try:
    hints = typing.get_type_hints(type(config))
  except (NameError, TypeError):
    hints = {}
  fields = {f.name for f in dataclasses.fields(config)}
  conformed, bad = {}, []
  for key, value in (override or {}).items():
    path = f'{prefix}{key}'
    current = getattr(config, key, None)
    if isinstance(current, hyperparams.Config) and isinstance(value, dict):
      value, wrong = conform_types(current, value, path + '.')
      bad.extend(wrong)
    elif key in fields and key in hints:
      try:
        value = _conform(value, hints[key])
      except _Mismatch:
        bad.append(f'{path}: expected {_type_name(hints[key])}, got '
                   f'{value!r}')
    conformed[key] = value
  return conformed, bad


def _apply(params: cfg.ExperimentConfig, name: str,
           source: Union[str, Dict[str, Any]]) -> None:
  """Overrides `params` with one config file or override string."""
  try:
    override = override_dict(source)
  except (yaml.YAMLError, ValueError, TypeError, tf.errors.OpError) as e:
    # Text that parses to no dict is read as a file name (Model Garden).
    reason = ' '.join(str(e).split())
    raise ConfigError(f'{name}: not YAML/JSON, an a.b=value list nor a '
                      f'YAML file ({reason}).') from None
  unknown = unknown_keys(params, override)
  if unknown:
    raise ConfigError(f'{name}: config keys that do not exist: '
                      f'{", ".join(unknown)}.')
  override, wrong = conform_types(params, override)
  if wrong:
    raise ConfigError(f'{name}: wrong value types: {"; ".join(wrong)}.')
  try:
    params.override(override, is_strict=True)
  except (KeyError, ValueError, TypeError) as e:
    raise ConfigError(f'{name}: {e}') from None


def load_experiment(experiment: Optional[str],
                    config_files: Optional[Sequence[str]] = (),
                    params_override: Union[str, Dict[str, Any], None] = '',
                    tpu: Optional[str] = None) -> cfg.ExperimentConfig:
  """The experiment's config, overridden, validated and locked.

  Args:
    experiment: a registered experiment name (`--experiment`).
    config_files: YAML files applied in order (`--config_file`).
    params_override: YAML/JSON or `a.b=1` text (`--params_override`), or
      a nested dict, applied last.
    tpu: sets `runtime.tpu` when given (`--tpu`).

  Raises:
    ConfigError: naming the flag, file, key or check at fault.
  """
  ours = ', '.join(our_experiments())
  if not experiment:
    raise ConfigError(f'--experiment is required; ours are: {ours}.')
  try:
    params = exp_factory.get_exp_config(experiment)
  except LookupError:
    raise ConfigError(f'--experiment={experiment!r} is not a registered '
                      f'experiment. Ours are: {ours}.') from None
  for path in config_files or ():
    if not tf.io.gfile.exists(path):
      raise ConfigError(f'--config_file={path}: no such file.')
    _apply(params, f'--config_file={path}', path)
  if params_override:
    _apply(params, '--params_override', params_override)
  if tpu:
    params.override({'runtime': {'tpu': tpu}})
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
