"""Export modules from Model Garden experiments (configs + checkpoints).

Used by trainer/export_saved_model.py and trainer/predict.py:

    params = load_params('axial_deeplab_synthetic_demo', ['my.yaml'])
    module = build_export_module(params, checkpoint_path='/ckpt/dir')

The experiment's task builds the model (`task_factory.get_task(params.task)
.build_model()`); the checkpoint is read as Model Garden's trainer writes
it (`tf.train.Checkpoint(model=...)`). A task whose `model` config has
`thing_class_ids` gives a `PanopticExportModule` (options from
`task.model.post_processing`, normalization from
`task.validation_data.mean/std`); any other gives a
`ClassificationExportModule`.
"""

import importlib
from typing import Optional, Sequence

import tensorflow as tf

from axial_deeplab_tf.ops import panoptic_merge
from axial_deeplab_tf.serving import classification_module
from axial_deeplab_tf.serving import panoptic_module


def _register_experiments():
  """Imports the modules that register our experiments and tasks."""
  for name in ('axial_deeplab_tf.configs',
               'axial_deeplab_tf.configs.panoptic_experiments',
               'axial_deeplab_tf.configs.classification_experiments',
               'axial_deeplab_tf.tasks'):
    try:
      importlib.import_module(name)
    except ModuleNotFoundError as e:
      if e.name != name:
        raise


def load_params(experiment: str, config_files: Sequence[str] = (),
                params_override: str = ''):
  """The experiment's config, overridden by YAML files and a string.

  Raises:
    ValueError: naming `--experiment` when it is not registered.
  """
  from official.core import exp_factory  # pylint: disable=g-import-not-at-top
  from official.modeling import hyperparams  # pylint: disable=g-import-not-at-top
  _register_experiments()
  try:
    params = exp_factory.get_exp_config(experiment)
  except (KeyError, LookupError) as e:
    raise ValueError(f'--experiment: unknown experiment {experiment!r} '
                     f'(is axial_deeplab_tf.configs registering it?): {e}'
                     ) from e
  for path in config_files or ():
    params = hyperparams.override_params_dict(params, path, is_strict=True)
  if params_override:
    params = hyperparams.override_params_dict(params, params_override,
                                              is_strict=True)
  params.validate()
  params.lock()
  return params


def restore_checkpoint(model, checkpoint_path: str) -> str:
  """Restores `model` from a checkpoint file prefix or a directory.

  Returns:
    The checkpoint prefix read.

  Raises:
    ValueError: naming `--checkpoint_path` when nothing is found there.
  """
  path = checkpoint_path
  if tf.io.gfile.isdir(path):
    path = tf.train.latest_checkpoint(path)
    if path is None:
      raise ValueError(f'--checkpoint_path: no checkpoint in directory '
                       f'{checkpoint_path}.')
  checkpoint = tf.train.Checkpoint(model=model)
  status = checkpoint.read(path)
  status.expect_partial().assert_existing_objects_matched()
  return path


def is_panoptic(params) -> bool:
  return hasattr(params.task.model, 'thing_class_ids')


def build_export_module(params, checkpoint_path: Optional[str] = None,
                        output_semantic_probabilities: bool = False,
                        output_instance_masks: bool = True,
                        image_size: Optional[int] = None, top_k: int = 5):
  """Builds the task's model, restores it and wraps it for export.

  Args:
    params: an experiment config (see `load_params`).
    checkpoint_path: checkpoint prefix or directory (None: fresh weights,
      for smoke tests only).
    output_semantic_probabilities, output_instance_masks: panoptic output
      switches.
    image_size, top_k: classification preprocessing size and top-k.

  Returns:
    A `PanopticExportModule` or `ClassificationExportModule`.
  """
  from official.core import task_factory  # pylint: disable=g-import-not-at-top
  task = task_factory.get_task(params.task)
  model = task.build_model()
  data = params.task.validation_data
  norm = {}
  for key in ('mean', 'std'):
    if getattr(data, key, None):
      norm[key] = tuple(getattr(data, key))
  if is_panoptic(params):
    model(tf.zeros([1, 33, 33, 3]), training=False)
    if checkpoint_path:
      restore_checkpoint(model, checkpoint_path)
    config = params.task.model
    return panoptic_module.PanopticExportModule(
        model, config.encoding(),
        panoptic_merge.PostProcessingOptions.from_config(
            config.post_processing),
        output_semantic_probabilities=output_semantic_probabilities,
        output_instance_masks=output_instance_masks, **norm)
  model(tf.zeros([1, 32, 32, 3]), training=False)
  if checkpoint_path:
    restore_checkpoint(model, checkpoint_path)
  if image_size is None:
    image_size = getattr(data, 'image_size', None) or 224
  return classification_module.ClassificationExportModule(
      model, image_size=image_size, top_k=top_k, **norm)
