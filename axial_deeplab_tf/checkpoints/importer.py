"""Imports a foreign checkpoint into a checkpoint directory of ours.

`import_checkpoint(source, checkpoint, model, output_dir)`:

1. reads the foreign file with the source's reader (no foreign framework
   installed);
2. builds our model of the experiment registered for `model` (the same
   config -> model path as the tasks: `modeling.factory.build_model`),
   optionally with `params_override`;
3. checks that the file holds that model (else says which model it looks
   like), maps every foreign tensor onto our variables and checks every
   shape; an unmapped, missing or shape-mismatched tensor is an error
   naming it;
4. writes `tf.train.Checkpoint(model=...)` (the layout Model Garden's
   trainer writes, `model/...`) to a temporary folder beside
   `output_dir` and renames it to `output_dir`, so that no half-written
   output is left. `--checkpoint_path=output_dir` (export, predict),
   `--model_dir=output_dir --mode=eval` and `task.init_checkpoint:
   output_dir` (with `init_checkpoint_modules: backbone` for the
   backbone only) read it. A source model with `backbone_only` (an
   ImageNet encoder without a head) fills and writes the experiment
   model's backbone only (`model/backbone/...`): `task.init_checkpoint`
   with `init_checkpoint_modules: backbone` reads it, and reading it as a
   whole model fails (nothing is left at its initial value silently).

Sources (`SOURCES`): 'pytorch', the authors' PyTorch Axial-ResNets
(`pytorch_axialnet`); 'deeplab2', deeplab2's TF2 checkpoints
(`deeplab2`). A source module provides `MODELS` (name -> object
with an `experiment`), `read(path)` (name -> numpy array; an unreadable
file raises one of its `FILE_ERRORS`),
`check_architecture(state, name, variant)`, `source(variable_name,
num_heads, shape)` (the foreign key of one of our variables and the
function that converts its tensor to that shape, or None) and `IGNORED_SUFFIXES` (foreign buffers that
hold no weights).

Every error is an `ImportCheckpointError` (a
`tasks.checkpoint_restore.CheckpointError`, so the mains report it as one
`ERROR:` line).
"""

import dataclasses
import os
import shutil
import tempfile
from typing import Any, Dict

import numpy as np
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.checkpoints import deeplab2
from axial_deeplab_tf.checkpoints import pytorch_axialnet
from axial_deeplab_tf.modeling import factory
from axial_deeplab_tf.modeling.backbones import variants
from axial_deeplab_tf.modeling.backbones import wide_variants
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.train import experiment as experiment_lib

SOURCES = {'deeplab2': deeplab2, 'pytorch': pytorch_axialnet}
# Problems listed in one error message before '... and N more'.
_SHOWN = 6


class ImportCheckpointError(checkpoint_restore.CheckpointError):
  """A foreign checkpoint that cannot be imported; says why."""


@dataclasses.dataclass
class Imported:
  """What `import_checkpoint` made."""
  experiment: str
  checkpoint: str
  model: tf_keras.Model
  num_tensors: int
  # Tensors of the file that no output of the foreign model reads (the
  # source's `unused_for`), left out.
  num_unused: int = 0


def _source(source):
  if source not in SOURCES:
    raise ImportCheckpointError(f'--source={source!r} is not supported; '
                                f'supported: {", ".join(sorted(SOURCES))}.')
  return SOURCES[source]


def _listed(kind, items):
  more = f' ... and {len(items) - _SHOWN} more' if len(items) > _SHOWN else ''
  return f'{kind}: {"; ".join(items[:_SHOWN])}{more}'


def assign(model, state, source_module, name, checkpoint,
           backbone_only=False):
  """Assigns every variable of the built `model` (of `model.backbone`
  with `backbone_only`) from `state`, or none.

  Returns:
    The number of foreign tensors read.

  Raises:
    ImportCheckpointError: naming the unmapped, missing or
      shape-mismatched tensors (and the file `checkpoint`, model `name`).
  """
  heads = model.backbone.variant.num_heads
  # A source with models of several layouts says which function maps
  # model `name` (`source_for`); the others have one `source`.
  find = getattr(source_module, 'source_for',
                 lambda _: source_module.source)(name)
  targets = model.backbone.variables if backbone_only else model.variables
  sources = [(v, find(v.name, heads, tuple(v.shape))) for v in targets]
  problems = []
  orphans = [v.name for v, found in sources if found is None]
  if orphans:  # a model the source cannot fill
    problems.append(_listed('variables without a source', orphans))
  entries = [(v, found[0], found[1]) for v, found in sources if found]
  missing = [f'{key} (for {v.name})' for v, key, _ in entries
             if key not in state]
  if missing:
    problems.append(_listed('missing tensors', missing))
  mapped = {key for _, key, _ in entries}
  # Tensors the foreign model never reads for its outputs (`unused_for`).
  unused = getattr(source_module, 'unused_for', lambda _: lambda k: False)(
      name)
  unmapped = [f'{k} {list(v.shape)}' for k, v in state.items()
              if k not in mapped and not unused(k)
              and not k.endswith(source_module.IGNORED_SUFFIXES)]
  if unmapped:
    problems.append(_listed('unmapped tensors', unmapped))
  values, mismatched = [], []
  for variable, key, convert in entries:
    if key not in state:
      continue
    target = tuple(variable.shape)
    try:
      value = np.asarray(convert(state[key]), np.float32)
    except (ValueError, IndexError):  # a tensor of another layout
      value = None
    if value is None or value.shape != target:
      mismatched.append(f'{key} {list(state[key].shape)} does not fit '
                        f'{variable.name} {list(target)}')
    else:
      values.append((variable, value))
  if mismatched:
    problems.append(_listed('shape mismatches', mismatched))
  if problems:
    raise ImportCheckpointError(f'--checkpoint={checkpoint} does not fit '
                                f'{name}: {" | ".join(problems)}.')
  for variable, value in values:
    variable.assign(value)
  return len(mapped)


