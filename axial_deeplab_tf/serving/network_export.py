"""TFLite and ONNX export of the network (normalization + model, no
post-processing).

Both formats take float32 pixel values in [0, 255], [batch, H, W, 3], and
normalize inside the graph with the training mean and std. Panoptic models
return 'semantic_logits' [batch, H, W, K], 'center_heatmap' [batch, H, W,
1] and 'center_offsets' [batch, H, W, 2]; classifiers return 'logits'
[batch, K]. Panoptic post-processing (`ops.panoptic_merge`) is left
to the caller: it needs top-k and scatter/segment ops that are not worth
forcing into these runtimes.

| format | input size | batch | ops |
|---|---|---|---|
| TFLite | fixed at export (`input_size`) | fixed | TFLite builtins only (no Flex, no custom ops) |
| ONNX | any H, W (dynamic axes) | any | standard ONNX opset (default 17) |
"""

from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

from axial_deeplab_tf.serving import preprocessing
from axial_deeplab_tf.data import normalization


def network_function(model, mean: Sequence[float], std: Sequence[float]):
  """A tf.function: pixels float32 [B, H, W, 3] -> the model's outputs.

  A dict-output model keeps its keys; a tensor-output model (a classifier)
  returns {'logits': ...}.
  """
  mean, std = preprocessing.validate_mean_std(mean, std)

  def run(images):
    outputs = model(preprocessing.normalize(images, mean, std),
                    training=False)
    if not isinstance(outputs, dict):
      outputs = {'logits': outputs}
    return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}

  return tf.function(run)


def _input_spec(batch_size: Optional[int],
                input_size: Optional[Tuple[int, int]]) -> tf.TensorSpec:
  height, width = input_size if input_size else (None, None)
  return tf.TensorSpec([batch_size, height, width, 3], tf.float32,
                       name='images')


def export_tflite(model, path: str, input_size: Tuple[int, int],
                  batch_size: int = 1,
                  mean: Sequence[float] = normalization.IMAGENET_MEAN,
                  std: Sequence[float] = normalization.IMAGENET_STD) -> bytes:
  """Converts the network to a TFLite flatbuffer with builtin ops only.

  Args:
    model: a built tf_keras model (panoptic or classifier).
    path: output .tflite file (None: do not write).
    input_size: (height, width), fixed in the flatbuffer.
    batch_size: fixed batch size.
    mean, std: normalization statistics in [0, 1].

  Returns:
    The flatbuffer bytes; its signature 'serving_default' takes 'images'.
  """
  if not input_size or len(input_size) != 2 or min(input_size) < 1:
    raise ValueError(f'input_size: expected (height, width), got '
                     f'{input_size}.')
  function = network_function(model, mean, std)
  concrete = function.get_concrete_function(
      _input_spec(batch_size, tuple(int(v) for v in input_size)))
  # The converter first saves its trackable object with the function as a
  # SavedModel: give it the variables, not the Keras model (saving a
  # tracked Keras model traces every layer's call again).
  holder = tf.Module()
  holder.model_variables = list(model.variables)
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [concrete], holder)
  # Builtins only: a model needing Flex (SELECT_TF_OPS) fails here loudly.
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  flatbuffer = converter.convert()
  if path:
    with tf.io.gfile.GFile(path, 'wb') as f:
      f.write(flatbuffer)
  return flatbuffer


def export_onnx(model, path: str,
                input_size: Optional[Tuple[int, int]] = None,
                batch_size: Optional[int] = None, opset: int = 17,
                mean: Sequence[float] = normalization.IMAGENET_MEAN,
                std: Sequence[float] = normalization.IMAGENET_STD):
  """Converts the network to ONNX with tf2onnx.

  Args:
    model: a built tf_keras model.
    path: output .onnx file (None: do not write).
    input_size: (height, width) to fix, or None for dynamic height/width.
      Prefer None: with static sizes tf2onnx writes the aligned-corner
      resizes as float scales that round to a wrong output size (e.g. 7 ->
      13 becomes 12); with dynamic sizes it writes explicit target sizes.
    batch_size: fixed batch, or None for dynamic.
    opset: ONNX opset (>= 11 for aligned-corner resize).
    mean, std: normalization statistics in [0, 1].

  Returns:
    The onnx.ModelProto; input 'images', outputs named by the model's keys.
  """
  import tf2onnx  # pylint: disable=g-import-not-at-top
  function = network_function(model, mean, std)
  size = tuple(int(v) for v in input_size) if input_size else None
  proto, _ = tf2onnx.convert.from_function(
      function, input_signature=[_input_spec(batch_size, size)],
      opset=opset, output_path=path)
  return proto


def onnx_output_names(proto) -> Dict[str, str]:
  """ONNX output name -> model output key (tf2onnx may add ':0')."""
  return {o.name: o.name.split(':')[0] for o in proto.graph.output}
