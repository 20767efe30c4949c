"""ResNetStem / ThreeConvStem / AxialStem: strides, channels, numpy
references of the conv stems with known weights, config round trips."""

import numpy as np
import pytest
import tf_keras

import conv_reference as ref
import keras_checks
from axial_deeplab_tf.layers import stems


def _input(height, width, channels=3, seed=0):
  return np.random.default_rng(seed).normal(
      size=(2, height, width, channels)).astype(np.float32)


def _set_known_weights(stem, rng):
  """Random conv kernels and batch-norm statistics on every conv unit."""
  for unit in stem.stem_layers:
    if not hasattr(unit, 'conv'):  # pooling, padding
      continue
    unit.conv.kernel.assign(
        rng.normal(size=unit.conv.kernel.shape).astype(np.float32))
    ref.randomize_bn(unit.norm, rng)


def _conv_unit(unit, x, stride, training):
  y = ref.conv2d(x, unit.conv.kernel.numpy().astype(np.float64), stride)
  return ref.relu(ref.batch_norm(y, ref.bn_weights(unit.norm), training))


@pytest.mark.parametrize('size', [(32, 32), (33, 30), (35, 37)])
@pytest.mark.parametrize('training', [False, True])
def test_resnet_stem_matches_reference(size, training):
  """7x7/2 conv -> BN -> ReLU -> 3x3/2 max pool."""
  x = _input(*size)
  stem = stems.ResNetStem(8)
  stem(x)
  _set_known_weights(stem, np.random.default_rng(1))
  got = stem(x, training=training).numpy()
  conv_unit = stem.stem_layers[0]
  assert conv_unit.conv.kernel.shape == (7, 7, 3, 8)
  want = ref.max_pool(_conv_unit(conv_unit, x.astype(np.float64), 2,
                                 training), 3, 2)
  assert stem.stride == 4 and stem.channels == 8
  assert got.shape == (2, -(-size[0] // 4), -(-size[1] // 4), 8)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('size', [(32, 32), (33, 30)])
def test_resnet_stem_symmetric_padding_matches_reference(size):
  """PyTorch's padding: 3 on each side of the 7x7/2 conv, 1 of the pool
  (at even sizes TF's 'same' would pad 2 / 0 before and 3 / 1 after)."""
  x = _input(*size, seed=4)
  stem = stems.ResNetStem(4, padding='symmetric')
  stem(x)
  _set_known_weights(stem, np.random.default_rng(5))
  unit = stem.stem_layers[0]
  y = ref.conv2d(x.astype(np.float64),
                 unit.conv.kernel.numpy().astype(np.float64), 2, padding=3)
  y = ref.relu(ref.batch_norm(y, ref.bn_weights(unit.norm), False))
  want = ref.max_pool(y, 3, 2, padding=1)
  got = stem(x, training=False).numpy()
  assert got.shape == (2, -(-size[0] // 4), -(-size[1] // 4), 4)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match='padding'):
    stems.ResNetStem(4, padding='valid')


@pytest.mark.parametrize('size', [(32, 32), (33, 30)])
@pytest.mark.parametrize('training', [False, True])
def test_three_conv_stem_matches_reference(size, training):
  """3x3/2, 3x3, 3x3 convs, each -> BN -> ReLU."""
  x = _input(*size, seed=2)
  stem = stems.ThreeConvStem((4, 6, 8))
  stem(x)
  _set_known_weights(stem, np.random.default_rng(3))
  got = stem(x, training=training).numpy()
  want = x.astype(np.float64)
  kernels = []
  for unit, stride in zip(stem.stem_layers, (2, 1, 1)):
    kernels.append(tuple(unit.conv.kernel.shape))
    want = _conv_unit(unit, want, stride, training)
  assert kernels == [(3, 3, 3, 4), (3, 3, 4, 6), (3, 3, 6, 8)]
  assert stem.stride == 2 and stem.channels == 8
  assert got.shape == (2, -(-size[0] // 2), -(-size[1] // 2), 8)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('stride_mode', ['subsample', 'avg_pool'])
@pytest.mark.parametrize('size', [(16, 16), (17, 19)])
def test_axial_stem_stride_and_channels(stride_mode, size):
  """Three axial blocks, the first with stride 2; 4 x filters channels."""
  x = _input(*size, seed=4)
  stem = stems.AxialStem(8, span=3, max_distance=3, stride_mode=stride_mode)
  y = stem(x, training=True)
  assert stem.stride == 2 and stem.channels == 32
  assert y.shape == (2, -(-size[0] // 2), -(-size[1] // 2), 32)
  assert [b.strides for b in stem.stem_layers] == [2, 1, 1]
  assert all(b.attention.stride_mode == stride_mode
             for b in stem.stem_layers)
  assert np.isfinite(y.numpy()).all()


def test_axial_stem_default_table_is_the_attention_default():
  stem = stems.AxialStem(8)
  assert stem.max_distance == 254


@pytest.mark.parametrize('cls,args', [
    (stems.ResNetStem, dict(filters=8, kernel_regularizer='l2')),
    (stems.ThreeConvStem, dict(filters=(4, 6, 8), norm_momentum=0.9)),
    (stems.AxialStem, dict(filters=8, span=3, max_distance=3,
                           stride_mode='avg_pool', recompute=True)),
])
def test_config_round_trip(cls, args):
  x = _input(16, 16, seed=5)
  keras_checks.assert_serialization_round_trip(cls(**args), x)


def test_three_conv_stem_needs_three_widths():
  with pytest.raises(ValueError, match='3 filter counts'):
    stems.ThreeConvStem((4, 8))
