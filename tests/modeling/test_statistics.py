"""M-Adds and parameter counting on models small enough to count by hand."""

import tf_keras

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.modeling import factory
from axial_deeplab_tf.modeling import statistics
from axial_deeplab_tf.ops import axial_attention


def _not_traced(*args, **kwargs):
  raise AssertionError('count_madds traced the attention computation')


def test_hand_counted_model(monkeypatch):
  inputs = tf_keras.Input([None, None, 3])
  x = tf_keras.layers.Conv2D(8, 3, padding='same', use_bias=False)(inputs)
  x = attention.PositionSensitiveAxialAttention(
      'width', key_depth=8, value_depth=16, num_heads=2, span=5,
      max_distance=4)(x)
  x = tf_keras.layers.GlobalAveragePooling2D()(x)
  model = tf_keras.Model(inputs, tf_keras.layers.Dense(4)(x))
  conv = 6 * 10 * 9 * 3 * 8
  qkv = 6 * 10 * 8 * (8 + 8 + 16)
  # 5 keys per query; q.k, q.rq, k.rk (8 each) and v, rv (16 each).
  attend = 6 * 10 * 5 * (3 * 8 + 2 * 16)
  dense = 16 * 4
  # Shapes only: the attention's own computation is not traced (its
  # multiply-adds come from its configuration).
  monkeypatch.setattr(axial_attention, 'attention', _not_traced)
  assert statistics.count_madds(model, 6, 10) == conv + qkv + attend + dense
  tables = 2 * 9 * 4 + 9 * 8   # 2 * 4 + 1 rows; per-head depths 4, 4, 8
  norms = 2 * 32 + 2 * 3 * 2 + 2 * 2 * 16
  assert statistics.count_params(model) == (
      27 * 8 + 8 * 32 + tables + norms + 16 * 4 + 4)


def test_unbuilt_and_built_models_count_the_same():
  model = factory.build_axial_deeplab(
      'axial_deeplab_s', 3, stage_blocks=[1, 1, 1, 1],
      width_multiplier=0.125, span=5, max_distance=8)
  first = statistics.count_madds(model, 65, 65)
  assert first == statistics.count_madds(model, 65, 65) > 0
