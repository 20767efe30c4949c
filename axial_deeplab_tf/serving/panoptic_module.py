"""Export module for panoptic models: preprocessing + network + post-processing.

`PanopticExportModule(model, encoding, options, ...)` wraps a
built `PanopticDeepLab` (weights already restored) into a `tf.Module` whose
three `tf.function`s become the SavedModel signatures:

| signature | input | images in one call |
|---|---|---|
| `serving_default` | `images`: uint8 [batch, height, width, 3] | one size |
| `image_bytes` | `image_bytes`: string [batch], JPEG / PNG / GIF / BMP | any sizes |
| `tf_example` | `serialized_examples`: string [batch], tf.Examples of our schema | any sizes |

All three return the same dict (see `PanopticExportModule.serve`); an
empty batch gives outputs with batch 0 (and height and width 0 for the
string signatures). When the
images of one call differ in size, every image still goes through the
network and the post-processing alone at its own size (so its result is
exactly what it gives by itself); the per-image outputs are then padded at
the bottom and right to the largest height and width of the call, and
`image_size` [batch, 2] says which top-left part of each map is the image.
Padding is void in the label maps and 0 elsewhere.
"""

import dataclasses
from typing import Dict, Sequence

import tensorflow as tf

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import normalization
from axial_deeplab_tf.modeling import post_processor
from axial_deeplab_tf.ops import post_processing_options as options_lib
from axial_deeplab_tf.serving import preprocessing
from axial_deeplab_tf.serving import serving_module

_MAP_KEYS = ('panoptic', 'semantic', 'category', 'instance')


