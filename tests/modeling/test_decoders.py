"""Decoder branch: shapes, widths (analytic parameter counts), alignment."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.modeling import decoders


def features(batch=2, height=65, width=97, channels=(6, 5, 7), seed=0):
  """Backbone-like dict for an input of height x width (k * 16 + 1)."""
  rng = np.random.default_rng(seed)
  out = {}
  for key, stride, c in zip(('2', '3', '5'), (4, 8, 16), channels):
    h, w = (height - 1) // stride + 1, (width - 1) // stride + 1
    out[key] = tf.constant(rng.normal(size=(batch, h, w, c)), tf.float32)
  return out


def bn(c):
  return 4 * c  # gamma, beta, moving mean, moving variance


def sep(c_in, c_out, k=5):
  return k * k * c_in + bn(c_in) + c_in * c_out + bn(c_out)


def test_default_widths_match_spec_parameter_count():
  feats = features(batch=1, height=33, width=33)
  c2, c3, c5 = 6, 5, 7
  sem = decoders.semantic_decoder()
  out = sem(feats)
  assert out.shape == (1, 9, 9, 256)
  want = (c5 * 256 + bn(256) + c3 * 64 + bn(64) + sep(256 + 64, 256) +
          c2 * 32 + bn(32) + sep(256 + 32, 256))
  assert sem.count_params() == want
  ins = decoders.instance_decoder()
  assert ins(feats).shape == (1, 9, 9, 128)
  want = (c5 * 256 + bn(256) + c3 * 32 + bn(32) + sep(256 + 32, 128) +
          c2 * 16 + bn(16) + sep(128 + 16, 128))
  assert ins.count_params() == want


def test_aspp_parameter_count_and_shapes():
  feats = features(batch=2, height=65, width=49)
  dec = decoders.PanopticDeepLabDecoder(
      low_level_channels=(4, 3), aspp_channels=8, decoder_channels=6,
      use_aspp=True, aspp_atrous_rates=(1, 2))
  assert dec(feats, training=True).shape == (2, 17, 13, 6)
  c5 = 7
  aspp = (c5 * 8 + bn(8)) + 2 * (9 * c5 * 8 + bn(8)) + (c5 * 8 + bn(8)) + (
      4 * 8 * 8 + bn(8))
  rest = 5 * 4 + bn(4) + sep(8 + 4, 6) + 6 * 3 + bn(3) + sep(6 + 3, 6)
  assert dec.count_params() == aspp + rest


def test_odd_sizes_unknown_shape_and_jit():
  dec = decoders.PanopticDeepLabDecoder(low_level_channels=(4, 3),
                                        aspp_channels=8, decoder_channels=6)
  feats = features(batch=2, height=50, width=70)  # not k * 16 + 1
  eager = dec(feats, training=False)
  assert eager.shape == (2, 13, 18, 6)
  spec = {k: tf.TensorSpec([None, None, None, v.shape[-1]])
          for k, v in feats.items()}
  fn = tf.function(lambda f: dec(f, training=False), input_signature=[spec])
  np.testing.assert_allclose(fn(feats).numpy(), eager.numpy(), atol=1e-5)
  jit = tf.function(lambda f: dec(f, training=False), jit_compile=True)
  np.testing.assert_allclose(jit(feats).numpy(), eager.numpy(), atol=1e-4)


def test_resize_aligned_maps_grid_point_i_to_stride_times_i():
  ramp = tf.reshape(tf.range(5, dtype=tf.float32), [1, 5, 1, 1])
  out = decoders.resize_aligned(ramp, [17, 1])  # 4 * (5 - 1) + 1
  np.testing.assert_allclose(out[0, :, 0, 0].numpy(), np.arange(17) / 4)
  half = decoders.resize_aligned(tf.cast(ramp, tf.float16), [9, 3])
  assert half.dtype == tf.float16


def test_config_round_trip_and_missing_level_error():
  dec = decoders.PanopticDeepLabDecoder(
      high_level_feature='5', low_level_features=('3', '2'),
      low_level_channels=(4, 3), aspp_channels=8, decoder_channels=6,
      use_aspp=True, aspp_atrous_rates=(2, 4), kernel_size=3,
      use_sync_bn=True, norm_momentum=0.9, norm_epsilon=1e-5,
      kernel_regularizer=tf_keras.regularizers.L2(1e-4))
  config = dec.get_config()
  again = decoders.PanopticDeepLabDecoder.from_config(config)
  assert again.get_config() == config
  feats = features(batch=1, height=33, width=33)
  assert again(feats).shape == (1, 9, 9, 6)
  del feats['3']
  with pytest.raises(ValueError, match="'3'"):
    dec(feats)
  with pytest.raises(ValueError, match='low_level_channels'):
    decoders.PanopticDeepLabDecoder(low_level_channels=(4,))


@pytest.mark.parametrize('policy', ['mixed_float16', 'mixed_bfloat16'])
def test_mixed_precision(policy):
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    dec = decoders.PanopticDeepLabDecoder(low_level_channels=(4, 3),
                                          aspp_channels=8, decoder_channels=6,
                                          use_aspp=True)
    out = dec(features(batch=1, height=33, width=49), training=True)
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  assert out.dtype == tf.dtypes.as_dtype(policy.split('_')[1])
  assert np.all(np.isfinite(tf.cast(out, tf.float32).numpy()))
