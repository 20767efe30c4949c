"""build_axial_deeplab (the Python API) with a real tiny Axial-ResNet."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.modeling import factory

# axial_deeplab_s's row (three-conv stem, OS 16) made tiny.
TINY = dict(stage_blocks=[1, 1, 1, 1], width_multiplier=0.125, span=5,
            max_distance=8)


def build(num_classes, thing_class_ids=(), **kwargs):
  return factory.build_axial_deeplab('axial_deeplab_s', num_classes,
                                     thing_class_ids, **{**TINY, **kwargs})


def _images(shape):
  return np.random.default_rng(0).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize('size', [(65, 97), (50, 70)])
def test_outputs_at_input_size(size):
  model = build(5, thing_class_ids=[2, 3])
  outputs = model(_images((2, *size, 3)))
  assert outputs['semantic_logits'].shape == (2, *size, 5)
  assert outputs['center_heatmap'].shape == (2, *size, 1)
  assert outputs['center_offsets'].shape == (2, *size, 2)
  assert all(v.dtype == tf.float32 for v in outputs.values())
  assert model.thing_class_ids == [2, 3]


def test_gradients_reach_every_weight():
  model = build(4, thing_class_ids=[3])
  x = _images((2, 33, 41, 3))
  model(x)
  # Residual branches end in a zero-initialised BN gamma (identity blocks at
  # start), which blocks their gradients; open them.
  for weight in model.trainable_weights:
    if 'expand_bn/gamma' in weight.name:
      weight.assign(tf.ones_like(weight))
  with tf.GradientTape() as tape:
    outputs = model(x, training=True)
    loss = sum(tf.reduce_sum(tf.square(v)) for v in outputs.values())
  grads = tape.gradient(loss, model.trainable_weights)
  tables = [w.name for w in model.trainable_weights if '_rpe' in w.name]
  assert len(tables) == 4 * 2 * 3  # 4 blocks x 2 axes x 3 tables
  # Similarity-BN betas shift whole softmax rows, which the softmax
  # ignores: their gradient is zero up to rounding.
  missing = [w.name for w, g in zip(model.trainable_weights, grads)
             if g is None or ('similarity_bn/beta' not in w.name and
                              np.abs(g.numpy()).max() < 1e-6)]
  assert not missing, missing


@pytest.mark.parametrize('kwargs,keys', [
    (dict(output_stride=32, use_aspp=True),
     {'semantic_logits', 'center_heatmap', 'center_offsets'}),
    (dict(span=0), {'semantic_logits', 'center_heatmap', 'center_offsets'}),
])
def test_options(kwargs, keys):
  model = build(3, **kwargs)
  outputs = model(_images((1, 45, 38, 3)))
  assert set(outputs) == keys
  assert outputs['semantic_logits'].shape == (1, 45, 38, 3)


def test_bad_thing_ids():
  with pytest.raises(ValueError, match='thing_class_ids'):
    build(3, thing_class_ids=[1, 3])


def test_mixed_precision_runs():
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = build(3, thing_class_ids=[2])
    outputs = model(_images((1, 33, 33, 3)), training=True)
    for value in outputs.values():
      assert value.dtype == tf.float32
      assert np.isfinite(value.numpy()).all()
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
