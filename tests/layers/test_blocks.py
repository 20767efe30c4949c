"""ConvBottleneckBlock / AxialBottleneckBlock against numpy references:
shapes, the shortcut projection, a fresh block computing ReLU(shortcut),
whole-block inference (also with deeplab2's activations and subsampled
shortcut) and config round trips."""

import math

import numpy as np
import pytest

import attention_reference as attention_ref
import conv_reference as ref
import keras_checks
from axial_deeplab_tf.layers import blocks

HEADS, SPAN, MAX_DISTANCE = 2, 3, 3
AXIAL = dict(num_heads=HEADS, span=SPAN, max_distance=MAX_DISTANCE)


def _block(cls, filters, strides):
  if cls is blocks.AxialBottleneckBlock:
    return cls(filters, strides, **AXIAL)
  return cls(filters, strides)


def _input(shape, seed=0):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _kernel(conv):
  return conv.kernel.numpy().astype(np.float64)


def _shortcut(block, x, training):
  if block.projection is None:
    return x
  y = ref.conv2d(x, _kernel(block.projection), block.strides)
  return ref.batch_norm(y, ref.bn_weights(block.projection_norm), training)


@pytest.mark.parametrize('cls', [blocks.ConvBottleneckBlock,
                                 blocks.AxialBottleneckBlock])
