"""Training-mode gradients of the attention (with and without recomputing
the attention in the backward pass) against finite differences of the
numpy reference of eq. 4."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import attention_reference as ref
from axial_deeplab_tf.layers import attention

KEY_DEPTH, VALUE_DEPTH, HEADS, MAX_DISTANCE = 4, 8, 2, 3
SWITCHES = dict.fromkeys(
    ('use_content', 'use_query_rpe', 'use_key_rpe', 'use_value_rpe'), True)
# Trainable weights probed, by their key in `ref.layer_weights`.
PROBED = {'qkv_kernel': lambda l: l.qkv_projection.kernel,
          'query_rpe': lambda l: l.query_table,
          'key_rpe': lambda l: l.key_table,
          'value_rpe': lambda l: l.value_table,
          'sim_gamma': lambda l: l.similarity_norm.gamma,
          'out_gamma': lambda l: l.output_norm.gamma}


def _layer(recompute, span=None):
  return attention.PositionSensitiveAxialAttention(
      'width', KEY_DEPTH, VALUE_DEPTH, num_heads=HEADS, span=span,
      max_distance=MAX_DISTANCE, recompute=recompute)


@pytest.mark.parametrize('recompute', [False, True])
def test_directional_derivative_matches_reference(recompute):
  """d/dt loss(x + t dx, w + t dw) at t = 0: TF gradients vs central
  differences of the float64 reference (batch statistics in training)."""
  rng = np.random.default_rng(7)
  x = rng.normal(size=(2, 2, 7, 6)).astype(np.float32)
  # The initializers draw from TF's global random state, which otherwise
  # depends on the tests run before in the same worker.
  tf_keras.utils.set_random_seed(7)
  layer = _layer(recompute)
  layer(x)
  ref.randomize_norms(layer, rng)
  probe = rng.normal(size=(2, 2, 7, VALUE_DEPTH))
  variables = {k: get(layer) for k, get in PROBED.items()}
  x_var = tf.Variable(x)

  @tf.function
  def gradients():
    with tf.GradientTape() as tape:
      y = layer(x_var, training=True)
      loss = tf.reduce_sum(y * probe.astype(np.float32))
    return tape.gradient(loss, [x_var] + list(variables.values()))

  grads = [g.numpy() for g in gradients()]
  weights = ref.layer_weights(layer)
  directions = [rng.normal(size=x.shape)] + [
      rng.normal(size=v.shape) for v in variables.values()]
  analytic = sum(float(np.sum(g * d)) for g, d in zip(grads, directions))

  def reference_loss(step):
    w = dict(weights)
    for (key, variable), d in zip(variables.items(), directions[1:]):
      w[key] = w[key] + step * d.reshape(variable.shape)[
          (0, 0) if key == 'qkv_kernel' else ()]
    y = ref.attention_1d_reference(
        x.astype(np.float64) + step * directions[0], w, 'width', HEADS,
        KEY_DEPTH, VALUE_DEPTH, None, MAX_DISTANCE, SWITCHES, True)
    return float(np.sum(y * probe))

  h = 1e-5
  numeric = (reference_loss(h) - reference_loss(-h)) / (2 * h)
  assert abs(numeric) > 1.0        # a direction that moves the loss
  np.testing.assert_allclose(analytic, numeric, rtol=2e-3)


def test_recompute_updates_moving_statistics_once():
  """The batch-statistics update sits outside the recomputed part: one
  training step moves the similarity norm's moving mean by
  (1 - momentum) x the batch mean, the same as without recomputing."""
  rng = np.random.default_rng(8)
  x = rng.normal(size=(2, 3, 9, 6)).astype(np.float32)
  plain, recomputed = _layer(False), _layer(True)
  plain(x)
  recomputed(x)
  recomputed.set_weights(plain.get_weights())
  for layer in (plain, recomputed):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(layer(x, training=True)))
    tape.gradient(loss, layer.trainable_weights)
  moved = plain.similarity_norm.moving_mean.numpy()
  assert np.abs(moved).max() > 1e-4
  np.testing.assert_allclose(recomputed.similarity_norm.moving_mean.numpy(),
                             moved, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(
      recomputed.similarity_norm.moving_variance.numpy(),
      plain.similarity_norm.moving_variance.numpy(), rtol=1e-5)
