"""Prediction heads: widths, float32 outputs, config."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.modeling import heads


def expected_params(c_in, head, out, k=5):
  return k * k * c_in + 4 * c_in + c_in * head + 4 * head + head * out + out


def test_default_heads_match_spec_widths():
  x = tf.random.stateless_normal([2, 9, 13, 16], seed=[1, 2])
  sem = heads.semantic_head(19)
  center = heads.center_head()
  offset = heads.offset_head()
  assert sem(x).shape == (2, 9, 13, 19)
  assert center(x).shape == (2, 9, 13, 1)
  assert offset(x).shape == (2, 9, 13, 2)
  assert sem.count_params() == expected_params(16, 256, 19)
  assert center.count_params() == expected_params(16, 32, 1)
  assert offset.count_params() == expected_params(16, 32, 2)


@pytest.mark.parametrize('policy', ['mixed_float16', 'mixed_bfloat16'])
def test_outputs_float32_under_mixed_precision(policy):
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    head = heads.PanopticDeepLabHead(3, 8)
    out = head(tf.random.stateless_normal([1, 7, 5, 4], seed=[3, 4]),
               training=True)
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  assert out.dtype == tf.float32
  assert head.features.compute_dtype != 'float32'
  assert np.all(np.isfinite(out.numpy()))


def test_unknown_size_jit_and_config():
  head = heads.PanopticDeepLabHead(3, 8, kernel_size=3, use_sync_bn=True,
                                   norm_momentum=0.9, norm_epsilon=1e-4,
                                   kernel_regularizer='l2')
  x = tf.random.stateless_normal([2, 11, 6, 4], seed=[5, 6])
  eager = head(x, training=False)
  fn = tf.function(lambda t: head(t, training=False),
                   input_signature=[tf.TensorSpec([None, None, None, 4])])
  np.testing.assert_allclose(fn(x).numpy(), eager.numpy(), atol=1e-6)
  jit = tf.function(lambda t: head(t, training=False), jit_compile=True)
  np.testing.assert_allclose(jit(x).numpy(), eager.numpy(), atol=1e-5)
  config = head.get_config()
  again = heads.PanopticDeepLabHead.from_config(config)
  assert again.get_config() == config
  assert again(x).shape == (2, 11, 6, 3)
