"""TermBatchNormalization against numpy: per-term statistics, moving
averages, inference, the affine from external (masked) moments, and the
replica all-reduce under a 2-replica CPU MirroredStrategy."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import normalization

EPS, MOMENTUM = 1e-3, 0.9
HERE = pathlib.Path(__file__).resolve().parent


def _terms(shape, num_terms, seed=0):
  """Terms with distinct means and scales, so that statistics matter."""
  rng = np.random.default_rng(seed)
  return [(rng.normal(size=shape) * (t + 1) + t).astype(np.float32)
          for t in range(num_terms)]


def _layer(num_terms, axis, shape, seed=1, **kwargs):
  layer = normalization.TermBatchNormalization(
      num_terms, axis=axis, momentum=MOMENTUM, epsilon=EPS, **kwargs)
  layer.build([tf.TensorShape(shape)] * num_terms)
  rng = np.random.default_rng(seed)
  for var, low, high in ((layer.gamma, 0.5, 1.5), (layer.beta, -0.5, 0.5),
                         (layer.moving_mean, -0.5, 0.5),
                         (layer.moving_variance, 0.5, 2.0)):
    var.assign(rng.uniform(low, high, var.shape).astype(np.float32))
  return layer


def _expand(param, axis, rank):
  """`[channels...]` -> broadcastable to a term of rank `rank`."""
  shape = [1] * rank
  for a, size in zip(axis, param.shape):
    shape[a] = size
  return param.reshape(shape)


def _moments(x, axis, valid=None):
  """Mean and biased variance over all but `axis`, over valid entries."""
  x = x.astype(np.float64)
  reduce_axes = tuple(a for a in range(x.ndim) if a not in axis)
  w = np.ones_like(x) if valid is None else np.broadcast_to(valid, x.shape)
  w = w.astype(np.float64)
  count = w.sum(reduce_axes)
  mean = (x * w).sum(reduce_axes) / count
  var = (np.square(x - _expand(mean, axis, x.ndim)) * w).sum(
      reduce_axes) / count
  return mean, var


def _normalised_sum(terms, axis, gamma, beta, means, variances):
  out = 0
  for t, x in enumerate(terms):
    scale = gamma[t] / np.sqrt(variances[t] + EPS)
    out = out + (x - _expand(means[t], axis, x.ndim)) * _expand(
        scale, axis, x.ndim) + _expand(beta[t], axis, x.ndim)
  return out


CASES = [  # term shape, channel axes
    ((4, 2, 5, 3), [1]),        # [batch, heads, rows, cols]
    ((3, 5, 2, 4), [2, 3]),     # [batch, L, heads, depth]
]


@pytest.mark.parametrize('shape,axis', CASES)
def test_training_uses_batch_statistics(shape, axis):
  """Per-(term, channel) moments normalise; the moving statistics move by
  (1 - momentum)."""
  terms = _terms(shape, 3)
  layer = _layer(3, axis, shape)
  gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
  old_mean = layer.moving_mean.numpy()
  old_var = layer.moving_variance.numpy()
  got = layer(terms, training=True).numpy()
  means, variances = zip(*[_moments(x, axis) for x in terms])
  want = _normalised_sum(terms, axis, gamma, beta, means, variances)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      layer.moving_mean.numpy(),
      MOMENTUM * old_mean + (1 - MOMENTUM) * np.stack(means), rtol=1e-5,
      atol=1e-6)
  np.testing.assert_allclose(
      layer.moving_variance.numpy(),
      MOMENTUM * old_var + (1 - MOMENTUM) * np.stack(variances), rtol=1e-5)


@pytest.mark.parametrize('shape,axis', CASES)
def test_inference_uses_moving_statistics(shape, axis):
  terms = _terms(shape, 2, seed=3)
  layer = _layer(2, axis, shape)
  weights = [w.numpy() for w in (layer.gamma, layer.beta, layer.moving_mean,
                                 layer.moving_variance)]
  got = layer(terms, training=False).numpy()
  np.testing.assert_allclose(got, _normalised_sum(terms, axis, *weights),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(layer.moving_mean.numpy(), weights[2])


def test_affine_from_moments():
  """Scales `gamma / sqrt(var + eps)` and the summed shift, from sums."""
  rng = np.random.default_rng(4)
  layer = _layer(3, [1], (None, 2, None))
  gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
  moving_mean = layer.moving_mean.numpy()
  count = np.full((3, 2), 50.0, np.float32)
  mean = rng.normal(size=(3, 2)).astype(np.float32)
  var = rng.uniform(0.5, 2.0, size=(3, 2)).astype(np.float32)
  total, sum_squares = count * mean, count * (var + np.square(mean))
  scales, shift = layer.affine_from_moments(count, total, sum_squares,
                                            training=True)
  want_scales = gamma / np.sqrt(var + EPS)
  np.testing.assert_allclose(scales.numpy(), want_scales, rtol=1e-4)
  np.testing.assert_allclose(
      shift.numpy(), (beta - mean * want_scales).sum(0), rtol=1e-4,
      atol=1e-5)
  np.testing.assert_allclose(
      layer.moving_mean.numpy(),
      MOMENTUM * moving_mean + (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-6)
  scales, shift = layer.affine_from_moments(training=False)
  moving_scales = gamma / np.sqrt(layer.moving_variance.numpy() + EPS)
  np.testing.assert_allclose(scales.numpy(), moving_scales, rtol=1e-5)


def test_float32_under_mixed_precision():
  tf_keras.mixed_precision.set_global_policy('mixed_float16')
  try:
    layer = normalization.TermBatchNormalization(2, axis=1)
    terms = [tf.cast(x, tf.float16) for x in _terms((2, 3, 4), 2)]
    out = layer(terms, training=True)
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  assert out.dtype == tf.float32
  assert all(w.dtype == tf.float32 for w in layer.weights)


@pytest.mark.parametrize('kwargs,call,message', [
    (dict(num_terms=0), None, 'num_terms must be'),
    (dict(num_terms=1, axis=-1), None, 'axis must be non-negative'),
    (dict(num_terms=2), [np.zeros((2, 3), np.float32)], 'expected 2 terms'),
])
def test_bad_arguments(kwargs, call, message):
  with pytest.raises(ValueError, match=message):
    layer = normalization.TermBatchNormalization(**kwargs)
    layer(call, training=True)


def test_unknown_channel_axis():
  layer = normalization.TermBatchNormalization(1, axis=1)
  with pytest.raises(ValueError, match='channel axes'):
    layer.build([tf.TensorShape([None, None, 3])])


def test_synchronized_statistics_over_two_replicas(tmp_path):
  """Two replicas with half a batch each: synchronized statistics equal
  one replica's on the whole batch (also the affine from masked sums,
  with unequal valid counts per replica); unsynchronized ones are each
  replica's own."""
  rng = np.random.default_rng(5)
  terms = np.stack(_terms((4, 3, 5), 2, seed=6))
  valid = rng.uniform(size=(4, 1, 5)) < 0.6
  valid[:2, :, :2] = False          # replica 0 sees fewer valid keys
  np.savez(tmp_path / 'in.npz', terms=terms, valid=valid)
  env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]),
             TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run(
      [sys.executable, str(HERE / 'sync_norm_replicas.py'),
       str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')],
      env=env, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = dict(np.load(tmp_path / 'out.npz'))
  ones, zeros = np.ones((2, 3)), np.zeros((2, 3))
  axis = [1]
  means, variances = zip(*[_moments(x, axis) for x in terms])
  masked_means, masked_vars = zip(*[_moments(x, axis, valid) for x in terms])
  tol = dict(rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      got['out_sync'],
      _normalised_sum(terms, axis, ones, zeros, means, variances), **tol)
  np.testing.assert_allclose(got['moving_mean_sync'],
                             (1 - MOMENTUM) * np.stack(means), **tol)
  np.testing.assert_allclose(
      got['moving_variance_sync'],
      MOMENTUM + (1 - MOMENTUM) * np.stack(variances), **tol)
  scales = 1 / np.sqrt(np.stack(masked_vars) + EPS)
  np.testing.assert_allclose(got['scales_sync'], scales, rtol=1e-4)
  np.testing.assert_allclose(
      got['shift_sync'], (-np.stack(masked_means) * scales).sum(0),
      rtol=1e-4, atol=1e-5)
  # Without synchronisation each replica normalises its own half, and the
  # moving statistics read back as the mean of the replicas' copies.
  halves = [terms[:, :2], terms[:, 2:]]
  local = [list(zip(*[_moments(x, axis) for x in half])) for half in halves]
  np.testing.assert_allclose(
      got['out_local'],
      np.concatenate([_normalised_sum(half, axis, ones, zeros, *stats)
                      for half, stats in zip(halves, local)]), **tol)
  np.testing.assert_allclose(
      got['moving_mean_local'],
      (1 - MOMENTUM) * np.mean([np.stack(m) for m, _ in local], 0), **tol)
  assert np.abs(got['out_local'] - got['out_sync']).max() > 1e-2