class PanopticExportModule(serving_module.ServingModule):
  """SavedModel module for a panoptic model.

  Args:
    model: a `PanopticDeepLab` (or any tf_keras model mapping normalized
      float32 images [batch, H, W, 3] to 'semantic_logits' [batch, H, W,
      K], 'center_heatmap' [batch, H, W, 1] and 'center_offsets'
      [batch, H, W, 2] at the input size).
    encoding: the panoptic id encoding (K = encoding.num_classes, thing
      classes, label divisor, void label).
    options: post-processing thresholds.
    mean, std: RGB normalization statistics in [0, 1], as in training.
    output_semantic_probabilities: also return 'semantic_probabilities'
      [batch, H, W, K] (softmax of the logits).
    output_instance_masks: also return 'instance_masks' [batch, top_k, H,
      W] (bool; memory grows with top_k * H * W).

  Raises:
    TypeError: naming `encoding` or `options` when not of their types.
    ValueError: naming `label_divisor` when it is not larger than top_k.
  """

  def __init__(self, model, encoding: encoding_lib.PanopticEncoding,
               options: options_lib.PostProcessingOptions = (
                   options_lib.PostProcessingOptions()),
               mean: Sequence[float] = normalization.IMAGENET_MEAN,
               std: Sequence[float] = normalization.IMAGENET_STD,
               output_semantic_probabilities: bool = False,
               output_instance_masks: bool = True,
               name: str = 'panoptic_export'):
    super().__init__(name=name)
    self.output_instance_masks = bool(output_instance_masks)
    self._post_processor = post_processor.PanopticPostProcessor(
        encoding, options, output_instance_masks=self.output_instance_masks)
    self.encoding, self.options = encoding, options
    self.mean, self.std = preprocessing.validate_mean_std(mean, std)
    self.output_semantic_probabilities = bool(output_semantic_probabilities)
    # Only the variables are tracked: saving the Keras model object itself
    # would make tf.saved_model.save trace every layer's call (minutes).
    self._holder = serving_module.Untracked(model)
    self.model_variables = list(model.variables)
    # One traced copy of network + post-processing, called by every
    # signature (and by both branches of `predict_padded`).
    self._dense = tf.function(self.predict_dense, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8)])

  @property
  def model(self):
    """The wrapped tf_keras model."""
    return self._holder.value

  def export_metadata(self) -> Dict:
    """JSON-able settings written beside the SavedModel (assets.extra).

    'num_classes' and 'thing_class_ids' at the top level, 'label_divisor'
    and 'void_label' with the thresholds under 'post_processing' (the
    layout readers of earlier exports expect).
    """
    encoding = self.encoding
    return {'task': 'panoptic', 'num_classes': encoding.num_classes,
            'thing_class_ids': list(encoding.thing_class_ids),
            'post_processing': dict(dataclasses.asdict(self.options),
                                    label_divisor=encoding.label_divisor,
                                    void_label=encoding.void_label),
            'mean': list(self.mean), 'std': list(self.std),
            'output_keys': list(self.output_keys())}

  def output_keys(self) -> Sequence[str]:
    """The keys of every signature's output dict."""
    keys = ['panoptic', 'semantic', 'category', 'instance',
            'center_heatmap', 'center_offsets', 'instance_classes',
            'instance_scores', 'instance_valid', 'center_points',
            'center_scores', 'num_instances', 'image_size']
    if self.output_semantic_probabilities:
      keys.append('semantic_probabilities')
    if self.output_instance_masks:
      keys.append('instance_masks')
    return keys

  def predict_dense(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Runs a batch of same-size images through the whole pipeline.

    Args:
      images: uint8 or float32 [batch, height, width, 3], pixel values in
        [0, 255].

    Returns:
      'panoptic' (class * label_divisor + instance id; void =
      void_label * label_divisor), 'semantic' (argmax class), 'category'
      (panoptic // label_divisor), 'instance' (0 for stuff and void):
      int32 [batch, height, width]; 'center_heatmap' float32 [batch,
      height, width]; 'center_offsets' float32 [batch, height, width, 2]
      (dy, dx) in pixels; 'instance_classes' int32, 'instance_scores'
      float32, 'instance_valid' bool [batch, top_k] (slot j = instance id
      j + 1); 'center_points' int32 [batch, top_k, 2] (y, x);
      'center_scores' float32 [batch, top_k]; 'num_instances' int32
      [batch]; 'image_size' int32 [batch, 2]; optionally
      'semantic_probabilities' float32 [batch, height, width, K] and
      'instance_masks' bool [batch, top_k, height, width].
    """
    normalized = preprocessing.normalize(images, self.mean, self.std)
    raw = self.model(normalized, training=False)
    raw = {k: tf.cast(v, tf.float32) for k, v in raw.items()}
    post = self._post_processor(raw)
    outputs = {k: post[k] for k in _MAP_KEYS}
    outputs['center_heatmap'] = raw['center_heatmap'][..., 0]
    outputs['center_offsets'] = raw['center_offsets']
    for key in ('instance_classes', 'instance_scores', 'instance_valid',
                'center_points', 'center_scores'):
      outputs[key] = post[key]
    outputs['num_instances'] = tf.reduce_sum(
        tf.cast(post['instance_valid'], tf.int32), axis=1)
    outputs['image_size'] = preprocessing.full_sizes(images)
    if self.output_semantic_probabilities:
      outputs['semantic_probabilities'] = tf.nn.softmax(
          raw['semantic_logits'], axis=-1)
    if self.output_instance_masks:
      outputs['instance_masks'] = post['instance_masks']
    return outputs

  def _pad_value(self, key: str):
    void = self.encoding.void_label
    if key == 'panoptic':
      return void * self.encoding.label_divisor
    if key in ('semantic', 'category'):
      return void
    return 0

  def _pad_maps(self, outputs: Dict[str, tf.Tensor],
                height: tf.Tensor, width: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Pads the spatial maps of a batch-1 result to height x width."""
    padded = {}
    for key, value in outputs.items():
      if key in _MAP_KEYS or key in ('center_heatmap', 'center_offsets',
                                     'semantic_probabilities'):
        size = tf.shape(value)[1:3]
        pads = [[0, 0], [0, height - size[0]], [0, width - size[1]]]
        pads += [[0, 0]] * (value.shape.rank - 3)
        value = tf.pad(value, pads, constant_values=self._pad_value(key))
      elif key == 'instance_masks':
        size = tf.shape(value)[2:4]
        value = tf.pad(value, [[0, 0], [0, 0], [0, height - size[0]],
                               [0, width - size[1]]])
      padded[key] = value
    return padded

  def predict_padded(self, images: tf.Tensor,
                     image_sizes: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Runs images of different sizes, each alone at its own size.

    Args:
      images: uint8 [batch, max_height, max_width, 3]; image b occupies
        the top-left `image_sizes[b]` pixels.
      image_sizes: int32 [batch, 2], (height, width) per image.

    Returns:
      The dict of `predict_dense`, maps of size [max_height, max_width]
      padded with void (label maps) or 0; 'image_size' = `image_sizes`.
      When all sizes are equal the batch runs in one pass.
    """
    image_sizes = tf.cast(image_sizes, tf.int32)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    same = tf.reduce_all(tf.equal(image_sizes, image_sizes[:1]))

    def one_pass():
      size = tf.reduce_max(image_sizes, axis=0)  # all equal
      cropped = images[:, :size[0], :size[1]]
      return self._pad_maps(self._dense(cropped), height, width)

    def per_image():
      def run(args):
        image, size = args
        result = self._dense(image[tf.newaxis, :size[0], :size[1]])
        result = self._pad_maps(result, height, width)
        return {k: v[0] for k, v in result.items()}

      spec = {k: tf.TensorSpec(v.shape[1:], v.dtype)
              for k, v in self._output_spec().items()}
      return tf.map_fn(run, (images, image_sizes), fn_output_signature=spec)

    return tf.cond(same, one_pass, per_image)

  def _output_spec(self) -> Dict[str, tf.TensorSpec]:
    """Static shapes and dtypes of `predict_dense` outputs (batch unknown)."""
    top_k = self.options.top_k
    maps = [None, None, None]
    spec = {k: tf.TensorSpec(maps, tf.int32) for k in _MAP_KEYS}
    spec['center_heatmap'] = tf.TensorSpec(maps, tf.float32)
    spec['center_offsets'] = tf.TensorSpec(maps + [2], tf.float32)
    spec['instance_classes'] = tf.TensorSpec([None, top_k], tf.int32)
    spec['instance_scores'] = tf.TensorSpec([None, top_k], tf.float32)
    spec['instance_valid'] = tf.TensorSpec([None, top_k], tf.bool)
    spec['center_points'] = tf.TensorSpec([None, top_k, 2], tf.int32)
    spec['center_scores'] = tf.TensorSpec([None, top_k], tf.float32)
    spec['num_instances'] = tf.TensorSpec([None], tf.int32)
    spec['image_size'] = tf.TensorSpec([None, 2], tf.int32)
    if self.output_semantic_probabilities:
      spec['semantic_probabilities'] = tf.TensorSpec(
          maps + [self.encoding.num_classes], tf.float32)
    if self.output_instance_masks:
      spec['instance_masks'] = tf.TensorSpec([None, top_k, None, None],
                                             tf.bool)
    return spec

  @tf.function(reduce_retracing=True)
  def serve(self, images):
    """`serving_default`: uint8 [batch, height, width, 3] -> output dict."""
    return self._dense(images)

  @tf.function(reduce_retracing=True)
  def serve_image_bytes(self, image_bytes):
    """`image_bytes`: string [batch] of encoded images -> output dict."""
    return self.unless_empty(image_bytes, lambda: self.predict_padded(
        *preprocessing.decode_image_batch(image_bytes)),
        self._output_spec())

  @tf.function(reduce_retracing=True)
  def serve_tf_example(self, serialized_examples):
    """`tf_example`: string [batch] of serialized tf.Examples -> outputs."""
    return self.unless_empty(
        serialized_examples, lambda: self.predict_padded(
            *preprocessing.parse_example_batch(serialized_examples)),
        self._output_spec())
