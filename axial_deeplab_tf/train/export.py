"""Export modules from Model Garden experiments (configs + checkpoints).

Used by trainer/export_*.py and trainer/predict.py, after
`axial_deeplab_tf.train.experiment.load_experiment` has read the config:

    module = build_export_module(params, checkpoint_path='/ckpt/dir')

The experiment's task builds the model (`task_factory.get_task(params.task)
.build_model()`), so this module sits above the tasks; the checkpoint is
read as Model Garden's trainer writes it (`tf.train.Checkpoint(model=...)`,
every model variable matched) through `tasks.checkpoint_restore`. A task
whose `model` config is a `configs.panoptic.PanopticModel` gives a
`PanopticExportModule` (options from `task.model.post_processing`,
normalization from `task.validation_data.mean/std`); any other gives a
`ClassificationExportModule`.
"""

from typing import Optional

from official.core import task_factory

from axial_deeplab_tf.configs import panoptic as pcfg
from axial_deeplab_tf.ops import panoptic_merge
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


def is_panoptic(params) -> bool:
  """Whether the experiment's model config is a `configs.panoptic.
  PanopticModel` (the panoptic export reads its `encoding()` and
  `post_processing`)."""
  return isinstance(params.task.model, pcfg.PanopticModel)


def build_export_module(params, checkpoint_path: Optional[str] = None,
                        output_semantic_probabilities: bool = False,
                        output_instance_masks: bool = True,
                        image_size: Optional[int] = None, top_k: int = 5):
  """Builds the task's model, restores it and wraps it for export.

  Args:
    params: an experiment config (see
      `axial_deeplab_tf.train.experiment.load_experiment`).
    checkpoint_path: checkpoint prefix or directory (None: fresh weights,
      for smoke tests only).
    output_semantic_probabilities, output_instance_masks: panoptic output
      switches.
    image_size, top_k: classification preprocessing size and top-k.

  Returns:
    A `PanopticExportModule` or `ClassificationExportModule`.
  """
  task = task_factory.get_task(params.task)
  model = task.build_model()  # built: the factory runs it once
  if checkpoint_path:
    restore_checkpoint(model, checkpoint_path)
  data = params.task.validation_data
  norm = {}
  for key in ('mean', 'std'):
    if getattr(data, key, None):
      norm[key] = tuple(getattr(data, key))
  if is_panoptic(params):
    config = params.task.model
    return panoptic_module.PanopticExportModule(
        model, config.encoding(),
        panoptic_merge.PostProcessingOptions.from_config(
            config.post_processing),
        output_semantic_probabilities=output_semantic_probabilities,
        output_instance_masks=output_instance_masks, **norm)
  if image_size is None:
    image_size = getattr(data, 'image_size', None) or 224
  return classification_module.ClassificationExportModule(
      model, image_size=image_size, top_k=top_k, **norm)
