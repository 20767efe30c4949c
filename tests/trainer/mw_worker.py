"""Worker script of test_multi_worker.py (not a test).

  python mw_worker.py single INIT OUT   # 3 steps, one process, batch 8
  python mw_worker.py worker INIT OUT   # 3 steps, MultiWorkerMirrored
                                        # (TF_CONFIG), global batch 8

Trains the classification task's `train_step` on a fixed global batch so
that one process and two workers see exactly the same examples per step;
with synchronized batch norm their weights must agree.
"""

import sys

import numpy as np
import tensorflow as tf

from official.common import distribute_utils
from official.core import task_factory

from axial_deeplab_tf.train import experiment

GLOBAL_BATCH = 8
STEPS = 3


def params():
  return experiment.load_experiment(
      'axial_resnet_26s_imagenet', params_override={
          'task': {'model': {'num_classes': 4, 'backbone': {'axial_resnet': {
              'width_multiplier': 0.125, 'stage_blocks': [1, 1, 1, 1],
              'stem_width': 8}},
                             'norm_activation': {'use_sync_bn': True}},
                   'losses': {'l2_weight_decay': 1e-4}},
          'trainer': {'optimizer_config': {
              'learning_rate': {'type': 'constant',
                                'constant': {'learning_rate': 0.05}},
              'warmup': {'type': None}}}})


def write_initial_weights(path):
  """Builds the tiny model (default strategy) and saves its weights."""
  model = task_factory.get_task(params().task).build_model()
  np.savez(path, *[v.numpy() for v in model.weights])


def main(mode, *paths):
  if mode == 'worker':
    strategy = distribute_utils.get_distribution_strategy(
        'multi_worker_mirrored')
  else:
    strategy = tf.distribute.OneDeviceStrategy('/cpu:0')
  p = params()
  rng = np.random.default_rng(0)
  images = rng.normal(size=(GLOBAL_BATCH, 32, 32, 3)).astype(np.float32)
  labels = rng.integers(0, 4, GLOBAL_BATCH).astype(np.int32)
  with strategy.scope():
    task = task_factory.get_task(p.task)
    model = task.build_model()
    init = np.load(paths[0])
    model.set_weights([init[f'arr_{i}'] for i in range(len(init.files))])
    optimizer = task.create_optimizer(p.trainer.optimizer_config, p.runtime)

  def batch_fn(context):
    per = GLOBAL_BATCH // context.num_replicas_in_sync
    i = context.replica_id_in_sync_group
    return {'image': tf.constant(images[i * per:(i + 1) * per]),
            'label': tf.constant(labels[i * per:(i + 1) * per])}
  batch = strategy.experimental_distribute_values_from_function(batch_fn)

  @tf.function
  def step(b):
    strategy.run(lambda x: task.train_step(x, model, optimizer), args=(b,))
  for _ in range(STEPS):
    step(batch)
  np.savez(paths[1], *[v.numpy() for v in model.weights])
  print(f'{mode}: {strategy.num_replicas_in_sync} replicas, done', flush=True)


if __name__ == '__main__':
  main(*sys.argv[1:])
