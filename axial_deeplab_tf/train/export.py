"""Export modules from Model Garden experiments (configs + checkpoints).

Used by trainer/export_*.py and trainer/predict.py, after
`axial_deeplab_tf.train.experiment.load_experiment` has read the config:

    module = build_export_module(params, checkpoint_path='/ckpt/dir')

The experiment's task builds the model (`task_factory.get_task(params.task)
.build_model()`), so this module sits above the tasks; the checkpoint is
read as Model Garden's trainer writes it (`tf.train.Checkpoint(model=...)`,
every model variable matched) through `tasks.checkpoint_restore`, then
folded for inference (`modeling.folding.fold_model`: the attention's batch
norms go into its projection, the same function without normalisation
passes; SavedModel, ONNX and predict get the folded graph, TFLite asks
fold=False). A task
whose `model` config is a `configs.panoptic.PanopticModel` gives a
`PanopticExportModule` (options from `task.model.post_processing`,
normalization from `task.validation_data.mean/std`); any other gives a
`ClassificationExportModule`. The module's `restored_checkpoint` records
the checkpoint read, {'path': prefix, 'step': training step}
(`checkpoint_step`), which the SavedModel export writes to its metadata.

`run_config_file(checkpoint_path)` finds the `params.yaml` Model Garden's
trainer writes into the run's `model_dir`: in the checkpoint's folder,
or the folder above it (for `model_dir/best_ckpt/`). Export and predict
use it as the config file when none is given (`cli.
checkpoint_params_from_flags`).
"""

import os
from typing import Optional

from official.core import task_factory
import tensorflow as tf

from axial_deeplab_tf.configs import panoptic as pcfg
from axial_deeplab_tf.modeling import folding
from axial_deeplab_tf.ops import post_processing_options as options_lib
from axial_deeplab_tf.serving import classification_module
from axial_deeplab_tf.serving import panoptic_module
from axial_deeplab_tf.tasks import checkpoint_restore

# The flag export and predict take the checkpoint from (named in errors).
CHECKPOINT_FLAG = '--checkpoint_path'


def restore_checkpoint(model, checkpoint_path: str) -> str:
  """Restores the built `model` from `--checkpoint_path` (prefix or folder).

  Returns:
    The checkpoint prefix read.

  Raises:
    checkpoint_restore.CheckpointError: naming `--checkpoint_path`.
  """
  return checkpoint_restore.restore_checkpoint(model, checkpoint_path,
                                               CHECKPOINT_FLAG)


# The config file Model Garden's trainer writes into model_dir.
RUN_CONFIG_FILE = 'params.yaml'
# The training step in a Model Garden checkpoint.
_STEP_KEY = 'global_step/.ATTRIBUTES/VARIABLE_VALUE'


def checkpoint_step(prefix: str) -> Optional[int]:
  """The training step saved in a checkpoint (`global_step`), or None."""
  reader = tf.train.load_checkpoint(prefix)
  if not reader.has_tensor(_STEP_KEY):
    return None
  return int(reader.get_tensor(_STEP_KEY))


def run_config_file(checkpoint_path: str) -> Optional[str]:
  """The run's params.yaml beside `checkpoint_path` (a prefix or folder),
  or in the folder above (model_dir/best_ckpt/); None when there is none."""
  path = checkpoint_path.rstrip('/')
  folder = path if tf.io.gfile.isdir(path) else os.path.dirname(path) or '.'
  for candidate in (folder, os.path.dirname(folder)):
    config = os.path.join(candidate, RUN_CONFIG_FILE)
    if candidate and tf.io.gfile.exists(config):
      return config
  return None


def is_panoptic(params) -> bool:
  """Whether the experiment's model config is a `configs.panoptic.
  PanopticModel` (the panoptic export reads its `encoding()` and
  `post_processing`)."""
  return isinstance(params.task.model, pcfg.PanopticModel)


def build_export_module(params, checkpoint_path: Optional[str] = None,
                        output_semantic_probabilities: bool = False,
                        output_instance_masks: bool = True,
                        image_size: Optional[int] = None, top_k: int = 5,
                        fold: bool = True):
  """Builds the task's model, restores it and wraps it for export.

  Args:
    params: an experiment config (see
      `axial_deeplab_tf.train.experiment.load_experiment`).
    checkpoint_path: checkpoint prefix or directory (None: fresh weights,
      for smoke tests only).
    output_semantic_probabilities, output_instance_masks: panoptic output
      switches.
    image_size, top_k: classification preprocessing size and top-k.
    fold: fold the attention's batch norms (`modeling.folding`); the
      model is then inference-only.

  Returns:
    A `PanopticExportModule` or `ClassificationExportModule`, with
    `restored_checkpoint` {'path', 'step'} (None without checkpoint).
  """
  task = task_factory.get_task(params.task)
  model = task.build_model()  # built: the factory runs it once
  restored = None
  if checkpoint_path:
    prefix = restore_checkpoint(model, checkpoint_path)
    restored = {'path': prefix, 'step': checkpoint_step(prefix)}
  if fold:
    folding.fold_model(model)
  data = params.task.validation_data
  norm = {}
  for key in ('mean', 'std'):
    if getattr(data, key, None):
      norm[key] = tuple(getattr(data, key))
  if is_panoptic(params):
    config = params.task.model
    module = panoptic_module.PanopticExportModule(
        model, config.encoding(),
        options_lib.PostProcessingOptions.from_config(
            config.post_processing),
        output_semantic_probabilities=output_semantic_probabilities,
        output_instance_masks=output_instance_masks, **norm)
  else:
    if image_size is None:
      image_size = getattr(data, 'image_size', None) or 224
    module = classification_module.ClassificationExportModule(
        model, image_size=image_size, top_k=top_k, **norm)
  module.restored_checkpoint = restored
  return module
