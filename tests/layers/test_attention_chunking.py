"""The attention in chunks of sequences (`memory_budget_mb`): the same
function as in one piece, and no tensor beyond the budget.

Sizes in bytes below are float32 tensors counted by hand from the layer's
shapes, not from the code under test.
"""

import re

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.layers import blocks
from axial_deeplab_tf.ops import chunking

KEY_DEPTH, VALUE_DEPTH, HEADS = 4, 8, 2
MB = 2.0**20


def _layer(span, budget_mb, recompute, block_size=None):
  return attention.PositionSensitiveAxialAttention(
      'width', KEY_DEPTH, VALUE_DEPTH, num_heads=HEADS, span=span,
      max_distance=3, block_size=block_size, recompute=recompute,
      memory_budget_mb=budget_mb)


def _operations(graph, seen=None):
  """Every op of `graph` and of the functions it calls (loop bodies,
  recomputed chunks, gradients), recursively."""
  seen = set() if seen is None else seen
  yield from graph.get_operations()
  for name, function in graph._functions.items():  # pylint: disable=protected-access
    if name not in seen:
      seen.add(name)
      yield from _operations(function.graph, seen)


def _tensor_sizes(operations):
  """(bytes, op name) of every numeric op output; all shapes static."""
  sizes = []
  for op in operations:
    if op.type in ('Placeholder', 'BroadcastGradientArgs'):
      continue  # function inputs (produced by ops counted elsewhere); ints
    outputs = op.outputs
    if op.type == 'FusedBatchNormV3':
      outputs = outputs[:5]  # not its reserve space (no static shape)
    for t in outputs:
      if t.dtype in (tf.variant, tf.resource, tf.string):
        continue
      assert t.shape.is_fully_defined(), (op.type, op.name, t.shape)
      sizes.append((t.shape.num_elements() * t.dtype.size, op.name))
  return sizes


def _train_step_graph(layer, shape):
  """Traced (never run) training forward + backward of `layer`."""
  layer(tf.zeros([1, 1, 1, shape[-1]]))

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x, training=True)
    return tape.gradient(tf.reduce_sum(y * y), [x] + layer.trainable_weights)
  return step.get_concrete_function(tf.TensorSpec(shape)).graph


# Width attention over x of [2, 7, 11, 6]: 14 sequences of length 11. A
# budget of 3.5 sequences' largest tensor gives chunks of 3 (5 chunks, the
# last one ragged: 2 sequences). Global: [heads, 11, 11] similarities,
# 968 B per sequence. Local (span 5, blocks of 3, 4 blocks): the key/value
# windows [heads, 4, 3 + 4, 4] (wider than the [.., 3, 7] similarities),
# 896 B per sequence.
@pytest.mark.parametrize('span,block_size,sequence_bytes,recompute', [
    (None, None, 968, True), (5, 3, 896, True), (5, 3, 896, False)])
