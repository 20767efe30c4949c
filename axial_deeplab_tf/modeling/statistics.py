"""Parameter and multiply-add counts, counted as the paper counts them.

M-Adds are the multiply-adds of convolutions, dense projections, the
attention similarity terms and retrievals (local attention at `m` keys per
query); batch norm, activations, pooling and softmax are not counted. They
are read off one trace of the model at a given input size: every layer call
is recorded with its input and output shapes (no numerical work is done).
The trace runs under `layers.keras_utils.output_signatures_only()`: an
attention layer calls its projection, then returns a placeholder of its
output shape, and its own multiply-adds come from its configuration
(`PositionSensitiveAxialAttention.madds`), so the attention's computation
is never traced (tracing it made counting Axial-DeepLab-S at 1025x2049
take 42 s on 2 cores; 2.3 s without).
"""

import contextlib

import numpy as np
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.layers import keras_utils


def _spatial(shape):
  return int(np.prod(shape[1:-1]))


def layer_madds(layer, input_shape, output_shape):
  """Multiply-adds of one call of `layer` (batch 1), 0 if not counted.

  Args:
    layer: a tf_keras layer.
    input_shape, output_shape: `[1, ..., channels]` fully known shapes.

  Returns:
    Python int.
  """
  if isinstance(layer, attention.PositionSensitiveAxialAttention):
    return layer.madds(input_shape)
  if isinstance(layer, tf_keras.layers.SeparableConv2D):
    kh, kw = layer.kernel_size
    depthwise = kh * kw * input_shape[-1] * layer.depth_multiplier
    return _spatial(output_shape) * (
        depthwise + input_shape[-1] * layer.depth_multiplier *
        output_shape[-1])
  if isinstance(layer, tf_keras.layers.DepthwiseConv2D):
    kh, kw = layer.kernel_size
    return _spatial(output_shape) * kh * kw * output_shape[-1]
  if isinstance(layer, tf_keras.layers.Conv2D):
    kh, kw = layer.kernel_size
    return (_spatial(output_shape) * kh * kw *
            (input_shape[-1] // layer.groups) * output_shape[-1])
  if isinstance(layer, tf_keras.layers.Dense):
    return _spatial(input_shape) * input_shape[-1] * output_shape[-1]
  return 0


@contextlib.contextmanager
def _record_calls(records):
  """Records (layer, input shape, output shape) of every layer call."""
  base = tf_keras.layers.Layer
  original = base.__call__

  def recording_call(self, *args, **kwargs):
    outputs = original(self, *args, **kwargs)
    inputs = args[0] if args else kwargs.get('inputs')
    if isinstance(inputs, tf.Tensor) and isinstance(outputs, tf.Tensor):
      records.append((self, inputs.shape.as_list(), outputs.shape.as_list()))
    return outputs

  base.__call__ = recording_call
  try:
    yield
  finally:
    base.__call__ = original


def count_madds(model, height, width):
  """Multiply-adds of one `[1, height, width, 3]` forward pass.

  Args:
    model: a tf_keras model taking images.
    height, width: input size.

  Returns:
    Python int.
  """
  # Build first: a subclassed model's first call runs some layers twice.
  # (The factory's models come built.)
  if not model.built:
    model(tf.zeros([1, 33, 33, 3]), training=False)
  records = []
  spec = tf.TensorSpec([1, height, width, 3], tf.float32)
  with _record_calls(records), keras_utils.output_signatures_only():
    tf.function(lambda x: model(x, training=False)).get_concrete_function(
        spec)
  return sum(layer_madds(*record) for record in records)


def count_params(model):
  """Trainable parameters of a built model."""
  return int(sum(np.prod(w.shape) for w in model.trainable_weights))
