"""Functional models of axial attention: building one infers each attention
layer's output signature without tracing the attention
(`keras_utils.infers_output_signature`), and the built model is the same
model: the same weights, and outputs equal to the numpy reference of eq. 4."""

from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import attention_reference as ref
from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.ops import axial_attention

SWITCHES = dict.fromkeys(('use_content', 'use_query_rpe', 'use_key_rpe',
                          'use_value_rpe'), True)


def _weights(layer):
  return sorted((w.name.split('/', 1)[1], tuple(w.shape))
                for w in layer.weights)


@pytest.mark.parametrize('span,strides', [(None, 2), (5, 1)])
def test_functional_model_skips_the_attention_and_is_the_same_layer(
    span, strides):
  args = dict(axis='width', key_depth=4, value_depth=8, num_heads=2,
              span=span, max_distance=3, strides=strides)
  inputs = tf_keras.Input([None, None, 6])
  layer = attention.PositionSensitiveAxialAttention(**args, name='att')
  with mock.patch.object(axial_attention, 'attention',
                         side_effect=AssertionError('traced')):
    model = tf_keras.Model(inputs, layer(inputs))
  # The output signature compute_output_shape gives; every weight built.
  assert model.output.shape.as_list() == [None, None, None, 8]
  assert model.output.dtype == tf.float32
  called = attention.PositionSensitiveAxialAttention(**args, name='att')
  x = np.random.default_rng(0).normal(size=(2, 3, 9, 6)).astype(np.float32)
  called(x)
  assert _weights(layer) == _weights(called)
  ref.randomize_norms(layer, np.random.default_rng(1))
  got = model(x, training=False).numpy()
  want = ref.attention_1d_reference(
      x.astype(np.float64), ref.layer_weights(layer), 'width', 2, 4, 8, span,
      3, SWITCHES, False, strides=strides)
  assert got.shape == (2, 3, 9 // strides + 9 % strides, 8)
  np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)