def test_chunked_equals_whole(span, block_size, sequence_bytes, recompute):
  """Training forward, gradients w.r.t. the input and every weight, the
  batch norms' moving statistics after the step (whole-batch statistics,
  not per chunk), then inference with them: chunked == in one piece."""
  rng = np.random.default_rng(0)
  # Sequences of different scales, so per-chunk statistics would differ.
  x = rng.normal(size=(2, 7, 11, 6)) * rng.uniform(0.2, 3, size=(2, 7, 1, 1))
  x = tf.constant(x.astype(np.float32))
  probe = tf.constant(rng.normal(size=(2, 7, 11, VALUE_DEPTH)), tf.float32)
  results = []
  for budget in (None, 3.5 * sequence_bytes / MB):
    layer = _layer(span, budget, recompute, block_size)
    layer(x)
    if results:
      layer.set_weights(weights)
    else:
      weights = layer.get_weights()

    @tf.function
    def step(x, layer=layer):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.sin(y) * probe)
      return y, tape.gradient(loss, [x] + layer.trainable_weights)
    ops = {op.type for op in _operations(
        step.get_concrete_function(x).graph)}
    # Training chunks only with recompute (without it the backward pass
    # keeps every chunk anyway); inference below chunks either way.
    assert bool(ops & {'While', 'StatelessWhile'}) == (
        budget is not None and recompute)
    y, grads = step(x)
    results.append(dict(
        y=y.numpy(), grads=[g.numpy() for g in grads],
        stats=[w.numpy() for w in layer.non_trainable_weights],
        inference=layer(x, training=False).numpy()))
  whole, chunked = results
  np.testing.assert_allclose(chunked['y'], whole['y'], rtol=1e-5, atol=1e-5)
  # The input, the qkv kernel, 3 tables, gamma and beta of 3 batch norms.
  assert len(whole['grads']) == 1 + 1 + 3 + 6
  # Gradients reach 10-50; the similarity norm's beta gets ~0 (the
  # softmax ignores a shift per row), hence the absolute tolerance.
  for got, want in zip(chunked['grads'], whole['grads']):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  for got, want in zip(chunked['stats'], whole['stats']):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(chunked['inference'], whole['inference'],
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('span,block_size,sequence_bytes', [
    (None, None, 968), (5, 3, 896)])
def test_xla_inference_chunks(span, block_size, sequence_bytes):
  """XLA-compiled inference over the 14 sequences of the layer above: in 5
  chunks of 3 (budget 3.5 sequences) as separate slices, no loop; in 14
  chunks of 1 (budget 1.5) in a loop (more than
  `chunking.XLA_UNROLLED_CHUNKS`). Both equal the layer in one piece,
  uncompiled."""
  rng = np.random.default_rng(1)
  x = tf.constant(rng.normal(size=(2, 7, 11, 6)).astype(np.float32))
  whole = _layer(span, None, False, block_size)
  want = whole(x, training=False).numpy()
  for per_chunk, looped in ((3.5, False), (1.5, True)):
    layer = _layer(span, per_chunk * sequence_bytes / MB, False, block_size)
    layer(x)
    layer.set_weights(whole.get_weights())
    call = tf.function(lambda t, layer=layer: layer(t, training=False),
                       jit_compile=True)
    ops = {op.type for op in _operations(call.get_concrete_function(x).graph)}
    assert bool(ops & {'While', 'StatelessWhile'}) == looped
    np.testing.assert_allclose(call(x).numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('span,block_size', [(None, None), (5, 3)])
def test_tables_expanded_once_per_call(span, block_size):
  """The relative tables are expanded once per layer call, outside the
  chunk loop (shared by every chunk and by the similarity statistics),
  not once per chunk and per use: in a traced training step with
  recompute over 5 chunks, one `pair_operands` scope in the forward
  graph and none in any function (loop bodies, recomputed chunks)."""
  layer = _layer(span, 3.5 * 968 / MB, True, block_size)
  graph = _train_step_graph(layer, [2, 7, 11, 6])
  # (Placeholders in functions named after the outer tensor they
  # capture are the shared operands arriving, not an expansion.)
  in_functions = [(op.type, op.name) for op in _operations(graph)
                  if op.graph is not graph and 'pair_operands' in op.name
                  and op.type != 'Placeholder']
  assert not in_functions
  scopes = {re.search(r'pair_operands(_\d+)?', op.name).group()
            for op in graph.get_operations()
            if 'pair_operands' in op.name and
            not op.name.startswith('gradients')}
  assert scopes == {'pair_operands'}
  assert {op.type for op in _operations(graph)} & {'While', 'StatelessWhile'}


def test_chunks_are_balanced():
  """10 sequences within a budget of 6 per chunk run as 2 chunks of 5, not
  6 + 4 padded to 6 + 6: the padding is computed for nothing. Results in
  input order, the padding cut."""
  sizes = []

  def double(x):
    sizes.append(x.shape[0])
    return [2 * x]
  x = tf.reshape(tf.range(30.0), [10, 3])
  mapped = tf.function(lambda x: chunking.map_sequences(
      double, [x], [], 6, [tf.float32]))
  np.testing.assert_array_equal(mapped(x)[0].numpy(), 2 * x.numpy())
  assert sizes == [5]


# Width attention over [1, 64, 1024, 4] (local, span 65, blocks of 32) or
# [1, 128, 128, 4] (global), 2 heads. The largest input-sized tensor is the
# q/k/v projection [1, H, W, 4 + 4 + 8] = 4 MiB (local) or 1 MiB (global).
# In one piece the similarities would be [64, 2, 32 blocks, 32, 96] = 48 MiB
# (local) or [128, 2, 128, 128] = 16 MiB (global).
@pytest.mark.parametrize('span,shape,io_bytes', [
    (65, [1, 64, 1024, 4], 64 * 1024 * 16 * 4),
    (None, [1, 128, 128, 4], 128 * 128 * 16 * 4)])
def test_no_tensor_beyond_budget(span, shape, io_bytes):
  """Every op output of a traced training step (forward, per-chunk
  recomputation, backward; static shapes, so none escapes the count) is
  within the budget or no larger than the layer's input-sized tensors."""
  budget = 0.5
  layer = attention.PositionSensitiveAxialAttention(
      'width', KEY_DEPTH, VALUE_DEPTH, num_heads=HEADS, span=span,
      max_distance=64, block_size=32 if span else None, recompute=True,
      memory_budget_mb=budget)
  sizes = _tensor_sizes(_operations(_train_step_graph(layer, shape)))
  largest = max(sizes)
  assert largest[0] <= max(budget * MB, io_bytes), largest
  # The largest is the q/k/v projection (input-sized), nothing of L x L.
  assert largest[0] == io_bytes, largest


def _attention_bytes(block, size):
  """Largest tensor of the attention in the traced inference of `block`
  at `[1, size, size, channels]`: ops under its 'attention' scope and
  those of the functions they call (the chunk loops; nothing else of the
  block calls functions)."""
  forward = tf.function(lambda x: block(x, training=False))
  graph = forward.get_concrete_function(
      tf.TensorSpec([1, size, size, 4 * block.filters])).graph
  attention_ops = [op for op in graph.get_operations()
                   if '/attention/' in op.name]
  for function in graph._functions.values():  # pylint: disable=protected-access
    attention_ops += _operations(function.graph)
  return max(_tensor_sizes(attention_ops))[0]


def test_attention_memory_linear_in_pixels():
  """An Axial-ResNet bottleneck block with global attention (8 heads of
  depth 1, whose [L, L] similarities would grow as pixels x L, 8x for 4x
  the pixels: [64, 8, 64, 64] = 8 MiB at 64x64): with a memory budget its
  attention's largest tensor grows < 4.5x for 4x the pixels. The measure
  is exact (static shapes of the traced graph, each op output counted),
  not a noisy resident-memory reading."""
  block = blocks.AxialBottleneckBlock(8, span=None, num_heads=8,
                                      memory_budget_mb=0.01)
  block(tf.zeros([1, 2, 2, 32]))
  small, large = (_attention_bytes(block, size) for size in (32, 64))
  assert large < 4.5 * small, (small, large)
