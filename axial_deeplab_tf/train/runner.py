"""Train and evaluate one experiment with Model Garden (trainer/train.py).

`run(params, mode, model_dir)` checks the run (`preflight`), builds the
distribution strategy from `params.runtime`, the task and Model Garden's
trainer, attaches our Orbit actions (`actions`: progress log, divergence
stop, metrics JSON, panoptic image panels) and runs Model Garden's
`train_lib.OrbitExperimentRunner`. It returns the last evaluation's
metrics.

`checkpoint_path` (trainer/train.py's --checkpoint_path: a prefix or a
folder, e.g. an imported checkpoint) is where the model's weights come
from: `--mode=eval` evaluates it (instead of model_dir's latest
checkpoint; eval summaries and metrics at its `global_step`, if it has
one, go to model_dir); the training modes start from it when model_dir
holds no checkpoint yet (the whole model, at step 0, on every worker),
and a rerun resumes from model_dir as usual.

Under `MultiWorkerMirroredStrategy` every worker runs the same program
(train steps, evaluations, checkpoint saves, image-panel inference: each
holds collectives all workers must join), but only the chief writes to
model_dir: checkpoints, `params.yaml`, `train/` and `validation/`
TensorBoard events, `best_ckpt/`, metrics JSON. The others write no
summaries and save their checkpoints into temporary folders removed when
the run ends.
"""

import os
import shutil
import tempfile
from typing import Dict, Optional

from absl import logging
from official.common import distribute_utils
from official.core import config_definitions as cfg
from official.core import task_factory
from official.core import train_lib
from official.core import train_utils
from official.modeling import performance
import tensorflow as tf

from axial_deeplab_tf.tasks import train_utils as train_utils_lib
from axial_deeplab_tf.train import actions
from axial_deeplab_tf.train import experiment
from axial_deeplab_tf.train import export
from axial_deeplab_tf.train import preflight

# The --mode values Model Garden's OrbitExperimentRunner runs.
MODES = ('train', 'eval', 'train_and_eval', 'continuous_eval')


def build_strategy(runtime: cfg.RuntimeConfig) -> tf.distribute.Strategy:
  """The strategy `runtime.distribution_strategy` names."""
  return distribute_utils.get_distribution_strategy(
      distribution_strategy=runtime.distribution_strategy,
      all_reduce_alg=runtime.all_reduce_alg, num_gpus=runtime.num_gpus,
      num_packs=runtime.num_packs, tpu_address=runtime.tpu)


def run(params: cfg.ExperimentConfig, mode: str, model_dir: str,
        checkpoint_path: Optional[str] = None) -> Dict[str, float]:
  """Checks, then runs the experiment; returns the eval metrics.

  Raises:
    experiment.ConfigError: a bad --mode, a --model_dir missing or a
      file, an input pattern matching no file, or a checkpoint_path with
      continuous_eval or with `task.init_checkpoint`.
    checkpoint_restore.CheckpointError: model_dir holds another model;
      nothing at checkpoint_path, or a checkpoint of another model.
    actions.TrainingStopped: the loss diverged (NaN, infinite, or above
      `trainer.loss_upper_bound`).
  """
  if mode not in MODES:
    raise experiment.ConfigError(f'--mode={mode!r}: expected one of '
                                 f'{", ".join(MODES)}.')
  preflight.check_model_dir_path(model_dir)
  preflight.check_inputs(params, mode)
  start = (preflight.check_start_checkpoint(params, mode, checkpoint_path)
           if checkpoint_path else None)
  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(
        params.runtime.mixed_precision_dtype)
  strategy = build_strategy(params.runtime)
  with strategy.scope():
    task = task_factory.get_task(params.task, logging_dir=model_dir)
    preflight.check_model_dir(task, model_dir)
  chief = strategy.extended.should_checkpoint
  if 'train' in mode and chief:
    train_utils.serialize_config(params, model_dir)
  # Non-chief workers run every step and save every checkpoint with the
  # chief (saving reads synchronized variables, a collective), into
  # throw-away folders: Model Garden's own temporary checkpoint folder and
  # `scratch` for the best checkpoint; both are removed at the end.
  scratch = None if chief else tempfile.mkdtemp(prefix='axial_deeplab_')
  try:
    return _run_experiment(params, mode, model_dir, strategy, task, chief,
                           scratch, start)
  finally:
    if scratch:
      shutil.rmtree(scratch, ignore_errors=True)


