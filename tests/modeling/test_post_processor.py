"""The PanopticPostProcessor layer: config, dtypes, errors, SavedModel."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.modeling import PanopticPostProcessor
from axial_deeplab_tf.ops import panoptic_merge as pp
from axial_deeplab_tf.ops.post_processing_options import PostProcessingOptions
from test_panoptic_merge import random_case

KEYS = ('semantic_logits', 'center_heatmap', 'center_offsets')


def test_layer_config_round_trip_and_mixed_precision_inputs():
  enc = PanopticEncoding(5, (1, 3), label_divisor=256, void_label=-1)
  options = PostProcessingOptions(center_threshold=0.2, nms_kernel=13,
                                  top_k=10, stuff_area_limit=40)
  layer = PanopticPostProcessor(enc, options, output_instance_masks=False)
  again = PanopticPostProcessor.from_config(layer.get_config())
  assert again.get_config() == layer.get_config()
  assert again.encoding == enc and again.options == options
  # The config is plain JSON and the layer is registered for Keras.
  config = tf_keras.layers.serialize(layer)
  assert tf_keras.layers.deserialize(config).encoding == enc
  logits, heat, off = random_case(seed=3, batch=1, h=25, w=31)
  inputs = {'semantic_logits': tf.constant(logits, tf.float16),
            'center_heatmap': tf.constant(heat, tf.float16),
            'center_offsets': tf.constant(off, tf.float16)}
  out = again(inputs)
  assert 'instance_masks' not in out
  ref = pp.panoptic_postprocess(
      *[tf.cast(inputs[k], tf.float32) for k in KEYS], enc, options)
  np.testing.assert_array_equal(out['panoptic'].numpy(),
                                ref['panoptic'].numpy())
  assert out['instance_scores'].dtype == tf.float32
  with pytest.raises(ValueError, match='semantic-only'):
    again({'semantic_logits': inputs['semantic_logits']})


def test_errors_name_the_argument():
  enc = PanopticEncoding(3, (1,), label_divisor=100)
  with pytest.raises(ValueError, match='label_divisor'):
    PanopticPostProcessor(enc, PostProcessingOptions(top_k=100))
  with pytest.raises(TypeError, match='options'):
    PanopticPostProcessor(enc, {'top_k': 5})
  with pytest.raises(TypeError, match='encoding'):
    PanopticPostProcessor({'num_classes': 3})
  layer = PanopticPostProcessor(enc, PostProcessingOptions(top_k=5))
  logits, heat, off = random_case(seed=1, batch=1, h=8, w=8, k=4)
  with pytest.raises(ValueError, match='semantic_logits'):
    layer(dict(zip(KEYS, (logits, heat, off))))


def test_saved_model_with_unknown_batch_and_size(tmp_path):
  enc = PanopticEncoding(5, (1,), label_divisor=1000)
  options = PostProcessingOptions(top_k=6, stuff_area_limit=10)
  layer = PanopticPostProcessor(enc, options)
  module = tf.Module()
  module.layer = layer
  module.serve = tf.function(
      lambda l, h, o: layer({'semantic_logits': l, 'center_heatmap': h,
                             'center_offsets': o})['panoptic'],
      input_signature=[tf.TensorSpec([None, None, None, 5], tf.float32),
                       tf.TensorSpec([None, None, None, 1], tf.float32),
                       tf.TensorSpec([None, None, None, 2], tf.float32)],
      autograph=False)
  tf.saved_model.save(module, str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  for batch, h, w in ((1, 13, 17), (3, 20, 9)):
    inputs = random_case(seed=h, batch=batch, h=h, w=w)
    want = pp.panoptic_postprocess(*inputs, enc, options)['panoptic']
    np.testing.assert_array_equal(loaded.serve(*inputs).numpy(), want.numpy())
