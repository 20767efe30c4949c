"""Runs `TermBatchNormalization` under a 2-replica CPU MirroredStrategy.

Run by `test_normalization.py` in its own interpreter (the two logical CPU
devices must be configured before TensorFlow initialises its devices,
which other tests in a pytest process have already done):

  python sync_norm_replicas.py INPUT.npz OUTPUT.npz

INPUT holds `terms` `[num_terms, batch, channels, length]` and `valid`
`[batch, 1, length]` (bool); each replica gets half of the batch. OUTPUT
holds, for `synchronized` in (True, False) (suffix `_sync` / `_local`),
the replica outputs concatenated over the batch (`out`), the moving
statistics after one training call (`moving_mean`, `moving_variance`)
and, from `affine_from_moments` fed each replica's own masked sums,
`scales` and `shift` of replica 0.
"""

import sys

import numpy as np
import tensorflow as tf

from axial_deeplab_tf.layers import normalization

MOMENTUM = 0.9


def _run(strategy, data, synchronized):
  terms = data['terms']
  valid = data['valid']
  num_terms = terms.shape[0]
  half = terms.shape[1] // 2
  halves = [(terms[:, :half], valid[:half]), (terms[:, half:], valid[half:])]

  def per_replica(index):
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(halves[ctx.replica_id_in_sync_group][index]))

  replica_terms, replica_valid = per_replica(0), per_replica(1)
  with strategy.scope():
    plain, affine = (
        normalization.TermBatchNormalization(
            num_terms, axis=1, momentum=MOMENTUM, synchronized=synchronized)
        for _ in range(2))
    for layer in (plain, affine):
      layer.build([tf.TensorShape([None, terms.shape[2], None])] * num_terms)

  def step(x, mask):
    x = tf.unstack(x)  # num_terms x [batch / 2, channels, length]
    weights = tf.cast(mask, tf.float32)
    reduce_axes = [0, 2]
    count = tf.reduce_sum(weights * tf.ones_like(x[0]), reduce_axes)
    total = tf.stack([tf.reduce_sum(t * weights, reduce_axes) for t in x])
    squares = tf.stack([tf.reduce_sum(tf.square(t) * weights, reduce_axes)
                        for t in x])
    scales, shift = affine.affine_from_moments(
        tf.stack([count] * len(x)), total, squares, training=True)
    return plain(x, training=True), scales, shift

  run = tf.function(lambda *args: strategy.run(step, args=args))
  results = run(replica_terms, replica_valid)
  local = [strategy.experimental_local_results(r) for r in results]
  suffix = '_sync' if synchronized else '_local'
  return {
      'out' + suffix: np.concatenate([r.numpy() for r in local[0]]),
      'scales' + suffix: local[1][0].numpy(),
      'shift' + suffix: local[2][0].numpy(),
      'moving_mean' + suffix: plain.moving_mean.read_value().numpy(),
      'moving_variance' + suffix: plain.moving_variance.read_value().numpy(),
  }


def main(input_path, output_path):
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
  assert strategy.num_replicas_in_sync == 2
  data = dict(np.load(input_path))
  results = {}
  for synchronized in (True, False):
    results.update(_run(strategy, data, synchronized))
  np.savez(output_path, **results)


if __name__ == '__main__':
  main(*sys.argv[1:])