class _ExperimentRunner(train_lib.OrbitExperimentRunner):
  """Model Garden's runner, with where each worker's weights come from.

  - Model Garden gives a non-chief worker a checkpoint manager on an empty
    temporary folder, so when a run is resumed it would start from fresh
    weights at step 0 while the chief restores the latest checkpoint of
    model_dir (restoring is local, not broadcast): the weights diverge and
    the workers run different numbers of steps. Here a non-chief worker
    restores that same checkpoint instead of initializing, and still saves
    into its temporary folder.
  - `start` (--checkpoint_path): in eval mode every worker restores it
    (the manager watches an empty temporary folder, so model_dir's own
    checkpoints do not win); in the training modes it replaces the
    initialization when model_dir holds no checkpoint.
  """

  def __init__(self, *, start: Optional[str] = None, **kwargs):
    self._start = start
    self._evaluates_start = bool(start) and kwargs['mode'] == 'eval'
    super().__init__(**kwargs)

  def _restore_start(self):
    export.restore_checkpoint(self.trainer.model, self._start)
    step = export.checkpoint_step(self._start)
    if self._evaluates_start and step is not None:
      self.trainer.global_step.assign(step)
    logging.info('--checkpoint_path: restored the model from %s (step %s)',
                 self._start, step)

  def _maybe_build_checkpoint_manager(self):
    manager = super()._maybe_build_checkpoint_manager()
    if manager is None:
      return None
    chief = self.strategy.extended.should_checkpoint
    latest = tf.train.latest_checkpoint(self.model_dir)
    checkpoint = self.trainer.checkpoint
    directory = manager.directory
    if self._evaluates_start:
      init_fn = self._restore_start
      if chief:
        directory = tempfile.mkdtemp(prefix='axial_deeplab_eval_')
    elif latest and not chief:
      init_fn = lambda: checkpoint.restore(latest)
    elif self._start and not latest:
      init_fn = self._restore_start
    else:
      return manager
    return tf.train.CheckpointManager(
        checkpoint, directory=directory,
        max_to_keep=self.params.trainer.max_to_keep if chief else 1,
        step_counter=self.trainer.global_step,
        checkpoint_interval=self.params.trainer.checkpoint_interval,
        init_fn=init_fn)


def _run_experiment(params, mode, model_dir, strategy, task, chief,
                    scratch, start):
  """Builds the trainer and actions and runs Orbit (see `run`).

  The chief writes checkpoints, TensorBoard events, best_ckpt/ and metrics
  JSON to model_dir; the other workers write no summaries and save their
  checkpoints under `scratch`.
  """
  with strategy.scope():
    trainer = train_utils.create_trainer(
        params, task, train='train' in mode, evaluate='eval' in mode,
        checkpoint_exporter=train_lib.maybe_create_best_ckpt_exporter(
            params, model_dir if chief else scratch))
    if 'train' in mode:
      train_utils_lib.create_optimizer_slots(
          trainer.optimizer, trainer.model.trainable_variables)
  train_actions, eval_actions = [], []
  if 'train' in mode:
    train_actions = [
        actions.DivergenceStop(params, model_dir, trainer.global_step),
        actions.ProgressLogger(
            trainer.global_step, params.task.train_data.global_batch_size,
            params.trainer.train_steps)]
  if chief:
    eval_actions.append(actions.MetricsWriter(model_dir, trainer.global_step))
  if hasattr(task, 'post_processor') and 'eval' in mode:
    eval_actions.append(actions.PanopticImageSummary(
        task, trainer.model, params, model_dir, trainer.global_step,
        subdir=params.trainer.validation_summary_subdir, write=chief))
  experiment_runner = _ExperimentRunner(
      start=start, distribution_strategy=strategy, task=task, mode=mode, params=params,
      model_dir=model_dir, save_summary=chief, trainer=trainer,
      train_actions=train_actions, eval_actions=eval_actions)
  try:
    _, eval_logs = experiment_runner.run()
  finally:
    # The non-chief workers' and an evaluated --checkpoint_path's
    # temporary checkpoint folders.
    manager = experiment_runner.checkpoint_manager
    if manager is not None and (os.path.abspath(manager.directory)
                                != os.path.abspath(model_dir)):
      shutil.rmtree(manager.directory, ignore_errors=True)
  return eval_logs
