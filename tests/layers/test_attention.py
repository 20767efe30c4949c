"""PositionSensitiveAxialAttention / AxialAttention2D against the numpy
reference of eq. 4, plus gradients, configs, graphs, dtypes and errors."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import attention_reference as ref
from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.ops import attention_products

SWITCHES = ('use_content', 'use_query_rpe', 'use_key_rpe', 'use_value_rpe')
KEY_DEPTH, VALUE_DEPTH, HEADS, MAX_DISTANCE = 4, 8, 2, 3


def _input(axis, length, other=3, seed=0):
  rng = np.random.default_rng(seed)
  shape = (2, other, length, 6) if axis == 'width' else (2, length, other, 6)
  return rng.normal(size=shape).astype(np.float32)


def _layer(axis, span, strides=1, block_size=None, **switches):
  return attention.PositionSensitiveAxialAttention(
      axis, KEY_DEPTH, VALUE_DEPTH, num_heads=HEADS, span=span,
      max_distance=MAX_DISTANCE, strides=strides, block_size=block_size,
      **switches)


def _check(axis, span, length, training, strides=1, block_size=None,
           switches=None, jit=False):
  switches = {**dict.fromkeys(SWITCHES, True), **(switches or {})}
  x = _input(axis, length)
  layer = _layer(axis, span, strides, block_size, **switches)
  layer(x)
  ref.randomize_norms(layer, np.random.default_rng(1))
  call = lambda t: layer(t, training=training)  # pylint: disable=unnecessary-lambda-assignment
  if jit:
    call = tf.function(call, jit_compile=True)
  got = call(tf.constant(x)).numpy()
  want = ref.attention_1d_reference(
      x.astype(np.float64), ref.layer_weights(layer), axis, HEADS, KEY_DEPTH,
      VALUE_DEPTH, span, MAX_DISTANCE, switches, training, strides=strides)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize('axis', ['height', 'width'])
@pytest.mark.parametrize('training', [False, True])
@pytest.mark.parametrize('span,length', [
    (None, 1), (None, 6), (None, 9),     # global; 9 > max_distance: clipped
    (5, 3), (5, 5), (5, 11), (5, 12),    # shorter, equal, longer odd/even
    (3, 10), (7, 16)])
def test_matches_reference(axis, training, span, length):
  _check(axis, span, length, training)


@pytest.mark.parametrize('span,length,block_size', [(7, 16, 3), (5, 13, 9)])
def test_block_sizes_match_reference(span, length, block_size):
  _check('width', span, length, True, block_size=block_size)


@pytest.mark.parametrize('off', SWITCHES)
@pytest.mark.parametrize('span,length', [(None, 7), (5, 11)])
def test_each_term_switched_off(off, span, length):
  _check('width', span, length, True, switches={off: False})


@pytest.mark.parametrize('axis', ['height', 'width'])
@pytest.mark.parametrize('span,length', [(None, 7), (5, 11), (5, 12)])
def test_stride_two(axis, span, length):
  _check(axis, span, length, False, strides=2)


def test_axial_2d_is_height_then_width():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(2, 9, 7, 6)).astype(np.float32)
  layer = attention.AxialAttention2D(
      KEY_DEPTH, VALUE_DEPTH, strides=2, num_heads=HEADS, span=5,
      max_distance=MAX_DISTANCE)
  got = layer(x, training=True).numpy()
  switches = dict.fromkeys(SWITCHES, True)
  common = (HEADS, KEY_DEPTH, VALUE_DEPTH, 5, MAX_DISTANCE, switches, True)
  h = ref.attention_1d_reference(
      x.astype(np.float64), ref.layer_weights(layer.height_attention),
      'height', *common, strides=2)
  want = ref.attention_1d_reference(
      h, ref.layer_weights(layer.width_attention), 'width', *common,
      strides=2)
  assert got.shape == (2, 5, 4, VALUE_DEPTH)
  np.testing.assert_allclose(got, want, atol=3e-5, rtol=1e-4)


def _average_pool_2x2(x):
  """2x2/2 average pool; border windows average their valid pixels."""
  batch, height, width, channels = x.shape
  out = np.zeros((batch, (height + 1) // 2, (width + 1) // 2, channels))
  for i in range(out.shape[1]):
    for j in range(out.shape[2]):
      out[:, i, j] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(axis=(1, 2))
  return out


@pytest.mark.parametrize('height,width', [(8, 6), (9, 7)])
def test_axial_2d_avg_pool_stride_mode(height, width):
  """'avg_pool': both axes attend at full size, then a 2x2 average pool."""
  rng = np.random.default_rng(4)
  x = rng.normal(size=(2, height, width, 6)).astype(np.float32)
  layer = attention.AxialAttention2D(
      KEY_DEPTH, VALUE_DEPTH, strides=2, stride_mode='avg_pool',
      num_heads=HEADS, span=5, max_distance=MAX_DISTANCE)
  got = layer(x, training=False).numpy()
  switches = dict.fromkeys(SWITCHES, True)
  common = (HEADS, KEY_DEPTH, VALUE_DEPTH, 5, MAX_DISTANCE, switches, False)
  h = ref.attention_1d_reference(
      x.astype(np.float64), ref.layer_weights(layer.height_attention),
      'height', *common)
  w = ref.attention_1d_reference(
      h, ref.layer_weights(layer.width_attention), 'width', *common)
  want = _average_pool_2x2(w)
  assert got.shape == want.shape == (2, (height + 1) // 2, (width + 1) // 2,
                                     VALUE_DEPTH)
  assert layer.compute_output_shape(x.shape).as_list() == list(want.shape)
  np.testing.assert_allclose(got, want, atol=3e-5, rtol=1e-4)


def test_axial_2d_rejects_unknown_stride_mode():
  with pytest.raises(ValueError, match='stride_mode'):
    attention.AxialAttention2D(KEY_DEPTH, strides=2, stride_mode='max_pool')


def test_local_memory_is_linear_in_length():
  """No tensor of the traced local attention grows like length^2."""
  length, span = 512, 5
  layer = _layer('width', span)
  fn = tf.function(lambda x: layer(x, training=True))
  graph = fn.get_concrete_function(
      tf.TensorSpec([1, 1, length, 6], tf.float32)).graph
  largest = max(np.prod(t.shape.as_list()) for op in graph.get_operations()
                for t in op.outputs if t.shape.is_fully_defined())
  # One L x L similarity per head would be HEADS * L^2 = 524288 elements.
  assert largest < HEADS * length * 64


def test_gradients_reach_every_weight():
  for span, length in ((None, 6), (5, 11)):
    x = _input('width', length)
    layer = _layer('width', span)
    with tf.GradientTape() as tape:
      y = layer(x, training=True)
      loss = tf.reduce_sum(y * np.random.default_rng(0).normal(
          size=y.shape).astype(np.float32))
    grads = tape.gradient(loss, layer.trainable_weights)
    # 3 tables, qkv kernel, gamma and beta of the three batch norms.
    assert len(grads) == len(layer.trainable_weights) == 10
    for weight, grad in zip(layer.trainable_weights, grads):
      assert grad is not None, weight.name
      size = np.abs(grad.numpy()).max()
      if 'similarity_bn/beta' in weight.name:
        # A per-(term, head) shift moves every logit of a softmax row
        # equally: the softmax, hence the loss, ignores it.
        assert size < 1e-4, weight.name
      else:
        assert size > 1e-4, weight.name


@pytest.mark.parametrize('cls,args', [
    (attention.PositionSensitiveAxialAttention,
     dict(axis='height', key_depth=4, value_depth=8, num_heads=2, span=5,
          max_distance=None, use_key_rpe=False, strides=2)),
    (attention.AxialAttention2D,
     dict(key_depth=4, num_heads=2, span=3, max_distance=7, strides=2,
          use_value_rpe=False)),
    (attention.AxialAttention2D,
     dict(key_depth=4, num_heads=2, span=3, max_distance=7, strides=2,
          stride_mode='avg_pool')),
])
def test_config_round_trip(cls, args):
  x = _input('width', 9)
  layer = cls(**args)
  y = layer(x)
  clone = cls.from_config(layer.get_config())
  clone(x)
  clone.set_weights(layer.get_weights())
  assert clone.get_config() == layer.get_config()
  np.testing.assert_allclose(clone(x).numpy(), y.numpy(), atol=1e-6)


def _all_op_types(concrete):
  graph_def = concrete.graph.as_graph_def()
  types = {node.op for node in graph_def.node}
  for function in graph_def.library.function:
    types |= {node.op for node in function.node_def}
  return types


def test_no_gather_in_traced_graph():
  for span in (None, 5):
    layer = attention.AxialAttention2D(KEY_DEPTH, num_heads=HEADS, span=span,
                                       max_distance=MAX_DISTANCE)
    for training in (False, True):
      fn = tf.function(lambda x, t=training: layer(x, training=t))
      concrete = fn.get_concrete_function(
          tf.TensorSpec([None, None, None, 6], tf.float32))
      types = _all_op_types(concrete)
      assert types & {'Softmax', 'Exp'}  # the traversal reached the softmax
      assert not types & {'Gather', 'GatherV2', 'GatherNd', 'ResourceGather',
                          'ResourceGatherNd'}, types


@pytest.mark.parametrize('axis', ['height', 'width'])
def test_batch_sized_transposes_in_traced_inference(axis):
  """A global layer's traced inference transposes batch-sized tensors five
  times: q, k and v into the sequences' layout `[batch * other, heads, L,
  d]` (the height layer's axis swap and the head split in one), the r^k
  term (its rows are keys; a call of an XLA-compiled transpose) and the
  output back. The batch-independent
  tables' transposes are smaller than q (2 * 3 * 5 * 4 floats here:
  [2, 5, 5] and [4, 5, 5] expanded tables)."""
  x = _input(axis, 5)
  layer = _layer(axis, None)
  layer(x)
  forward = tf.function(lambda v: layer(v, training=False))
  graph = forward.get_concrete_function(tf.TensorSpec(x.shape)).graph
  q_size = x.shape[0] * 3 * 5 * KEY_DEPTH
  def transposes(graph):  # outputs of transposes and of calls to them
    for op in graph.get_operations():
      if op.type.endswith('PartitionedCall'):
        called = graph._functions[op.get_attr('f').name].graph  # pylint: disable=protected-access
        if any(o.type == 'Transpose' for o in called.get_operations()):
          yield op.outputs[0]
      elif op.type == 'Transpose':
        yield op.outputs[0]
  sizes = [t.shape.num_elements() for t in transposes(graph)]
  assert None not in sizes, sizes
  assert len([s for s in sizes if s >= q_size]) == 5, sizes


def test_unknown_size_graph_matches_eager():
  layer = attention.AxialAttention2D(KEY_DEPTH, num_heads=HEADS, span=5,
                                     max_distance=MAX_DISTANCE)
  fn = tf.function(lambda x: layer(x, training=False), input_signature=[
      tf.TensorSpec([None, None, None, 6], tf.float32)])
  for shape in ((1, 4, 13, 6), (2, 11, 3, 6)):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(fn(x).numpy(), layer(x).numpy(), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('span,length', [(None, 9), (None, 40), (5, 12)])
@pytest.mark.parametrize('off', [None, 'use_content', 'use_query_rpe',
                                 'use_key_rpe', 'use_value_rpe'])
def test_xla_inference_matches_reference(span, length, off):
  """Inference under XLA sums the similarity terms elementwise (global
  layout, shallow heads), takes the softmax's row reductions in slices of
  at most 32 (length 40) and divides the retrieved terms by the row sums:
  the numpy reference of eq. 4, for every term switched off in turn."""
  _check('height', span, length, False, switches=off and {off: False},
         jit=True)


@pytest.mark.parametrize('span', [None, 5])
def test_jit_compile_matches(span):
  x = _input('width', 11)
  layer = _layer('width', span)
  eager = layer(x, training=False).numpy()
  jitted = tf.function(lambda v: layer(v, training=False),
                       jit_compile=True)(x).numpy()
  np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('length', [37, 64, 70])
def test_xla_softmax_matches_numpy(length):
  """Under XLA the attention's softmax reduces a row longer than 32 in
  steps over axes of at most 32 (padded where 32 does not divide it): the
  same values as the softmax computed in numpy."""
  x = np.random.default_rng(0).normal(size=(2, 3, length)) * 4
  got = tf.function(attention_products.softmax, jit_compile=True)(
      tf.constant(x, tf.float32)).numpy()
  want = np.exp(x - x.max(-1, keepdims=True))
  want /= want.sum(-1, keepdims=True)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('policy', ['mixed_float16', 'mixed_bfloat16'])
def test_mixed_precision_softmax_in_float32(policy):
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    layer = attention.AxialAttention2D(KEY_DEPTH, num_heads=HEADS, span=5,
                                       max_distance=MAX_DISTANCE)
    x = tf.constant(np.random.default_rng(0).normal(
        size=(2, 7, 9, 6)).astype(np.float32))
    fn = tf.function(lambda v: layer(v, training=True))
    y = fn(x)
    assert y.dtype == tf.as_dtype(policy.split('_')[1])
    assert np.isfinite(tf.cast(y, tf.float32).numpy()).all()
    softmax = [op for op in fn.get_concrete_function(x).graph.get_operations()
               if op.type == 'Softmax']
    assert softmax and all(op.get_attr('T') == tf.float32 for op in softmax)
    assert all(w.dtype == tf.float32 for w in layer.weights)
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')


@pytest.mark.parametrize('kwargs,message', [
    (dict(span=4), 'span must be'),
    (dict(span=0), 'span must be'),
    (dict(span=-3), 'span must be'),
    (dict(key_depth=6, num_heads=4), 'key_depth must be a positive multiple'),
    (dict(value_depth=12, num_heads=8), 'value_depth must be a positive'),
    (dict(axis='depth'), 'axis must be'),
    (dict(span=None, max_distance=None), 'needs a local span'),
    (dict(span=9, block_size=2), 'block_size must be'),
    (dict(use_content=False, use_query_rpe=False, use_key_rpe=False),
     'At least one similarity term'),
])
def test_bad_configuration(kwargs, message):
  args = dict(axis='width', key_depth=8, num_heads=2, span=5)
  args.update(kwargs)
  with pytest.raises(ValueError, match=message):
    attention.PositionSensitiveAxialAttention(**args)


def test_bad_inputs():
  layer = _layer('width', 5)
  with pytest.raises(ValueError, match='rank 4'):
    layer(np.zeros((2, 5, 6), np.float32))
  layer = _layer('width', 5)
  with pytest.raises(ValueError, match='channel dimension'):
    layer.build(tf.TensorShape([None, None, None, None]))
