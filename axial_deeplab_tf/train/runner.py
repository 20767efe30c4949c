"""Train and evaluate one experiment with Model Garden (trainer/train.py).

`run(params, mode, model_dir)` checks the run (`preflight`), builds the
distribution strategy from `params.runtime`, the task and Model Garden's
trainer, attaches our Orbit actions (`actions`: progress log, divergence
stop, metrics JSON, panoptic image panels) and calls
`official.core.train_lib.run_experiment`. It returns the last evaluation's
metrics.
"""

from typing import Dict

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
from axial_deeplab_tf.train import preflight

# The --mode values train_lib.run_experiment runs.
MODES = ('train', 'eval', 'train_and_eval', 'continuous_eval')


def build_strategy(runtime: cfg.RuntimeConfig) -> tf.distribute.Strategy:
  """The strategy `runtime.distribution_strategy` names."""
  return distribute_utils.get_distribution_strategy(
      distribution_strategy=runtime.distribution_strategy,
      all_reduce_alg=runtime.all_reduce_alg, num_gpus=runtime.num_gpus,
      num_packs=runtime.num_packs, tpu_address=runtime.tpu)


def run(params: cfg.ExperimentConfig, mode: str, model_dir: str
        ) -> Dict[str, float]:
  """Checks, then runs the experiment; returns the eval metrics.

  Raises:
    experiment.ConfigError: a bad --mode, a --model_dir missing or a
      file, or an input pattern matching no file.
    checkpoint_restore.CheckpointError: model_dir holds another model.
    actions.TrainingStopped: the loss diverged (NaN, infinite, or above
      `trainer.loss_upper_bound`).
  """
  if mode not in MODES:
    raise experiment.ConfigError(f'--mode={mode!r}: expected one of '
                                 f'{", ".join(MODES)}.')
  preflight.check_model_dir_path(model_dir)
  preflight.check_inputs(params, mode)
  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(
        params.runtime.mixed_precision_dtype)
  strategy = build_strategy(params.runtime)
  with strategy.scope():
    task = task_factory.get_task(params.task, logging_dir=model_dir)
    preflight.check_model_dir(task, model_dir)
  if 'train' in mode and strategy.extended.should_checkpoint:
    train_utils.serialize_config(params, model_dir)

  with strategy.scope():
    trainer = train_utils.create_trainer(
        params, task, train='train' in mode, evaluate='eval' in mode,
        checkpoint_exporter=train_lib.maybe_create_best_ckpt_exporter(
            params, model_dir))
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
  if strategy.extended.should_checkpoint:
    eval_actions.append(actions.MetricsWriter(model_dir, trainer.global_step))
    if hasattr(task, 'post_processor') and 'eval' in mode:
      eval_actions.append(actions.PanopticImageSummary(
          task, trainer.model, params, model_dir, trainer.global_step,
          subdir=params.trainer.validation_summary_subdir))
  _, eval_logs = train_lib.run_experiment(
      distribution_strategy=strategy, task=task, mode=mode, params=params,
      model_dir=model_dir, trainer=trainer, train_actions=train_actions,
      eval_actions=eval_actions)
  return eval_logs
