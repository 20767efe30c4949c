"""Export module for image classifiers (Axial-ResNet + pooling + dense head).

`ClassificationExportModule(model, image_size=224, top_k=5, ...)` gives the
same three signatures as the panoptic module (`serving_default` on uint8
[batch, height, width, 3], `image_bytes`, `tf_example`). Every image is
preprocessed like the evaluation pipeline
(`dataloaders.classification_input.center_crop`: a central crop of
`center_crop_fraction` of the shorter side, bilinearly resized to
`image_size` x `image_size`, then normalized), so images of any size can
share one call. With `image_size=None` images are fed at their own size
(one size per call; `image_bytes` / `tf_example` then need equal sizes).
An empty batch gives outputs with batch 0.

Not Model Garden's `serving.image_classification.ClassificationModule`: it
builds its own `ClassificationModel` (a different checkpoint layout),
returns only logits and probabilities (no top-k classes and scores) and
fixes mean and std to ImageNet's.
"""

from typing import Dict, Optional, Sequence

import tensorflow as tf

from axial_deeplab_tf.dataloaders import classification_input
from axial_deeplab_tf.serving import preprocessing
from axial_deeplab_tf.serving import serving_module
from axial_deeplab_tf.data import normalization


class ClassificationExportModule(serving_module.ServingModule):
  """SavedModel module for a classifier.

  Args:
    model: tf_keras model, normalized float32 [batch, S, S, 3] -> logits
      [batch, num_classes].
    image_size: S, the evaluation size (None: no crop or resize).
    top_k: number of best classes returned (clipped to num_classes).
    center_crop_fraction: central crop of the shorter side before the
      resize (0.875 as in evaluation).
    mean, std: RGB normalization statistics in [0, 1].
  """

  def __init__(self, model, image_size: Optional[int] = 224, top_k: int = 5,
               center_crop_fraction: float = 0.875,
               mean: Sequence[float] = normalization.IMAGENET_MEAN,
               std: Sequence[float] = normalization.IMAGENET_STD,
               name: str = 'classification_export'):
    super().__init__(name=name)
    if top_k < 1:
      raise ValueError(f'top_k: expected an int >= 1, got {top_k}.')
    if not 0 < center_crop_fraction <= 1:
      raise ValueError(f'center_crop_fraction: expected a value in (0, 1], '
                       f'got {center_crop_fraction}.')
    # As in PanopticExportModule: track the variables, not the Keras model
    # (saving a tracked Keras model traces every layer), and trace the
    # network once for all signatures.
    self._holder = serving_module.Untracked(model)
    self.model_variables = list(model.variables)
    self.image_size = None if image_size is None else int(image_size)
    self.top_k = int(top_k)
    self.center_crop_fraction = float(center_crop_fraction)
    self.mean, self.std = preprocessing.validate_mean_std(mean, std)
    size = self.image_size
    self._classify = tf.function(self.classify, input_signature=[
        tf.TensorSpec([None, size, size, 3], tf.float32)])

  @property
  def model(self):
    """The wrapped tf_keras model."""
    return self._holder.value

  def export_metadata(self) -> Dict:
    """JSON-able settings written beside the SavedModel (assets.extra)."""
    return {'task': 'classification', 'image_size': self.image_size,
            'top_k': self.top_k,
            'center_crop_fraction': self.center_crop_fraction,
            'mean': list(self.mean), 'std': list(self.std),
            'output_keys': ['logits', 'probabilities', 'top_k_classes',
                            'top_k_scores']}

  def preprocess_one(self, image: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, 3] -> float32 [S, S, 3] normalized (or [H, W, 3])."""
    if self.image_size is not None:
      image = classification_input.center_crop(
          image, self.image_size, self.center_crop_fraction)
    return preprocessing.normalize(image, self.mean, self.std)

  def classify(self, normalized: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Normalized float32 [batch, S, S, 3] -> output dict.

    Returns:
      'logits' and 'probabilities' float32 [batch, num_classes];
      'top_k_classes' int32 and 'top_k_scores' float32 (probabilities)
      [batch, top_k], best first.
    """
    logits = tf.cast(self.model(normalized, training=False), tf.float32)
    probabilities = tf.nn.softmax(logits, axis=-1)
    k = min(self.top_k, int(logits.shape[-1] or self.top_k))
    # Rank by logits: probabilities of confident models underflow to equal
    # zeros, whose top-k order would be arbitrary.
    _, classes = tf.math.top_k(logits, k=k)
    scores = tf.gather(probabilities, classes, batch_dims=1)
    return {'logits': logits, 'probabilities': probabilities,
            'top_k_classes': tf.cast(classes, tf.int32),
            'top_k_scores': scores}

  def _preprocess_batch(self, images: tf.Tensor) -> tf.Tensor:
    if self.image_size is None:
      return preprocessing.normalize(images, self.mean, self.std)
    size = self.image_size
    return tf.map_fn(self.preprocess_one, images,
                     fn_output_signature=tf.TensorSpec([size, size, 3],
                                                       tf.float32))

  def _preprocess_strings(self, strings: tf.Tensor, decode_fn) -> tf.Tensor:
    if self.image_size is None:
      images = tf.map_fn(decode_fn, strings, fn_output_signature=tf.TensorSpec(
          [None, None, 3], tf.uint8))
      return preprocessing.normalize(images, self.mean, self.std)
    size = self.image_size
    return tf.map_fn(lambda s: self.preprocess_one(decode_fn(s)), strings,
                     fn_output_signature=tf.TensorSpec([size, size, 3],
                                                       tf.float32))

  @tf.function(reduce_retracing=True)
  def serve(self, images):
    """`serving_default`: uint8 [batch, height, width, 3] -> output dict."""
    return self._classify(self._preprocess_batch(images))

  def _classify_strings(self, strings: tf.Tensor, decode_fn):
    """Decodes and classifies; an empty batch gives empty outputs."""
    spec = self._classify.get_concrete_function().structured_outputs
    return self.unless_empty(
        strings, lambda: self._classify(self._preprocess_strings(
            strings, decode_fn)),
        {k: tf.TensorSpec(v.shape, v.dtype) for k, v in spec.items()})

  @tf.function(reduce_retracing=True)
  def serve_image_bytes(self, image_bytes):
    """`image_bytes`: string [batch] of encoded images -> output dict."""
    return self._classify_strings(image_bytes, preprocessing.decode_image)

  @tf.function(reduce_retracing=True)
  def serve_tf_example(self, serialized_examples):
    """`tf_example`: string [batch] of serialized tf.Examples -> outputs."""
    return self._classify_strings(serialized_examples,
                                  preprocessing.parse_example_image)
