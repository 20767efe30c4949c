r"""Trains and evaluates axial_deeplab_tf experiments with Model Garden.

  python trainer/train.py --experiment=axial_deeplab_shapes \
    --mode=train_and_eval --model_dir=/tmp/run \
    --config_file=configs/axial_deeplab_shapes.yaml \
    --params_override='trainer.train_steps=200'

Flags are Model Garden's (`official.common.flags.define_flags`):
--experiment, --config_file (repeatable), --params_override, --mode
(train, eval, train_and_eval, continuous_eval), --model_dir, --tpu.
`runtime.distribution_strategy` picks one_device / mirrored /
multi_worker_mirrored (TF_CONFIG) / tpu; `runtime.mixed_precision_dtype`
float16 (with loss scaling) or bfloat16.

Before training, it stops with a message naming the problem for an unknown
experiment, config keys that do not exist, input patterns matching no file,
and a model_dir holding a checkpoint of another model. A NaN or infinite
loss stops training, naming the step and the last good checkpoint. A killed
run resumes from the latest checkpoint in model_dir when rerun.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from official.common import distribute_utils
from official.common import flags as tfm_flags
from official.core import task_factory
from official.core import train_lib
from official.core import train_utils
from official.modeling import performance

# Registers our experiments and tasks.
from axial_deeplab_tf.configs import classification_experiments  # pylint: disable=unused-import
from axial_deeplab_tf.configs import panoptic_experiments  # pylint: disable=unused-import
from axial_deeplab_tf import tasks  # pylint: disable=unused-import

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preflight  # pylint: disable=g-import-not-at-top,wrong-import-position
import training_actions  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS


def build_strategy(params):
  runtime = params.runtime
  return distribute_utils.get_distribution_strategy(
      distribution_strategy=runtime.distribution_strategy,
      all_reduce_alg=runtime.all_reduce_alg, num_gpus=runtime.num_gpus,
      num_packs=runtime.num_packs, tpu_address=runtime.tpu)


def run(flags_obj):
  """Parses, checks, then runs the experiment. Returns the eval metrics."""
  mode = flags_obj.mode or 'train_and_eval'
  model_dir = flags_obj.model_dir
  if not model_dir:
    raise preflight.ConfigError('--model_dir is required.')
  params = preflight.parse_params(flags_obj)
  preflight.check_inputs(params, mode)

  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(
        params.runtime.mixed_precision_dtype)
  strategy = build_strategy(params)
  with strategy.scope():
    task = task_factory.get_task(params.task, logging_dir=model_dir)
    preflight.check_model_dir(task, model_dir)
  if 'train' in mode and strategy.extended.should_checkpoint:
    train_utils.serialize_config(params, model_dir)

  with strategy.scope():
    trainer = train_utils.create_trainer(
        params, task, train='train' in mode,
        evaluate='eval' in mode,
        checkpoint_exporter=train_lib.maybe_create_best_ckpt_exporter(
            params, model_dir))
  train_actions, eval_actions = [], []
  if 'train' in mode:
    train_actions = [
        training_actions.NonFiniteLossStop(model_dir),
        training_actions.ProgressLogger(
            trainer.global_step, params.task.train_data.global_batch_size,
            params.trainer.train_steps)]
  if strategy.extended.should_checkpoint:
    eval_actions.append(
        training_actions.MetricsWriter(model_dir, trainer.global_step))
    if hasattr(task, 'post_processor') and 'eval' in mode:
      eval_actions.append(training_actions.PanopticImageSummary(
          task, trainer.model, params, model_dir, trainer.global_step,
          subdir=params.trainer.validation_summary_subdir))
  _, eval_logs = train_lib.run_experiment(
      distribution_strategy=strategy, task=task, mode=mode, params=params,
      model_dir=model_dir, trainer=trainer, train_actions=train_actions,
      eval_actions=eval_actions)
  return eval_logs


def main(_):
  try:
    run(FLAGS)
  except (preflight.ConfigError, training_actions.TrainingStopped) as e:
    logging.error('%s', e)
    print(f'ERROR: {e}', file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == '__main__':
  tfm_flags.define_flags()
  app.run(main)
