"""PanopticDeepLab over a tiny strided-conv backbone."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.losses import panoptic_loss
from axial_deeplab_tf.modeling import panoptic_deeplab
from axial_deeplab_tf.modeling import post_processor
from axial_deeplab_tf.ops.post_processing_options import PostProcessingOptions


@tf_keras.utils.register_keras_serializable(package='test_panoptic_deeplab')
class TinyBackbone(tf_keras.layers.Layer):
  """Strided 3x3 convs: {'2': /4, '3': /8, '4': /16, '5': /16 or /32}."""

  def __init__(self, width=4, output_stride=16, **kwargs):
    super().__init__(**kwargs)
    self.width = width
    self.output_stride = output_stride
    last_stride = 1 if output_stride == 16 else 2
    self.convs = [tf_keras.layers.Conv2D(width * m, 3, s, padding='same',
                                         activation='relu', name=f'c{i}')
                  for i, (m, s) in enumerate(
                      [(1, 2), (1, 2), (2, 2), (2, 2), (3, last_stride)])]

  def call(self, x, training=None):
    out = {}
    for key, conv in zip(('1', '2', '3', '4', '5'), self.convs):
      x = conv(x)
      out[key] = x
    del out['1']
    return out

  def get_config(self):
    config = super().get_config()
    config.update({'width': self.width, 'output_stride': self.output_stride})
    return config


TINY = dict(semantic_aspp_channels=8, semantic_low_level_channels=(4, 3),
            semantic_decoder_channels=8, semantic_head_channels=8,
            instance_aspp_channels=8, instance_low_level_channels=(3, 2),
            instance_decoder_channels=6, center_head_channels=4,
            offset_head_channels=4)


def tiny_model(num_classes=3, output_stride=16, **kwargs):
  options = dict(TINY)
  options.update(kwargs)
  return panoptic_deeplab.PanopticDeepLab(
      TinyBackbone(output_stride=output_stride), num_classes,
      output_stride=output_stride, **options)


def images(batch, height, width, seed=0):
  return tf.random.stateless_uniform([batch, height, width, 3], [seed, 1])


@pytest.mark.parametrize('size', [(65, 97), (50, 70), (33, 40)])
def test_output_shapes_for_odd_sizes_batch_two(size):
  model = tiny_model()
  out = model(images(2, *size), training=False)
  h, w = size
  assert out['semantic_logits'].shape == (2, h, w, 3)
  assert out['center_heatmap'].shape == (2, h, w, 1)
  assert out['center_offsets'].shape == (2, h, w, 2)
  assert all(v.dtype == tf.float32 for v in out.values())


def test_output_stride_32_and_aspp():
  model = tiny_model(num_classes=5, output_stride=32, use_aspp=True,
                     aspp_atrous_rates=(1, 2))
  out = model(images(1, 45, 37), training=True)
  assert sorted(out) == ['center_heatmap', 'center_offsets',
                         'semantic_logits']
  assert out['semantic_logits'].shape == (1, 45, 37, 5)
  assert out['center_offsets'].shape == (1, 45, 37, 2)


def test_unaligned_input_equals_explicitly_padded_input_cropped():
  # 50 x 70 is padded to 65 x 81 (k * 16 + 1) internally; feeding the
  # zero-padded image must give the same values on the original pixels.
  model = tiny_model()
  x = images(2, 50, 70, seed=3)
  padded = tf.pad(x, [[0, 0], [0, 15], [0, 11], [0, 0]])
  small = model(x, training=False)
  big = model(padded, training=False)
  for key in small:
    np.testing.assert_allclose(small[key].numpy(),
                               big[key][:, :50, :70].numpy(), atol=1e-5,
                               err_msg=key)


def test_upsample_to_input_alignment_and_offset_scaling():
  # A stride-4 grid of 5 x 3 points for a 17 x 9 padded input: grid point i
  # must land on input pixel 4 i; offsets (dy, dx) are scaled by 4.
  ys = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
  xs = np.ones((5, 1), np.float32) * np.arange(3, dtype=np.float32)[None]
  grid = tf.constant(np.stack([ys, xs], -1)[None])
  out = panoptic_deeplab.upsample_to_input(grid, [17, 9], [15, 7],
                                           scale_offsets=True).numpy()[0]
  want_y, want_x = np.mgrid[:15, :7].astype(np.float32)
  np.testing.assert_allclose(out[..., 0], want_y, atol=1e-5)
  np.testing.assert_allclose(out[..., 1], want_x, atol=1e-5)
  plain = panoptic_deeplab.upsample_to_input(grid, [17, 9], [15, 7])
  np.testing.assert_allclose(plain.numpy()[0, ..., 0], want_y / 4, atol=1e-6)
  sizes, want = [1, 16, 17, 18, 65, 66], [1, 17, 17, 33, 65, 81]
  assert panoptic_deeplab.aligned_size(sizes, 16) == want  # static: ints
  np.testing.assert_array_equal(
      panoptic_deeplab.aligned_size(tf.constant(sizes), 16).numpy(), want)


def test_gradients_reach_every_weight():
  model = tiny_model()
  x = images(2, 33, 41, seed=5)
  rng = np.random.default_rng(0)
  y_true = {
      'semantic': rng.integers(0, 3, size=(2, 33, 41)).astype(np.int32),
      'center_heatmap': rng.random((2, 33, 41, 1)).astype(np.float32),
      'center_offsets': rng.normal(size=(2, 33, 41, 2)).astype(np.float32),
      'offset_weights': np.ones((2, 33, 41), np.float32)}
  loss_fn = panoptic_loss.PanopticLoss()
  with tf.GradientTape() as tape:
    loss = loss_fn(y_true, model(x, training=True))['total_loss']
  grads = tape.gradient(loss, model.trainable_variables)
  assert len(model.trainable_variables) > 40
  for var, grad in zip(model.trainable_variables, grads):
    assert grad is not None, var.name
    g = tf.convert_to_tensor(grad).numpy()
    assert np.all(np.isfinite(g)) and np.any(g != 0), var.name


def test_jit_compile_matches_eager_and_config_round_trip():
  model = tiny_model(use_aspp=True, aspp_atrous_rates=(1, 2),
                     kernel_regularizer=tf_keras.regularizers.L2(1e-5))
  x = images(2, 37, 29, seed=7)
  eager = model(x, training=False)
  jit = tf.function(lambda t: model(t, training=False), jit_compile=True)(x)
  for key in eager:
    np.testing.assert_allclose(jit[key].numpy(), eager[key].numpy(),
                               atol=1e-4, err_msg=key)
  config = model.get_config()
  again = panoptic_deeplab.PanopticDeepLab.from_config(config)
  again(x, training=False)
  assert again.get_config() == config
  again.set_weights(model.get_weights())
  copied = again(x, training=False)
  for key in eager:
    np.testing.assert_allclose(copied[key].numpy(), eager[key].numpy(),
                               atol=1e-6, err_msg=key)


def test_unknown_batch_and_size_in_tf_function():
  model = tiny_model()
  fn = tf.function(lambda t: model(t, training=False),
                   input_signature=[tf.TensorSpec([None, None, None, 3])])
  for shape in ((1, 35, 21), (3, 18, 30)):
    out = fn(images(*shape))
    assert out['center_offsets'].shape == shape + (2,)


@pytest.mark.parametrize('policy', ['mixed_float16', 'mixed_bfloat16'])
def test_mixed_precision_runs_with_float32_outputs(policy):
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    model = tiny_model()
    with tf.GradientTape() as tape:
      out = model(images(2, 41, 27), training=True)
      loss = tf.add_n([tf.reduce_mean(v) for v in out.values()])
    grads = tape.gradient(loss, model.trainable_variables)
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  for value in out.values():
    assert value.dtype == tf.float32
    assert np.all(np.isfinite(value.numpy()))
  assert all(g is not None for g in grads)


def test_bad_arguments():
  with pytest.raises(ValueError, match='output_stride'):
    tiny_model(output_stride=12)
  with pytest.raises(ValueError, match='num_classes'):
    tiny_model(num_classes=0)


def test_functional_wrap_with_postprocessor_exports_saved_model(tmp_path):
  model = tiny_model()
  inputs = tf_keras.Input(shape=(None, None, 3))
  outputs = model(inputs)
  panoptic = post_processor.PanopticPostProcessor(
      PanopticEncoding(3, (1,), label_divisor=1000),
      PostProcessingOptions(top_k=5, stuff_area_limit=10))(outputs)['panoptic']
  wrapped = tf_keras.Model(inputs, {**outputs, 'panoptic': panoptic})
  module = tf.Module()
  module.model = wrapped
  module.serve = tf.function(
      lambda t: wrapped(t, training=False),
      input_signature=[tf.TensorSpec([None, None, None, 3])])
  tf.saved_model.save(module, str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  for shape in ((2, 50, 70), (1, 33, 21)):
    x = images(*shape, seed=11)
    want = wrapped(x, training=False)
    got = loaded.serve(x)
    np.testing.assert_array_equal(got['panoptic'].numpy(),
                                  want['panoptic'].numpy())
    np.testing.assert_allclose(got['center_offsets'].numpy(),
                               want['center_offsets'].numpy(), atol=1e-6)
