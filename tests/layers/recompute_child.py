"""Child interpreter of `test_recompute.py` (TensorFlow's CPU allocator and
logical devices are set before TensorFlow initialises, which the pytest
process has already done):

* memory: training steps of 4 and of 16 conv bottlenecks on
  `[1, 96, 96, 64]`, plain and with `recompute_block`; peak bytes
  allocated during the step (TF's BFC allocator statistics) above what
  was allocated before it, the median of 5 steps, per block added (the
  slope from 4 to 16 blocks, free of the step's fixed costs);
* replicas: a conv bottleneck with synchronized batch norms on a
  2-replica CPU MirroredStrategy, one step plain and one recomputed (same
  weights): the largest difference of the per-replica gradients, and of
  the moving statistics after the step.

Prints `RESULT {json}`.
"""

import json
import os

os.environ['TF_CPU_ALLOCATOR_USE_BFC'] = 'true'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

from axial_deeplab_tf.layers import blocks  # pylint: disable=g-import-not-at-top

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices('CPU')[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)


# The executor's order of ops, and with it a step's peak, varies from step
# to step (by up to ~25 MB here under load: which tensors overlap, which
# buffers an op reuses in place): the median peak of several steps, and a
# slope over many blocks, keep that noise well below the per-block
# difference. (One CI run under load measured 5.0 MB per recomputed block
# from a single step of 4 and of 12 blocks; 1.9-2.8 MB is usual.)
STEPS = 5
FEW, MANY = 4, 16


def _square_loss(out):
  return tf.reduce_sum(tf.square(out))


def peak_bytes(recompute_block, num_blocks):
  chain = tf_keras.Sequential([
      blocks.ConvBottleneckBlock(16, recompute_block=recompute_block)
      for _ in range(num_blocks)])
  x = tf.random.stateless_normal([1, 96, 96, 64], (0, 0))
  chain(x)

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      loss = _square_loss(chain(x, training=True))
    return tape.gradient(loss, chain.trainable_weights)
  step(x)
  peaks = []
  for _ in range(STEPS):
    before = tf.config.experimental.get_memory_info('CPU:0')['current']
    tf.config.experimental.reset_memory_stats('CPU:0')
    step(x)
    peaks.append(tf.config.experimental.get_memory_info('CPU:0')['peak']
                 - before)
  return float(np.median(peaks))


def replica_differences():
  strategy = tf.distribute.MirroredStrategy(['CPU:0', 'CPU:1'])
  x = tf.random.stateless_normal([4, 9, 9, 16], (5, 6))
  results = []
  weights = None
  for recompute_block in (False, True):
    with strategy.scope():
      block = blocks.ConvBottleneckBlock(
          4, strides=2, use_sync_bn=True, recompute_block=recompute_block)
      block(x[:1])
      if weights is None:
        block.expand_norm.gamma.assign(tf.fill([16], 0.5))
        weights = block.get_weights()
      block.set_weights(weights)
    data = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(x).unbatch().batch(4))

    @tf.function
    def step(batch):
      def replica(x):
        with tf.GradientTape() as tape:
          loss = _square_loss(block(x, training=True))
        return tape.gradient(loss, block.trainable_weights)
      return strategy.run(replica, args=(batch,))
    grads = step(next(iter(data)))
    local = [np.concatenate([np.ravel(v) for v in
                             strategy.experimental_local_results(g)])
             for g in grads]
    stats = [w.numpy() for w in block.non_trainable_weights]
    results.append((local, stats))
  (g0, s0), (g1, s1) = results
  scale = max(float(np.abs(g).max()) for g in g0)
  return (max(float(np.abs(a - b).max()) for a, b in zip(g0, g1)) / scale,
          max(float(np.abs(a - b).max()) for a, b in zip(s0, s1)))


def main():
  plain, again = ((peak_bytes(r, MANY) - peak_bytes(r, FEW)) / (MANY - FEW)
                  for r in (False, True))
  grads, stats = replica_differences()
  print('RESULT ' + json.dumps(dict(
      per_block_plain=plain, per_block_recompute=again,
      replica_max_difference=grads, replica_stats_difference=stats)))


if __name__ == '__main__':
  main()
