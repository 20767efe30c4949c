"""Drop path (stochastic depth) of a residual branch, and its schedules.

In training, `DropPath(keep_prob)` zeroes a whole example's residual branch
with probability `1 - keep_prob` and scales the kept ones by `1 / keep_prob`
(the expectation is unchanged); in inference it is the identity.

`keep_prob(last_keep_prob, schedule, stage, num_stages)` gives a block's
keep probability from the model's setting (deeplab2's `drop_path_keep_prob`
and `drop_path_schedule`):

* 'constant': every block keeps with `last_keep_prob`;
* 'linear': `1 - (1 - last_keep_prob) * stage / num_stages`, i.e. 1 at
  stage 0 (the stem's resolution) falling linearly to `last_keep_prob` at
  stage `num_stages`.

`block_keep_prob(last_keep_prob, schedule, beyond_stride, input_stride)`
is deeplab2's rule for a residual block whose input has the (undilated,
as ResNet would have it) stride `input_stride`: 1 below `beyond_stride`
(deeplab2's `drop_path_beyond_stride`), else `keep_prob` at stage
`log2(input_stride) - 1` of 4. Our wide and axial backbones both use it.
"""

import math

import tensorflow as tf
import tf_keras

SCHEDULES = ('constant', 'linear')


def keep_prob(last_keep_prob, schedule, stage, num_stages):
  """Keep probability of a block at `stage` (see the module docstring)."""
  if not 0.0 < last_keep_prob <= 1.0:
    raise ValueError(f'drop path keep probability must be in (0, 1], got '
                     f'{last_keep_prob!r}.')
  if schedule == 'constant':
    return float(last_keep_prob)
  if schedule == 'linear':
    return 1.0 - (1.0 - last_keep_prob) * stage / num_stages
  raise ValueError(f'drop path schedule: expected one of {SCHEDULES}, got '
                   f'{schedule!r}.')


def block_keep_prob(last_keep_prob, schedule, beyond_stride, input_stride):
  """Keep probability of a block by its input's nominal stride (see the
  module docstring)."""
  if input_stride < beyond_stride:
    return 1.0
  return keep_prob(last_keep_prob, schedule,
                   int(round(math.log2(input_stride))) - 1, 4)


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class DropPath(tf_keras.layers.Layer):
  """Per-example drop of a residual branch `[batch, ...]` (training only).

  Args:
    keep_prob: probability of keeping an example's branch, in (0, 1].
    seed: optional seed of the random draw.
  """

  def __init__(self, keep_prob=1.0, seed=None, **kwargs):
    super().__init__(**kwargs)
    if not 0.0 < keep_prob <= 1.0:
      raise ValueError(f'keep_prob must be in (0, 1], got {keep_prob!r}.')
    self.keep_prob = float(keep_prob)
    self.seed = seed

  def call(self, inputs, training=None):
    if not training or self.keep_prob == 1.0:
      return inputs
    shape = tf.concat([tf.shape(inputs)[:1],
                       tf.ones([tf.rank(inputs) - 1], tf.int32)], 0)
    kept = tf.floor(self.keep_prob + tf.random.uniform(
        shape, dtype=inputs.dtype, seed=self.seed))
    return inputs * (kept / self.keep_prob)

  def get_config(self):
    config = super().get_config()
    config.update(keep_prob=self.keep_prob, seed=self.seed)
    return config