def write_checkpoint(model, output_dir, backbone_only=False) -> str:
  """Writes `model` (only `model.backbone`, at `model/backbone/...`, with
  `backbone_only`) as a checkpoint folder `output_dir` (temporary folder,
  then rename); returns the checkpoint prefix."""
  output_dir = os.path.abspath(output_dir)
  if os.path.exists(output_dir) and (not os.path.isdir(output_dir) or
                                     os.listdir(output_dir)):
    raise ImportCheckpointError(f'--output_dir={output_dir} exists and is '
                                f'not an empty folder.')
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  temporary = tempfile.mkdtemp(prefix=os.path.basename(output_dir) + '.tmp-',
                               dir=parent)
  try:
    root = (tf.train.Checkpoint(backbone=model.backbone) if backbone_only
            else model)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=root),
                                         temporary, max_to_keep=1)
    name = os.path.basename(manager.save(checkpoint_number=0))
    os.replace(temporary, output_dir)
  except BaseException:
    shutil.rmtree(temporary, ignore_errors=True)
    raise
  return os.path.join(output_dir, name)


def _model_source(source, model):
  source_module = _source(source)
  if model not in source_module.MODELS:
    raise ImportCheckpointError(
        f'--model={model!r} is not a {source} model; expected one of '
        f'{", ".join(sorted(source_module.MODELS))}.')
  return source_module


def import_state(source: str, state: Dict[str, np.ndarray], model: str,
                 output_dir: str, params_override: Any = None,
                 checkpoint: str = '<state>') -> Imported:
  """Imports a foreign state (name -> array) of model `model`; see
  `import_checkpoint` (which reads the file, then calls this)."""
  source_module = _model_source(source, model)
  experiment = source_module.MODELS[model].experiment
  try:
    params = experiment_lib.load_experiment(
        experiment, params_override=params_override)
  except experiment_lib.ConfigError as e:
    raise ImportCheckpointError(str(e)) from None
  backbone = params.task.model.backbone
  resolve = {'axial_resnet': variants.resolve_config,
             'wide_resnet': wide_variants.resolve_wide_config}[backbone.type]
  try:
    variant = resolve(backbone.get())
  except ValueError as e:
    raise ImportCheckpointError(
        f'model.backbone.{backbone.type}: {e}') from None
  wrong_model = source_module.check_architecture(state, model, variant)
  if wrong_model:
    raise ImportCheckpointError(f'--checkpoint={checkpoint}: {wrong_model}.')
  keras_model = factory.build_model(params.task.model)
  backbone_only = getattr(source_module.MODELS[model], 'backbone_only',
                          False)
  count = assign(keras_model, state, source_module, model, checkpoint,
                 backbone_only)
  prefix = write_checkpoint(keras_model, output_dir, backbone_only)
  unused = getattr(source_module, 'unused_for', lambda _: lambda k: False)(
      model)
  return Imported(experiment, prefix, keras_model, count,
                  sum(1 for k in state if unused(k)))


def import_checkpoint(source: str, checkpoint: str, model: str,
                      output_dir: str, params_override: Any = None
                      ) -> Imported:
  """Imports `checkpoint` of foreign model `model` into `output_dir`.

  Args:
    source: a key of `SOURCES` ('deeplab2', 'pytorch').
    checkpoint: the foreign file.
    model: the foreign model's name (for 'pytorch' the function name of
      `lib/models/axialnet.py`: axial26s, axial50s, axial50m, axial50l;
      for 'deeplab2' the config stem of a whole model, e.g.
      max_deeplab_s_backbone_os16).
    output_dir: the checkpoint folder to write (absent or empty).
    params_override: applied to the experiment as `--params_override` is
      (a nested dict, YAML/JSON or `a.b=1` text; e.g. another
      `task.model.num_classes`); train, eval, export and predict then need
      the same override.

  Returns:
    `Imported` (the experiment name, the written checkpoint prefix, the
    model with the imported weights, the number of tensors read).

  Raises:
    ImportCheckpointError: see `assign`, plus an unknown source or model,
      a bad override, an unreadable (truncated, corrupt) file, a
      checkpoint of another model (saying which one it looks like) and an
      occupied output_dir.
  """
  source_module = _model_source(source, model)
  try:
    state = source_module.read(checkpoint)
  except (OSError,) + source_module.FILE_ERRORS as e:
    raise ImportCheckpointError(f'--checkpoint={checkpoint}: {e}') from None
  return import_state(source, state, model, output_dir, params_override,
                      checkpoint)
