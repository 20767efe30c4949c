"""Folded inference attention (modeling/folding.py): the folded layer
against the numpy reference of eq. 4 with its batch norms (moving
statistics) and against the unfolded layer; its graph has no
normalisation; a folded model; mixed precision; errors."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import attention_reference as ref
from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.modeling import folding

SWITCHES = ('use_content', 'use_query_rpe', 'use_key_rpe', 'use_value_rpe')
KEY_DEPTH, VALUE_DEPTH, HEADS, MAX_DISTANCE = 4, 8, 2, 3
NORM_OPS = {'Rsqrt', 'FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3'}


def _layer(axis, span, length, seed=0, **kwargs):
  """A built layer with random norms, and its input `[2, ., ., 6]`."""
  shape = (2, 3, length, 6) if axis == 'width' else (2, length, 3, 6)
  x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
  layer = attention.PositionSensitiveAxialAttention(
      axis, KEY_DEPTH, VALUE_DEPTH, num_heads=HEADS, span=span,
      max_distance=MAX_DISTANCE, **kwargs)
  layer(x)
  ref.randomize_norms(layer, np.random.default_rng(seed + 1))
  return layer, x


@pytest.mark.parametrize('axis,span,length,off,extra', [
    ('width', None, 9, None, {}),        # global, clipped (9 > 3 + 1)
    ('height', 5, 11, None, {}),         # local, odd length
    ('width', 5, 12, 'use_key_rpe', {}),  # local, even; content into k
    ('height', None, 7, 'use_query_rpe', dict(strides=2)),
    ('width', 3, 10, 'use_value_rpe', {}),
    ('width', None, 5, 'use_content', {}),
    # one sequence per chunk: the content scale goes through the loop
    ('width', 5, 11, None, dict(memory_budget_mb=1e-4)),
])
def test_folded_matches_reference_and_unfolded(axis, span, length, off,
                                               extra):
  switches = {s: s != off for s in SWITCHES}
  layer, x = _layer(axis, span, length, **switches, **extra)
  unfolded = layer(x, training=False).numpy()
  want = ref.attention_1d_reference(
      x.astype(np.float64), ref.layer_weights(layer), axis, HEADS, KEY_DEPTH,
      VALUE_DEPTH, span, MAX_DISTANCE, switches, False,
      strides=extra.get('strides', 1))
  folding.fold_attention(layer)
  assert layer.folded
  folded = layer(x, training=False).numpy()
  assert folded.shape == want.shape
  np.testing.assert_allclose(folded, want, rtol=1e-4, atol=2e-5)
  scale = np.abs(unfolded).max()
  np.testing.assert_allclose(folded, unfolded, rtol=0, atol=1e-5 * scale)


def _op_types(layer, shape):
  fn = tf.function(lambda v: layer(v, training=False))
  graph_def = fn.get_concrete_function(
      tf.TensorSpec(shape, tf.float32)).graph.as_graph_def()
  nodes = list(graph_def.node)
  for function in graph_def.library.function:  # loop bodies (chunks)
    nodes += list(function.node_def)
  return {n.op for n in nodes}, {n.name.lower() for n in nodes}


@pytest.mark.parametrize('span', [None, 5])
def test_folded_graph_has_no_normalisation(span):
  layer, x = _layer('width', span, 11, memory_budget_mb=1e-4)
  shape = x.shape
  types, _ = _op_types(layer, shape)
  assert types & NORM_OPS  # the check can fail: the unfolded graph has them
  folding.fold_attention(layer)
  types, names = _op_types(layer, shape)
  assert 'Exp' in types and types & {'While', 'StatelessWhile'}
  assert not types & NORM_OPS, types & NORM_OPS
  assert not [n for n in names if 'bn' in n.split('/')[-1] or 'norm' in n]


def test_fold_model_folds_nested_layers():
  """The nested attention layers (height, width) of a model (here a 2D
  attention layer) fold; its output is kept."""
  model = attention.AxialAttention2D(KEY_DEPTH, VALUE_DEPTH, strides=2,
                                     num_heads=HEADS, span=5,
                                     max_distance=MAX_DISTANCE)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1, 9, 7, 6)).astype(np.float32)
  model(x)
  for layer in (model.height_attention, model.width_attention):
    ref.randomize_norms(layer, rng)
  want = model(x, training=False).numpy()
  assert folding.fold_model(model) == 2
  for layer in (model.height_attention, model.width_attention):
    # The folded weights are named after the layer and the projection.
    added = {w.name for w in layer.weights} - {w.name for w in (
        layer.qkv_projection.weights + layer.qkv_norm.weights +
        layer.similarity_norm.weights + layer.output_norm.weights +
        [layer.query_table, layer.key_table, layer.value_table])}
    assert added == {f'{layer.name}/{n}:0' for n in (
        'qkv_folded/kernel', 'qkv_folded/bias', 'folded_content_scale',
        'folded_output_scale')}
  assert folding.fold_model(model) == 0
  got = model(x, training=False).numpy()
  assert np.abs(want).max() > 0.1
  np.testing.assert_allclose(got, want, rtol=0,
                             atol=1e-5 * np.abs(want).max())
  with pytest.raises(ValueError, match='cannot train'):
    model(x, training=True)


@pytest.mark.parametrize('policy', ['mixed_float16', 'mixed_bfloat16'])
def test_folded_mixed_precision(policy):
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    layer, x = _layer('width', 5, 11)
    unfolded = layer(x, training=False)
    folding.fold_attention(layer)
    folded = layer(x, training=False)
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  assert folded.dtype == unfolded.dtype == tf.as_dtype(policy.split('_')[1])
  assert all(w.dtype == tf.float32 for w in layer.weights)
  unfolded = tf.cast(unfolded, tf.float32).numpy()
  # bfloat16 keeps 8 bits: summation orders differ by a few of its ulps.
  tolerance = 5e-2 if policy == 'mixed_bfloat16' else 4e-3
  np.testing.assert_allclose(tf.cast(folded, tf.float32).numpy(), unfolded,
                             rtol=0, atol=tolerance * np.abs(unfolded).max())


def test_zero_divisor_scale_is_named():
  layer, _ = _layer('width', 5, 11)
  gamma = layer.output_norm.gamma.numpy()
  gamma[1, 0, 0] = 0.0  # the r^v term's scale of one channel
  layer.output_norm.gamma.assign(gamma)
  with pytest.raises(ValueError, match='r.v output batch-norm scale is zero'):
    folding.fold_attention(layer)
  assert not layer.folded