@pytest.mark.parametrize('channels,strides,size,projected', [
    (16, 1, (8, 6), False),     # shape kept: identity shortcut
    (16, 2, (8, 6), True),      # stride changes it
    (16, 2, (9, 7), True),      # odd sizes round up
    (8, 1, (8, 6), True),       # channel count changes it
])
def test_shapes_and_shortcut(cls, channels, strides, size, projected):
  x = _input((2, *size, channels))
  block = _block(cls, 4, strides)
  y = block(x)
  want = (2, -(-size[0] // strides), -(-size[1] // strides), 16)
  assert y.shape == want
  assert block.compute_output_shape(x.shape) == want
  assert (block.projection is not None) == projected
  names = [w.name for w in block.weights]
  assert any('shortcut' in n for n in names) == projected
  middle = 2 * 4 if cls is blocks.AxialBottleneckBlock else 4
  assert block.reduce.kernel.shape == (1, 1, channels, middle)
  assert block.expand.kernel.shape == (1, 1, middle, 16)
  if projected:
    assert block.projection.kernel.shape == (1, 1, channels, 16)


@pytest.mark.parametrize('cls', [blocks.ConvBottleneckBlock,
                                 blocks.AxialBottleneckBlock])
@pytest.mark.parametrize('channels,strides', [(16, 1), (16, 2), (8, 1)])
@pytest.mark.parametrize('training', [False, True])
def test_fresh_block_is_relu_of_shortcut(cls, channels, strides, training):
  """The last BN's gamma starts at 0: the residual branch adds beta = 0."""
  x = _input((2, 8, 6, channels), seed=1)
  block = _block(cls, 4, strides)
  block(x)
  np.testing.assert_array_equal(block.expand_norm.gamma.numpy(), 0.0)
  if block.projection is not None:
    ref.randomize_bn(block.projection_norm, np.random.default_rng(2))
  got = block(x, training=training).numpy()
  want = ref.relu(_shortcut(block, x.astype(np.float64), training))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _randomize(block, rng):
  norms = [block.reduce_norm, block.expand_norm]
  if block.projection is not None:
    norms.append(block.projection_norm)
  if isinstance(block, blocks.ConvBottleneckBlock):
    norms.append(block.conv3x3_norm)
  else:
    for layer in (block.attention.height_attention,
                  block.attention.width_attention):
      attention_ref.randomize_norms(layer, rng)
  for norm in norms:
    ref.randomize_bn(norm, rng)


def _axial_mix(block, x):
  """Height then width attention (each subsampling its axis), inference."""
  switches = dict.fromkeys(('use_content', 'use_query_rpe', 'use_key_rpe',
                            'use_value_rpe'), True)
  for axis in ('height', 'width'):
    layer = getattr(block.attention, f'{axis}_attention')
    x = attention_ref.attention_1d_reference(
        x, attention_ref.layer_weights(layer), axis, HEADS, block.filters,
        2 * block.filters, SPAN, MAX_DISTANCE, switches, False,
        strides=block.strides)
  return x


@pytest.mark.parametrize('cls', [blocks.ConvBottleneckBlock,
                                 blocks.AxialBottleneckBlock])
@pytest.mark.parametrize('channels,strides', [(16, 1), (8, 2)])
def test_block_matches_reference(cls, channels, strides):
  """Inference with every norm randomised (residual branch switched on)."""
  x = _input((2, 7, 6, channels), seed=3)
  block = _block(cls, 4, strides)
  block(x)
  _randomize(block, np.random.default_rng(4))
  got = block(x, training=False).numpy()
  x64 = x.astype(np.float64)
  h = ref.relu(ref.batch_norm(ref.conv2d(x64, _kernel(block.reduce)),
                              ref.bn_weights(block.reduce_norm), False))
  if cls is blocks.ConvBottleneckBlock:
    h = ref.conv2d(h, _kernel(block.conv3x3), strides)
    h = ref.relu(ref.batch_norm(h, ref.bn_weights(block.conv3x3_norm),
                                False))
  else:
    h = ref.relu(_axial_mix(block, h))
  h = ref.batch_norm(ref.conv2d(h, _kernel(block.expand)),
                     ref.bn_weights(block.expand_norm), False)
  want = ref.relu(h + _shortcut(block, x64, False))
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# GeLU from its definitions: x * Phi(x) (erf), and the tanh approximation.
_GELU = {
    'gelu': lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    'approximated_gelu': lambda x: 0.5 * x * (1 + np.tanh(
        math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
}


@pytest.mark.parametrize('activation', sorted(_GELU))
def test_activation_and_subsampled_shortcut_match_reference(activation):
  """`activation` replaces the block's three ReLUs; with
  `shortcut='subsample'` a strided block that keeps its 16 channels has
  no projection and adds its input's every other pixel."""
  x = _input((2, 7, 6, 16), seed=6)
  block = blocks.ConvBottleneckBlock(4, 2, activation=activation,
                                     shortcut='subsample')
  block(x)
  assert block.projection is None
  _randomize(block, np.random.default_rng(7))
  got = block(x, training=False).numpy()
  act, x64 = _GELU[activation], x.astype(np.float64)
  h = act(ref.batch_norm(ref.conv2d(x64, _kernel(block.reduce)),
                         ref.bn_weights(block.reduce_norm), False))
  h = act(ref.batch_norm(ref.conv2d(h, _kernel(block.conv3x3), 2),
                         ref.bn_weights(block.conv3x3_norm), False))
  h = ref.batch_norm(ref.conv2d(h, _kernel(block.expand)),
                     ref.bn_weights(block.expand_norm), False)
  want = act(h + x64[:, ::2, ::2])
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('cls,kwargs', [
    (blocks.ConvBottleneckBlock, dict(kernel_regularizer='l2',
                                      norm_momentum=0.9, activation='gelu',
                                      shortcut='subsample')),
    (blocks.AxialBottleneckBlock, dict(AXIAL, stride_mode='avg_pool',
                                       use_value_rpe=False,
                                       embedding_initializer='glorot_uniform',
                                       recompute=True)),
])
def test_config_round_trip(cls, kwargs):
  x = _input((2, 8, 6, 8), seed=5)
  keras_checks.assert_serialization_round_trip(cls(4, 2, **kwargs), x)


@pytest.mark.parametrize('kwargs,message', [
    (dict(filters=0), 'filters must be'),
    (dict(filters=4, strides=3), 'strides must be'),
    (dict(filters=4, shortcut='pool'), 'shortcut: expected one of'),
    (dict(filters=4, activation='elu'), 'activation: expected one of'),
])
def test_bad_configuration(kwargs, message):
  with pytest.raises(ValueError, match=message):
    blocks.ConvBottleneckBlock(**kwargs)
