"""Child interpreter of `test_recompute.py` (TensorFlow's CPU allocator and
logical devices are set before TensorFlow initialises, which the pytest
process has already done):

* memory: forward passes of 4 and of 12 conv bottlenecks on
  `[1, 96, 96, 64]` under a gradient tape, plain and with
  `recompute_block`: the bytes they leave allocated for the backward pass
  (TF's BFC allocator statistics), per block added (the slope from 4 to
  12 blocks, free of fixed costs). Measured eagerly: a compiled step's
  peak depends on the executor's order of ops, which varies from step to
  step (one CI run under load saw 5.0 MB per recomputed block against the
  usual 1.9-2.8 MB, and a median of 5 steps still 3.5 MB);
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


NUM_BLOCKS = (4, 12)


def _square_loss(out):
  return tf.reduce_sum(tf.square(out))


def kept_bytes(recompute_block, num_blocks):
  """Bytes the forward pass leaves allocated for the backward pass: after
  a forward pass under a tape (eagerly, so that nothing else is alive),
  above what was allocated before it."""
  chain = tf_keras.Sequential([
      blocks.ConvBottleneckBlock(16, recompute_block=recompute_block)
      for _ in range(num_blocks)])
  x = tf.random.stateless_normal([1, 96, 96, 64], (0, 0))
  chain(x)
  before = tf.config.experimental.get_memory_info('CPU:0')['current']
  with tf.GradientTape() as tape:
    out = chain(x, training=True)
    loss = _square_loss(out)
  kept = tf.config.experimental.get_memory_info('CPU:0')['current'] - before
  grads = tape.gradient(loss, chain.trainable_weights)
  assert all(g is not None for g in grads)
  return kept


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
  few, many = NUM_BLOCKS
  plain, again = ((kept_bytes(r, many) - kept_bytes(r, few)) / (many - few)
                  for r in (False, True))
  grads, stats = replica_differences()
  print('RESULT ' + json.dumps(dict(
      per_block_plain=plain, per_block_recompute=again,
      replica_max_difference=grads, replica_stats_difference=stats)))


if __name__ == '__main__':
  main()
